"""The worker on a moved camera: a shifted clip raises the view alarm and pauses the zones."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import pytest
from conftest import shared_file
from test_worker import BOX_ZONE, NO_DUMPING, camera, opened, run

from xuncha.bench.viewclips import frames, lit, ramp, shifted, write_clip
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.metrics import WorkerMetrics
from xuncha.view.check import ViewParams
from xuncha.view.guard import ViewGuard
from xuncha.worker import Worker


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The picture the zone was drawn on: the empty sidewalk, first frame of the clip."""
    path = tmp_path_factory.mktemp("ref") / "sidewalk.jpg"
    cv2.imwrite(str(path), next(frames(shared_file("footage/sidewalk_bag_left.avi"))))
    return path


def sidewalk(video: Path, reference: Path) -> dict:
    cam = camera("sidewalk", video, BOX_ZONE, [NO_DUMPING])
    cam["zones"] = {"reference_image": str(reference), "zones": cam["zones"]}
    return cam


def test_shifted_camera_raises_the_alarm_and_pauses_its_zones(
    tmp_path: Path, reference: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="xuncha.view")
    shared_file("models/yolox_nano_coco.onnx")
    src = shared_file("footage/sidewalk_bag_left.avi")
    video = write_clip(src, tmp_path / "moved.avi", lambda i, n, img: shifted(img, 0.04, 0.03))
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path),
            "detectors": {"models": ["yolox_nano_coco"]},
            "cameras": [sidewalk(video, reference)],
        }
    )
    worker = Worker(*resolve_config(cfg, tmp_path, "test"))
    summary = worker.run(once=True)

    assert opened(summary, "sidewalk") == []  # the bag is left inside the drawn zone, but the zone is paused
    assert summary.samples >= 38
    alarms = [r.getMessage() for r in caplog.records if "VIEW CHANGED" in r.getMessage()]
    assert len(alarms) == 1, alarms
    shift = re.search(r"suggested shift of the zones ([-+.\d]+), ([-+.\d]+)", alarms[0])
    assert shift is not None, alarms[0]
    assert float(shift[1]) == pytest.approx(0.04, abs=0.005) and float(shift[2]) == pytest.approx(0.03, abs=0.005)
    assert b'xuncha_view_changed{camera="sidewalk"} 1.0' in worker.metrics.render()


def test_people_and_a_lighting_ramp_keep_the_zones_on(tmp_path: Path, reference: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    src = shared_file("footage/sidewalk_bag_left.avi")
    video = write_clip(src, tmp_path / "ramp.avi", lambda i, n, img: lit(img, ramp(i, n)))
    summary = run(tmp_path, [sidewalk(video, reference)])
    assert len(opened(summary, "sidewalk")) == 1  # the left bag, as on the original clip


def test_an_unreadable_reference_turns_the_check_off_for_that_camera_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gauge = WorkerMetrics().view_changed
    assert ViewGuard.for_camera("cam-7", None, gauge, ViewParams()) is None
    assert ViewGuard.for_camera("cam-7", str(tmp_path / "missing.jpg"), gauge, ViewParams()) is None
    assert "camera cam-7: view check off: reference picture" in caplog.text and "missing.jpg" in caplog.text
