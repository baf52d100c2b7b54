"""One worker process: samples its cameras, detects, applies zones and confirmation, publishes clues.

Wiring only: every decision is made by a stage (detector/, zones/, confirm, clues/); this file
moves frames and values between them and keeps the I/O (sources, evidence files, broker).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from xuncha.clues.broker import CluePublisher, ClueSpool, embedded_broker_url
from xuncha.clues.contracts import (
    ClueEvent,
    Evidence,
    ModelChecksum,
)
from xuncha.clues.evidence import EvidenceStore
from xuncha.config.worker import CameraConfig, FixtureSetting, WorkerConfig
from xuncha.confirm import Transition, Violation
from xuncha.detector.cards import load_detector
from xuncha.detector.onnx import OnnxDetector
from xuncha.detector.pool import DetectorPool, default_parallel
from xuncha.detector.stationary import MODEL_NAME as STATIONARY_MODEL
from xuncha.health.report import PROBLEMS, HealthReporter, camera_entry
from xuncha.leases import LeaseStore
from xuncha.metrics import WorkerMetrics
from xuncha.model_swap import fetch_promoted, swap_promoted
from xuncha.pipeline.camera import CameraPipeline
from xuncha.pipeline.events import build_event
from xuncha.pipeline.evidence import render_evidence
from xuncha.recheck.desk import RecheckDesk
from xuncha.redact import mask_url
from xuncha.service_cameras import SampleObserver
from xuncha.streams.errors import StreamError
from xuncha.streams.feed import Feed, paced
from xuncha.streams.file import FileSource
from xuncha.streams.rtsp import RtspSource
from xuncha.streams.stills import StillsSource
from xuncha.taxonomy import Taxonomy
from xuncha.text.ocr import RapidOcr
from xuncha.text.stage import OCR_MODEL, OcrLine
from xuncha.types import Detection, Frame
from xuncha.view.guard import ViewGuard
from xuncha.zones.match import zone_polygon_px
from xuncha.zones.model import Zone
from xuncha.zones.regions import Place, RegionIndex, resolve_place

log = logging.getLogger("xuncha.worker")

PROGRESS_EVERY_S = 10.0
FIXTURES_EVERY_S = 30.0  # how often a live worker asks the review service for new fixtures
SPOOL_DRAIN_EVERY_S = 2.0  # how often spooled clue events are retried while the broker is down


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


def fetch_fixtures(review_url: str, token: str, camera: CameraConfig) -> list[FixtureSetting]:
    """The camera's fixtures recorded by operators in the review service (固定设施 rejections)."""
    query = f"?preset={quote(camera.preset)}" if camera.preset else ""
    url = f"{review_url.rstrip('/')}/api/cameras/{quote(camera.id)}/fixtures{query}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return [FixtureSetting.model_validate(f) for f in json.load(r)["fixtures"]]


