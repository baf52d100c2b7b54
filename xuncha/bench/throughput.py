"""`xuncha bench throughput`: N cameras of real footage through the real `Worker`, CPU split by stage.

Each camera is one footage file decoded as its own stream (files are reused in turn when N exceeds
them), with a whole-frame zone and a 0507 rule so that zones, confirmation, evidence and publishing
do their real work. The worker runs `once` (as fast as it can), so CPU per sample is what one
sample costs; a camera sampled every `interval_s` needs 1 / interval_s samples a second, hence
cameras per core = interval_s / CPU per sample.

Stages are timed by wrapping the worker instance's own methods (no change to the worker): decode =
fetching the next frame from each camera's FileSource, detect = `_detect`, stationary = the stationary model's
`update`, evidence = `_evidence`, publish = the spool/broker publish, and zones+confirmation = the
rest of `_process`. CPU is process CPU time (onnxruntime's and PyAV's threads included) over each
call; the loop itself is sequential, so the stages do not overlap.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.worker import Worker

FOOTAGE = ("sidewalk_bag_left.avi", "indoor_people_standing.mp4", "carpark_topdown.mp4", "shopping_street.mp4")
STAGES = ("decode", "detect", "stationary", "zones+confirmation", "evidence", "publish")


class _Clock:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.cpu["process"] = 0.0

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kw: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*args, **kw)
            finally:
                self.cpu[stage] += time.process_time() - t

        return timed


def _config(
    footage_dir: Path,
    out_dir: Path,
    cameras: int,
    interval_s: float,
    model: str,
    threads: int | None,
    garbage_model: str | None = None,
) -> dict:
    whole = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    # With a garbage model every zone watches 暴露垃圾 too (garbage recognition on every camera).
    scene = {"scene": ["exposed_garbage"], "dwell_s": 10} if garbage_model else {}
    rule = {
        "category": "0507",
        "labels": ["static_object", "suitcase", "backpack", "handbag"],
        "exclude_labels": ["person"],
        "min_area": 0.001,
        "max_area": 0.3,
        "dwell_s": 10,
    }
    return {
        "data_dir": str(out_dir / "throughput-var"),
        "detectors": {"models": [model, *([garbage_model] if garbage_model else [])], "threads": threads},
        "cameras": [
            {
                "id": f"cam{i:02d}",
                "source": str(footage_dir / FOOTAGE[i % len(FOOTAGE)]),
                "sample_interval_s": interval_s,
                "start_time": datetime(2026, 5, 1, 9, tzinfo=UTC).isoformat(),
                "zones": [{"id": "all", "name": "全画面", "polygon": whole, "rules": [rule], **scene}],
            }
            for i in range(cameras)
        ],
    }


def run_throughput(
    footage_dir: Path,
    out_dir: Path,
    *,
    cameras: int = 8,
    interval_s: float = 2.0,
    model: str = "yolox_nano_coco",
    threads: int | None = None,
    garbage_model: str | None = None,
) -> dict:
    """Run the worker once over N file cameras; CPU per sample by stage and the cameras one core sustains.

    `garbage_model` (a card or .onnx) adds garbage recognition: the model runs on every camera.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = WorkerConfig.model_validate(_config(footage_dir, out_dir, cameras, interval_s, model, threads, garbage_model))
    cfg, taxonomy = resolve_config(cfg, out_dir, "throughput")
    worker = Worker(cfg, taxonomy)
    clock = _Clock()
    make_camera, make_source = worker.camera, worker.file_source

    def camera(*args: Any) -> Any:
        cam = make_camera(*args)
        stationary = cam.pipeline.stationary
        if stationary is not None:
            stationary.update = clock.wrap("stationary", stationary.update)  # type: ignore[method-assign]
        return cam

    def source(*args: Any) -> Any:
        src = make_source(*args)
        frames = src.frames

        def timed_frames() -> Iterator[Any]:
            it = frames()
            step = clock.wrap("decode", lambda: next(it, None))
            while (frame := step()) is not None:
                yield frame

        src.frames = timed_frames  # type: ignore[method-assign]
        return src

    worker.camera = camera  # type: ignore[method-assign]
    worker.file_source = source  # type: ignore[method-assign]
    worker.detect = clock.wrap("detect", worker.detect)  # type: ignore[method-assign]
    publisher = worker.publisher
    publisher.evidence = clock.wrap("evidence", publisher.evidence)  # type: ignore[method-assign]
    worker.process = clock.wrap("process", worker.process)  # type: ignore[method-assign]
    worker.spool.publish = clock.wrap("publish", worker.spool.publish)  # type: ignore[method-assign]

    wall0, cpu0 = time.perf_counter(), time.process_time()
    summary = worker.run(once=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = max(1, summary.samples)
    c = clock.cpu
    c["zones+confirmation"] = c.pop("process") - sum(c[s] for s in ("detect", "stationary", "evidence", "publish"))
    per_sample = {s: 1000 * c[s] / n for s in STAGES}
    cpu_per_sample = cpu / n
    bare = _bare_inference_ms(worker, footage_dir)
    return {
        "machine": _machine(),
        "model": model,
        "threads": threads,
        "cameras": cameras,
        "interval_s": interval_s,
        "samples": summary.samples,
        "clues_opened": sum(e.kind == "opened" for e in summary.events),
        "failed_cameras": summary.failed_cameras,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_sample": round(1000 * cpu_per_sample, 2),
        "cpu_ms_per_sample_by_stage": {s: round(v, 2) for s, v in per_sample.items()},
        "other_ms_per_sample": round(1000 * cpu_per_sample - sum(per_sample.values()), 2),
        "cameras_per_core": round(interval_s / cpu_per_sample, 1),
        "samples_per_wall_s": round(summary.samples / wall, 2),
        "cameras_sustained_wall": round(summary.samples / wall * interval_s, 1),
        "bare_infer_cpu_ms_per_frame": round(bare, 2),
        "overhead_over_bare_infer": round(1000 * cpu_per_sample / bare, 2) if bare else None,
    }


def _bare_inference_ms(worker: Worker, footage_dir: Path, frames: int = 30) -> float:
    """CPU ms of bare `session.run` per frame on the first detector, batch 1, on real frames."""
    import av

    if not worker.detectors:
        return 0.0
    det = worker.detectors[0]
    with av.open(str(footage_dir / FOOTAGE[0])) as c:
        images = [f.to_ndarray(format="bgr24") for _, f in zip(range(frames), c.decode(video=0), strict=False)]
    blobs = [det.preprocess([im])[0] for im in images]
    det.infer(blobs[0])  # warm-up
    t = time.process_time()
    for b in blobs:
        det.infer(b)
    return 1000 * (time.process_time() - t) / len(blobs)


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, {platform.system()} {platform.release()}, numpy {np.__version__}"


def format_report(r: dict) -> str:
    lines = [
        f"machine: {r['machine']}",
        f"{r['cameras']} cameras, one sample per {r['interval_s']} s, model {r['model']} "
        f"(threads {r['threads'] or 'default'}): {r['samples']} samples in {r['wall_s']} s wall, {r['cpu_s']} s CPU",
        f"CPU per sample: {r['cpu_ms_per_sample']} ms -> {r['cameras_per_core']} cameras per core "
        f"(wall: {r['cameras_sustained_wall']} cameras sustained by this process)",
        "by stage (CPU ms per sample):",
    ]
    lines += [f"  {s:20s} {v:8.2f}" for s, v in r["cpu_ms_per_sample_by_stage"].items()]
    lines.append(f"  {'other (loop)':20s} {r['other_ms_per_sample']:8.2f}")
    lines.append(
        f"bare onnxruntime session.run: {r['bare_infer_cpu_ms_per_frame']} CPU ms per frame; "
        f"full worker per sample = {r['overhead_over_bare_infer']}x that"
    )
    return "\n".join(lines)
