"""Vehicle and bicycle scenes on a real street camera, scored against a truth file written before any run.

The real worker (`Worker.run(once=True)`, the scenes of `xuncha/configs/scenes.yaml` with their default
dwell) runs the clip of `bench/scenarios/street/*.truth.yaml` with each COCO model; its opened clues are
matched to the truth by `xuncha.bench.evaluate.match`. The baseline, from the same run: "naive", every
candidate sighting (a detection that satisfies a zone rule in one sample) reported as a clue, i.e. what
the dwell and confirmation remove. False clues per hour are per hour of video.

    .venv/bin/xuncha bench street-scenes [--models yolox_nano_coco ...] [--interval 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from xuncha.bench.evaluate import Clue, Match, TruthViolation, match, metrics
from xuncha.bench.precision import SHARED_DATA
from xuncha.config.worker import CameraConfig, WorkerConfig, resolve_config
from xuncha.train.suite import START
from xuncha.types import Frame
from xuncha.worker import Worker
from xuncha.zones.match import Candidate

REPO = Path(__file__).resolve().parents[3]
TRUTH = REPO / "bench" / "scenarios" / "street" / "verkada_street_dev.truth.yaml"
MODELS = ("yolox_nano_coco", "yolov8n_coco_int8", "yolo11n_coco_int8_320")


class Sightings:
    """The worker's observer: every candidate of every sample, as a naive one-sample clue."""

    def __init__(self) -> None:
        self.clues: list[Clue] = []

    def frame(self, cam: CameraConfig, frame: Frame) -> None:
        pass

    def matched(
        self, cam: CameraConfig, frame: Frame, detections: Sequence[object], candidates: Sequence[Candidate]
    ) -> None:
        t = frame.ts - START.timestamp()
        self.clues += [Clue(c.zone_id, c.category, c.detection.box, t, t) for c in candidates]


def run(truth: dict, model: str, interval_s: float, work: Path) -> tuple[list[Clue], list[Clue], float]:
    zones = [{k: z[k] for k in ("id", "name", "scene", "polygon")} for z in truth["zones"]]
    cam = {
        "id": "street",
        "source": str(SHARED_DATA / truth["clip"]),
        "sample_interval_s": interval_s,
        "start_time": START.isoformat(),
        "zones": zones,
    }
    cfg = WorkerConfig.model_validate({"data_dir": str(work), "detectors": {"models": [model]}, "cameras": [cam]})
    cfg, taxonomy = resolve_config(cfg, work, str(TRUTH))
    worker = Worker(cfg, taxonomy)
    naive = Sightings()
    worker.observer = naive
    t = time.perf_counter()
    summary = worker.run(once=True)
    if summary.failed_cameras:
        sys.exit(f"{model}: {summary.failed_cameras}")
    t0 = START.timestamp()
    clues = [
        Clue(e.zone.id, e.category.code, e.box, e.last_seen.timestamp() - t0, e.first_seen.timestamp() - t0)
        for e in summary.events
        if e.kind == "opened"
    ]
    return clues, naive.clues, time.perf_counter() - t


def violations(truth: dict, zone: str) -> list[TruthViolation]:
    return [
        TruthViolation(zone, v["id"], v["category"], tuple(v["box"]), v["start_s"], v["end_s"])
        for v in truth["violations"]
        if v["zone"] == zone
    ]


def row(name: str, m: Match, hours: float) -> str:
    s = metrics([m])
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    return (
        f"| {name} | {s.clues} | {s.tp} | {s.dup} | {s.fp} | {s.violations} | {fmt(s.precision)} | "
        f"{fmt(s.recall)} | {fmt(s.category_correct)} | {(s.fp + s.dup) / hours:.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--interval", type=float, default=4.0, help="sample interval s (the clip repeats each still 4 s)")
    args = ap.parse_args()
    truth = yaml.safe_load(TRUTH.read_text(encoding="utf-8"))
    hours = truth["duration_s"] / 3600
    print(f"{truth['clip']}: {truth['duration_s']} s, sample every {args.interval:g} s; truth {TRUTH.name}")
    cols = "clues | tp | dup | fp | violations | precision | recall | category | false/h"
    print(f"| zone / scene / model / system | {cols} |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        with tempfile.TemporaryDirectory() as work:
            clues, naive, secs = run(truth, model, args.interval, Path(work))
        for zone in truth["zones"]:
            truth_v = violations(truth, zone["id"])
            for system, found in (("worker", clues), ("naive", naive)):
                mine = [c for c in found if c.scenario == zone["id"]]  # a clue's `scenario` is its zone here
                name = f"{zone['id']}{' (probe)' if zone.get('probe') else ''} / {zone['scene']} / {model} / {system}"
                print(row(name, match(mine, truth_v), hours))
        for c in sorted(clues, key=lambda c: c.open_s):
            box = ", ".join(f"{v:.0f}" for v in c.box)
            when = f"first seen {c.first_s:.0f} s, opened {c.open_s:.0f} s"
            print(f"  {model}: clue {c.scenario} {c.category} box ({box}) {when}")
        print(f"  {model}: worker run {secs:.0f} s")


if __name__ == "__main__":
    main()
