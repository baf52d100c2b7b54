"""`xuncha bench ...`: compose scenarios, measure clue precision against baselines, measure throughput, shadow-test
a new model on reviewed clues, simulate a month of reviews with adaptive gating, and run each benchmark script of
`xuncha/bench/scripts/` (results: bench/README.md)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xuncha.bench.precision import SHARED_DATA
from xuncha.bench.scripts import module_name, scripts

if TYPE_CHECKING:  # the month's types, imported lazily at run time (start-up)
    from xuncha.bench.month import Month, Noise
    from xuncha.bench.month_replay import Recording
    from xuncha.review.gating import GatingSettings


def _scenarios(args: argparse.Namespace) -> int:
    from xuncha.taxonomy import load_taxonomy
    from xuncha.train.composite import CutoutLibrary, compose
    from xuncha.train.suite import load_suite

    taxonomy = load_taxonomy(None)
    cutouts = CutoutLibrary(args.data / "datasets" / "street_trashbags")
    for spec in args.specs:
        suite = load_suite(spec)
        for sc in suite.scenarios:
            if args.only and sc.id not in args.only:
                continue
            c = compose(suite, sc, args.data / "footage", cutouts, args.out, taxonomy)
            found = sum(p.violation for p in c.placements)
            print(f"{c.video}  {sc.kind:12s} violations={found} distractors={len(c.placements) - found}")
    return 0


def _precision(args: argparse.Namespace) -> int:
    from xuncha.bench.precision import (
        look_rate,
        phone_table,
        report_json,
        report_table,
        run_precision,
        stationary_ms_median,
    )

    stationary = {"width": args.stationary_width} if args.stationary_width else None
    results = run_precision(
        args.specs,
        args.out,
        args.data,
        reuse=args.reuse,
        stationary=stationary,
        add_models=args.add_model,
        second_look=not args.no_second_look,
    )
    print(report_table(results))
    if any(r.truth.get("violations") and "phone" in r.truth["violations"][0] for r in results):
        print("\nPhone numbers read on the posters found:\n" + phone_table(results))
    print(f"\nstationary model: median {stationary_ms_median(results)} CPU ms per sample")
    print(f"second look: {look_rate(results)}")
    path = args.json or args.out / "precision.json"
    path.write_text(json.dumps(report_json(results), indent=1, ensure_ascii=False))
    print(f"\n{len(results)} scenarios; JSON: {path}")
    return 0


def _throughput(args: argparse.Namespace) -> int:
    from xuncha.bench.throughput import format_report, run_throughput

    result = run_throughput(
        args.data / "footage",
        args.out,
        cameras=args.cameras,
        interval_s=args.interval,
        model=args.model,
        threads=args.threads,
        garbage_model=args.garbage_model,
    )
    print(format_report(result))
    (args.out / "throughput.json").write_text(json.dumps(result, indent=1))
    return 0


def _shadow(args: argparse.Namespace) -> int:
    from xuncha.bench.shadow import run_shadow
    from xuncha.config.worker import load_worker_config

    cfg, _ = load_worker_config(args.config)
    report = run_shadow(args.model, args.against, args.export, cfg)
    print(report["text"])
    skipped = report["skipped"]
    print(f"\n{report['replayed']} clue(s) replayed, {len(skipped)} not replayed" + (":" if skipped else ""))
    for s in skipped:
        print(f"  {s['clue_id']}: {s['why']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"JSON: {args.json} (upload it on the review service's 模型管理 page)")
    return 0


def _script(args: argparse.Namespace) -> int:
    if not args.verbose:  # a script prints its own tables; the services' INFO lines would drown them
        logging.getLogger().setLevel(logging.WARNING)
    script = importlib.import_module(module_name(args.bench_command))
    # The script's own argparse reads sys.argv and names itself after argv[0] in its usage line.
    sys.argv = [f"xuncha bench {args.bench_command}", *args.argv]
    return int(script.main() or 0)


def _month(args: argparse.Namespace) -> int:
    import time

    from xuncha.bench.month import Noise, table, weeks
    from xuncha.bench.month_replay import camera_episode, cameras, record, run_month
    from xuncha.review.gating import GatingSettings

    p = GatingSettings(window=args.window)
    t0 = time.perf_counter()
    recordings = record(args.specs, args.out, args.data, args.add_model)
    t1 = time.perf_counter()
    noise = Noise(score_sd=args.score_sd, drop=args.drop)
    if args.export_reviews:
        return _month_export(args, recordings, p, noise)
    retrained = record(args.specs, args.out, args.data, [args.retrained]) if args.retrained else None
    t_re = time.perf_counter()
    month, per_day, replays = run_month(
        recordings,
        by=args.camera,
        days=args.days,
        clues_per_day=args.clues_per_day,
        seed=args.seed,
        p=p,
        noise=noise,
        retrained=retrained,
        from_day=args.from_day,
    )
    t2 = time.perf_counter()
    models = ", ".join(recordings[0].cfg.detectors.models) if recordings else "-"
    print(
        f"{len(per_day)} cameras (one per {args.camera}), {args.days} days, ~{args.clues_per_day} clues/day/camera, "
        f"seed {args.seed}; models {models}; noise score sd {noise.score_sd}, drop {noise.drop}; gating floor "
        f"{p.floor} ceiling {p.ceiling} window {p.window} step +{p.score_step} score, x{p.dwell_factor(1)} dwell\n"
    )
    print(table(weeks(month.days)))
    print("\n| camera | clues of one pass today, without noise (filed) | passes/day | levels at the end |")
    print("|---|---|---|---|")
    for cam, recs in cameras(recordings, args.camera).items():
        clean = camera_episode(recs, (), 0, p, Noise(0.0, 0.0))
        levels = ", ".join(f"{z}/{c}: {lv}" for (z, c), lv in sorted(month.levels[cam].items())) or "-"
        filed = sum(c.filed for c in clean.clues)
        print(f"| {cam} | {len(clean.clues)} ({filed}) | {per_day[cam]} | {levels} |")
    total = weeks(month.days)[-1]
    t, g = total.today, total.gated
    print(
        f"\nmonth: 立案率 today {t.rate or 0:.3f}, gated {g.rate or 0:.3f}; rejected clues today {t.clues - t.filed}, "
        f"gated {g.clues - g.filed} ({(g.clues - g.filed) / max(1, t.clues - t.filed):.2f}x); "
        f"recall today {t.recall or 0:.3f}, gated {g.recall or 0:.3f}"
    )
    print(f"\nGating changes ({len(month.changes)}):")
    for day, cam, zone, cat, old, new, n, filed in month.changes:
        print(f"  day {day:2d} {cam} {zone}/{cat}: level {old} -> {new} ({filed}/{n} filed)")
    if retrained is not None:
        _month_retrained(args, month)
    print(
        f"\nrecord {t1 - t0:.0f} s (pipeline once per scenario)"
        + (f", retrained {t_re - t1:.0f} s" if retrained is not None else "")
        + f", simulate {t2 - t_re:.0f} s ({replays} replays)"
        + ("" if retrained is not None else "; retrained columns: with --retrained MODEL (see bench/README.md)")
    )
    return 0


def _month_retrained(args: argparse.Namespace, month: Month) -> None:
    from xuncha.bench.month import table4, weeks

    print(f"\nRetrained model {args.retrained} from day {args.from_day} (before it, today's model in all four):\n")
    print(table4(weeks(month.days)))
    print(f"\nFrom day {args.from_day} only:\n")
    print(table4(weeks(month.days, first=args.from_day)[-1:]))
    (w,) = weeks(month.days, first=args.from_day)[-1:]
    print(
        "\ndays {}: 立案率 today {:.3f}, gated {:.3f}, retrained {:.3f}, gated+retrained {:.3f}; recall today {:.3f}, "
        "gated {:.3f}, retrained {:.3f}, gated+retrained {:.3f}".format(
            w.label,
            *(c.rate or 0 for c in (w.today, w.gated, w.retrained, w.both)),
            *(c.recall or 0 for c in (w.today, w.gated, w.retrained, w.both)),
        )
    )
    print(f"\nGating changes of gated+retrained from day {args.from_day} ({len(month.changes_both)}):")
    for day, cam, zone, cat, old, new, n, filed in month.changes_both:
        print(f"  day {day:2d} {cam} {zone}/{cat}: level {old} -> {new} ({filed}/{n} filed)")


def _month_export(args: argparse.Namespace, recordings: list[Recording], p: GatingSettings, noise: Noise) -> int:
    from collections import Counter

    from xuncha.bench.month_export import distinct, today_clues, write_month_export

    seen = today_clues(
        recordings,
        by=args.camera,
        days=args.export_days,
        clues_per_day=args.clues_per_day,
        seed=args.seed,
        p=p,
        noise=noise,
    )
    kept = distinct(seen)
    done = write_month_export(recordings, kept, args.export_reviews)
    print(
        f"days 1-{args.export_days}, today's system: {len(seen)} clues reviewed "
        f"({', '.join(f'{k} {n}' for k, n in sorted(Counter(s.outcome for s in seen).items()))}); "
        f"exported {len(kept)} distinct ({done.filed} filed, {done.background} background, {done.skipped} skipped; "
        f"train {done.images['train']}, val {done.images['val']}) to {args.export_reviews}"
    )
    rejected = Counter(s.camera for s in kept if s.outcome != "tp")
    print("background images per camera: " + ", ".join(f"{c} {n}" for c, n in sorted(rejected.items())))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="evaluation suite and benchmark scripts (bench/README.md)")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--out", type=Path, default=Path("var/bench"), help="output directory (default var/bench)")
        q.add_argument("--data", type=Path, default=SHARED_DATA, help=f"shared data directory (default {SHARED_DATA})")

    q = bsub.add_parser("scenarios", help="compose scenario videos and ground truth from suite files")
    q.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="suite YAML (bench/scenarios/*.yaml)")
    q.add_argument("--only", nargs="*", default=[], metavar="ID", help="compose only these scenario ids")
    common(q)
    q.set_defaults(func=_scenarios)

    q = bsub.add_parser("precision", help="run xuncha and both baselines on the scenarios; print the comparison")
    q.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="suite YAML (bench/scenarios/*.yaml)")
    q.add_argument("--reuse", action="store_true", help="reuse videos already composed in --out")
    q.add_argument("--json", type=Path, help="JSON report path (default OUT/precision.json)")
    q.add_argument("--stationary-width", type=int, help="working width of the stationary model (default: its own)")
    q.add_argument(
        "--add-model", action="append", default=[], metavar="REF", help="add a detector (card or .onnx) to every run"
    )
    q.add_argument("--no-second-look", action="store_true", help="turn the cards' second look off (pipeline/look.py)")
    common(q)
    q.set_defaults(func=_precision)

    q = bsub.add_parser("throughput", help="N cameras of real footage through the worker's stages; CPU per stage")
    q.add_argument("--cameras", type=int, default=8, help="number of cameras (footage files, reused in turn)")
    q.add_argument("--interval", type=float, default=2.0, help="sample interval in seconds of video")
    q.add_argument("--model", default="yolox_nano_coco", help="detector card name")
    q.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    q.add_argument("--garbage-model", metavar="REF", help="add a garbage model (card or .onnx) on every camera")
    common(q)
    q.set_defaults(func=_throughput)

    q = bsub.add_parser("month", help="a simulated month of reviews: 立案率 and recall today vs with adaptive gating")
    q.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="suite YAML (bench/scenarios/heldout_*.yaml)")
    q.add_argument("--add-model", action="append", default=[], metavar="REF", help="add a detector to every run")
    q.add_argument("--days", type=int, default=30, help="days simulated (default 30)")
    q.add_argument("--clues-per-day", type=int, default=10, help="clues a camera raises a day today (default 10)")
    q.add_argument("--seed", type=int, default=0, help="seed of the day-to-day variation (default 0)")
    q.add_argument("--score-sd", type=float, default=0.05, help="per-box score noise per replay (default 0.05)")
    q.add_argument("--drop", type=float, default=0.1, help="share of boxes missed per replay (default 0.1)")
    q.add_argument(
        "--camera",
        choices=("scenario", "suite"),
        default="scenario",
        help="one simulated camera per scenario (default) or per suite file (its scenarios share the zones)",
    )
    q.add_argument("--window", type=int, default=50, help="gating window in reviews (default 50, as the service)")
    q.add_argument(
        "--export-reviews",
        type=Path,
        metavar="DIR",
        help="write today's reviews of days 1..--export-days as a review export (export-dataset's folder) and stop",
    )
    q.add_argument("--export-days", type=int, default=14, help="days the export takes (default 14)")
    q.add_argument(
        "--retrained",
        metavar="REF",
        help="a retrained model (card YAML) in place of the --add-model ones from --from-day: adds the "
        "retrained and gated+retrained columns",
    )
    q.add_argument("--from-day", type=int, default=15, help="first day of the retrained model (default 15)")
    common(q)
    q.set_defaults(func=_month)

    q = bsub.add_parser(
        "shadow", help="replay reviewed clues (export-dataset folder) through a new and the current model"
    )
    q.add_argument("--model", required=True, metavar="REF", help="the new model: card name, card YAML or .onnx")
    q.add_argument("--against", required=True, metavar="REF", help="the current model: card name, card YAML or .onnx")
    q.add_argument("--export", required=True, type=Path, metavar="DIR", help="folder made by `review export-dataset`")
    q.add_argument("--config", required=True, type=Path, help="the workers' config (cameras, zones, detectors.conf)")
    q.add_argument("--json", type=Path, metavar="OUT", help="write the report as JSON (for the 模型管理 page)")
    q.set_defaults(func=_shadow)

    for name, description in scripts().items():
        # No options of its own (prefix_chars): every argument after NAME, --help too, goes to the script.
        q = bsub.add_parser(name, help=description, add_help=False, prefix_chars="\0")
        q.add_argument("argv", nargs=argparse.REMAINDER)
        q.set_defaults(func=_script)
