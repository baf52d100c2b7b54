"""`xuncha bench month`, the pipeline side: each held-out scenario is run once through the worker's
pipeline (video, ONNX detectors, stationary model, zones, confirmer; `xuncha/bench/pipeline.py`),
keeping every sample's boxes; an episode then replays those boxes through a fresh `CameraPipeline`
that got the gating levels by `set_gating`, the call a live worker makes with what
`GET /api/cameras/{id}/gating` returns. So the tightened zones (`gated_zones`: min_score + delta,
dwell × factor) go through the worker's own `ZoneMatcher` and `Confirmer`, not a re-implementation.

Replaying boxes instead of rerunning the video is exact, not an approximation: detection, the
stationary model and the text stage read the frame alone and gating does not reach them (it changes
the zone set the matcher and the confirmer's dwell run with). `record` checks it: a replay at level 0
without noise must open the recording run's clues, scenario by scenario.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xuncha.bench.baselines import Opened, XunchaConfirm
from xuncha.bench.evaluate import TruthViolation, match
from xuncha.bench.month import Episode, Levels, Month, Noise, Reviewed, adjustments, simulate
from xuncha.bench.pipeline import Sample, load_detectors, pipeline, samples
from xuncha.bench.precision import SHARED_DATA, load_scenario, suite_scenarios, to_clues, truth_violations
from xuncha.config.worker import CameraConfig, WorkerConfig
from xuncha.review.gating import GatingSettings
from xuncha.taxonomy import Taxonomy, load_taxonomy
from xuncha.types import Frame

log = logging.getLogger("xuncha.bench")


@dataclass
class Recording:
    scenario: str
    suite: str  # the suite file's stem
    cfg: WorkerConfig
    cam: CameraConfig
    taxonomy: Taxonomy
    samples: list[Sample]
    truth: list[TruthViolation]
    opened: list[Opened]  # the clues the recording run opened (`xuncha bench precision`'s xuncha column)


def _no_ocr(image: np.ndarray) -> list:
    raise AssertionError("month: the text stage is not replayed")  # record refuses text zones


def record(
    specs: Sequence[Path], out_dir: Path, data_dir: Path = SHARED_DATA, add_models: Sequence[str] = ()
) -> list[Recording]:
    """Every scenario of the suite files, composed unless already in `out_dir`, run once."""
    taxonomy = load_taxonomy(None)
    detectors: dict[tuple, list] = {}
    out = []
    for spec in specs:
        for sc_id, _kind, _clip, _scene, compose_it in suite_scenarios(spec, data_dir, out_dir, taxonomy):
            t = time.perf_counter()
            doc, cfg, tax = load_scenario(sc_id, compose_it, out_dir, reuse=True, add_models=add_models)
            (cam,) = [c for c in cfg.cameras if c.enabled]
            if any(r.is_text_rule for z in cam.zones.zones for r in z.all_rules):
                raise ValueError(f"{sc_id}: zones with a text rule are not replayed by the month benchmark")
            key = (tuple(cfg.detectors.models), cfg.detectors.conf, cfg.detectors.threads)
            if key not in detectors:
                detectors[key] = load_detectors(cfg)
            chain = pipeline(cfg, cam, tax, _no_ocr)
            confirm = XunchaConfirm(chain.confirmer)
            recorded, opened = [], []
            for s in samples(cam, chain, detectors[key]):
                recorded.append(s)
                opened.extend(confirm.step(s.ts, s.candidates))
            rec = Recording(sc_id, spec.stem, cfg, cam, tax, recorded, truth_violations(doc), opened)
            if _replay(rec, (), GatingSettings()) != opened:
                raise AssertionError(f"{sc_id}: the replay at level 0 does not open the recorded run's clues")
            log.info("%s: %d samples, %d clue(s), %.1f s", sc_id, len(recorded), len(opened), time.perf_counter() - t)
            out.append(rec)
    return out


def _blank(size: tuple[int, int]) -> np.ndarray:
    """A frame of the sample's size without pixels: nothing after the recorded boxes reads them."""
    w, h = size
    return np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (h, w, 3))


