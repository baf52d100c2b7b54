"""Detector benchmark: frames per second, stage split, and our overhead over bare InferenceSession.run.

For each shared model at its native input size, batch 1 and 4, 1 and 2 intra-op threads, on real
frames of shopping_street.mp4 (690x388). The baseline (bare `session.run` on the very input our
preprocessing made, in the chunks our detector runs) is timed in the same loop, alternating with
ours, so that a noisy machine slows both alike. Medians over `--repeat` runs. `(pre+post)/infer`
is our own work next to the model's, from the same calls; it is the steadier overhead figure.

    .venv/bin/xuncha bench detector [--repeat 15] [--models yolox_nano_coco ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

from xuncha.detector.cards import load_detector

MODELS = ("yolov8n_coco_int8", "yolo11n_coco_int8_320", "yolox_nano_coco")
FOOTAGE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "footage" / "shopping_street.mp4"


def read_frames(path: Path, n: int) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(n * 10), c.decode(video=0), strict=False)]
    return frames[::10][:n]


def bench(model: str, threads: int, batch: int, frames: list[np.ndarray], repeat: int) -> dict[str, float]:
    det = load_detector(model, threads=threads)
    images = frames[:batch]
    blob, _ = det.preprocess(images)
    chunk = det.batch or batch
    feeds = [{det.input_name: blob[i : i + chunk]} for i in range(0, batch, chunk)]
    ours, bare, pre, infer, post = [], [], [], [], []
    for _ in range(2):  # warm-up
        det.detect(images)
    for _ in range(repeat):
        t0 = time.perf_counter()
        det.detect(images)
        ours.append((time.perf_counter() - t0) / batch)
        pre.append(det.last_timing["pre"] / batch)
        infer.append(det.last_timing["infer"] / batch)
        post.append(det.last_timing["post"] / batch)
        t0 = time.perf_counter()
        for feed in feeds:
            det.session.run(None, feed)
        bare.append((time.perf_counter() - t0) / batch)
    med = statistics.median
    return {
        "fps": 1 / med(ours),
        "ms": med(ours) * 1e3,
        "pre": med(pre) * 1e3,
        "infer": med(infer) * 1e3,
        "post": med(post) * 1e3,
        "bare": med(bare) * 1e3,
        "ratio": med(o / b for o, b in zip(ours, bare, strict=True)),
        "overhead": med((p + q) / i for p, q, i in zip(pre, post, infer, strict=True)),
        "runs": len(feeds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per configuration (median)")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--footage", type=Path, default=FOOTAGE)
    args = parser.parse_args()
    if not args.footage.is_file():
        print(f"footage missing: {args.footage} (needs ../shared/data beside the checkout)", file=sys.stderr)
        return 2
    frames = read_frames(args.footage, 4)
    h, w = frames[0].shape[:2]
    print(f"frames {w}x{h} from {args.footage.name}; medians of {args.repeat} runs; times per frame in ms")
    print(
        f"{'model':24} {'thr':>3} {'batch':>5} {'runs':>4} {'fps':>6} {'ours':>7} {'pre':>6} {'infer':>7} "
        f"{'post':>6} {'bare':>7} {'ours/bare':>9} {'(pre+post)/infer':>16}"
    )
    for model in args.models:
        for threads in (1, 2):
            for batch in (1, 4):
                r = bench(model, threads, batch, frames, args.repeat)
                print(
                    f"{model:24} {threads:>3} {batch:>5} {r['runs']:>4} {r['fps']:6.1f} {r['ms']:7.2f} "
                    f"{r['pre']:6.2f} {r['infer']:7.2f} {r['post']:6.2f} {r['bare']:7.2f} {r['ratio']:9.3f} "
                    f"{r['overhead']:16.1%}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
