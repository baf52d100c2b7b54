"""`xuncha bench precision`: compose the scenarios, run xuncha and the baselines, match, report."""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from xuncha.bench.baselines import Opened
from xuncha.bench.evaluate import Clue, Match, Metrics, TruthViolation, match, metrics, table
from xuncha.bench.pipeline import SYSTEMS, load_detectors, run_systems
from xuncha.bench.poster_scenarios import (
    compose_poster_scenario,
    is_poster_suite,
    load_poster_suite,
    phone_reads,
    scenario_kind,
)
from xuncha.config.worker import WorkerConfig, load_worker_config
from xuncha.taxonomy import Taxonomy, load_taxonomy
from xuncha.train.composite import CutoutLibrary, compose
from xuncha.train.suite import START, load_suite

log = logging.getLogger("xuncha.bench")

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("XUNCHA_SHARED_DATA", REPO.parent / "shared" / "data"))


@dataclass
class ScenarioResult:
    scenario: str
    suite: str
    clip: str
    scene: str | None
    kind: str
    violations: int
    matches: dict[str, Match]  # system -> match
    seconds: float
    truth: dict  # the scenario's truth document
    stationary_ms: list[float]
    counts: dict[str, int]  # samples, looks (crops of the second look)


def truth_violations(doc: dict) -> list[TruthViolation]:
    return [
        TruthViolation(doc["scenario"], f"o{v['object']}", v["category"], tuple(v["box"]), v["start_s"], v["end_s"])
        for v in doc["violations"]
    ]


def to_clues(scenario: str, opened: Sequence[Opened]) -> list[Clue]:
    t0 = START.timestamp()
    return [Clue(scenario, o.category, o.box, o.open_ts - t0, o.first_ts - t0, o.text) for o in opened]


def run_precision(
    specs: Sequence[Path],
    out_dir: Path,
    data_dir: Path = SHARED_DATA,
    *,
    reuse: bool = False,
    stationary: dict[str, float] | None = None,
    add_models: Sequence[str] = (),
    second_look: bool = True,
) -> list[ScenarioResult]:
    """Every scenario of every suite file: compose (or reuse), run the three systems, match.

    `stationary` overrides the stationary model's parameters and `add_models` adds detectors to
    every scenario's worker config (the same candidates then reach all three systems);
    `second_look` False turns the cards' second look off (to measure what it adds).
    """
    taxonomy = load_taxonomy(None)
    detectors: dict[tuple, list] = {}
    results: list[ScenarioResult] = []
    for spec in specs:
        for sc_id, kind, clip, scene, compose_it in suite_scenarios(spec, data_dir, out_dir, taxonomy):
            t = time.perf_counter()
            doc, cfg, tax = load_scenario(
                sc_id, compose_it, out_dir, reuse=reuse, stationary=stationary, add_models=add_models
            )
            if not second_look:
                cfg = cfg.model_copy(update={"detectors": cfg.detectors.model_copy(update={"second_look": False})})
            key = (tuple(cfg.detectors.models), cfg.detectors.conf, cfg.detectors.threads)
            if key not in detectors:
                detectors[key] = load_detectors(cfg)
            ms: list[float] = []
            counts: dict[str, int] = {}
            opened = run_systems(cfg, tax, detectors[key], ms, counts)
            truth = truth_violations(doc)
            matches = {name: match(to_clues(sc_id, opened[name]), truth) for name in SYSTEMS}
            r = ScenarioResult(
                sc_id, spec.stem, clip, scene, kind, len(truth), matches, time.perf_counter() - t, doc, ms, counts
            )
            results.append(r)
            log.info(
                "%s (%s): %d violation(s); %s; %.1f s",
                sc_id,
                kind,
                len(truth),
                ", ".join(f"{n} {_brief(m)}" for n, m in matches.items()),
                r.seconds,
            )
    return results


def load_scenario(
    sc_id: str,
    compose_it: Callable[[], object],
    out_dir: Path,
    *,
    reuse: bool,
    stationary: dict[str, float] | None = None,
    add_models: Sequence[str] = (),
) -> tuple[dict, WorkerConfig, Taxonomy]:
    """A scenario's truth document and worker config, composed first unless `reuse` finds them."""
    truth_path = out_dir / f"{sc_id}.truth.json"
    cfg_path = out_dir / f"{sc_id}.yaml"
    if not (reuse and truth_path.is_file() and cfg_path.is_file() and (out_dir / f"{sc_id}.mp4").is_file()):
        compose_it()
    doc = json.loads(truth_path.read_text())
    cfg, tax = load_worker_config(cfg_path)
    if stationary or add_models:
        detectors_cfg = cfg.detectors.model_copy(update={"models": [*cfg.detectors.models, *add_models]})
        params = {**cfg.stationary, **(stationary or {})}
        cfg = cfg.model_copy(update={"stationary": params, "detectors": detectors_cfg})
    return doc, cfg, tax


