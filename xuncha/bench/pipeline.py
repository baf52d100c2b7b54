"""Run the worker's pipeline on a scenario and feed the same candidates to xuncha and the baselines.

FileSource sampling and the ONNX detectors, then the worker's own `CameraPipeline` (stationary
model, zones, text); each system gets the identical candidate list of every sample, and the xuncha
column is the pipeline's own confirmer. `tests/test_bench_pipeline.py` checks that it opens the same
clues as a real `Worker` run on the same scenario.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from xuncha.bench.baselines import Naive, Opened, TrackerDwell, XunchaConfirm
from xuncha.categorize import Candidate
from xuncha.config.worker import CameraConfig, WorkerConfig
from xuncha.detector.cards import load_detector
from xuncha.detector.onnx import OnnxDetector
from xuncha.detector.stationary import StationaryObjectModel
from xuncha.pipeline.camera import CameraPipeline
from xuncha.streams.file import FileSource
from xuncha.taxonomy import Taxonomy
from xuncha.text.ocr import RapidOcr
from xuncha.text.stage import Ocr, OcrLine
from xuncha.types import Detection

SYSTEMS = ("xuncha", "tracker+dwell", "naive")


@dataclass(frozen=True)
class Sample:
    ts: float
    size: tuple[int, int]
    candidates: list[Candidate]
    detections: list[Detection]  # every box the zones saw (detectors, stationary model, text)


def load_detectors(cfg: WorkerConfig) -> list[OnnxDetector]:
    return [load_detector(ref, threads=cfg.detectors.threads, conf=cfg.detectors.conf) for ref in cfg.detectors.models]


class _Timed:
    """The stationary model, its CPU milliseconds per update appended to `ms`."""

    def __init__(self, model: StationaryObjectModel, ms: list[float]) -> None:
        self.model, self.ms = model, ms

    def update(self, image: np.ndarray, ts: float) -> list[Detection]:
        t0 = time.process_time()
        found = self.model.update(image, ts)
        self.ms.append(1000 * (time.process_time() - t0))
        return found


def pipeline(cfg: WorkerConfig, cam: CameraConfig, taxonomy: Taxonomy, ocr: Ocr) -> CameraPipeline:
    """The camera's pipeline as the worker builds it (without a view guard: scenarios do not move)."""
    stationary = cfg.stationary_params() if cfg.detectors.stationary else None
    confirm = cfg.confirm_params(cam.sample_interval_s)
    return CameraPipeline.build(cam, taxonomy, confirm, stationary, cfg.text_params(), ocr, ZoneInfo(cfg.timezone))


def samples(
    cam: CameraConfig,
    chain: CameraPipeline,
    detectors: Sequence[OnnxDetector],
    stationary_ms: list[float] | None = None,
    look: Sequence[OnnxDetector] = (),
) -> Iterator[Sample]:
    """Per sampled frame of a file camera: its zone candidates, exactly as the worker computes them
    (`stationary_ms` collects the stationary model's CPU milliseconds per sample; `look`: the models
    of the second look)."""
    if cam.start_time is None:
        raise ValueError(f"camera {cam.id}: the bench needs start_time so that clue times map to video time")
    source = FileSource(cam.id, cam.source, cam.sample_interval_s, cam.start_time.timestamp())
    if stationary_ms is not None and chain.stationary is not None:
        chain.stationary = _Timed(chain.stationary, stationary_ms)  # type: ignore[assignment]
    for frame in source.frames():
        dets = [d for det in detectors for d in det.detect([frame.image])[0]]
        sensed = chain.sense(frame, dets, look=look)
        assert sensed is not None  # no view guard here
        yield Sample(frame.ts, frame.size, sensed.candidates, sensed.detections)


def run_systems(
    cfg: WorkerConfig,
    taxonomy: Taxonomy,
    detectors: Sequence[OnnxDetector],
    stationary_ms: list[float] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, list[Opened]]:
    """Opened clues of each system on the config's (single) camera; `counts` gets the samples and the
    second look's crops."""
    (cam,) = [c for c in cfg.cameras if c.enabled]

    def dwell(zone: str, category: str) -> float:
        return cam.zones.get(zone).dwell(category, taxonomy)

    ocr: RapidOcr | None = None

    def read(image: np.ndarray, min_side: int | None = None) -> list[OcrLine]:  # built at the first read, as the worker
        nonlocal ocr
        if ocr is None:
            ocr = RapidOcr(cfg.detectors.threads, cfg.text_params().ocr_min_side)
        return ocr(image, min_side)

    chain = pipeline(cfg, cam, taxonomy, read)
    systems = [XunchaConfirm(chain.confirmer), TrackerDwell(dwell), Naive()]
    opened: dict[str, list[Opened]] = {s.name: [] for s in systems}
    n = 0
    look = [d for d in detectors if d.second_look] if cfg.detectors.second_look else []
    for s in samples(cam, chain, detectors, stationary_ms, look):
        n += 1
        for system in systems:
            opened[system.name].extend(system.step(s.ts, s.candidates))
    if counts is not None:
        counts.update(samples=n, looks=chain.looks)
    return opened
