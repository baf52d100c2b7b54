"""Dead letters: messages the review service could not apply (invalid, over the size limit, refused
by the database, unknown category), kept with the reason so that one bad message costs one message.

A message is written here before it is acked, so nothing acknowledged is lost. Bodies up to
MAX_MESSAGE_BYTES are kept whole (an admin can requeue them, to the queue they came from, after
fixing the cause); larger ones keep only their first MAX_MESSAGE_BYTES and cannot be requeued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from kombu import Connection, Producer
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.broker import BadMessage, Poison
from xuncha.clues.limits import MAX_MESSAGE_BYTES
from xuncha.db.deadletters import DeadLetter
from xuncha.redact import clip, mask_url

log = logging.getLogger(__name__)
REASON_CHARS = 2000


def _database_down(e: BaseException) -> bool:
    """True for errors that pass (connection lost, locked, timed out): retry the message later."""
    if isinstance(e, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(e, DBAPIError) and e.connection_invalidated


@contextmanager
def refusal_is_poison(what: str) -> Iterator[None]:
    """Turns a database error that will not pass (a value the contract should have refused) into
    Poison, so that the message is dead-lettered instead of blocking every message behind it; a
    database that is down raises as it is (the message is retried)."""
    try:
        yield
    except SQLAlchemyError as e:
        if _database_down(e):
            raise
        cause = getattr(e, "orig", None) or e
        raise Poison(f"database refused {what}: {type(cause).__name__}: {str(cause)[:500]}") from e


def _short(text: str | None, n: int = 255) -> str | None:
    return None if text is None else text[:n]


def record(sessions: sessionmaker, bad: BadMessage) -> int:
    """Store `bad` (raises if the database is down: the caller then keeps the message). Returns its id."""
    row = DeadLetter(
        queue=bad.queue[:255],
        message_id=_short(bad.message_id),
        routing_key=_short(bad.routing_key),
        reason=bad.reason[:REASON_CHARS],
        body=bad.body[:MAX_MESSAGE_BYTES],
        body_size=len(bad.body),
        truncated=len(bad.body) > MAX_MESSAGE_BYTES,
    )
    with sessions.begin() as s:
        s.add(row)
        s.flush()
        dead_id = row.id
    log.error(
        "dead letter %d from %s (message %s): %s; body: %s",
        dead_id,
        bad.queue,
        _short(bad.message_id, 100),
        clip(bad.reason),
        clip(bad.body),
    )
    return dead_id


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)


def newest(session: Session, limit: int = 100) -> list[DeadLetter]:
    return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))


def get(session: Session, dead_id: int) -> DeadLetter:
    row = session.get(DeadLetter, dead_id)
    if row is None:
        raise KeyError(f"no dead letter {dead_id}")
    return row


def requeue(sessions: sessionmaker, dead_id: int, broker_url: str) -> None:
    """Publish a dead letter's body again, straight to the queue it came from (the default exchange
    routes by queue name), then forget it: consumers deduplicate, so a crash in between costs
    nothing. ValueError for a truncated body."""
    with sessions() as s:
        row = get(s, dead_id)
    if row.truncated:
        raise ValueError(f"dead letter {dead_id} kept only {len(row.body)} of {row.body_size} bytes: cannot requeue")
    with Connection(broker_url, connect_timeout=5) as conn:
        Producer(conn).publish(
            row.body,
            exchange="",
            routing_key=row.queue,
            delivery_mode=2,
            content_type="application/json",
            content_encoding="utf-8",
            message_id=row.message_id,
            retry=True,
            retry_policy={"max_retries": 3},
        )
    drop(sessions, dead_id)
    log.info("dead letter %d requeued to %s on %s", dead_id, row.queue, mask_url(broker_url))


def drop(sessions: sessionmaker, dead_id: int) -> None:
    with sessions.begin() as s:
        if s.execute(delete(DeadLetter).where(DeadLetter.id == dead_id)).rowcount == 0:
            raise KeyError(f"no dead letter {dead_id}")
