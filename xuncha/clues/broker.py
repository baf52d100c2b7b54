"""Publishing and consuming clue events with kombu: embedded SQLite broker by default, RabbitMQ at scale.

Topology: durable topic exchange `xuncha.clues` -> durable queue `xuncha.clues.review` (binding
`clue.#`); routing key `clue.<kind>.<category code>`. Messages are persistent JSON, `message_id` =
event_id. Lease notices (`LeaseNotice`, routing key `clue.lease`) take the same way, in order with
the events. A publish either returns (accepted; RabbitMQ confirms it) or raises PublishError after
the retry policy; the worker then keeps the event in a `ClueSpool` and drains it when the broker is back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.message import Message
from pydantic import BaseModel, ValidationError

from xuncha.clues.contracts import ClueEvent, ClueMessage, LeaseNotice
from xuncha.clues.embedded import register as register_embedded_transport
from xuncha.clues.limits import MAX_MESSAGE_BYTES
from xuncha.fileio import write_atomic
from xuncha.redact import clip, mask_url

log = logging.getLogger(__name__)
register_embedded_transport()  # sqla+ URLs get leases and deletion on ack (see xuncha.clues.embedded)

# Bounded so a broker outage costs the worker a few seconds per attempt, then the spool takes over.
DEFAULT_RETRY_POLICY: dict[str, float] = {
    "max_retries": 3,
    "interval_start": 0.5,
    "interval_step": 1.0,
    "interval_max": 4.0,
}
_AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def embedded_broker_url(path: str | Path) -> str:
    """kombu URL of the embedded broker: a SQLite file (its folder is created)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqla+sqlite:///{path}"


# Relative to the working directory; the worker builds its own with embedded_broker_url(data_dir / ...).
DEFAULT_BROKER_URL = "sqla+sqlite:///var/broker.sqlite"


def _is_amqp(url: str) -> bool:
    return url.split("://", 1)[0].lower() in _AMQP_SCHEMES


@dataclass(frozen=True)
class Topology:
    """Names of the clue exchange, the review queue and its binding (tests use their own names)."""

    exchange_name: str = "xuncha.clues"
    queue_name: str = "xuncha.clues.review"
    binding_key: str = "clue.#"

    @property
    def exchange(self) -> Exchange:
        return Exchange(self.exchange_name, type="topic", durable=True)

    @property
    def queue(self) -> Queue:
        return Queue(self.queue_name, self.exchange, routing_key=self.binding_key, durable=True)


DEFAULT_TOPOLOGY = Topology()


class PublishError(RuntimeError):
    """The broker did not accept an event after the retry policy; the event must be kept (spooled)."""

    def __init__(self, message: str, event_id: str) -> None:
        super().__init__(message)
        self.event_id = event_id


def _connection(url: str, connect_timeout: float) -> Connection:
    # Transport options of the SQLAlchemy transport go to create_engine: only amqp gets confirms.
    options = {"confirm_publish": True} if _is_amqp(url) else {}
    return Connection(url, connect_timeout=connect_timeout, transport_options=options)


