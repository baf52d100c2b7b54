"""What the worker keeps per camera and per run, and what its run modes need of it (`Host`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from xuncha.clues.broker import ClueSpool
from xuncha.clues.contracts import ClueEvent, Evidence
from xuncha.config.worker import CameraConfig, WorkerConfig
from xuncha.leases import LeaseStore
from xuncha.metrics import WorkerMetrics
from xuncha.pipeline.camera import CameraPipeline
from xuncha.recheck.desk import RecheckDesk
from xuncha.streams.file import FileSource
from xuncha.streams.stills import StillsSource
from xuncha.taxonomy import Taxonomy
from xuncha.types import Frame
from xuncha.zones.regions import Place

Emit = Callable[[ClueEvent], None]


@dataclass
class Camera:
    """Per-camera state of the loop: its pipeline (the stages with memory) and its evidence pictures."""

    cfg: CameraConfig
    pipeline: CameraPipeline
    place: Place  # 镇街, 社区, 网格
    last_ts: float = 0.0
    evidence: dict[str, tuple[float, Evidence]] = field(default_factory=dict)  # clue id -> (best ts, images)


@dataclass
class RunSummary:
    """What a run did. `events` is kept for `once` runs only: a live worker runs for months."""

    events: list[ClueEvent] = field(default_factory=list)
    event_counts: Counter[str] = field(default_factory=Counter)  # by kind
    samples: int = 0
    failed_cameras: dict[str, str] = field(default_factory=dict)
    spooled: int = 0


class Host(Protocol):
    """The worker as its run modes (`files`, `live`) see it: config, stores, and one call per step."""

    cfg: WorkerConfig
    taxonomy: Taxonomy
    leases: LeaseStore | None
    metrics: WorkerMetrics
    rechecks: RecheckDesk
    spool: ClueSpool

    def camera(self, cfg: CameraConfig) -> Camera: ...

    def file_source(self, cfg: CameraConfig, run_start: float) -> FileSource | StillsSource: ...

    def refresh_from_review(self, cam: Camera) -> None: ...

    def process(self, batch: list[tuple[Camera, Frame]], emit: Emit) -> None: ...
