"""The embedded broker's transport: kombu's SQLAlchemy transport with leases and deletion on ack.

kombu's own marks a fetched row invisible and forgets it: acks only touch memory, so the file keeps
every message ever delivered, and a message in hand when its consumer dies (SIGKILL, power loss)
stays invisible for ever. Here a fetch starts a lease (kombu stamps `timestamp` on the update), an
ack deletes the row, a reject or a clean close makes it visible again, and any consumer makes rows
whose lease expired visible again: a message is either acknowledged (and gone) or back on its queue.
A fetch seeks the queue's next visible row by an index of its own (`_FETCH_INDEX`): kombu's query
walks its `timestamp` index from the start and skips the rows of every other queue, so a backlog
nobody consumes yet (cases for a dispatch service that is down) made each clue fetch slower.
Redelivery after a crash is at-least-once; consumers deduplicate on event_id (the intake does).
Leases run on local wall time, as kombu stamps it: a clock set back delays a redelivery, one set
forward can redeliver early (a duplicate, which the consumer drops).

Registered for `sqla+` / `sqlalchemy+` URLs by `xuncha.clues`, so every kombu Connection to the
embedded broker in this process gets these semantics.
"""

from __future__ import annotations

import datetime
import logging
import time
from json import loads
from queue import Empty
from typing import Any

from kombu import transport as kombu_transport
from kombu.transport import sqlalchemy as sqla
from kombu.utils.encoding import bytes_to_str
from sqlalchemy import delete, inspect, text, update

log = logging.getLogger(__name__)

# Longer than any handler holds a message (intake applies one event in milliseconds).
DEFAULT_LEASE_S = 120.0
_MARKER_TABLE = "xuncha_broker_leases"  # present once the file is managed by this transport
# Equality on queue and visibility, then the fetch's order: one seek whatever the other queues hold.
_FETCH_INDEX = "ix_xuncha_message_fetch"


def _now() -> datetime.datetime:
    return datetime.datetime.now()  # naive local time, as kombu's onupdate stamps `timestamp`


class Channel(sqla.Channel):
    lease_s: float = DEFAULT_LEASE_S

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._held: dict[str, int] = {}  # delivery_tag -> row id of the messages in hand
        self._next_sweep = 0.0

    def _open(self) -> Any:
        known = self.connection.client.hostname in self._engines
        engine, session_cls = super()._open()
        if not known:
            _adopt(engine, self.message_cls.__table__)
        return engine, session_cls

    def _get(self, queue: str) -> dict[str, Any]:
        if time.monotonic() >= self._next_sweep:
            self.restore_expired()
            self._next_sweep = time.monotonic() + self.lease_s / 4
        obj = self._get_or_create(queue)
        msg_cls = self.message_cls
        session = self.session
        if session.bind.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            msg = (
                session.query(msg_cls)
                .with_for_update()
                # `visible` is never NULL (kombu's default is True): `== True`, not `!= False`, so the
                # index of `_FETCH_INDEX` applies.
                .filter(msg_cls.queue_id == obj.id, msg_cls.visible == True)  # noqa: E712 - SQL
                .order_by(msg_cls.sent_at, msg_cls.id)
                .limit(1)
                .first()
            )
            if msg is None:
                raise Empty()
            msg.visible = False  # the onupdate stamps `timestamp`: the lease starts now
            payload = loads(bytes_to_str(msg.payload))
            self._held[payload["properties"]["delivery_tag"]] = msg.id
            return payload
        finally:
            session.commit()

    def restore_expired(self) -> int:
        """Make rows whose lease expired visible again (their consumer died); returns how many."""
        table = self.message_cls.__table__
        cutoff = _now() - datetime.timedelta(seconds=self.lease_s)
        stmt = update(table).where(table.c.visible == False, table.c.timestamp < cutoff)  # noqa: E712
        if self._held:
            stmt = stmt.where(table.c.id.not_in(list(self._held.values())))
        n = self._execute(stmt.values(visible=True, timestamp=None)).rowcount
        if n:
            log.warning("embedded broker: %d message(s) whose consumer died are back on their queue", n)
        return n

    def _execute(self, stmt: Any) -> Any:
        try:
            result = self.session.execute(stmt)
            self.session.commit()
        except Exception:
            self.session.rollback()
            raise
        return result

    def _settle(self, delivery_tag: str, *, requeue: bool) -> None:
        row = self._held.pop(delivery_tag, None)
        if row is None:
            return
        table = self.message_cls.__table__
        if requeue:  # timestamp NULL: back in its place, ahead of newer messages (ordered by id)
            self._execute(update(table).where(table.c.id == row).values(visible=True, timestamp=None))
        else:
            self._execute(delete(table).where(table.c.id == row))

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._settle(delivery_tag, requeue=False)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=False)  # the row itself is requeued, not a copy
        self._settle(delivery_tag, requeue=requeue)

    def _restore(self, message: Any) -> None:
        """Unacked at close or recover: the same row goes back, not a copy beside a stuck original."""
        if message.delivery_tag in self._held:
            self._settle(message.delivery_tag, requeue=True)
        else:
            super()._restore(message)


def _adopt(engine: Any, table: Any) -> None:
    """Each process's first open of the file: create the fetch index if missing; and on the first use
    of a file kombu's transport wrote, delete its invisible rows (kombu never deleted what was
    acknowledged; they would otherwise all be redelivered when their lease expires)."""
    with engine.connect() as conn:
        # One adopter at a time: another process must not fetch between our check and the delete.
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {_FETCH_INDEX} ON {table.name} (queue_id, visible, timestamp, id)"
        )
        n = 0
        if not inspect(conn).has_table(_MARKER_TABLE):
            conn.exec_driver_sql(f"CREATE TABLE {_MARKER_TABLE} (version INTEGER NOT NULL)")
            conn.exec_driver_sql(f"INSERT INTO {_MARKER_TABLE} (version) VALUES (1)")
            n = conn.execute(delete(table).where(table.c.visible == False)).rowcount  # noqa: E712
        conn.commit()
    if n:
        log.warning("embedded broker: deleted %d message(s) acknowledged before leases were kept", n)


class Transport(sqla.Transport):
    Channel = Channel


def register() -> None:
    """Route `sqla+` / `sqlalchemy+` kombu URLs to this transport."""
    for alias in ("sqla", "sqlalchemy"):
        kombu_transport.TRANSPORT_ALIASES[alias] = f"{__name__}:Transport"
        # get_transport_cls caches by name: a Connection made before this must not pin kombu's class.
        getattr(kombu_transport, "_transport_cache", {}).pop(alias, None)
