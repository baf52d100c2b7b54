"""Intake: clue events from the broker into the database, idempotently.

Every event applied is recorded by its event_id in the same transaction as its effect, so a
redelivered or replayed event changes nothing. Events may arrive out of order (a spool replay):
each one carries the whole clue, so an `updated` or `closed` event for an unknown clue creates it,
and an older event than the clue's `last_seq` only adds its evidence when the clue has none.

A message that can never be applied (invalid, too large, refused by the database) goes to the dead
letters (`deadletter.py`) and the queue moves on; a database that is down is waited for instead.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.broker import Poison, Topology, consume
from xuncha.clues.contracts import ClueEvent
from xuncha.redact import mask_url
from xuncha.review import deadletter
from xuncha.review.db import Clue, ClueEventRow, utcnow

log = logging.getLogger(__name__)


def _fields(event: ClueEvent) -> dict[str, Any]:
    """The clue columns an event sets (everything but status and evidence)."""
    loc = event.camera.location
    return {
        "last_seq": event.seq,
        "camera_id": event.camera.id,
        "camera_name": event.camera.name,
        "preset": event.camera.preset,
        "lon": loc.lon if loc else None,
        "lat": loc.lat if loc else None,
        "zone_id": event.zone.id,
        "zone_name": event.zone.name,
        "category_code": event.category.code,
        "category_name": event.category.name,
        "region_code": event.region.code if event.region else None,
        "region_name": event.region.name if event.region else None,
        "community_code": event.community.code if event.community else None,
        "community_name": event.community.name if event.community else None,
        "grid_code": event.grid.code if event.grid else None,
        "grid_name": event.grid.name if event.grid else None,
        "model_name": event.model.name,
        "label": event.label,
        "score": event.score,
        "box": list(event.box),
        "frame_w": event.frame_size[0],
        "frame_h": event.frame_size[1],
        "first_seen": event.first_seen,
        "last_seen": event.last_seen,
        "dwell_s": event.dwell_s,
        "occurrences": event.occurrences,
    }


def apply_event(session: Session, event: ClueEvent) -> bool:
    """Apply one event inside the caller's transaction; False (nothing changed) for a duplicate."""
    if session.get(ClueEventRow, event.event_id) is not None:
        return False
    session.add(ClueEventRow(event_id=event.event_id, clue_id=event.clue_id, seq=event.seq, kind=event.kind))
    evidence = event.evidence.model_dump(mode="json") if event.evidence else None
    clue = session.get(Clue, event.clue_id)
    if clue is None:
        clue = Clue(id=event.clue_id, evidence=evidence, **_fields(event))
        session.add(clue)
    elif event.seq > clue.last_seq:
        for key, value in _fields(event).items():
            setattr(clue, key, value)
        if evidence is not None:
            clue.evidence = evidence
    elif clue.evidence is None and evidence is not None:
        clue.evidence = evidence
    if event.kind == "closed":
        # Closing is final whatever the order: the worker has stopped seeing the violation.
        clue.gone = True
        clue.closed_reason = event.reason
    clue.updated_at = utcnow()
    return True


def ingest(sessions: sessionmaker, event: ClueEvent) -> bool:
    """Apply `event` in its own transaction; True if it changed the database."""
    try:
        with sessions.begin() as session:
            return apply_event(session, event)
    except IntegrityError:
        # Another intake process applied the same event (or created the clue) between our read and write.
        with sessions.begin() as session:
            if session.scalar(select(ClueEventRow.event_id).where(ClueEventRow.event_id == event.event_id)):
                return False
            return apply_event(session, event)


def _database_down(e: BaseException) -> bool:
    """True for errors that pass (connection lost, locked, timed out): retry the message later."""
    if isinstance(e, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(e, DBAPIError) and e.connection_invalidated


def apply_or_poison(sessions: sessionmaker, event: ClueEvent) -> bool:
    """`ingest`, but an event the database refuses for good (a value too long or out of range) is
    Poison: dead-lettered instead of blocking every event behind it."""
    try:
        return ingest(sessions, event)
    except SQLAlchemyError as e:
        if _database_down(e):
            raise
        cause = getattr(e, "orig", None) or e
        raise Poison(f"database refused {event.event_id}: {type(cause).__name__}: {str(cause)[:500]}") from e


def run_intake(
    sessions: sessionmaker,
    broker_url: str,
    stop: threading.Event,
    *,
    topology: Topology | None = None,
    backoff_s: float = 2.0,
) -> None:
    """Consume clue events until `stop` is set; a broker or database outage is retried, never fatal."""
    kwargs = {"topology": topology} if topology else {}
    delay = backoff_s
    while not stop.is_set():
        try:
            consume(
                broker_url,
                lambda e: apply_or_poison(sessions, e),
                stop=stop,
                dead_letter=lambda bad: deadletter.record(sessions, bad),
                **kwargs,
            )
            delay = backoff_s
        except Exception as e:  # the message was requeued by consume(); try again after a pause
            log.warning(
                "intake from %s: %s: %s; retrying in %.0f s",
                mask_url(broker_url),
                type(e).__name__,
                mask_url(str(e)),
                delay,
            )
            stop.wait(delay)
            delay = min(delay * 2, 60.0)