def suite_scenarios(
    spec: Path, data_dir: Path, out_dir: Path, taxonomy: Taxonomy
) -> list[tuple[str, str, str, str | None, Callable]]:
    """(id, kind, clip, scene, compose) of each scenario of a suite file: a poster suite or an object suite."""
    footage = data_dir / "footage"
    if is_poster_suite(spec):
        ps = load_poster_suite(spec)
        scene = "+".join(ps.scenes)
        return [
            (sc.id, scenario_kind(sc), sc.clip, scene, partial(compose_poster_scenario, ps, sc, footage, out_dir))
            for sc in ps.scenarios
        ]
    suite = load_suite(spec)
    cutouts = CutoutLibrary(data_dir / "datasets" / "street_trashbags")
    clip = suite.background.clip
    return [
        (sc.id, sc.kind, clip, suite.scene, partial(compose, suite, sc, footage, cutouts, out_dir, taxonomy))
        for sc in suite.scenarios
    ]


def phone_rows(results: Sequence[ScenarioResult]) -> list[dict]:
    """Per system: found violations with a phone number, and the share read exactly (all sizes; >= 12 px)."""
    rows = []
    for system in SYSTEMS:
        reads = [x for r in results if r.truth.get("violations") for x in phone_reads(r.matches[system], r.truth)]
        big = [ok for px, ok in reads if px >= 12]
        rows.append(
            {
                "system": system,
                "found_with_phone": len(reads),
                "phone_exact": round(sum(ok for _, ok in reads) / len(reads), 2) if reads else None,
                "found_with_phone_12px": len(big),
                "phone_exact_12px": round(sum(big) / len(big), 2) if big else None,
            }
        )
    return rows


def phone_table(results: Sequence[ScenarioResult]) -> str:
    head = "| system | found with a phone number | phone exact | found, text >= 12 px | phone exact >= 12 px |"
    lines = [head, "|---|---|---|---|---|"]
    for row in phone_rows(results):
        cells = [row["system"], *(("-" if v is None else str(v)) for k, v in row.items() if k != "system")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _brief(m: Match) -> str:
    o = [c.outcome for c in m.clues]
    return f"tp={o.count('tp')} dup={o.count('dup')} fp={o.count('fp')}"


def grouped(results: Sequence[ScenarioResult]) -> list[tuple[str, str, Metrics]]:
    """Rows per kind, per suite, per clip, per scene and overall, for each system."""
    groups: dict[str, list[ScenarioResult]] = {}
    for r in results:
        groups.setdefault(f"kind {r.kind}", []).append(r)
    for r in results:
        groups.setdefault(f"suite {r.suite}", []).append(r)
    for r in results:
        groups.setdefault(f"clip {r.clip}", []).append(r)
    for r in results:
        if r.scene:
            groups.setdefault(f"scene {r.scene}", []).append(r)
    groups["all"] = list(results)
    return [(g, s, metrics(r.matches[s] for r in rs)) for g, rs in groups.items() for s in SYSTEMS]


def look_rate(results: Sequence[ScenarioResult]) -> str:
    """The second look's cost: crops run, per sample."""
    looks = sum(r.counts.get("looks", 0) for r in results)
    n = sum(r.counts.get("samples", 0) for r in results)
    return f"{looks} crops in {n} samples ({looks / max(n, 1):.2f} per sample)"


def stationary_ms_median(results: Sequence[ScenarioResult]) -> float | None:
    ms = [v for r in results for v in r.stationary_ms]
    return round(statistics.median(ms), 2) if ms else None


def report_json(results: Sequence[ScenarioResult]) -> dict:
    return {
        "systems": list(SYSTEMS),
        "stationary_ms_median": stationary_ms_median(results),
        "second_look": look_rate(results),
        "groups": [{"group": g, "system": s, **m.as_dict()} for g, s, m in grouped(results)],
        "phone_numbers": phone_rows(results),
        "scenarios": [
            {
                "scenario": r.scenario,
                "suite": r.suite,
                "clip": r.clip,
                "scene": r.scene,
                "kind": r.kind,
                "violations": r.violations,
                "seconds": round(r.seconds, 1),
                "systems": {
                    s: {
                        **metrics([m]).as_dict(),
                        "clues_detail": [
                            {
                                "outcome": c.outcome,
                                "violation": c.violation,
                                "category": c.clue.category,
                                "category_ok": c.category_ok,
                                "box": [round(v, 1) for v in c.clue.box],
                                "open_s": round(c.clue.open_s, 2),
                                "first_s": round(c.clue.first_s, 2),
                                **({"text": c.clue.text} if c.clue.text else {}),
                            }
                            for c in m.clues
                        ],
                    }
                    for s, m in r.matches.items()
                },
            }
            for r in results
        ],
    }


def report_table(results: Sequence[ScenarioResult]) -> str:
    return table(grouped(results))
