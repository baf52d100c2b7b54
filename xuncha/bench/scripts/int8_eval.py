"""Static int8 QDQ of a shipped garbage ONNX model: head exclusions, calibration sets and methods, beside fp32.

Quantises the fp32 ONNX file directly (`xuncha/train/quantize.py`) (the run's .pt is not needed) into variants named
`HEAD:CALIB:N:METHOD[:FLAGS]` and measures each beside fp32 with `train_eval.py`'s functions:
test-photo mAP50 (threshold = best F1 on validation composites), the real bag found, false detections
per 100 bag-free frames, and ms per frame at one thread, interleaved with fp32 in one loop (ratios).

- HEAD `all`: the whole Detect head in float (as train_eval quantises); `last`: only the final 1x1
  convs of each branch (cv2.*.2, cv3.*.2) and the decode (DFL, box decode, sigmoid, output concat, which
  mixes 0-320 pixel boxes and 0-1 scores) in float, the rest of the head int8.
- CALIB `cctv`: composites of training cut-outs (half recoloured dark) on the clips' training segments and
  bag-free frames of their training stretches (never test photos, never the sidewalk clip after 9 s);
  `mix`: two thirds of that plus one third training photos.
- METHOD: MinMax, Percentile (99.999 %), Entropy. FLAGS: `rr` reduce_range (7-bit weights),
  `sym` symmetric int8 activations, `fsilu` SiLU in float.

    xuncha bench int8-eval --model xuncha/models/garbage_fp32.onnx --out var/int8_eval \\
        --variants last:cctv:200:Percentile last:mix:200:Percentile all:cctv:200:MinMax
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from xuncha.bench.scripts.train_eval import (
    BAG_FREE,
    DATA,
    FRAMES_PER_S,
    REAL_BAG_FROM_S,
    accuracy,
    clip_frames,
    composited,
    covers_bag,
    run_full,
    save_evidence,
    speed,
    yolo_images,
)
from xuncha.detector.onnx import OnnxDetector
from xuncha.train import cctv
from xuncha.train.composite import CutoutLibrary
from xuncha.train.prepare import prepare
from xuncha.train.quantize import head_exclusions, quantize_qdq
from xuncha.train.split import STREET_TRASHBAGS_SPLIT


def calibration_images(kind: str, n: int, photos_dir: Path, seed: int = 7) -> list[np.ndarray]:
    """CCTV-like calibration frames: composites with (dark) bags and bag-free training-stretch frames."""
    n_photos = n // 3 if kind == "mix" else 0
    n_cctv = n - n_photos
    lib = CutoutLibrary(DATA / "datasets" / "street_trashbags", "train")
    composite_cams = [c for c, cam in cctv.CAMERAS.items() if "train" in cam.segments]
    n_comp, n_neg = n_cctv * 2 // 3, n_cctv - n_cctv * 2 // 3
    images = []
    for k, cam in enumerate(composite_cams):
        count = n_comp // len(composite_cams) + (k < n_comp % len(composite_cams))
        scenes = cctv.scenes(cam, "train", DATA / "footage", lib, count, seed + k, 3, dark_share=0.5)
        images += [s.image for s in scenes]
    for k, cam in enumerate(cctv.CAMERAS):
        count = n_neg // len(cctv.CAMERAS) + (k < n_neg % len(cctv.CAMERAS))
        images += [s.image for s in cctv.negatives(cam, DATA / "footage", count, seed + 10 + k)]
    if n_photos:
        paths = sorted(photos_dir.iterdir())
        images += [cv2.imread(str(p)) for p in paths[:: max(1, len(paths) // n_photos)][:n_photos]]
    return images


def evaluate(detect, data: dict, evidence: Path, fp32_thr: float | None) -> dict:
    """train_eval's row: threshold from validation composites, photos, composites, real bag, false alarms.

    The real bag and false alarms are also counted at fp32's threshold (`at_fp32_threshold`): int8
    could then ship without changing the scene's min_score."""
    thr = accuracy(detect, data["val"]).f1_threshold
    photos = accuracy(detect, data["photos"])
    comp = accuracy(detect, data["cctv"])
    bag_scores = [max((s for b, s in detect(f) if covers_bag(b)), default=0.0) for f in data["bag"]]
    free = data["free"]
    free_scores = {c: [[s for _, s in detect(f)] for f in frames] for c, frames in free.items()}
    save_evidence(evidence, detect, thr, data["bag"], free)

    def at(t: float) -> dict:
        fp = {c: sum(s >= t for frame in frames for s in frame) for c, frames in free_scores.items()}
        return {
            "real_bag_found": float(np.mean([s >= t for s in bag_scores])),
            "false_per_100_frames": 100 * sum(fp.values()) / sum(map(len, free.values())),
            "false_per_clip": {c: (int(fp[c]), len(free[c])) for c in free},
        }

    return {
        "threshold": round(thr, 3),
        "photos": photos.__dict__,
        "cctv": comp.__dict__,
        "real_bag_best_score_median": float(np.median(bag_scores)),
        **at(thr),
        "at_fp32_threshold": at(fp32_thr if fp32_thr is not None else thr),
    }


