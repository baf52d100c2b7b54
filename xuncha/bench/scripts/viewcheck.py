"""View-check benchmark: false alarms on unmoved footage, detection delay on moved views, CPU per check.

Each shared clip is sampled every `--every` seconds (a clip too short for 20 samples more densely);
its first frame is the reference picture.

- False alarms: the unmoved clip as it is, under a lighting ramp (gain 0.45 -> 1.5 -> 0.45 over the
  clip) and under flicker (a random gain 0.5-1.5 per sample, as auto-exposure and clouds do), with
  the people and cars of the footage walking and driving through. Reported: checks that did not
  say "same" (per cent) and alarms raised (the view state turning "changed").
- Detection: every clip shifted by 1-10 %, zoomed 5 %, turned 2 degrees, and swapped for another
  clip (a PTZ on another preset). Reported: checks from the first moved sample to the alarm, and
  the error of the suggested shift.
- Baseline, in the same run: a global structural similarity (SSIM of CLAHE grey at 160 px) below a
  threshold; the threshold is set at the lowest SSIM seen on the unmoved footage (plain, no lighting
  change), so it has no false alarm there by construction. Its false alarms under lighting and its
  misses on small shifts are what it costs.
- CPU: median and p90 CPU milliseconds (process time: every OpenCV thread counted, and steadier than
  wall time on a shared machine) of one `Reference.match` at 320 (default), 480 and 640 px wide.

    .venv/bin/xuncha bench viewcheck [--every 1.0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from xuncha.bench.viewclips import lit, ramp, shifted
from xuncha.view.check import Reference, ViewCheck, ViewParams

FOOTAGE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "footage"
CLIPS = ("sidewalk_bag_left.avi", "shopping_street.mp4", "indoor_people_standing.mp4", "carpark_topdown.mp4")
Edit = Callable[[int, int, np.ndarray], np.ndarray]


def sample(path: Path, every_s: float, at_least: int = 20) -> list[np.ndarray]:
    """One frame per `every_s` seconds of video time; denser for a clip too short for `at_least` samples."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        duration = float(s.duration * s.time_base) if s.duration else c.duration / 1e6
    every_s = min(every_s, duration / at_least)
    out: list[np.ndarray] = []
    next_t = 0.0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            t = float(f.pts * s.time_base) if f.pts is not None else next_t
            if t + 1e-6 >= next_t:
                out.append(f.to_ndarray(format="bgr24"))
                next_t += every_s
    return out


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def zoomed(image: np.ndarray, fraction: float) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = round(h * fraction / 2), round(w * fraction / 2)
    return cv2.resize(image[dy : h - dy, dx : w - dx], (w, h), interpolation=cv2.INTER_AREA)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two grey pictures (Gaussian window, the usual constants)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))).mean())


def ssim_grey(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (160, max(1, round(h * 160 / w))), interpolation=cv2.INTER_AREA)
    return cv2.createCLAHE(2.0, (8, 8)).apply(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))


