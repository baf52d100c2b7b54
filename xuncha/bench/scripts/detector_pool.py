"""Detector pool: frames per second of one worker's detection step, serial against the pool.

The worker hands each model the frames of all cameras due in one batch. Three ways to run them,
interleaved round-robin in one loop so machine load hits all alike (medians of `--repeat`):

  serial, 1 thread     one batch after another, one intra-op thread (a core idles)
  serial, N threads    one batch after another, N intra-op threads (the old default)
  pool N x 1 thread    N batches at once on the DetectorPool, one intra-op thread each (the new default)

    .venv/bin/xuncha bench detector-pool [--model garbage] [--frames 32] [--batch 8] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from xuncha.bench.scripts.detector import read_frames
from xuncha.detector.cards import load_detector
from xuncha.detector.pool import DetectorPool

FOOTAGE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "footage" / "sidewalk_bag_left.avi"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="garbage", help="card name or .onnx path")
    ap.add_argument("--frames", type=int, default=32, help="frames per detection step (cameras due at once)")
    ap.add_argument("--batch", type=int, default=8, help="detectors.batch_size")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if not FOOTAGE.is_file():
        print(f"footage missing: {FOOTAGE}", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    frames = read_frames(FOOTAGE, args.frames)
    ways = {
        "serial, 1 thread": (load_detector(args.model, threads=1), DetectorPool(1)),
        f"serial, {cores} threads": (load_detector(args.model, threads=cores), DetectorPool(1)),
        f"pool {cores} x 1 thread": (load_detector(args.model, threads=1), DetectorPool(cores)),
    }
    times: dict[str, list[float]] = {k: [] for k in ways}
    for det, pool in ways.values():
        pool.detect(det, frames, args.batch)  # warm up
    for _ in range(args.repeat):
        for name, (det, pool) in ways.items():
            t0 = time.perf_counter()
            pool.detect(det, frames, args.batch)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["serial, 1 thread"])
    print(f"{args.model}, {args.frames} frames of {FOOTAGE.name}, batch {args.batch}, {cores} cores")
    print("| way | frames/s | ms/frame | speed-up over serial, 1 thread |\n|---|---|---|---|")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"| {name} | {args.frames / m:.1f} | {1000 * m / args.frames:.1f} | {base / m:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
