"""Live cameras: one feed thread per camera, batches of whatever samples are ready, and every few
seconds a reconcile of config changes and camera leases (start, restart and stop feeds)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from xuncha.clues.contracts import LeaseNotice
from xuncha.config.worker import CameraConfig, WorkerConfig
from xuncha.confirm import Violation
from xuncha.health.report import camera_entry
from xuncha.redact import mask_url
from xuncha.streams.feed import Feed, paced
from xuncha.streams.rtsp import RtspSource
from xuncha.taxonomy import Taxonomy
from xuncha.worker.publish import TransitionPublisher
from xuncha.worker.state import Camera, Emit, Host, RunSummary

log = logging.getLogger("xuncha.worker")

FIXTURES_EVERY_S = 30.0  # how often a live worker asks the review service for new fixtures and gating
Reload = Callable[[], tuple[WorkerConfig, Taxonomy] | None]
Announce = Callable[[LeaseNotice], None]  # onto the clue queue, in order with the events
Running = dict[str, tuple[Camera, Feed, RtspSource | None]]


class LiveHost(Host, Protocol):
    publisher: TransitionPublisher

    def refresh_models(self) -> None: ...


class LiveCameras:
    """The live loop of one worker and the cameras it runs now (`running`, read by /health)."""

    def __init__(self, host: LiveHost) -> None:
        self.host = host
        self.running: Running = {}
        self.done: set[str] = set()  # cameras whose source ended or failed for good (not restarted)
        self._last_beat = time.monotonic()
        self._next_fixtures = time.monotonic() + FIXTURES_EVERY_S

    def run(
        self, stop: threading.Event, summary: RunSummary, emit: Emit, reload: Reload | None, announce: Announce
    ) -> None:
        host, leases, running = self.host, self.host.leases, self.running
        next_beat = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + (host.cfg.lease_ttl_s / 3 if leases else 2.0)
                    self.reconcile(reload, summary, announce)
                    played = self.done >= {c.id for c in host.cfg.cameras if c.enabled}
                    if not running and not leases and played and not host.cfg.cameras_from_service:
                        break  # only recorded files, all played (the service may still add cameras)
                batch = [(cam, f) for cam, feed, _ in running.values() if (f := feed.slot.take()) is not None]
                host.metrics.queue.set(sum(len(feed.slot) for _, feed, _ in running.values()))
                if not batch:
                    stop.wait(0.05)
                    continue
                host.process(batch, emit)  # in flight when SIGTERM comes: finished before stopping
                summary.samples += len(batch)
        finally:
            for _, feed, _ in running.values():
                feed.stop.set()
            for _, feed, _ in running.values():
                feed.close()
            if leases is not None:
                leases.release_all()
            running.clear()

    def reconcile(self, reload: Reload | None, summary: RunSummary, announce: Announce) -> None:
        """Apply config changes and lease changes: start, restart and stop camera feeds. Each camera
        taken is announced (`LeaseNotice`) before its feed starts: intake fences the camera's previous
        holder at once, not only from our first event of it."""
        host, leases, running, metrics = self.host, self.host.leases, self.running, self.host.metrics
        changed = reload() if reload else None
        if changed is not None:
            host.cfg, host.taxonomy = changed
        wanted = {c.id: c for c in host.cfg.cameras if c.enabled}
        excess: frozenset[str] = frozenset()
        if leases is None:
            owned = frozenset(wanted)
        else:
            try:
                held = leases.heartbeat(wanted)
                owned, excess = held.cameras, held.excess
                host.publisher.tokens = dict(held.tokens)
                now = datetime.now(UTC)
                for cid in sorted(held.gained):
                    announce(
                        LeaseNotice(
                            kind="lease",
                            camera_id=cid,
                            lease_token=held.tokens[cid],
                            worker_id=leases.worker_id,
                            acquired_at=now,
                        )
                    )
                self._last_beat = time.monotonic()
                host.publisher.save_open_clues()
            except SQLAlchemyError as e:
                # Cut off from the database: keep going while our leases are still valid, then stop
                # everything, because by then another worker may own our cameras.
                log.error("lease heartbeat failed: %s", mask_url(str(e).splitlines()[0]))
                cut_off = time.monotonic() - self._last_beat > host.cfg.lease_ttl_s
                owned = frozenset() if cut_off else frozenset(running)
        host.rechecks.sync(owned, time.time(), host.publisher.tokens)
        carried: dict[str, list[tuple[Violation, int]]] = {}  # open clues of cameras restarted for a new config
        for cid in list(running):
            cam, feed, _ = running[cid]
            if feed.ended.is_set():  # a file played to its end, or a source that cannot work
                self.done.add(cid)
                if feed.error:
                    summary.failed_cameras[cid] = feed.error
                elif cam.cfg.is_file:
                    log.info("camera %s: end of %s", cid, Path(cam.cfg.source).name)
            if cid in self.done or cid not in owned or wanted.get(cid) != cam.cfg:
                feed.close()
                del running[cid]
                metrics.camera_up.labels(cid).set(0)
                if cid not in self.done and cid in owned and cid in wanted:
                    carried[cid] = cam.pipeline.confirmer.open_states()
        if leases is not None and excess:
            leases.release(excess)  # only now: their feeds have stopped
        metrics.spooled.set(len(host.spool))
        if time.monotonic() >= self._next_fixtures:
            self._next_fixtures = time.monotonic() + FIXTURES_EVERY_S
            for cam, _, _ in running.values():
                host.refresh_from_review(cam)
            host.refresh_models()
        for cid in sorted(owned - running.keys() - self.done):
            cam = host.camera(wanted[cid])
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
            feed, rtsp = self.feed(wanted[cid])
            running[cid] = (cam, feed, rtsp)
            log.info("camera %s: started (%s)", cid, mask_url(wanted[cid].source))
        metrics.cameras_owned.set(len(running))
        for cid, (_, feed, rtsp) in running.items():
            up = rtsp.health.state == "up" if rtsp else not feed.ended.is_set()
            metrics.camera_up.labels(cid).set(1 if up else 0)
            metrics.dropped.labels(cid).set(feed.slot.dropped)

    def feed(self, cam: CameraConfig) -> tuple[Feed, RtspSource | None]:
        """Frames of one camera on its own thread: live streams reconnect forever, files play in real time."""
        if cam.is_file:
            source = self.host.file_source(cam, time.time())
            return Feed(cam.id, lambda stop: paced(source.frames(), stop)).start(), None
        rtsp = RtspSource(cam.id, cam.source, interval_s=cam.sample_interval_s, mode=cam.sampling)
        return Feed(cam.id, rtsp.frames).start(), rtsp

    def health(self) -> dict[str, dict]:
        """Per running camera, its state for /health and the review service's health page."""
        return {
            cid: camera_entry(
                cam.cfg,
                cam.place.town,
                rtsp.health if rtsp else None,
                feed.ended.is_set(),
                cam.last_ts,
                feed.slot.dropped,
                cam.pipeline.view,
            )
            for cid, (cam, feed, rtsp) in list(self.running.items())
        }

    def accept_view(self, camera_id: str) -> None:
        """An admin accepted the camera's current view (from the health reporter's thread)."""
        running = self.running.get(camera_id)
        if running is not None and running[0].pipeline.view is not None:
            running[0].pipeline.view.accept()
