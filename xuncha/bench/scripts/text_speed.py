"""Text stage cost: CPU ms per OCR pass (720p, 1080p, a zone crop), and what the default schedule costs
a camera per minute next to the camera's detector work, measured in the same run.

1. One OCR pass (RapidOCR det + rec, one thread) on a full 1280x720 and 1920x1080 frame (the sidewalk
   clip scaled up, a 14 px poster on the utility box) and on the zone crop the text stage reads, with
   RapidOCR's own upscaling (short side to 736) and with the stage's (`ocr_min_side`, 480).
2. The text stage at its default schedule (`TextParams()`: a safety-net read at least every 50 s of video,
   and a read when the zone's settled picture changed, at most every 10 s) over 10 minutes of each clip
   sampled every 2 s, beside the camera's baseline work on the same samples: yolox_nano_coco plus the
   stationary-object model; at each `--every-s` interval both with the safety-net read skipped while the
   zone's still pixels look as a read saw them and reading only the changed rectangle (`net_skip`, the
   default) and without (every safety-net read of the whole zone, as before), on the same samples.
   The reads are counted, and how many of them read only a part of the zone.
   Extra CPU = text stage CPU / baseline CPU; cameras per 2-core worker = 2 x 60 000 ms over
   the CPU ms one camera needs per minute (with and without its text zone).

CPU time is process time (both stages run on this thread; onnxruntime with one intra-op thread), so a
busy machine slows both sides alike. Medians over `--repeat` passes.

    .venv/bin/xuncha bench text-speed [--repeat 7] [--minutes 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from xuncha.bench.posters import paste, poster_quad, render_poster
from xuncha.detector.cards import load_detector
from xuncha.detector.stationary import StationaryObjectModel, StationaryParams
from xuncha.text.ocr import RapidOcr
from xuncha.text.stage import TextParams, TextStage
from xuncha.train.composite import BackgroundClip

FOOTAGE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "footage"
CLIPS = {  # clip, segment, text zone (x1, y1, x2, y2 as fractions)
    "sidewalk": ("sidewalk_bag_left.avi", None, (0.69, 0.47, 1.0, 1.0)),
    "shopping": ("shopping_street.mp4", None, (0.0, 0.0, 0.33, 0.42)),
}
INTERVAL_S = 2.0


def cpu_ms(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(1000 * (time.process_time() - t))
    return statistics.median(times)


def ocr_passes(ocr: RapidOcr, repeat: int) -> dict[str, float]:
    cap = cv2.VideoCapture(str(FOOTAGE / "sidewalk_bag_left.avi"))
    frame = cap.read()[1]
    cap.release()
    poster = render_poster(["专业开锁", "电话13812345678"], 14)
    frame, _ = paste(frame, poster, poster_quad(600, 330, poster.shape[1::-1], skew=0.05))
    out = {}
    for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        big = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        ocr(big)  # warm-up
        out[f"full frame {name}"] = cpu_ms(lambda big=big: ocr(big), repeat)
        x1, y1 = int(0.69 * size[0]), int(0.47 * size[1])
        crop = big[y1:, x1:]
        out[f"zone crop {name} ({crop.shape[1]}x{crop.shape[0]})"] = cpu_ms(lambda crop=crop: ocr(crop), repeat)
    return out


class Counted:
    """The OCR, counting whole-zone and part-of-zone reads (a part is read with a `min_side`)."""

    def __init__(self, ocr: RapidOcr) -> None:
        self.ocr, self.whole, self.part = ocr, 0, 0

    def __call__(self, image: np.ndarray, min_side: int | None = None) -> list:
        if min_side is None:
            self.whole += 1
        else:
            self.part += 1
        return self.ocr(image, min_side)


def schedule(ocr: RapidOcr, minutes: float, every_s: float, net_skip: bool) -> list[dict[str, float | str]]:
    det = load_detector("yolox_nano_coco", threads=1)
    rows: list[dict[str, float | str]] = []
    for name, (file, segment, (fx1, fy1, fx2, fy2)) in CLIPS.items():
        clip = BackgroundClip(FOOTAGE / file, 5.0, segment)
        w, h = clip.size
        counted = Counted(ocr)
        params = TextParams(every_s=every_s, net_skip=net_skip)
        stage = TextStage([("zone", (fx1 * w, fy1 * h, fx2 * w, fy2 * h))], counted, params)
        stationary = StationaryObjectModel(StationaryParams())
        n = int(minutes * 60 / INTERVAL_S)
        base = text = 0.0
        for i in range(n):
            image = clip.frame(int(i * INTERVAL_S * 5.0))
            t = time.process_time()
            det.detect([image])
            stationary.update(image, i * INTERVAL_S)
            t2 = time.process_time()
            stage.update(image, i * INTERVAL_S)
            base, text = base + t2 - t, text + time.process_time() - t2
        per_min = 60 / (n * INTERVAL_S)
        base_min, text_min = 1000 * base * per_min, 1000 * text * per_min
        rows.append(
            {
                "clip": f"{name} ({w}x{h})",
                "samples": n,
                "reads": stage.reads,
                "part_reads": counted.part,
                "reads_per_min": stage.reads * per_min,
                "baseline_ms_per_min": base_min,
                "text_ms_per_min": text_min,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument(
        "--every-s",
        type=float,
        nargs="+",
        default=[TextParams().every_s],
        help="safety-net read intervals to compare (default: the default, 50 s)",
    )
    args = ap.parse_args()
    ocr = RapidOcr(threads=1, min_side=TextParams().ocr_min_side)
    print("| OCR pass (det + rec, 1 thread) | CPU ms, median |\n|---|---|")
    for side, engine in ((736, RapidOcr(threads=1, min_side=736)), (TextParams().ocr_min_side, ocr)):
        for k, v in ocr_passes(engine, args.repeat).items():
            print(f"| {k}, short side scaled up to {side} | {v:.0f} |")
    for every_s in args.every_s:
        print(
            f"\nSchedule: a read at least every {every_s:.0f} s of video and on change, a sample every "
            f"{INTERVAL_S:.0f} s, {args.minutes:.0f} min per clip; medians of {args.repeat} runs (reads are the "
            "same in every run):\n"
            "| clip | safety net | samples | OCR reads (of a part of the zone) | reads/min "
            "| baseline CPU ms/min (yolox_nano + stationary) | text stage CPU ms/min | extra CPU "
            "| cameras per 2 cores (with text zone / without) |\n"
            "|---|---|---|---|---|---|---|---|---|"
        )
        runs: dict[bool, list] = {False: [], True: []}
        for _ in range(args.repeat):  # interleaved: a change in the machine's load falls on both alike
            for skip in runs:
                runs[skip].append(schedule(ocr, args.minutes, every_s, skip))
        for k in range(len(CLIPS)):
            for skip, rows in runs.items():
                r = rows[0][k]
                base, text = (
                    statistics.median(float(rs[k][c]) for rs in rows)
                    for c in ("baseline_ms_per_min", "text_ms_per_min")
                )
                print(
                    f"| {r['clip']} | {'net_skip (new)' if skip else 'every read whole (before)'} | {r['samples']} | "
                    f"{r['reads']} ({r['part_reads']}) | {float(r['reads_per_min']):.1f} | {base:.0f} | {text:.0f} | "
                    f"{100 * text / base:.0f} % | {2 * 60_000 / (base + text):.0f} / {2 * 60_000 / base:.0f} |"
                )


if __name__ == "__main__":
    main()