def _replay(
    rec: Recording, levels: Levels, p: GatingSettings, noise: Noise | None = None, seed: int = 0
) -> list[Opened]:
    chain = pipeline(rec.cfg, rec.cam, rec.taxonomy, _no_ocr)
    chain.stationary = None  # its boxes are in the recording
    chain.set_gating(adjustments(levels, p))
    confirm = XunchaConfirm(chain.confirmer)
    rng = random.Random(seed)
    opened = []
    for s in rec.samples:
        dets = noise.apply(s.detections, rng) if noise else s.detections
        sensed = chain.sense(Frame(rec.cam.id, s.ts, _blank(s.size)), dets)
        assert sensed is not None  # no view guard
        opened.extend(confirm.step(s.ts, sensed.candidates))
    return opened


def decided(
    rec: Recording, levels: Levels, seed: int, p: GatingSettings, noise: Noise
) -> tuple[list[Opened], list[str], int]:
    """One replay of the scenario under `levels`: its clues in opening order, each one's outcome by the
    ground truth ("tp" is filed; "dup", a second clue of one violation, and "fp" are rejected), and the
    number of violations found."""
    opened = sorted(_replay(rec, levels, p, noise, seed), key=lambda o: (o.open_ts, o.box))
    m = match(to_clues(rec.scenario, opened), rec.truth)  # keeps this order: its sort is stable on the same key
    return opened, [c.outcome for c in m.clues], len(m.found)


def episode(rec: Recording, levels: Levels, seed: int, p: GatingSettings, noise: Noise) -> Episode:
    """One replay of the scenario under `levels`, each clue decided by its ground truth."""
    opened, outcomes, found = decided(rec, levels, seed, p, noise)
    reviewed = tuple(Reviewed(o.zone_id, o.category, out == "tp") for o, out in zip(opened, outcomes, strict=True))
    return Episode(reviewed, found=found, violations=len(rec.truth))


def cameras(recordings: Sequence[Recording], by: str) -> dict[str, list[Recording]]:
    """The simulated cameras: one per scenario (`by` "scenario") or one per suite file ("suite": the
    suite's scenarios are one camera's footage, its zones shared, so a raised zone is raised for all)."""
    out: dict[str, list[Recording]] = {}
    for r in recordings:
        out.setdefault(r.scenario if by == "scenario" else r.suite, []).append(r)
    return out


def camera_episode(recs: Sequence[Recording], levels: Levels, seed: int, p: GatingSettings, noise: Noise) -> Episode:
    """Each of the camera's scenarios replayed once (a seed each), their clues in turn."""
    eps = [episode(r, levels, seed + i, p, noise) for i, r in enumerate(recs)]
    return Episode(tuple(c for e in eps for c in e.clues), sum(e.found for e in eps), sum(e.violations for e in eps))


def passes_per_day(cams: dict[str, list[Recording]], clues_per_day: int) -> dict[str, int]:
    """Each camera's passes over its scenarios a day: ~`clues_per_day` clues at today's levels (a camera
    whose recording runs opened none, hard negatives only, makes that many passes)."""
    return {cam: max(1, round(clues_per_day / max(1, sum(len(r.opened) for r in recs)))) for cam, recs in cams.items()}


def run_month(
    recordings: Sequence[Recording],
    *,
    by: str,
    days: int,
    clues_per_day: int,
    seed: int,
    p: GatingSettings,
    noise: Noise,
    retrained: Sequence[Recording] | None = None,
    from_day: int = 1,
) -> tuple[Month, dict[str, int], int]:
    """The simulated month; also each camera's episodes per day and the number of scenario replays made.
    `retrained`: the same scenarios recorded with the retrained model, replayed from `from_day` on.

    A camera replays its scenarios often enough to see ~`clues_per_day` clues a day at today's levels
    (a camera whose recording runs opened none, hard negatives only, replays that many times a day)."""
    cams = cameras(recordings, by)
    per_day = passes_per_day(cams, clues_per_day)
    replays = 0

    new_cams = cameras(retrained, by) if retrained is not None else {}
    if retrained is not None and [[r.scenario for r in v] for v in new_cams.values()] != [
        [r.scenario for r in v] for v in cams.values()
    ]:
        raise ValueError("the retrained model's recordings are not of the same scenarios")

    def replay_with(recs: dict[str, list[Recording]]):
        def replay(camera: str, levels: Levels, s: int) -> Episode:
            nonlocal replays
            replays += len(recs[camera])
            return camera_episode(recs[camera], levels, s, p, noise)

        return replay

    month = simulate(
        per_day,
        replay_with(cams),
        days=days,
        p=p,
        seed=seed,
        retrained=replay_with(new_cams) if retrained is not None else None,
        from_day=from_day,
    )
    return month, per_day, replays
