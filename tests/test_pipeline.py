"""The per-camera pipeline's own rules: what a sample passes through, in which order, and when."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import numpy as np

from xuncha.config.worker import FixtureSetting, WorkerConfig, resolve_config
from xuncha.pipeline.camera import CameraPipeline, fixtures_px
from xuncha.types import Detection, Frame

WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def _pipeline(tmp_path: Path, stationary: bool = False) -> CameraPipeline:
    rules = [{"category": "0508", "labels": ["person"], "dwell_s": 0}]
    if stationary:
        rules.append({"category": "0507", "labels": ["static_object"]})
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "detectors": {"models": [], "stationary": stationary},
            "cameras": [
                {
                    "id": "c",
                    "name": "c",
                    "source": "x.mp4",
                    "zones": [{"id": "z", "name": "区", "polygon": WHOLE, "rules": rules}],
                }
            ],
        }
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    (cam,) = cfg.cameras
    return CameraPipeline.build(
        cam,
        taxonomy,
        cfg.confirm_params(cam.sample_interval_s),
        cfg.stationary_params() if stationary else None,
        cfg.text_params(),
        lambda _image: [],
        UTC,
    )


def _frame(ts: float, size: tuple[int, int] = (320, 240)) -> Frame:
    return Frame("c", ts, np.zeros((size[1], size[0], 3), np.uint8))


PERSON = Detection("person", 0.9, (10.0, 10.0, 60.0, 120.0), "m")


def test_a_zone_detection_becomes_a_candidate_and_opens_a_clue(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    frame = _frame(100.0)
    sensed = p.sense(frame, [PERSON])
    assert sensed is not None and [c.zone_id for c in sensed.candidates] == ["z"]
    assert [t.kind for t in p.confirm(frame, sensed)] == ["opened"]  # dwell 0


class _Paused:
    def allows(self, frame: Frame) -> bool:
        return False


class _Recording:
    def __init__(self) -> None:
        self.seen: list[float] = []

    def update(self, image: np.ndarray, ts: float) -> list[Detection]:
        self.seen.append(ts)
        return []


def test_a_paused_view_gives_no_candidates_but_the_stationary_model_keeps_learning(tmp_path: Path) -> None:
    p = _pipeline(tmp_path, stationary=True)
    assert p.stationary is not None  # a zone uses static_object
    recording = _Recording()
    p.stationary, p.view = recording, _Paused()  # type: ignore[assignment]
    seen: list[Frame] = []
    assert p.sense(_frame(1.0), [PERSON], seen.append) is None
    assert recording.seen == [1.0] and seen == [] and p.matcher is None


def test_no_stationary_model_where_no_zone_uses_its_label(tmp_path: Path) -> None:
    assert _pipeline(tmp_path).stationary is None


def test_fixtures_are_rescaled_when_the_stream_changes_size(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    fixture = FixtureSetting(zone="z", category="0508", box=(0.0, 0.0, 0.5, 0.5))
    p.set_fixtures([fixture])
    p.sense(_frame(1.0, (320, 240)), [])
    assert p.confirmer._fixtures == tuple(fixtures_px([fixture], (320, 240)))
    p.sense(_frame(2.0, (640, 480)), [])
    assert p.confirmer._fixtures == tuple(fixtures_px([fixture], (640, 480)))
    assert p.matcher is not None and p.frame_size == (640, 480)
    # An object on the fixture (in the new frame's pixels) raises no clue; the one at the old pixels does.
    frame = _frame(3.0, (640, 480))
    sensed = p.sense(frame, [Detection("person", 0.9, (0.0, 0.0, 320.0, 240.0), "m")])
    assert sensed is not None and p.confirm(frame, sensed) == []
    frame = _frame(4.0, (640, 480))
    sensed = p.sense(frame, [Detection("person", 0.9, (0.0, 0.0, 160.0, 120.0), "m")])
    assert sensed is not None and [t.kind for t in p.confirm(frame, sensed)] == ["opened"]
