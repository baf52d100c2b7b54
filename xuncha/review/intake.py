"""Intake: clue events from the broker into the database, idempotently.

Every event applied is recorded by its event_id in the same transaction as its effect, so a
redelivered or replayed event changes nothing. Events may arrive out of order (a spool replay):
each one carries the whole clue, so an `updated` or `closed` event for an unknown clue creates it,
and an older event than the clue's `last_seq` only adds its evidence when the clue has none.

Events are checked against the review service's own data: the category name comes from its
taxonomy (an unknown code is a dead letter: filing a case under a code dispatch does not know helps
nobody; the admin fixes the taxonomy and requeues), and each evidence image is looked up in the
evidence store (a missing one is recorded as `missing`: the clue stays reviewable and the page marks it).

Events sent under a camera lease older than the camera's current one (a worker that lost the
camera without noticing) are refused (`fencing.py`); a lease notice on the same queue (a worker took
a camera) raises the camera's current one.

A message that can never be applied (invalid, too large, refused by the database, stale lease) goes to the dead
letters (`deadletter.py`) and the queue moves on; a database that is down is waited for instead.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.broker import Poison, Topology, consume
from xuncha.clues.contracts import ClueEvent, ClueMessage, Evidence, LeaseNotice
from xuncha.clues.evidence import EvidenceStore
from xuncha.db.base import utcnow
from xuncha.db.clues import Clue, ClueEventRow, CluePhone
from xuncha.redact import mask_url
from xuncha.review import deadletter, fencing
from xuncha.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)


@functools.cache
def _default_taxonomy() -> Taxonomy:
    return load_taxonomy()


def category_name(event: ClueEvent, taxonomy: Taxonomy) -> str:
    """The taxonomy's name for the event's category; Poison for a code the taxonomy lacks."""
    try:
        return taxonomy.get(event.category.code).name
    except KeyError:
        raise Poison(
            f"unknown category code {event.category.code!r} in {event.event_id}: not in the review taxonomy"
            f" ({taxonomy.standard}); add it there and requeue"
        ) from None


def evidence_json(evidence: Evidence, store: EvidenceStore | None) -> dict[str, Any]:
    """The evidence column: each image's path and time, and `missing: true` when its file is not in
    the store (the worker writes the files before it publishes; a lost volume must not break a page)."""
    out = evidence.model_dump(mode="json", exclude_none=True)
    if store is not None:
        for image in out.values():
            try:
                image["missing"] = not store.resolve(image["path"]).is_file()
            except ValueError:  # a path that leaves the store (a symlink): treated as absent
                image["missing"] = True
    return out


def _fields(event: ClueEvent, taxonomy: Taxonomy) -> dict[str, Any]:
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
        "category_name": category_name(event, taxonomy),
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
        "text": event.text,
        "phone_numbers": list(event.phone_numbers),
    }


def apply_event(
    session: Session, event: ClueEvent, taxonomy: Taxonomy, evidence_store: EvidenceStore | None = None
) -> bool:
    """Apply one event inside the caller's transaction; False (nothing changed) for a duplicate, Poison
    for one sent under a stale camera lease. `evidence_store` None leaves the evidence files unchecked."""
    # The fence first: a stale holder's event is refused (and said so) even when it repeats the id of
    # an event the camera's new owner sent, since both continue the same clue ids.
    fencing.check(session, f"event {event.event_id}", event.camera.id, event.lease_token)
    if session.get(ClueEventRow, event.event_id) is not None:
        return False
    fields = _fields(event, taxonomy)
    session.add(
        ClueEventRow(
            event_id=event.event_id,
            clue_id=event.clue_id,
            seq=event.seq,
            kind=event.kind,
            lease_token=event.lease_token,
        )
    )
    evidence = evidence_json(event.evidence, evidence_store) if event.evidence else None
    clue = session.get(Clue, event.clue_id)
    if clue is None:
        clue = Clue(id=event.clue_id, evidence=evidence, **fields)
        session.add(clue)
    elif event.seq > clue.last_seq:
        for key, value in fields.items():
            setattr(clue, key, value)
        if evidence is not None:
            clue.evidence = evidence
    elif clue.evidence is None and evidence is not None:
        clue.evidence = evidence
    if set(clue.phone_numbers or []) != {p.phone for p in clue.phones}:
        clue.phones = [CluePhone(phone=p, camera_id=clue.camera_id) for p in clue.phone_numbers or []]
    if event.kind == "closed":
        # Closing is final whatever the order: the worker has stopped seeing the violation.
        clue.gone = True
        clue.closed_reason = event.reason
    clue.updated_at = utcnow()
    return True


def ingest(
    sessions: sessionmaker,
    event: ClueEvent,
    taxonomy: Taxonomy | None = None,
    evidence_store: EvidenceStore | None = None,
) -> bool:
    """Apply `event` in its own transaction; True if it changed the database. `taxonomy` None is
    the embedded default (as in a review config without `taxonomy:`)."""
    taxonomy = taxonomy or _default_taxonomy()
    try:
        with sessions.begin() as session:
            return apply_event(session, event, taxonomy, evidence_store)
    except IntegrityError:
        # Another intake process applied the same event (or created the clue) between our read and write.
        with sessions.begin() as session:
            if session.scalar(select(ClueEventRow.event_id).where(ClueEventRow.event_id == event.event_id)):
                return False
            return apply_event(session, event, taxonomy, evidence_store)


def apply_or_poison(
    sessions: sessionmaker, event: ClueEvent, taxonomy: Taxonomy | None, evidence_store: EvidenceStore | None
) -> bool:
    """`ingest`, but an event the database refuses for good (a value the contract should have
    refused) is Poison: dead-lettered instead of blocking every event behind it."""
    with deadletter.refusal_is_poison(event.event_id):
        return ingest(sessions, event, taxonomy, evidence_store)


def apply_message(
    sessions: sessionmaker,
    message: ClueEvent | LeaseNotice,
    taxonomy: Taxonomy | None,
    evidence_store: EvidenceStore | None,
) -> bool:
    """One message of the clue queue: an event (`apply_or_poison`), or a lease notice, which raises
    the camera's fence in its own transaction. True if it changed the database."""
    if isinstance(message, ClueEvent):
        return apply_or_poison(sessions, message, taxonomy, evidence_store)
    with sessions.begin() as session:
        moved = fencing.announce(session, message.camera_id, message.lease_token)
    log.info(
        "camera %s: worker %s took its lease under token %d%s",
        message.camera_id,
        message.worker_id,
        message.lease_token,
        "" if moved else " (a newer one was known: nothing changed)",
    )
    return moved


def run_intake(
    sessions: sessionmaker,
    broker_url: str,
    stop: threading.Event,
    *,
    taxonomy: Taxonomy | None = None,
    evidence_store: EvidenceStore | None = None,
    topology: Topology | None = None,
    backoff_s: float = 2.0,
) -> None:
    """Consume clue events and lease notices until `stop` is set; a broker or database outage is
    retried, never fatal. `taxonomy` and `evidence_store` as for `ingest`."""
    kwargs = {"topology": topology} if topology else {}
    delay = backoff_s
    while not stop.is_set():
        try:
            consume(
                broker_url,
                lambda m: apply_message(sessions, m, taxonomy, evidence_store),
                contract=ClueMessage,
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