class CluePublisher:
    """Publishes ClueEvents; connects lazily and reconnects on demand. One per thread.

    >>> with CluePublisher(embedded_broker_url("var/broker.sqlite")) as pub:  # doctest: +SKIP
    ...     pub.publish(event)
    """

    def __init__(
        self,
        url: str,
        *,
        topology: Topology = DEFAULT_TOPOLOGY,
        retry_policy: dict[str, float] | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.topology = topology
        self.retry_policy = dict(DEFAULT_RETRY_POLICY if retry_policy is None else retry_policy)
        self._connect_timeout = connect_timeout
        self._conn: Connection | None = None
        self._producer: Producer | None = None

    def __enter__(self) -> CluePublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.release()
        self._conn = self._producer = None

    def _on_retry(self, exc: BaseException, interval: float) -> None:
        log.warning("broker %s: %s; retrying in %.1f s", mask_url(self.url), mask_url(str(exc)), interval)

    def publish(self, event: ClueEvent | LeaseNotice) -> None:
        """Publish persistently; returns once the broker accepted it, else raises PublishError."""
        if self._producer is None:  # lazily: entering with the broker down is not an error
            self._conn = _connection(self.url, self._connect_timeout)
            self._producer = Producer(self._conn, auto_declare=False)
        try:
            self._producer.publish(
                event.model_dump_json(),
                exchange=self.topology.exchange,
                routing_key=event.routing_key,
                declare=[self.topology.queue],  # the exchange, the queue and the binding
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
                message_id=event.event_id,
                retry=True,
                retry_policy={**self.retry_policy, "errback": self._on_retry},
            )
        except Exception as e:  # anything the transport raises means "not accepted": never drop silently
            # A failed connection can stay unusable ("channel disconnected"): start afresh next time.
            self.close()
            raise PublishError(
                f"could not publish {event.event_id} to {mask_url(self.url)}: {type(e).__name__}: {mask_url(str(e))}",
                event.event_id,
            ) from None
        log.debug("published %s (%s) to %s", event.event_id, event.routing_key, mask_url(self.url))


class ClueSpool:
    """Append-only JSON-lines file of events (and lease notices) the broker did not accept yet, published
    in order later.

    A crash between publishing and rewriting the spool re-publishes some events on the next drain;
    consumers deduplicate on event_id. Lines that do not parse (a torn write) move to `<name>.rejected`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rejected_path = self.path.with_name(self.path.name + ".rejected")
        self._lock = threading.Lock()  # guards the file
        self._draining = threading.Lock()  # one drain at a time

    def add(self, event: ClueEvent | LeaseNotice) -> None:
        line = (event.model_dump_json() + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as f:
                if f.tell() and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
                    line = b"\n" + line  # after a torn write, keep the new event on its own line
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        log.warning("spooled %s (%d waiting in %s)", event.event_id, len(self), self.path)

    def __len__(self) -> int:
        try:
            with open(self.path, "rb") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return 0

    def _read(self) -> tuple[bytes, int]:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return b"", 0
        return data, len(data)

    def drain(self, publisher: CluePublisher) -> int:
        """Publish spooled events in order until one fails; keep the rest. Returns how many were sent."""
        with self._draining:
            return self._drain(publisher)

    def drain_until(
        self, broker_url: str, stop: threading.Event, every_s: float, waiting: Callable[[int], None]
    ) -> None:
        """Drain every `every_s` until `stop`, and once more then (SIGTERM included); `waiting(n)` reports
        how many still wait. For a thread of its own: kombu connections are not shared across threads."""
        with CluePublisher(broker_url) as publisher:
            while True:
                stopping = stop.wait(every_s)
                try:
                    if len(self):
                        sent = self.drain(publisher)
                        waiting(len(self))
                        if sent:
                            log.info("published %d spooled clue events (%d still waiting)", sent, len(self))
                except Exception:  # the spool stays on disk; the thread must live to retry it
                    log.exception("spool %s: drain failed", self.path)
                if stopping:
                    return

    def _drain(self, publisher: CluePublisher) -> int:
        with self._lock:
            data, size = self._read()
        lines = data.splitlines(keepends=True)
        sent: set[str] = set()
        rejected: list[bytes] = []
        done = 0  # lines dealt with: published, duplicate, blank or rejected
        try:
            for line in lines:
                event = self._parse(line, rejected)
                if event is not None and event.event_id not in sent:
                    publisher.publish(event)
                    sent.add(event.event_id)
                done += 1
        except PublishError as e:
            log.warning("spool %s: %d sent, %d kept: %s", self.path, len(sent), len(lines) - done, e)
        finally:
            self._rewrite(lines[done:], size, rejected)
        return len(sent)

    def _parse(self, line: bytes, rejected: list[bytes]) -> ClueEvent | LeaseNotice | None:
        if not line.strip():
            return None
        try:
            return ClueMessage.model_validate_json(line)
        except ValidationError as e:
            log.error("spool %s: unreadable line moved to %s: %s", self.path, self.rejected_path, e)
            rejected.append(line if line.endswith(b"\n") else line + b"\n")
            return None

    def _rewrite(self, remaining: list[bytes], size: int, rejected: list[bytes]) -> None:
        with self._lock:
            if rejected:
                with open(self.rejected_path, "ab") as f:
                    f.writelines(rejected)
                    os.fsync(f.fileno())
            data, _ = self._read()
            added = data[size:]  # events added while draining stay, after the ones not sent
            if remaining and not remaining[-1].endswith(b"\n"):
                remaining[-1] += b"\n"
            keep = b"".join(remaining) + added
            if not keep:
                self.path.unlink(missing_ok=True)
                return
            write_atomic(self.path, keep)

    def publish(self, publisher: CluePublisher, event: ClueEvent | LeaseNotice) -> bool:
        """Publish `event`, or spool it when that fails or a backlog waits (order matters: opened
        before updated). A backlog is sent by `drain`, from another thread in the worker, so that a
        broker outage costs the caller one failed publish, not one per event.

        Returns True when it was published, False when it was spooled.
        """
        if len(self):
            self.add(event)
            return False
        try:
            publisher.publish(event)
        except PublishError as e:
            log.warning("%s", e)
            self.add(event)
            return False
        return True


class Poison(Exception):
    """Raised by a consume() handler for an event that can never be applied (the database refuses
    it, its category is unknown): the message goes to the dead letters instead of being retried."""


@dataclass(frozen=True)
class BadMessage:
    """A message that cannot be applied: what a dead-letter store keeps (the body may be large)."""

    queue: str
    reason: str
    body: bytes
    message_id: str | None
    routing_key: str | None


def _log_and_drop(bad: BadMessage) -> None:
    log.error("rejecting message %s: %s; body: %s", bad.message_id, clip(bad.reason), clip(bad.body))


def consume(
    url: str,
    handler: Callable[[Any], Any],
    *,
    topology: Topology = DEFAULT_TOPOLOGY,
    contract: type[BaseModel] | type[ClueMessage] = ClueEvent,
    limit: int | None = None,
    timeout: float | None = None,
    stop: threading.Event | None = None,
    poll_interval: float = 0.2,
    dead_letter: Callable[[BadMessage], Any] = _log_and_drop,
) -> int:
    """Feed messages of `topology`'s queue (the review queue), parsed as `contract`, to `handler`,
    acking each after it returns.

    Returns the number handled, after `limit` messages, after `timeout` seconds without a message, or
    when `stop` is set. A handler that raises gets its message requeued and the exception propagates.
    Bodies over MAX_MESSAGE_BYTES or not a valid `contract`, and messages the handler calls Poison,
    go to `dead_letter` and are acked after it returns (if it raises, the message is requeued).
    """
    count = 0

    def bury(message: Message, body: bytes, reason: str) -> None:
        bad = BadMessage(
            queue=topology.queue_name,
            reason=reason,
            body=body,
            message_id=message.properties.get("message_id"),
            routing_key=message.delivery_info.get("routing_key"),
        )
        try:
            dead_letter(bad)
        except BaseException:
            message.reject(requeue=True)
            raise
        message.ack()

    def on_message(message: Message) -> None:
        nonlocal count
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode("utf-8")
        if len(body) > MAX_MESSAGE_BYTES:
            bury(message, body, f"message of {len(body)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
            return
        try:
            event = contract.model_validate_json(body)
        except ValidationError as e:
            bury(message, body, f"invalid message: {e}")
            return
        try:
            handler(event)
        except Poison as e:
            bury(message, body, str(e))
            return
        except BaseException:
            message.reject(requeue=True)
            raise
        message.ack()
        count += 1

    with _connection(url, 5.0) as conn:
        if hasattr(conn.transport, "polling_interval"):  # virtual transports (SQLite) poll a table
            conn.transport.polling_interval = poll_interval
        with conn.Consumer(topology.queue, on_message=on_message, prefetch_count=1):
            idle_since = time.monotonic()
            while (limit is None or count < limit) and not (stop is not None and stop.is_set()):
                wait = 1.0 if timeout is None else timeout - (time.monotonic() - idle_since)
                if wait <= 0:
                    break
                before = count
                try:
                    conn.drain_events(timeout=min(wait, 1.0))
                except TimeoutError:  # socket.timeout: nothing arrived
                    pass
                if count != before:
                    idle_since = time.monotonic()
    return count


def collect_events(url: str, *, limit: int, timeout: float, topology: Topology = DEFAULT_TOPOLOGY) -> list[ClueEvent]:
    """Consume up to `limit` events (waiting at most `timeout` s between messages) and return them;
    lease notices are consumed and left out."""
    events: list[ClueEvent] = []
    full = threading.Event()
    if limit <= 0:
        full.set()

    def keep(message: ClueEvent | LeaseNotice) -> None:
        if isinstance(message, ClueEvent):
            events.append(message)
            if len(events) >= limit:
                full.set()

    consume(url, keep, topology=topology, contract=ClueMessage, timeout=timeout, stop=full)
    return events


__all__ = [
    "BadMessage",
    "DEFAULT_BROKER_URL",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_TOPOLOGY",
    "ClueSpool",
    "CluePublisher",
    "Poison",
    "PublishError",
    "Topology",
    "collect_events",
    "consume",
    "embedded_broker_url",
]