def op_profile(model: Path, frame: np.ndarray, out: Path, runs: int = 20) -> dict[str, float]:
    """Mean ms per run spent in each op type at one thread (onnxruntime's profiler; its file is removed)."""
    import onnxruntime as ort

    from xuncha.detector.onnx import session_options

    det = OnnxDetector(model, threads=1)
    so = session_options(1)
    so.enable_profiling = True
    so.profile_file_prefix = str(out / "ort_profile")
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    blob = det.preprocess([frame])[0]
    for _ in range(runs):
        sess.run(None, {det.input_name: blob})
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    per_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"]["op_name"]
            per_op[op] = per_op.get(op, 0.0) + e["dur"] / 1e3 / runs
    return dict(sorted(per_op.items(), key=lambda kv: -kv[1]))


def load_data(out: Path) -> dict:
    photos = prepare(DATA / "datasets" / "street_trashbags", out / "photos", STREET_TRASHBAGS_SPLIT, "garbage")
    root = photos.data_yaml.parent
    cctv_test = composited("test", "test", 50, 100, out)  # the same scenes train_eval makes (same seeds)
    return {
        "photos": yolo_images(root / "test" / "images"),
        "train_photos_dir": root / "train" / "images",
        "cctv": [x for f in cctv_test.values() for x in yolo_images(f)],
        "val": [x for f in composited("train", "val", 30, 200, out).values() for x in yolo_images(f)],
        "bag": clip_frames("sidewalk_bag_left.avi", REAL_BAG_FROM_S, 40.0, 2.0),
        "free": {name: clip_frames(clip, a, b, FRAMES_PER_S[clip]) for name, (clip, a, b) in BAG_FREE.items()},
    }


def line(name: str, r: dict) -> str:
    return (
        f"{name}: thr {r['threshold']:.2f} photos mAP50/mAP50-95/P/R {fmt_d(r['photos'])} | CCTV {fmt_d(r['cctv'])}"
        f" | real bag {r['real_bag_found']:.0%} (median {r['real_bag_best_score_median']:.2f})"
        f" | false {r['false_per_100_frames']:.1f}/100 {r['false_per_clip']}"
        f" | at fp32's threshold: real bag {r['at_fp32_threshold']['real_bag_found']:.0%},"
        f" false {r['at_fp32_threshold']['false_per_100_frames']:.1f}/100"
    )


def fmt_d(a: dict) -> str:
    return f"{a['map50']:.3f} / {a['map50_95']:.3f} / {a['precision']:.3f} / {a['recall']:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("xuncha/models/garbage_fp32.onnx"), help="fp32 ONNX")
    parser.add_argument("--out", type=Path, default=Path("var/int8_eval"))
    parser.add_argument("--variants", nargs="*", default=["last:cctv:200:Percentile"])
    parser.add_argument("--repeat", type=int, default=15, help="interleaved timed runs per model (median)")
    parser.add_argument("--threads", type=int, default=2, help="threads for the accuracy runs (speed uses 1)")
    parser.add_argument("--profile", action="store_true", help="onnxruntime per-op-type times, fp32 and int8")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"shared data missing: {DATA}", file=sys.stderr)
        return 2
    os.environ.setdefault("YOLO_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results: dict = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results.setdefault("rows", {})
    data = load_data(args.out)

    def run(name: str, path: Path) -> None:
        if "at_fp32_threshold" in results["rows"].get(name, {}):
            print(line(name, results["rows"][name]) + " (cached)", flush=True)
            return
        t0 = time.time()
        detect = run_full(OnnxDetector(path, threads=args.threads, conf=0.001))
        fp32_thr = results["rows"]["fp32"]["threshold"] if name != "fp32" else None
        results["rows"][name] = evaluate(detect, data, args.out / "evidence" / name.replace(":", "_"), fp32_thr)
        results_path.write_text(json.dumps(results, indent=1))
        print(line(name, results["rows"][name]) + f" [{time.time() - t0:.0f} s]", flush=True)

    run("fp32", args.model)
    paths = {}
    for v in args.variants:
        head, calib, n, method, *flags = v.split(":")
        path = paths[v] = args.out / f"garbage_int8_{v.replace(':', '_')}.onnx"
        if not path.is_file():
            t0 = time.time()
            images = calibration_images(calib, int(n), data["train_photos_dir"])
            quantize_qdq(args.model, path, images, method, head_exclusions(args.model, head), set(flags))
            print(f"quantised {v} on {len(images)} images [{time.time() - t0:.0f} s]", flush=True)
        run(v, path)

    frame = data["bag"][0]
    runners: dict[str, Callable[[np.ndarray], object]] = {
        "fp32": run_full(OnnxDetector(args.model, threads=1, conf=0.25))
    }
    runners.update({v: run_full(OnnxDetector(p, threads=1, conf=0.25)) for v, p in paths.items()})
    ms = speed(runners, frame, args.repeat)
    results["ms_per_frame_1_thread"] = ms
    for k, v in ms.items():
        print(f"speed {k}: {v:.1f} ms/frame ({v / ms['fp32']:.2f}x of fp32)", flush=True)
    if args.profile:
        results["op_ms"] = {k: op_profile(p, frame, args.out) for k, p in {"fp32": args.model, **paths}.items()}
        for k, ops in results["op_ms"].items():
            print(f"ops {k}: " + ", ".join(f"{op} {t:.1f}" for op, t in list(ops.items())[:8]), flush=True)
    results_path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