class Worker:
    """Runs the configured cameras until their sources end (files) or `stop` is set."""

    def __init__(self, cfg: WorkerConfig, taxonomy: Taxonomy) -> None:
        self.cfg = cfg
        self.taxonomy = taxonomy
        self.tz = ZoneInfo(cfg.timezone)
        parallel = cfg.detectors.parallel or default_parallel()
        threads = cfg.detectors.threads or max(1, (os.cpu_count() or 1) // parallel)
        self.detectors: list[OnnxDetector] = [
            load_detector(ref, threads=threads, conf=cfg.detectors.conf) for ref in cfg.detectors.models
        ]
        self._model_names = [d.name for d in self.detectors]  # what 模型管理 promotes under (model_swap.py)
        self._load_model = lambda ref: load_detector(ref, threads=threads, conf=cfg.detectors.conf)
        self.pool = DetectorPool(parallel)
        self.models = [ModelChecksum(name=d.name, checksum=d.checksum) for d in self.detectors]
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
        self._live: dict[str, tuple[Camera, Feed, RtspSource | None]] = {}
        self.leases = LeaseStore(cfg.leases_url, self.worker_id, cfg.lease_ttl_s) if cfg.leases_url else None
        self._done: set[str] = set()  # cameras whose source ended or failed for good (not restarted)
        self._unsaved_open: dict[str, tuple[Violation, int | None]] = {}  # clue id -> (state, next seq | closed)
        self._last_beat = time.monotonic()
        self._next_fixtures = time.monotonic() + FIXTURES_EVERY_S
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

    def _camera(self, cam: CameraConfig) -> Camera:
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
        self._refresh_fixtures(state)
        return state

    def _review_token(self) -> str | None:
        return self.cfg.review_token or os.environ.get("XUNCHA_REVIEW_TOKEN")

    def refresh_models(self) -> None:
        """Run the models promoted in the review service (模型管理); on failure the running ones stay."""
        token = self._review_token()
        if not (self.cfg.review_url and token):
            return
        try:
            promoted = fetch_promoted(self.cfg.review_url, token)
        except (OSError, ValueError, KeyError) as e:
            log.warning("promoted models not fetched from the review service: %s", e)
            return
        self.detectors = swap_promoted(self.detectors, self._model_names, promoted, self._load_model)
        others = [m for m in self.models if m.name in (STATIONARY_MODEL, OCR_MODEL)]
        self.models = [ModelChecksum(name=d.name, checksum=d.checksum) for d in self.detectors] + others

    def _refresh_fixtures(self, cam: Camera) -> None:
        """Config fixtures plus the review service's; on failure the previous set stays."""
        fetched: list[FixtureSetting] = []
        token = self._review_token()
        if self.cfg.review_url and token:
            try:
                fetched = fetch_fixtures(self.cfg.review_url, token, cam.cfg)
            except (OSError, ValueError, KeyError) as e:
                log.warning("camera %s: fixtures not refreshed from the review service: %s", cam.cfg.id, e)
                return
        cam.pipeline.set_fixtures([*cam.cfg.fixtures, *fetched])

    def _file_source(self, cam: CameraConfig, run_start: float) -> FileSource | StillsSource:
        if Path(cam.source).is_dir():  # a folder of timestamped pictures: the stills carry their own times
            return StillsSource(cam.id, cam.source, cam.sample_interval_s, self.tz)
        start = cam.start_time.timestamp() if cam.start_time else run_start
        return FileSource(cam.id, cam.source, cam.sample_interval_s, start)

    def _feed(self, cam: CameraConfig) -> tuple[Feed, RtspSource | None]:
        """Frames of one camera on its own thread: live streams reconnect forever, files play in real time."""
        if cam.is_file:
            source = self._file_source(cam, time.time())
            return Feed(cam.id, lambda stop: paced(source.frames(), stop)).start(), None
        rtsp = RtspSource(cam.id, cam.source, interval_s=cam.sample_interval_s, mode=cam.sampling)
        return Feed(cam.id, rtsp.frames).start(), rtsp

    # -- recorded files, as fast as possible (--once) ------------------------------------------

    def run(
        self,
        *,
        once: bool = True,
        stop: threading.Event | None = None,
        on_event: Callable[[ClueEvent], None] | None = None,
        reload: Callable[[], tuple[WorkerConfig, Taxonomy] | None] | None = None,
    ) -> RunSummary:
        """Process the enabled cameras.

        `once`: recorded files only, every sample in video-time order, as fast as possible, until the
        files end. Otherwise: live until `stop` (SIGTERM), each camera on its own thread, cameras taken
        by lease when `leases_url` is set, and `reload()` polled for a changed config.
        """
        stop = stop or threading.Event()
        summary = RunSummary()
        drained = threading.Event()
        drainer = threading.Thread(target=self._drain_spool, args=(drained,), name="spool-drain", daemon=True)
        drainer.start()
        token = self._review_token()
        if not once and self.cfg.review_url and token:
            reporter = HealthReporter(self.cfg.review_url, token, self.health, self._accept_view)
            threading.Thread(target=reporter.run, args=(drained,), name="health-report", daemon=True).start()
        self.rechecks.start()
        try:
            with CluePublisher(self.broker_url) as publisher:
                self._run(once, stop, summary, publisher, on_event, reload)
        finally:
            drained.set()
            drainer.join()
            self.rechecks.close()
        return summary

    def _drain_spool(self, stop: threading.Event) -> None:
        """Send spooled clue events while the loop goes on, and once more at the end (SIGTERM included)."""
        with CluePublisher(self.broker_url) as publisher:  # kombu connections are not shared across threads
            while True:
                stopping = stop.wait(SPOOL_DRAIN_EVERY_S)
                try:
                    if len(self.spool):
                        sent = self.spool.drain(publisher)
                        self.metrics.spooled.set(len(self.spool))
                        if sent:
                            log.info("published %d spooled clue events (%d still waiting)", sent, len(self.spool))
                except Exception:  # the spool stays on disk; this thread must live to retry it
                    log.exception("spool %s: drain failed", self.spool.path)
                if stopping:
                    return

    def _run(
        self,
        once: bool,
        stop: threading.Event,
        summary: RunSummary,
        publisher: CluePublisher,
        on_event: Callable[[ClueEvent], None] | None,
        reload: Callable[[], tuple[WorkerConfig, Taxonomy] | None] | None,
    ) -> None:
        def emit(event: ClueEvent) -> None:
            if not self.spool.publish(publisher, event):
                summary.spooled += 1
                self.metrics.spooled.set(len(self.spool))
            if once:
                summary.events.append(event)
            summary.event_counts[event.kind] += 1
            self.metrics.clue_events.labels(event.kind).inc()
            self._log_event(event)
            if on_event:
                on_event(event)

        if once:
            self._run_files(stop, summary, emit)
        else:
            self._run_live(stop, summary, emit, reload)

    def _run_files(self, stop: threading.Event, summary: RunSummary, emit: Callable[[ClueEvent], None]) -> None:
        run_start = time.time()
        cams: dict[str, tuple[Camera, FileSource | StillsSource, Iterator[Frame]]] = {}
        for cfg in self.cfg.cameras:
            if not cfg.enabled:
                continue
            if not cfg.is_file:
                summary.failed_cameras[cfg.id] = f"camera {cfg.id}: --once needs a recorded file, not a stream"
                log.error("%s; skipping this camera", summary.failed_cameras[cfg.id])
                continue
            source = self._file_source(cfg, run_start)
            cams[cfg.id] = (self._camera(cfg), source, source.frames())
        self.rechecks.take_now(cams.keys())
        pending: dict[str, Frame] = {}
        last_progress = time.monotonic()
        while cams and not stop.is_set():
            for cid, (_, source, frames) in list(cams.items()):
                if cid in pending:
                    continue
                try:
                    pending[cid] = next(frames)
                except StopIteration:
                    # The end of observation is not the end of the violation: open clues stay open.
                    log.info("camera %s: end of %s", cid, source.path.name)
                    del cams[cid]
                except StreamError as e:
                    log.error("%s; skipping this camera", e)
                    summary.failed_cameras[cid] = str(e)
                    del cams[cid]
            if not pending:
                break
            due = min(f.offset or 0.0 for f in pending.values())
            batch = [(cams[cid][0], f) for cid, f in pending.items() if (f.offset or 0.0) <= due + 1e-6]
            self._process(batch, emit)
            summary.samples += len(batch)
            for cam, _ in batch:
                del pending[cam.cfg.id]
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                for cid, (_, source, _) in cams.items():
                    total = source.duration_s
                    pct = f"{100 * source.position_s / total:.0f}%" if total else "?"
                    log.info("camera %s: %s (%.0f s of video)", cid, pct, source.position_s)

    # -- live cameras --------------------------------------------------------------------------

    def _run_live(
        self,
        stop: threading.Event,
        summary: RunSummary,
        emit: Callable[[ClueEvent], None],
        reload: Callable[[], tuple[WorkerConfig, Taxonomy] | None] | None,
    ) -> None:
        leases = self.leases
        running: dict[str, tuple[Camera, Feed, RtspSource | None]] = {}
        self._live = running
        next_beat = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + (self.cfg.lease_ttl_s / 3 if leases else 2.0)
                    self._reconcile(running, leases, reload, summary)
                    played = self._done >= {c.id for c in self.cfg.cameras if c.enabled}
                    if not running and not leases and played and not self.cfg.cameras_from_service:
                        break  # only recorded files, all played (the service may still add cameras)
                batch = [(cam, f) for cam, feed, _ in running.values() if (f := feed.slot.take()) is not None]
                self.metrics.queue.set(sum(len(feed.slot) for _, feed, _ in running.values()))
                if not batch:
                    stop.wait(0.05)
                    continue
                self._process(batch, emit)  # in flight when SIGTERM comes: finished before stopping
                summary.samples += len(batch)
        finally:
            for _, feed, _ in running.values():
                feed.stop.set()
            for _, feed, _ in running.values():
                feed.close()
            if leases is not None:
                leases.release_all()
            running.clear()

    def _reconcile(
        self,
        running: dict[str, tuple[Camera, Feed, RtspSource | None]],
        leases: LeaseStore | None,
        reload: Callable[[], tuple[WorkerConfig, Taxonomy] | None] | None,
        summary: RunSummary,
    ) -> None:
        """Apply config changes and lease changes: start, restart and stop camera feeds."""
        changed = reload() if reload else None
        if changed is not None:
            self.cfg, self.taxonomy = changed
        wanted = {c.id: c for c in self.cfg.cameras if c.enabled}
        excess: frozenset[str] = frozenset()
        if leases is None:
            owned = frozenset(wanted)
        else:
            try:
                held = leases.heartbeat(wanted)
                owned, excess = held.cameras, held.excess
                self._last_beat = time.monotonic()
                self._save_open_clues()
            except SQLAlchemyError as e:
                # Cut off from the database: keep going while our leases are still valid, then stop
                # everything, because by then another worker may own our cameras.
                log.error("lease heartbeat failed: %s", mask_url(str(e).splitlines()[0]))
                cut_off = time.monotonic() - self._last_beat > self.cfg.lease_ttl_s
                owned = frozenset() if cut_off else frozenset(running)
        self.rechecks.sync(owned, time.time())
        carried: dict[str, list[tuple[Violation, int]]] = {}  # open clues of cameras restarted for a new config
        for cid in list(running):
            cam, feed, _ = running[cid]
            if feed.ended.is_set():  # a file played to its end, or a source that cannot work
                self._done.add(cid)
                if feed.error:
                    summary.failed_cameras[cid] = feed.error
            if cid in self._done or cid not in owned or wanted.get(cid) != cam.cfg:
                feed.close()
                del running[cid]
                self.metrics.camera_up.labels(cid).set(0)
                if cid not in self._done and cid in owned and cid in wanted:
                    carried[cid] = cam.pipeline.confirmer.open_states()
        if leases is not None and excess:
            leases.release(excess)  # only now: their feeds have stopped
        self.metrics.spooled.set(len(self.spool))
        if time.monotonic() >= self._next_fixtures:
            self._next_fixtures = time.monotonic() + FIXTURES_EVERY_S
            for cam, _, _ in running.values():
                self._refresh_fixtures(cam)
            self.refresh_models()
        for cid in sorted(owned - running.keys() - self._done):
            cam = self._camera(wanted[cid])
            # Open clues continue under their ids: from this worker's previous config of the camera
            # (zones edited), or from the camera's previous owner.
            previous = carried.get(cid, []) + (leases.load_open(cid) if leases is not None else [])
            zone_ids = {z.id for z in cam.cfg.zones.zones}
            for v, next_seq in previous:
                if v.zone_id in zone_ids:
                    if cam.pipeline.confirmer.adopt(v, next_seq):
                        log.info("camera %s: continuing open clue %s", cid, v.id)
                else:
                    log.warning("camera %s: open clue %s left as it was: zone %s was removed", cid, v.id, v.zone_id)
            feed, rtsp = self._feed(wanted[cid])
            running[cid] = (cam, feed, rtsp)
            log.info("camera %s: started (%s)", cid, mask_url(wanted[cid].source))
        self.metrics.cameras_owned.set(len(running))
        for cid, (_, feed, rtsp) in running.items():
            up = rtsp.health.state == "up" if rtsp else not feed.ended.is_set()
            self.metrics.camera_up.labels(cid).set(1 if up else 0)
            self.metrics.dropped.labels(cid).set(feed.slot.dropped)

    def health(self) -> dict:
        """Status for /health: per camera state; ok while no owned live camera is down, frozen or moved."""
        cams = {
            cid: camera_entry(
                cam.cfg,
                cam.place.town,
                rtsp.health if rtsp else None,
                feed.ended.is_set(),
                cam.last_ts,
                feed.slot.dropped,
                cam.pipeline.view,
            )
            for cid, (cam, feed, rtsp) in list(self._live.items())
        }
        ok = not any(h["state"] in PROBLEMS for h in cams.values())
        return {"ok": ok, "worker": self.worker_id, "cameras": cams, "spooled": len(self.spool)}

    def _accept_view(self, camera_id: str) -> None:
        """An admin accepted the camera's current view (from the health reporter's thread)."""
        running = self._live.get(camera_id)
        if running is not None and running[0].pipeline.view is not None:
            running[0].pipeline.view.accept()

    def _detect(self, batch: list[tuple[Camera, Frame]]) -> list[list[Detection]]:
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

    def _process(self, batch: list[tuple[Camera, Frame]], emit: Callable[[ClueEvent], None]) -> None:
        t0 = time.perf_counter()
        found = self._detect(batch)
        self.metrics.inference.observe(time.perf_counter() - t0)
        self.metrics.batch.observe(len(batch))
        for (cam, frame), dets in zip(batch, found, strict=True):
            self.metrics.samples.labels(cam.cfg.id).inc()
            try:
                self._process_sample(cam, frame, dets, emit)
            except Exception:  # one camera's bad sample (a full disk, a clock step back) costs that sample only
                self.metrics.sample_errors.labels(cam.cfg.id).inc()
                log.exception("camera %s: sample at %.1f skipped", cam.cfg.id, frame.ts)

    def _process_sample(
        self, cam: Camera, frame: Frame, dets: list[Detection], emit: Callable[[ClueEvent], None]
    ) -> None:
        cam.last_ts = frame.ts
        p = cam.pipeline
        seen = (lambda f: self.observer.frame(cam.cfg, f)) if self.observer is not None else None
        sensed = p.sense(frame, dets, seen)
        if sensed is None:
            return  # the camera looks elsewhere: zones paused, open clues wait, no reference picture sent
        if p.text is not None:
            self._log_text_found(cam, frame.ts)
        if self.observer is not None:
            self.observer.matched(cam.cfg, frame, sensed.detections, sensed.candidates)
        for t in p.confirm(frame, sensed):
            self._publish_transition(cam, t, emit)
        if cam.cfg.id in self.rechecks.cameras():
            assert p.matcher is not None  # built by sense()
            polygon = lambda zone_id: zone_polygon_px(cam.cfg.zones.get(zone_id), frame.size)  # noqa: E731
            same_place = p.confirmer.params.same_place
            self.rechecks.observe(frame, sensed.when, sensed.candidates, p.matcher, same_place, polygon)

    def _log_text_found(self, cam: Camera, ts: float) -> None:
        """Say what a read found and how long it must stay: with a 300 s dwell a poster is read long before
        its clue opens, and RapidOCR itself logs only reads that found nothing."""
        assert cam.pipeline.text is not None
        for zone_id, block in cam.pipeline.text.found:
            zone = cam.cfg.zones.get(zone_id)
            dwell = max((r.dwell(self.taxonomy) for r in zone.all_rules if r.is_text_rule), default=0.0)
            log.info(
                "camera %s zone %s: new text at %s %r (phone numbers %s); a clue opens if it stays %.0f s",
                cam.cfg.id,
                zone_id,
                datetime.fromtimestamp(ts, self.tz).strftime("%H:%M:%S"),
                block.text,
                ",".join(block.phones) or "none",
                dwell,
            )

    def _read_text(self, image: np.ndarray) -> list[OcrLine]:
        if self._ocr is None:
            self._ocr = RapidOcr(self.cfg.detectors.threads, self.text_params.ocr_min_side)
        return self._ocr(image)

    # -- events ------------------------------------------------------------------------------

    def _publish_transition(self, cam: Camera, t: Transition, emit: Callable[[ClueEvent], None]) -> None:
        v, tz = t.violation, self.tz
        zone = cam.cfg.zones.get(v.zone_id)
        if t.kind == "closed":
            cam.evidence.pop(v.id, None)
            evidence = None
        else:
            evidence = self._evidence(cam, zone, v)
        now = datetime.now(UTC)
        emit(
            build_event(
                t, cam.cfg, zone, self.taxonomy, cam.place, self.models, cam.pipeline.frame_size, evidence, tz, now
            )
        )
        # After the publish: a crash in between makes the next owner repeat this event under the same
        # event_id (consumers deduplicate), never skip one.
        if self.leases is not None:  # so that the camera's next owner continues this clue
            self._unsaved_open[v.id] = (v, None if t.kind == "closed" else t.seq + 1)
            self._save_open_clues()

    def _save_open_clues(self) -> None:
        """Write the open-clue records not yet in the database; during an outage they wait here."""
        assert self.leases is not None
        for clue_id, (v, next_seq) in list(self._unsaved_open.items()):
            try:
                if next_seq is None:
                    self.leases.drop_open(clue_id)
                else:
                    self.leases.save_open(v, next_seq)
            except SQLAlchemyError as e:
                log.error(
                    "open clues not saved (%d waiting): %s", len(self._unsaved_open), mask_url(str(e).splitlines()[0])
                )
                return
            del self._unsaved_open[clue_id]

    def _evidence(self, cam: Camera, zone: Zone, v: Violation) -> Evidence | None:
        """Scene, crop and start-of-dwell images; re-rendered only when a better sighting arrived."""
        known = cam.evidence.get(v.id)
        if known is not None and known[0] == v.best.ts:
            return None
        evidence = render_evidence(self.evidence, zone, v, self.taxonomy, self.tz, known[1] if known else None)
        if evidence is not None:
            cam.evidence[v.id] = (v.best.ts, evidence)
        return evidence

    @staticmethod
    def _log_event(e: ClueEvent) -> None:
        log.info(
            "clue %s %s camera=%s zone=%s %s %s score=%.2f box=%s dwell=%.0fs seen=%d",
            e.kind,
            e.clue_id,
            e.camera.id,
            e.zone.id,
            e.category.code,
            e.category.name,
            e.score,
            [round(c) for c in e.box],
            e.dwell_s,
            e.occurrences,
        )
