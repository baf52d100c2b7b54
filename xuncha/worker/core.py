"""The worker's wiring: detectors, each camera's pipeline, the publisher and the stores, and one batch.

Every decision is made by a stage (detector/, pipeline/, zones/, confirm, clues/); this module builds
them from the config and moves frames and values between them. How cameras are run is `files`
(`--once`) or `live`; how transitions become clue events is `publish`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from xuncha.clues.broker import CluePublisher, ClueSpool, embedded_broker_url
from xuncha.clues.contracts import ClueEvent, LeaseNotice, ModelChecksum
from xuncha.clues.evidence import EvidenceStore
from xuncha.config.worker import CameraConfig, WorkerConfig
from xuncha.detector.cards import load_detector
from xuncha.detector.onnx import OnnxDetector
from xuncha.detector.pool import DetectorPool, default_parallel
from xuncha.detector.stationary import MODEL_NAME as STATIONARY_MODEL
from xuncha.health.report import PROBLEMS, HealthReporter
from xuncha.leases import LeaseStore
from xuncha.metrics import WorkerMetrics
from xuncha.pipeline.camera import CameraPipeline
from xuncha.recheck.desk import RecheckDesk
from xuncha.service_cameras import SampleObserver, fetch_fixtures, fetch_gating
from xuncha.streams.file import FileSource
from xuncha.streams.stills import StillsSource
from xuncha.taxonomy import Taxonomy
from xuncha.text.ocr import RapidOcr
from xuncha.text.stage import OCR_MODEL, OcrLine
from xuncha.types import Detection, Frame
from xuncha.view.guard import ViewGuard
from xuncha.worker.files import file_source, run_files
from xuncha.worker.live import LiveCameras, Reload
from xuncha.worker.model_swap import checksums, refresh_promoted
from xuncha.worker.notices import log_gating, log_text_found
from xuncha.worker.publish import TransitionPublisher, log_event
from xuncha.worker.state import Camera, Emit, RunSummary
from xuncha.zones.match import zone_polygon_px
from xuncha.zones.regions import RegionIndex, resolve_place

log = logging.getLogger("xuncha.worker")

SPOOL_DRAIN_EVERY_S = 2.0  # how often spooled clue events are retried while the broker is down


class Worker:
    """Runs the configured cameras until their sources end (files) or `stop` is set."""

    def __init__(self, cfg: WorkerConfig, taxonomy: Taxonomy) -> None:
        self.cfg = cfg
        self.taxonomy = taxonomy
        self.tz = ZoneInfo(cfg.timezone)
        parallel = cfg.detectors.parallel or default_parallel()
        threads = cfg.detectors.threads or max(1, (os.cpu_count() or 1) // parallel)
        self._load_model = lambda ref: load_detector(ref, threads=threads, conf=cfg.detectors.conf)
        self.detectors: list[OnnxDetector] = [self._load_model(ref) for ref in cfg.detectors.models]
        self._model_names = [d.name for d in self.detectors]  # what 模型管理 promotes under (model_swap.py)
        self.pool = DetectorPool(parallel)
        self.models = checksums(self.detectors)  # detectors first, then the stationary model and OCR
        if cfg.detectors.stationary:
            self.models.append(ModelChecksum(name=STATIONARY_MODEL, checksum=None))
        self.text_params = cfg.text_params()
        self._ocr: RapidOcr | None = None  # one engine for the loop's thread, built for the first text zone
        if any(r.is_text_rule for c in cfg.cameras for z in c.zones.zones for r in z.all_rules):
            self.models.append(ModelChecksum(name=OCR_MODEL, checksum=None))
        self.regions = RegionIndex.from_geojson(cfg.regions) if cfg.regions else None
        data_dir = Path(cfg.data_dir)
        self.evidence = EvidenceStore(cfg.evidence_dir or data_dir / "evidence")
        self.broker_url = cfg.broker_url or embedded_broker_url(data_dir / "broker.sqlite")
        self.spool = ClueSpool(data_dir / "spool" / "clues.jsonl")
        self.worker_id = cfg.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = WorkerMetrics()
        self.observer: SampleObserver | None = None  # sees every sample (reference pictures, the editor's overlay)
        self.leases = LeaseStore(cfg.leases_url, self.worker_id, cfg.lease_ttl_s) if cfg.leases_url else None
        self.publisher = TransitionPublisher(self.evidence, self.models, self.tz, self.leases)
        self.live = LiveCameras(self)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.rechecks = RecheckDesk(
            cfg.leases_url or f"sqlite:///{data_dir.resolve() / 'rechecks.sqlite'}",
            self.broker_url,
            self.worker_id,
            self.evidence,
            cfg.recheck.params(),
            exchange=cfg.recheck.exchange,
        )

    # -- setup -------------------------------------------------------------------------------

    def camera(self, cam: CameraConfig) -> Camera:
        location = (cam.location.lon, cam.location.lat) if cam.location else None
        view = ViewGuard.for_camera(
            cam.id, cam.zones.reference_image, self.metrics.view_changed, self.cfg.view_params(), self._review_token()
        )
        pipeline = CameraPipeline.build(
            cam,
            self.taxonomy,
            self.cfg.confirm_params(cam.sample_interval_s),
            self.cfg.stationary_params() if self.cfg.detectors.stationary else None,
            self.text_params,
            self._read_text,
            self.tz,
            view,
        )
        state = Camera(cfg=cam, pipeline=pipeline, place=resolve_place(cam.region, location, self.regions))
        self.refresh_from_review(state)
        return state

    def _review_token(self) -> str | None:
        return self.cfg.review_token or os.environ.get("XUNCHA_REVIEW_TOKEN")

    def refresh_models(self) -> None:
        """Run the models promoted in the review service (模型管理); on failure the running ones stay."""
        token = self._review_token()
        if self.cfg.review_url and token:
            names, load = self._model_names, self._load_model
            self.detectors = refresh_promoted(self.cfg.review_url, token, self.detectors, names, load)
            self.models[: len(self.detectors)] = checksums(self.detectors)  # in place: the publisher holds it

    def refresh_from_review(self, cam: Camera) -> None:
        """Fixtures (config + review service) and the service's adaptive gating; on failure the old ones stay."""
        url, token = self.cfg.review_url, self._review_token()
        fetched = fetch_fixtures(url, token, cam.cfg) if url and token else []
        if fetched is not None:
            cam.pipeline.set_fixtures([*cam.cfg.fixtures, *fetched])
        gating = fetch_gating(url, token, cam.cfg) if url and token else None
        if gating is not None and cam.pipeline.set_gating(gating):
            log_gating(cam.cfg.id, gating)

    def file_source(self, cam: CameraConfig, run_start: float) -> FileSource | StillsSource:
        return file_source(cam, run_start, self.tz)

    # -- running ------------------------------------------------------------------------------

    def run(
        self,
        *,
        once: bool = True,
        stop: threading.Event | None = None,
        on_event: Callable[[ClueEvent], None] | None = None,
        reload: Reload | None = None,
    ) -> RunSummary:
        """Process the enabled cameras.

        `once`: recorded files only, every sample in video-time order, as fast as possible, until the
        files end. Otherwise: live until `stop` (SIGTERM), each camera on its own thread, cameras taken
        by lease when `leases_url` is set, and `reload()` polled for a changed config.
        """
        stop = stop or threading.Event()
        summary = RunSummary()
        drained = threading.Event()
        drain = (self.broker_url, drained, SPOOL_DRAIN_EVERY_S, self.metrics.spooled.set)
        drainer = threading.Thread(target=self.spool.drain_until, args=drain, name="spool-drain", daemon=True)
        drainer.start()
        token = self._review_token()
        if not once and self.cfg.review_url and token:
            reporter = HealthReporter(self.cfg.review_url, token, self.health, self.live.accept_view)
            threading.Thread(target=reporter.run, args=(drained,), name="health-report", daemon=True).start()
        self.rechecks.start()
        try:
            with CluePublisher(self.broker_url) as publisher:

                def emit(event: ClueEvent) -> None:
                    if not self.spool.publish(publisher, event):
                        summary.spooled += 1
                        self.metrics.spooled.set(len(self.spool))
                    if once:
                        summary.events.append(event)
                    summary.event_counts[event.kind] += 1
                    self.metrics.clue_events.labels(event.kind).inc()
                    log_event(event)
                    if on_event:
                        on_event(event)

                def announce(notice: LeaseNotice) -> None:
                    if not self.spool.publish(publisher, notice):  # behind the spooled events: in order
                        self.metrics.spooled.set(len(self.spool))
                    log.info("camera %s: lease token %d announced", notice.camera_id, notice.lease_token)

                if once:
                    run_files(self, stop, summary, emit)
                else:
                    self.live.run(stop, summary, emit, reload, announce)
        finally:
            drained.set()
            drainer.join()
            self.rechecks.close()
        return summary

    def health(self) -> dict:
        """Status for /health: per camera state; ok while no owned live camera is down, frozen or moved."""
        cams = self.live.health()
        ok = not any(h["state"] in PROBLEMS for h in cams.values())
        return {"ok": ok, "worker": self.worker_id, "cameras": cams, "spooled": len(self.spool)}

    # -- one batch ----------------------------------------------------------------------------

    def detect(self, batch: list[tuple[Camera, Frame]]) -> list[list[Detection]]:
        """Each model on the frames of the cameras whose zones use one of its labels (a garbage model
        costs nothing on cameras that watch only parking), batched across cameras."""
        found: list[list[Detection]] = [[] for _ in batch]
        for det in self.detectors:
            mine = set(det.labels)
            todo = [i for i, (cam, _) in enumerate(batch) if not mine.isdisjoint(cam.cfg.zones.labels_used())]
            images = [batch[i][1].image for i in todo]
            for i, dets in zip(todo, self.pool.detect(det, images, self.cfg.detectors.batch_size), strict=True):
                found[i].extend(dets)
        return found

    def process(self, batch: list[tuple[Camera, Frame]], emit: Emit) -> None:
        t0 = time.perf_counter()
        found = self.detect(batch)
        self.metrics.inference.observe(time.perf_counter() - t0)
        self.metrics.batch.observe(len(batch))
        for (cam, frame), dets in zip(batch, found, strict=True):
            self.metrics.samples.labels(cam.cfg.id).inc()
            try:
                self._process_sample(cam, frame, dets, emit)
            except Exception:  # one camera's bad sample (a full disk, a clock step back) costs that sample only
                self.metrics.sample_errors.labels(cam.cfg.id).inc()
                log.exception("camera %s: sample at %.1f skipped", cam.cfg.id, frame.ts)

    def _process_sample(self, cam: Camera, frame: Frame, dets: list[Detection], emit: Emit) -> None:
        cam.last_ts = frame.ts
        p = cam.pipeline
        seen = (lambda f: self.observer.frame(cam.cfg, f)) if self.observer is not None else None
        look = [d for d in self.detectors if d.second_look] if self.cfg.detectors.second_look else []
        sensed = p.sense(frame, dets, seen, look)
        if sensed is None:
            return  # the camera looks elsewhere: zones paused, open clues wait, no reference picture sent
        if p.text is not None:
            log_text_found(cam.cfg, p.text, self.taxonomy, datetime.fromtimestamp(frame.ts, self.tz))
        if self.observer is not None:
            self.observer.matched(cam.cfg, frame, sensed.detections, sensed.candidates)
        for t in p.confirm(frame, sensed):
            self.publisher.publish(cam, t, self.taxonomy, emit)
        if cam.cfg.id in self.rechecks.cameras():
            assert p.matcher is not None  # built by sense()
            polygon = lambda zone_id: zone_polygon_px(cam.cfg.zones.get(zone_id), frame.size)  # noqa: E731
            same_place = p.confirmer.params.same_place
            self.rechecks.observe(frame, sensed.when, sensed.candidates, p.matcher, same_place, polygon)

    def _read_text(self, image: np.ndarray, min_side: int | None = None) -> list[OcrLine]:
        if self._ocr is None:
            self._ocr = RapidOcr(self.cfg.detectors.threads, self.text_params.ocr_min_side)
        return self._ocr(image, min_side)
