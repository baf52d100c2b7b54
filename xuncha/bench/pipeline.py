"""Run the worker's stages on a scenario and feed the same candidates to xuncha and the baselines.

The stages are the worker's own public pieces, wired as `Worker._process` wires them: FileSource
sampling, the ONNX detectors, the stationary-object model, the ZoneMatcher; then each system
gets the identical candidate list of every sample. `tests/test_bench_pipeline.py` checks that the
xuncha column opens the same clues as a real `Worker` run on the same scenario.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from xuncha.bench.baselines import Naive, Opened, TrackerDwell, XunchaConfirm
from xuncha.categorize import Candidate
from xuncha.confirm import Confirmer
from xuncha.detector.cards import load_detector
from xuncha.detector.onnx import OnnxDetector
from xuncha.detector.stationary import StationaryObjectModel
from xuncha.settings import CameraConfig, WorkerConfig
from xuncha.streams.file import FileSource
from xuncha.taxonomy import Taxonomy
from xuncha.text.ocr import RapidOcr, text_reference
from xuncha.text.stage import Ocr, TextStage
from xuncha.worker import fixtures_px
from xuncha.zones.match import ZoneMatcher

SYSTEMS = ("xuncha", "tracker+dwell", "naive")


@dataclass(frozen=True)
class Sample:
    ts: float
    size: tuple[int, int]
    candidates: list[Candidate]


def load_detectors(cfg: WorkerConfig) -> list[OnnxDetector]:
    return [load_detector(ref, threads=cfg.detectors.threads, conf=cfg.detectors.conf) for ref in cfg.detectors.models]


def samples(
    cfg: WorkerConfig,
    cam: CameraConfig,
    detectors: Sequence[OnnxDetector],
    ocr: Ocr | None = None,
    stationary_ms: list[float] | None = None,
) -> Iterator[Sample]:
    """Per sampled frame of a file camera: its zone candidates, exactly as the worker computes them
    (`ocr` reads the zones with a text rule; `stationary_ms` collects the stationary model's CPU
    milliseconds per sample)."""
    if cam.start_time is None:
        raise ValueError(f"camera {cam.id}: the bench needs start_time so that clue times map to video time")
    tz = ZoneInfo(cfg.timezone)
    source = FileSource(cam.id, cam.source, cam.sample_interval_s, cam.start_time.timestamp())
    stationary = StationaryObjectModel(cfg.stationary_params()) if cfg.detectors.stationary else None
    matcher: ZoneMatcher | None = None
    text: TextStage | None = None
    for frame in source.frames():
        dets = [d for det in detectors for d in det.detect([frame.image])[0]]
        if stationary is not None:
            t0 = time.process_time()
            dets = dets + stationary.update(frame.image, frame.ts)
            if stationary_ms is not None:
                stationary_ms.append(1000 * (time.process_time() - t0))
        if matcher is None:
            matcher = ZoneMatcher(cam.zones, frame.size, cfg.confirm_params(cam.sample_interval_s).same_place)
            if ocr is not None:
                reference = text_reference(cam.zones, frame.size)
                text = TextStage.for_zones(cam.zones, frame.size, ocr, cfg.text_params(), reference)
        if text is not None:
            dets = dets + text.update(frame.image, frame.ts)
        yield Sample(frame.ts, frame.size, matcher.match(dets, datetime.fromtimestamp(frame.ts, tz)))


def run_systems(
    cfg: WorkerConfig,
    taxonomy: Taxonomy,
    detectors: Sequence[OnnxDetector],
    stationary_ms: list[float] | None = None,
) -> dict[str, list[Opened]]:
    """Opened clues of each system on the config's (single) camera."""
    (cam,) = [c for c in cfg.cameras if c.enabled]

    def dwell(zone: str, category: str) -> float:
        return cam.zones.get(zone).dwell(category, taxonomy)

    confirmer = Confirmer(cam.id, dwell, cfg.confirm_params(cam.sample_interval_s))
    systems = [XunchaConfirm(confirmer), TrackerDwell(dwell), Naive()]
    opened: dict[str, list[Opened]] = {s.name: [] for s in systems}
    reads_text = any(r.is_text_rule for z in cam.zones.zones for r in z.all_rules)
    ocr = RapidOcr(cfg.detectors.threads, cfg.text_params().ocr_min_side) if reads_text else None
    for i, s in enumerate(samples(cfg, cam, detectors, ocr, stationary_ms)):
        if i == 0:  # fixtures are normalised; the worker converts them at the first frame too
            confirmer.set_fixtures(fixtures_px(cam.fixtures, s.size))
        for system in systems:
            opened[system.name].extend(system.step(s.ts, s.candidates))
    return opened
