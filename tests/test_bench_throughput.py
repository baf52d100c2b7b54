"""The throughput bench on one real camera: the real worker runs and every stage is accounted for."""

from __future__ import annotations

from pathlib import Path

from conftest import shared_file

from xuncha.bench.throughput import STAGES, format_report, run_throughput


def test_throughput_splits_the_worker_cpu_by_stage(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    footage = shared_file("footage/sidewalk_bag_left.avi").parent
    r = run_throughput(footage, tmp_path, cameras=1, interval_s=4.0)
    assert r["failed_cameras"] == {}
    assert r["samples"] == 10  # 39 s of video, one sample per 4 s
    stages = r["cpu_ms_per_sample_by_stage"]
    assert set(stages) == set(STAGES)
    assert stages["decode"] > 0 and stages["detect"] > 0 and stages["stationary"] > 0
    # The stages are what the worker spent its CPU on: together close to, never above, the total.
    assert sum(stages.values()) <= r["cpu_ms_per_sample"] * 1.01
    assert sum(stages.values()) >= 0.8 * r["cpu_ms_per_sample"]
    assert r["bare_infer_cpu_ms_per_frame"] > 0 and r["cameras_per_core"] > 0
    assert "cameras per core" in format_report(r)