def run_check(ref: np.ndarray, images: list[np.ndarray], every_s: float) -> tuple[list[str], ViewCheck]:
    check = ViewCheck(ref, ViewParams())
    states = []
    for i, img in enumerate(images):
        states.append(check.update(i * every_s, img).state)
    return states, check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (medians)")
    args = ap.parse_args()
    rng = random.Random(7)
    clips = {name: sample(FOOTAGE / name, args.every) for name in CLIPS}
    refs = {name: frames[0] for name, frames in clips.items()}
    steady = {"plain": lambda i, n, im: im, "lighting ramp": lambda i, n, im: lit(im, ramp(i, n))}
    flicker = [rng.uniform(0.5, 1.5) for _ in range(1000)]
    steady["flicker"] = lambda i, n, im: lit(im, flicker[i % len(flicker)])

    print(f"samples every {args.every:g} s; reference = first frame; ORB at {ViewParams().width} px\n")
    print("## False alarms on unmoved footage (people, cars, lighting)")
    print("| clip | condition | checks | moved / lost | alarms | baseline SSIM below threshold |")
    print("|---|---|---|---|---|---|")
    ssim_refs = {name: ssim_grey(r) for name, r in refs.items()}
    # Baseline threshold: the lowest SSIM on the plain unmoved footage of each clip.
    threshold = {name: min(ssim(ssim_refs[name], ssim_grey(im)) for im in frames[1:]) for name, frames in clips.items()}
    totals = {"checks": 0, "miss": 0, "alarms": 0, "ssim": 0}
    for name, frames in clips.items():
        for cond, edit in steady.items():
            images = [edit(i, len(frames), im) for i, im in enumerate(frames)][1:]
            states, check = run_check(refs[name], images, args.every)
            verdicts = [check.reference.match(im).verdict for im in images]
            not_same = sum(v not in ("same", "blank") for v in verdicts)
            moved, lost = verdicts.count("moved"), verdicts.count("lost")
            alarms = sum(1 for a, b in zip(["ok", *states], states, strict=False) if a == "ok" and b == "changed")
            low = sum(ssim(ssim_refs[name], ssim_grey(im)) < threshold[name] for im in images)
            totals["checks"] += len(images)
            totals["miss"] += not_same
            totals["alarms"] += alarms
            totals["ssim"] += low
            print(
                f"| {name} | {cond} | {len(images)} | {moved} / {lost} | {alarms} | {low} (< {threshold[name]:.3f}) |"
            )
    print(
        f"\ntotal: {totals['checks']} checks, {totals['miss']} not 'same' "
        f"({100 * totals['miss'] / totals['checks']:.2f} %), {totals['alarms']} alarms; "
        f"SSIM baseline below its threshold on {totals['ssim']} checks "
        f"({100 * totals['ssim'] / totals['checks']:.1f} %)\n"
    )

    print("## Moved views: detection delay and suggested shift")
    print("| move | clips alarmed | checks to alarm (median) | suggested shift (error in %) | SSIM detects |")
    print("|---|---|---|---|---|")
    moves: dict[str, tuple[Edit, tuple[float, float] | None]] = {}
    for pct in (1, 2, 3, 5, 10):
        d = pct / 100
        moves[f"shift {pct} % right"] = (lambda i, n, im, d=d: shifted(im, d, 0.0), (d, 0.0))
        moves[f"shift {pct} % diagonal"] = (lambda i, n, im, d=d: shifted(im, d, -d), (d, -d))
    moves["shift 3 % + lighting ramp"] = (lambda i, n, im: lit(shifted(im, 0.03, 0.02), ramp(i, n)), (0.03, 0.02))
    moves["zoom 5 %"] = (lambda i, n, im: zoomed(im, 0.05), None)
    moves["turn 2 degrees"] = (lambda i, n, im: turned(im, 2.0), None)
    others = list(clips)
    for move, (edit, want) in moves.items():
        delays, errors, ssim_hits, alarmed, missed = [], [], 0, 0, []
        for name, frames in clips.items():
            images = [edit(i, len(frames), im) for i, im in enumerate(frames)][1:]
            states, check = run_check(refs[name], images, args.every)
            if "changed" in states:
                alarmed += 1
                delays.append(states.index("changed") + 1)
            else:
                missed.append(name.split("_")[0])
            s = check.status.suggestion
            if want is not None:
                err = math.inf if s is None else max(abs(s[0][2] - want[0]), abs(s[1][2] - want[1]))
                errors.append(err)
            ssim_hits += any(ssim(ssim_refs[name], ssim_grey(im)) < threshold[name] for im in images[:3])
        offered = [e for e in errors if not math.isinf(e)]
        err_txt = (
            "—"
            if not errors
            else f"{len(offered)}/{len(errors)} offered" + (f", max error {100 * max(offered):.2f}" if offered else "")
        )
        delay = statistics.median(delays) if delays else "—"
        miss_txt = f" (missed: {', '.join(missed)})" if missed else ""
        print(f"| {move} | {alarmed}/{len(clips)}{miss_txt} | {delay} | {err_txt} | {ssim_hits}/{len(clips)} |")
    alarmed, delays = 0, []
    for i, name in enumerate(others):  # another preset: the next clip's view
        other = clips[others[(i + 1) % len(others)]]
        states, check = run_check(refs[name], other[:12], args.every)
        alarmed += "changed" in states
        delays.append(states.index("changed") + 1 if "changed" in states else math.inf)
    print(f"| another view (next clip) | {alarmed}/{len(clips)} | {statistics.median(delays)} | — | — |\n")

    print("## CPU per check (one Reference.match; CPU time of the process, and wall time)")
    print("| width | median CPU ms | p90 CPU ms | median wall ms | baseline SSIM 160 px, median CPU ms |")
    print("|---|---|---|---|---|")
    frames = clips["sidewalk_bag_left.avi"]

    def timed(fn: Callable[[], object]) -> tuple[float, float]:
        c, w = time.process_time(), time.perf_counter()
        fn()
        return 1000 * (time.process_time() - c), 1000 * (time.perf_counter() - w)

    for width in (320, 480, 640):
        ref = Reference(refs["sidewalk_bag_left.avi"], ViewParams(width=width))
        cpu, wall, base = [], [], []
        for _ in range(args.repeat):
            for im in frames:
                c, w = timed(lambda im=im, ref=ref: ref.match(im))
                cpu.append(c)
                wall.append(w)
                base.append(timed(lambda im=im: ssim(ssim_refs["sidewalk_bag_left.avi"], ssim_grey(im)))[0])
        cpu.sort()
        p90 = cpu[int(0.9 * (len(cpu) - 1))]
        print(
            f"| {width} | {statistics.median(cpu):.1f} | {p90:.1f} | {statistics.median(wall):.1f} "
            f"| {statistics.median(base):.1f} |"
        )


if __name__ == "__main__":
    main()
