"""Confirmation transitions out as clue events: evidence pictures, the event under the lease's fencing
token, and the open-clue records from which the camera's next owner continues."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from xuncha.clues.contracts import ClueEvent, Evidence, ModelChecksum
from xuncha.clues.evidence import EvidenceStore
from xuncha.confirm import Transition, Violation
from xuncha.leases import LeaseStore
from xuncha.pipeline.events import build_event
from xuncha.pipeline.evidence import render_evidence
from xuncha.redact import mask_url
from xuncha.taxonomy import Taxonomy
from xuncha.worker.state import Camera, Emit
from xuncha.zones.model import Zone

log = logging.getLogger("xuncha.worker")


class TransitionPublisher:
    """One per worker; `tokens` (camera id -> fencing token of our lease) is set at each heartbeat."""

    def __init__(self, store: EvidenceStore, models: list[ModelChecksum], tz: ZoneInfo, leases: LeaseStore | None):
        self.store = store
        self.models = models
        self.tz = tz
        self.leases = leases
        self.tokens: dict[str, int] = {}
        self.unsaved_open: dict[str, tuple[Violation, int | None]] = {}  # clue id -> (state, next seq | closed)

    def publish(self, cam: Camera, t: Transition, taxonomy: Taxonomy, emit: Emit) -> None:
        v = t.violation
        zone = cam.cfg.zones.get(v.zone_id)
        if t.kind == "closed":
            cam.evidence.pop(v.id, None)
            evidence = None
        else:
            evidence = self.evidence(cam, zone, v, taxonomy)
        now = datetime.now(UTC)
        token = self.tokens.get(cam.cfg.id)  # as of the last heartbeat: intake refuses it if it is stale
        size = cam.pipeline.frame_size
        emit(build_event(t, cam.cfg, zone, taxonomy, cam.place, self.models, size, evidence, self.tz, now, token))
        # After the publish: a crash in between makes the next owner repeat this event under the same
        # event_id (consumers deduplicate), never skip one.
        if self.leases is not None:  # so that the camera's next owner continues this clue
            self.unsaved_open[v.id] = (v, None if t.kind == "closed" else t.seq + 1)
            self.save_open_clues()

    def save_open_clues(self) -> None:
        """Write the open-clue records not yet in the database; during an outage they wait here."""
        assert self.leases is not None
        for clue_id, (v, next_seq) in list(self.unsaved_open.items()):
            try:
                if next_seq is None:
                    self.leases.drop_open(clue_id)
                else:
                    self.leases.save_open(v, next_seq)
            except SQLAlchemyError as e:
                log.error(
                    "open clues not saved (%d waiting): %s", len(self.unsaved_open), mask_url(str(e).splitlines()[0])
                )
                return
            del self.unsaved_open[clue_id]

    def evidence(self, cam: Camera, zone: Zone, v: Violation, taxonomy: Taxonomy) -> Evidence | None:
        """Scene, crop and start-of-dwell images; re-rendered only when a better sighting arrived."""
        known = cam.evidence.get(v.id)
        if known is not None and known[0] == v.best.ts:
            return None
        evidence = render_evidence(self.store, zone, v, taxonomy, self.tz, known[1] if known else None)
        if evidence is not None:
            cam.evidence[v.id] = (v.best.ts, evidence)
        return evidence


def log_event(e: ClueEvent) -> None:
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
