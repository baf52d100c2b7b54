"""The second look (xuncha/pipeline/look.py): where the pipeline looks again, and what it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import numpy as np

from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.pipeline.camera import CameraPipeline
from xuncha.pipeline.look import LookParams, regions
from xuncha.types import Detection, Frame

WHOLE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
SIZE = (800, 600)
BAG = (400.0, 480.0, 420.0, 504.0)  # 20x24 px: 8x10 px after the whole frame is shrunk to 320


class _Recorder:
    """Stands in for the stationary model: reports the given blob on every sample."""

    def __init__(self, blobs: list[Detection]) -> None:
        self.blobs = blobs

    def update(self, image: np.ndarray, ts: float) -> list[Detection]:
        return list(self.blobs)


class _CropModel:
    """Stands in for the garbage model: finds the bag only on a crop (as the real one on the street
    camera), answering in the crop's pixels; also boxes something elsewhere in each crop."""

    labels = ["garbage"]

    def __init__(self) -> None:
        self.crops: list[tuple[int, int]] = []

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        out = []
        for img in images:
            self.crops.append(img.shape[1::-1])
            bag = (38.0, 36.0, 58.0, 60.0)  # where BAG lies in the crop the pipeline should cut
            out.append(
                [Detection("garbage", 0.86, bag, "garbage"), Detection("garbage", 0.9, (0, 0, 20, 20), "garbage")]
            )
        return out


def _pipeline(tmp_path: Path, scenes: list[str]) -> CameraPipeline:
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "detectors": {"models": [], "stationary": True},
            "cameras": [
                {
                    "id": "c",
                    "name": "c",
                    "source": "x.mp4",
                    "zones": [{"id": "z", "name": "人行道", "polygon": WHOLE, "scene": scenes, "dwell_s": 30}],
                }
            ],
        }
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    (cam,) = cfg.cameras
    p = CameraPipeline.build(
        cam,
        taxonomy,
        cfg.confirm_params(cam.sample_interval_s),
        cfg.stationary_params(),
        cfg.text_params(),
        lambda _image: [],
        UTC,
    )
    return p


def _frame(ts: float) -> Frame:
    return Frame("c", ts, np.zeros((SIZE[1], SIZE[0], 3), np.uint8))


def test_a_stationary_object_the_whole_frame_did_not_name_is_named_by_the_crop(tmp_path: Path) -> None:
    p = _pipeline(tmp_path, ["exposed_garbage", "piled_materials"])
    p.stationary = _Recorder([Detection("static_object", 0.6, BAG, "stationary")])  # type: ignore[assignment]
    model = _CropModel()
    sensed = p.sense(_frame(100.0), [], look=[model])  # type: ignore[list-item]
    assert sensed is not None
    assert model.crops == [(96, 96)]  # 4x the bag's longer side, at least 96 px
    assert [(c.category, c.detection.label) for c in sensed.candidates] == [("0102", "garbage")]
    # the crop's other box (a fixture seen large) is dropped: only the blob's place counts
    assert [d.label for d in sensed.detections].count("garbage") == 1
    assert p.looks == 1


def test_without_the_look_the_object_stays_generic(tmp_path: Path) -> None:
    p = _pipeline(tmp_path, ["exposed_garbage", "piled_materials"])
    p.stationary = _Recorder([Detection("static_object", 0.6, BAG, "stationary")])  # type: ignore[assignment]
    sensed = p.sense(_frame(100.0), [])
    assert sensed is not None and [c.category for c in sensed.candidates] == ["0507"]


def test_a_track_the_stationary_model_lost_is_looked_at_again(tmp_path: Path) -> None:
    """The stationary model sees a small bag only now and then: once a track exists, its place is looked
    at every sample, so the track keeps its sightings."""
    p = _pipeline(tmp_path, ["exposed_garbage", "piled_materials"])
    recorder = _Recorder([Detection("static_object", 0.6, BAG, "stationary")])
    p.stationary = recorder  # type: ignore[assignment]
    model = _CropModel()
    first = p.sense(_frame(100.0), [], look=[model])  # type: ignore[list-item]
    assert first is not None
    p.confirm(_frame(100.0), first)
    recorder.blobs = []  # lost by the stationary model
    second = p.sense(_frame(102.0), [], look=[model])  # type: ignore[list-item]
    assert second is not None and [c.category for c in second.candidates] == ["0102"]
    assert len(model.crops) == 2


def test_no_look_where_no_zone_has_a_rule_for_the_models_labels(tmp_path: Path) -> None:
    p = _pipeline(tmp_path, ["piled_materials"])
    p.stationary = _Recorder([Detection("static_object", 0.6, BAG, "stationary")])  # type: ignore[assignment]
    model = _CropModel()
    sensed = p.sense(_frame(100.0), [], look=[model])  # type: ignore[list-item]
    assert sensed is not None and model.crops == [] and [c.category for c in sensed.candidates] == ["0507"]


def test_no_look_at_an_object_the_whole_frame_already_shows_large() -> None:
    big = (100.0, 100.0, 300.0, 350.0)  # 4x its side is wider than the frame
    assert regions([big], SIZE, LookParams()) == []


def test_at_most_max_objects_crops_largest_first() -> None:
    places = [(10.0 * i, 10.0, 10.0 * i + 5 + i, 30.0) for i in range(1, 8)]
    chosen = regions(places, SIZE, LookParams(max_objects=3))
    assert [box for box, _ in chosen] == [places[6], places[5], places[4]]
    assert all(x1 >= 0 and y1 >= 0 and x2 <= SIZE[0] and y2 <= SIZE[1] for _, (x1, y1, x2, y2) in chosen)
