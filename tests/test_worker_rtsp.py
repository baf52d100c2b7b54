"""The live worker on real RTSP streams: two cameras, one server killed and restarted, the other unaffected.

Worker in this process (live mode), GStreamer's RTSP server as child processes, real models.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from conftest import shared_file
from rtsp_server import RtspServer, looped_copy, missing_requirements

from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.worker import Worker

PASSWORD = "s3cret-Pa55"
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def wait(predicate, timeout: float, what: str) -> float:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.1)
    pytest.fail(f"not within {timeout}s: {what}")


def test_worker_survives_a_killed_camera_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    shared_file("models/yolox_nano_coco.onnx")
    clip = looped_copy(shared_file("footage/indoor_people_standing.mp4"), tmp_path / "indoor.mp4", 300)
    steady = RtspServer({"cam": clip}).start()
    flaky = RtspServer({"cam": clip}, auth=("admin", PASSWORD)).start()
    rule = {"category": "0508", "labels": ["person"], "min_score": 0.4, "dwell_s": 2}
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path / "var"),
            "detectors": {"models": ["yolox_nano_coco"], "stationary": False, "threads": 1},
            "cameras": [
                {
                    "id": cid,
                    "source": url,
                    "sample_interval_s": 1.0,
                    "zones": [{"id": "floor", "name": "地面", "polygon": WHOLE, "rules": [rule]}],
                }
                for cid, url in (("steady", steady.url("cam")), ("flaky", flaky.url("cam", f"admin:{PASSWORD}")))
            ],
        }
    )
    cfg, taxonomy = resolve_config(cfg, tmp_path, "test")
    worker = Worker(cfg, taxonomy)
    stop = threading.Event()
    caplog.set_level(logging.DEBUG)
    thread = threading.Thread(target=lambda: worker.run(once=False, stop=stop), daemon=True)
    thread.start()

    def samples(cid: str) -> float:
        return worker.metrics.samples.labels(cid)._value.get()

    def state(cid: str) -> str | None:
        return worker.health()["cameras"].get(cid, {}).get("state")

    try:
        wait(lambda: samples("steady") >= 3 and samples("flaky") >= 3, 40, "both cameras sampled")
        flaky.kill()
        down_after = wait(lambda: state("flaky") == "down", 15, "flaky camera shown down")
        assert worker.health()["ok"] is False
        before = samples("steady")
        time.sleep(4)
        assert samples("steady") >= before + 2  # the other camera goes on during the outage
        flaky.start()  # same port, like a camera coming back
        back_after = wait(lambda: state("flaky") == "up", 40, "flaky camera back up")
        n = samples("flaky")
        wait(lambda: samples("flaky") >= n + 2, 15, "flaky camera sampled again")
        assert worker.health()["ok"] is True
    finally:
        stop.set()
        thread.join(30)
        steady.stop()
        flaky.stop()
    assert not thread.is_alive(), "worker did not stop"
    assert down_after < 15 and back_after < 40
    health_text = str(worker.health())
    assert PASSWORD not in caplog.text and PASSWORD not in health_text
    assert "admin:***@" in caplog.text  # the URL is logged, masked
