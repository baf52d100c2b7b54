"""Garbage detector benchmark: accuracy on held-out photos and CCTV, the real bag, false alarms, CPU speed.

Takes the trained weights (`best.pt` of a `xuncha train` run), exports them as ONNX at 320 (fp32) and
as static int8 QDQ variants (MinMax and Percentile calibration), and measures them beside the model
shipped before (`--baseline`, its ONNX file as shipped), all in one run:

- mAP50, mAP50-95, P, R on the held-out test photos of street_trashbags (split file, one class);
- the same on composited CCTV test scenes: test-split cut-outs on the unseen car-park camera and on
  held-out segments of the other clips (`xuncha/train/cctv.py`), per camera;
- the real bag in sidewalk_bag_left.avi after 13 s: share of frames (2 per second) where a detection
  at the threshold covers it; false detections per 100 bag-free frames of all four clips;
- three ways to run the model on a frame: the whole frame at 640, at 320, and 320 tiles of the frame
  at its own resolution (what running on a zone's crop does);
- CPU ms per frame, one thread, every variant beside yolo11n@320 and yolox_nano in the same loop.

The threshold is chosen on validation composites (val-split cut-outs on the training segments), not on
any test data: the score with the best F1 there. Other weights (`--compare NAME=PT`) get the photo and
CCTV numbers at 640.

    .venv/bin/xuncha bench train-eval --pt RUN/ultralytics/weights/best.pt --out var/train_eval \\
        [--compare scratch=... converted=...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from xuncha.detector.cards import load_detector
from xuncha.detector.onnx import OnnxDetector
from xuncha.train import cctv
from xuncha.train.composite import CutoutLibrary
from xuncha.train.prepare import prepare, read_labels
from xuncha.train.quantize import head_exclusions, quantize_qdq
from xuncha.train.split import STREET_TRASHBAGS_SPLIT

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
# The real bag left in sidewalk_bag_left.avi at ~12 s (720x480 pixels), measured against the empty scene.
REAL_BAG = (450.0, 365.0, 502.0, 415.0)
REAL_BAG_FROM_S = 13.0
BAG_FREE = {  # name -> clip and seconds with no garbage in the picture
    "sidewalk 0-9 s": ("sidewalk_bag_left.avi", 0.0, 9.0),
    "shopping": ("shopping_street.mp4", 0.0, 5.0),
    "indoor": ("indoor_people_standing.mp4", 0.0, 140.0),
    # The first half gives training negatives (xuncha/train/cctv.py); the second half is never trained on.
    "car park 0-15 s": ("carpark_topdown.mp4", 0.0, 15.0),
    "car park 15-31 s (unseen)": ("carpark_topdown.mp4", 15.0, 31.0),
}
FRAMES_PER_S = {
    "sidewalk_bag_left.avi": 2.0,
    "shopping_street.mp4": 10.0,
    "indoor_people_standing.mp4": 1.0,
    "carpark_topdown.mp4": 2.0,
}
Boxes = list[tuple[tuple[float, float, float, float], float]]  # (xyxy, score)


# -- running a model ---------------------------------------------------------------------


def run_full(det: OnnxDetector) -> Callable[[np.ndarray], Boxes]:
    return lambda img: [(d.box, d.score) for d in det.detect_one(img)]


# -- accuracy ---------------------------------------------------------------------------------------


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def match(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """TP per prediction at IoU 0.50:0.95 (Ultralytics' matching: best IoU pairs first, one to one)."""
    thresholds = np.linspace(0.5, 0.95, 10)
    tp = np.zeros((len(pred), 10), bool)
    if not len(pred) or not len(truth):
        return tp
    iou = iou_matrix(truth, pred)
    for k, t in enumerate(thresholds):
        gi, pi = np.nonzero(iou >= t)
        if not len(gi):
            continue
        order = np.argsort(-iou[gi, pi])
        gi, pi = gi[order], pi[order]
        _, first_p = np.unique(pi, return_index=True)
        gi, pi = gi[first_p], pi[first_p]
        order = np.argsort(-iou[gi, pi])
        gi, pi = gi[order], pi[order]
        _, first_g = np.unique(gi, return_index=True)
        tp[pi[first_g], k] = True
    return tp


@dataclass
class Accuracy:
    map50: float
    map50_95: float
    precision: float
    recall: float
    f1_threshold: float
    images: int
    objects: int


def accuracy(detect: Callable[[np.ndarray], Boxes], images: list[tuple[np.ndarray, np.ndarray]]) -> Accuracy:
    from ultralytics.utils.metrics import ap_per_class

    tps, confs, n_obj = [], [], 0
    for img, truth in images:
        found = detect(img)
        pred = np.array([b for b, _ in found], dtype=np.float64).reshape(-1, 4)
        tps.append(match(pred, truth))
        confs.append(np.array([s for _, s in found]))
        n_obj += len(truth)
    tp, conf = np.concatenate(tps), np.concatenate(confs)
    if not len(tp):
        return Accuracy(0, 0, 0, 0, 1.0, len(images), n_obj)
    r = ap_per_class(tp, conf, np.zeros(len(conf)), np.zeros(n_obj))
    p, rec, ap, f1_curve, x = r[2], r[3], r[5], r[9], r[10]
    best = float(x[int(np.argmax(f1_curve.mean(0)))])
    return Accuracy(
        float(ap[:, 0].mean()), float(ap.mean()), float(p.mean()), float(rec.mean()), best, len(images), n_obj
    )


def yolo_images(images_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Images of a YOLO folder with their class-0 boxes in pixels."""
    out = []
    for p in sorted(images_dir.iterdir()):
        img = cv2.imread(str(p))
        h, w = img.shape[:2]
        boxes = read_labels(images_dir.parent / "labels" / f"{p.stem}.txt", None)
        xyxy = np.array(
            [[(b.cx - b.w / 2) * w, (b.cy - b.h / 2) * h, (b.cx + b.w / 2) * w, (b.cy + b.h / 2) * h] for b in boxes]
        ).reshape(-1, 4)
        out.append((img, xyxy))
    return out


def composited(use: cctv.Use, split: str, per_camera: int, seed: int, out: Path) -> dict[str, Path]:
    """Composited scenes written as YOLO folders per camera (kept between runs: same seed, same scenes)."""
    lib = CutoutLibrary(DATA / "datasets" / "street_trashbags", split)
    folders = {}
    for k, (name, cam) in enumerate(cctv.CAMERAS.items()):
        if use not in cam.segments:
            continue
        folder = out / f"{use}_{split}" / name / "images"
        if not folder.is_dir() or len(list(folder.iterdir())) != per_camera:
            shutil.rmtree(folder.parent, ignore_errors=True)
            for j, scene in enumerate(cctv.scenes(name, use, DATA / "footage", lib, per_camera, seed + k, 3)):
                cctv.write_yolo(scene, folder, f"{name}_{j:03d}")
        folders[name] = folder
    return folders


# -- footage: the real bag and bag-free frames -----------------------------------------------------


def clip_frames(clip: str, start: float, end: float, fps: float) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    with av.open(str(DATA / "footage" / clip)) as c:
        for f in c.decode(video=0):
            if f.time is None or f.time < start + len(frames) / fps - 1e-6:
                continue
            if f.time >= end:
                break
            frames.append(f.to_ndarray(format="bgr24"))
    return frames


def covers_bag(box: tuple[float, ...]) -> bool:
    """A detection on the real bag: IoU >= 0.3 with its box (a box around half the pavement does not count)."""
    return float(iou_matrix(np.array([box]), np.array([REAL_BAG]))[0, 0]) >= 0.3


def save_evidence(
    folder: Path, detect: Callable[[np.ndarray], Boxes], thr: float, bag: list[np.ndarray], free: dict
) -> None:
    """Up to 4 missed real-bag frames and 4 false detections as JPEGs (the bag's box green, detections red)."""
    folder.mkdir(parents=True, exist_ok=True)

    def draw(img: np.ndarray, found: Boxes, path: Path) -> None:
        out = img.copy()
        x1, y1, x2, y2 = map(int, REAL_BAG)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 200, 0), 1)
        for b, s in found:
            cv2.rectangle(out, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 0, 255), 2)
            cv2.putText(out, f"{s:.2f}", (int(b[0]), int(b[1]) - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
        cv2.imwrite(str(path), out)

    misses = [(i, f) for i, f in enumerate(bag) if not any(s >= thr and covers_bag(b) for b, s in detect(f))]
    for i, f in misses[:: max(1, len(misses) // 4)][:4]:
        draw(f, [(b, s) for b, s in detect(f) if s >= thr], folder / f"missed_bag_{i:02d}.jpg")
    false = [
        (c, i, f) for c, frames in free.items() for i, f in enumerate(frames) if any(s >= thr for _, s in detect(f))
    ]
    for c, i, f in false[:: max(1, len(false) // 4)][:4]:
        draw(f, [(b, s) for b, s in detect(f) if s >= thr], folder / f"false_{c.split()[0]}_{i:03d}.jpg")


# -- int8 ---------------------------------------------------------------------------------------------


# -- speed --------------------------------------------------------------------------------------------


def speed(runners: dict[str, Callable[[np.ndarray], object]], frame: np.ndarray, repeat: int) -> dict[str, float]:
    """Median ms per frame of each runner, interleaved round-robin so machine load hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    for fn in runners.values():
        fn(frame)
    for _ in range(repeat):
        for k, fn in runners.items():
            t0 = time.perf_counter()
            fn(frame)
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


# -- main -----------------------------------------------------------------------------------------------


def export(pt: Path, imgsz: int, out: Path) -> Path:
    if out.is_file():
        return out
    from ultralytics import YOLO

    shutil.move(YOLO(str(pt)).export(format="onnx", imgsz=imgsz, opset=17, simplify=False), out)
    return out


def fmt(a: Accuracy) -> str:
    return f"{a.map50:.3f} | {a.map50_95:.3f} | {a.precision:.3f} | {a.recall:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pt", type=Path, required=True, help="trained weights (best.pt of a xuncha train run)")
    parser.add_argument("--out", type=Path, default=Path("var/train_eval"))
    parser.add_argument(
        "--baseline", type=Path, required=True, help="the model shipped before (ONNX), measured in the same run"
    )
    parser.add_argument("--compare", nargs="*", default=[], help="NAME=PT: other weights (photos + CCTV at 640)")
    parser.add_argument("--per-camera", type=int, default=50, help="composited test scenes per camera")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per variant (median)")
    parser.add_argument("--threads", type=int, default=2, help="threads for the accuracy runs (speed uses 1)")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"shared data missing: {DATA}", file=sys.stderr)
        return 2
    os.environ.setdefault("YOLO_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"pt": str(args.pt)}

    # Data: test photos (split file), composited test / val scenes, footage frames.
    photos = prepare(DATA / "datasets" / "street_trashbags", args.out / "photos", STREET_TRASHBAGS_SPLIT, "garbage")
    test_photos = yolo_images(photos.data_yaml.parent / "test" / "images")
    cctv_test = {cam: yolo_images(f) for cam, f in composited("test", "test", args.per_camera, 100, args.out).items()}
    cctv_val = [x for f in composited("train", "val", 30, 200, args.out).values() for x in yolo_images(f)]
    all_cctv = [x for v in cctv_test.values() for x in v]
    bag_frames = clip_frames("sidewalk_bag_left.avi", REAL_BAG_FROM_S, 40.0, 2.0)
    free = {name: clip_frames(clip, a, b, FRAMES_PER_S[clip]) for name, (clip, a, b) in BAG_FREE.items()}
    print(
        f"test photos {len(test_photos)}; CCTV test scenes {len(all_cctv)} ({', '.join(cctv_test)}); "
        f"val scenes {len(cctv_val)}; real-bag frames {len(bag_frames)}; bag-free frames "
        f"{sum(map(len, free.values()))}",
        flush=True,
    )

    # The model shipped before (ONNX as it is) beside the new weights at 320: fp32 and static int8 QDQ,
    # calibrated on CCTV frames (validation composites on the training segments, bag-free footage).
    f320 = export(args.pt, 320, args.out / "garbage_320.onnx")
    int8 = {m: args.out / f"garbage_320_int8_{m.lower()}.onnx" for m in ("MinMax", "Percentile")}
    calib = [img for img, _ in cctv_val[::2]][:40] + free["sidewalk 0-9 s"][::3] + free["car park 0-15 s"][::5]
    for method, path in int8.items():
        if not path.is_file():
            quantize_qdq(f320, path, calib, method, head_exclusions(f320, "all"))
    dets = {p: OnnxDetector(p, threads=args.threads, conf=0.001) for p in (args.baseline, f320, *int8.values())}
    modes = {
        f"before: {args.baseline.name}": run_full(dets[args.baseline]),
        "new fp32 320": run_full(dets[f320]),
        **{f"new int8 320 (static QDQ, {m})": run_full(dets[p]) for m, p in int8.items()},
    }

    rows = []
    for name, detect in modes.items():
        t0 = time.time()
        val = accuracy(detect, cctv_val)
        thr = val.f1_threshold
        acc_photos = accuracy(detect, test_photos)
        acc_cctv = accuracy(detect, all_cctv)
        per_cam = {cam: accuracy(detect, imgs) for cam, imgs in cctv_test.items()}
        bag_scores = [max((s for b, s in detect(f) if covers_bag(b)), default=0.0) for f in bag_frames]
        fp = {clip: sum(1 for f in frames for _, s in detect(f) if s >= thr) for clip, frames in free.items()}
        save_evidence(args.out / "evidence" / name.split(":")[0].replace(" ", "_"), detect, thr, bag_frames, free)
        n_free = sum(map(len, free.values()))
        row = {
            "mode": name,
            "threshold": round(thr, 3),
            "photos": acc_photos.__dict__,
            "cctv": acc_cctv.__dict__,
            "cctv_per_camera": {c: a.__dict__ for c, a in per_cam.items()},
            "real_bag_found": float(np.mean([s >= thr for s in bag_scores])),
            "real_bag_best_score_median": float(np.median(bag_scores)),
            "false_per_100_frames": 100 * sum(fp.values()) / n_free,
            "false_per_clip": {c: (fp[c], len(free[c])) for c in free},
        }
        rows.append(row)
        print(
            f"{name}: thr {thr:.2f} photos {fmt(acc_photos)} | CCTV {fmt(acc_cctv)} | per camera "
            + ", ".join(f"{c} {a.map50:.3f}" for c, a in per_cam.items())
            + f" | real bag {row['real_bag_found']:.0%} (median best score {row['real_bag_best_score_median']:.2f})"
            + f" | false {row['false_per_100_frames']:.1f}/100 frames {row['false_per_clip']}"
            + f" [{time.time() - t0:.0f} s]",
            flush=True,
        )
    results["modes"] = rows

    # Other weights: the same photo and CCTV numbers at 640.
    results["compare"] = {}
    for spec in args.compare:
        name, _, pt = spec.partition("=")
        det = OnnxDetector(export(Path(pt), 640, args.out / f"{name}_640.onnx"), threads=args.threads, conf=0.001)
        a_p, a_c = accuracy(run_full(det), test_photos), accuracy(run_full(det), all_cctv)
        results["compare"][name] = {"photos": a_p.__dict__, "cctv": a_c.__dict__}
        print(f"compare {name}: photos {fmt(a_p)} | CCTV {fmt(a_c)}", flush=True)

    # Speed: one thread, a sidewalk frame (720x480), all variants and the COCO models in one loop.
    frame = bag_frames[0]
    one = {p: OnnxDetector(p, threads=1, conf=0.25) for p in (args.baseline, f320, int8["MinMax"])}
    runners = {
        f"before: {args.baseline.name}": run_full(one[args.baseline]),
        "new fp32 320": run_full(one[f320]),
        "new int8 320 (static QDQ, head fp32)": run_full(one[int8["MinMax"]]),
        "yolo11n_coco_int8_320": run_full(load_detector("yolo11n_coco_int8_320", threads=1)),
        "yolox_nano_coco": run_full(load_detector("yolox_nano_coco", threads=1)),
    }
    results["ms_per_frame_1_thread"] = speed(runners, frame, args.repeat)
    for k, v in results["ms_per_frame_1_thread"].items():
        print(f"speed {k}: {v:.1f} ms/frame", flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
