"""Clue publishing: embedded SQLite broker and real RabbitMQ, outages, the spool, consuming, masking."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection, Producer
from review_support import make_event

from xuncha.clues.broker import (
    DEFAULT_TOPOLOGY,
    CluePublisher,
    ClueSpool,
    PublishError,
    Topology,
    collect_events,
    consume,
    embedded_broker_url,
)
from xuncha.clues.contracts import ClueEvent
from xuncha.redact import clip, mask_url

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
RABBIT_URL = f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}//"
FAST_RETRY = {"max_retries": 2, "interval_start": 0.05, "interval_step": 0.05, "interval_max": 0.1}


def mixed_events() -> list[ClueEvent]:
    return [
        make_event(0),
        make_event(1, category="0102"),
        make_event(0, "updated", 1),
        make_event(2, category="0508"),
        make_event(0, "closed", 2),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embedded(tmp_path: Path) -> str:
    return embedded_broker_url(tmp_path / "var" / "broker.sqlite")


def _rabbit_up() -> bool:
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def topology() -> Iterator[Topology]:
    """Names of this test run only, so tests never touch (or collide on) the production queue."""
    tag = uuid.uuid4().hex[:12]
    yield Topology(exchange_name=f"test.{tag}.clues", queue_name=f"test.{tag}.clues.review")


@pytest.fixture
def rabbit(topology: Topology) -> Iterator[str]:
    if not _rabbit_up():
        pytest.skip(f"RabbitMQ not reachable at {RABBIT_HOST}:{RABBIT_PORT}")
    yield RABBIT_URL
    with Connection(RABBIT_URL) as conn:
        ch = conn.default_channel
        topology.queue(ch).delete()
        topology.exchange(ch).delete()


class TcpProxy:
    """A TCP forwarder we can take down and bring back on the same port: a broker outage on demand."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen()
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def stop(self) -> None:
        assert self._listener is not None
        for s in [self._listener, *self._sockets]:  # shutdown wakes the thread blocked in accept()
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self._sockets.clear()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class FakePublisher:
    """Stands in for CluePublisher in spool unit tests: records, fails on demand, or 'crashes'."""

    def __init__(self) -> None:
        self.sent: list[ClueEvent] = []
        self.down = False
        self.fail_after: int | None = None  # raise PublishError once this many were sent
        self.crash_after: int | None = None  # record, then raise (the process dies before the spool is rewritten)
        self.on_publish = None

    def publish(self, event: ClueEvent) -> None:
        if self.down or (self.fail_after is not None and len(self.sent) >= self.fail_after):
            raise PublishError(f"could not publish {event.event_id}", event.event_id)
        self.sent.append(event)
        if self.on_publish:
            self.on_publish(event)
        if self.crash_after is not None and len(self.sent) >= self.crash_after:
            raise RuntimeError("crash")


# ---- masking


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("amqp://guest:s3cret@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("amqps://user:p%40ss@host/vhost", "amqps://user:***@host/vhost"),
        ("amqp://u:raw@pass@host//", "amqp://u:***@host//"),  # unescaped '@' in a password
        ("amqp://u:a@h1//;amqp://v:b@h2//", "amqp://u:***@h1//;amqp://v:***@h2//"),  # failover list
        ("rtsp://admin:12345@10.0.0.5:554/Streaming/101", "rtsp://admin:***@10.0.0.5:554/Streaming/101"),
        ("redis://:tok@host:6379/0", "redis://:***@host:6379/0"),
        ("amqp://guest@host//", "amqp://guest@host//"),
        ("sqla+sqlite:////var/lib/xuncha/broker.sqlite", "sqla+sqlite:////var/lib/xuncha/broker.sqlite"),
        ("failed: amqp://a:b@h:1// refused", "failed: amqp://a:***@h:1// refused"),
    ],
)
def test_mask_url_hides_passwords(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "text",
    [
        "a" * 2_000_000,  # a run of letters: the old pattern backtracked over it from every position
        "a://" * 500_000,
        ("x" * 40 + "://") * 50_000,
        "see amqp://u:p@h// " * 20_000,
    ],
)
def test_mask_url_is_linear_on_long_texts(text: str) -> None:
    t = time.perf_counter()
    masked = mask_url(text)
    assert time.perf_counter() - t < 1.0  # was 1.8 s for 40,000 letters, quadratic
    assert "p@h" not in masked and len(masked) >= len(text) - text.count("p@h")


def test_clip_bounds_what_a_log_line_quotes() -> None:
    assert clip(b"short") == "b'short'"
    assert clip("é" * 1000, 3) == "'ééé'... (1000 chars)"
    assert len(clip(b"\x00" * 5_000_000)) < 900


def test_default_topology_names() -> None:
    t = DEFAULT_TOPOLOGY
    assert (t.exchange.name, t.exchange.type, t.exchange.durable) == ("xuncha.clues", "topic", True)
    assert (t.queue.name, t.queue.routing_key, t.queue.durable) == ("xuncha.clues.review", "clue.#", True)


# ---- embedded broker (SQLite)


def test_embedded_round_trip_keeps_every_field(embedded: str, tmp_path: Path) -> None:
    assert embedded == f"sqla+sqlite:///{tmp_path / 'var' / 'broker.sqlite'}"
    events = mixed_events()
    with CluePublisher(embedded) as pub:  # published before any consumer exists: the queue holds them
        for ev in events:
            pub.publish(ev)
    got = collect_events(embedded, limit=10, timeout=1.0)
    assert got == events
    assert [g.model_dump(mode="json") for g in got] == [e.model_dump(mode="json") for e in events]
    assert collect_events(embedded, limit=10, timeout=0.3) == []  # acked: nothing left


def test_embedded_message_properties(embedded: str) -> None:
    with CluePublisher(embedded) as pub:
        pub.publish(make_event(1, category="0102"))
    with Connection(embedded) as conn:
        msg = DEFAULT_TOPOLOGY.queue(conn.default_channel).get()
        assert msg is not None
        assert msg.delivery_info["routing_key"] == "clue.opened.0102"
        assert msg.properties["message_id"] == "clue-001:0"
        assert msg.content_type == "application/json"
        msg.ack()


def test_consume_rejects_invalid_bodies_and_requeues_on_handler_error(
    embedded: str, caplog: pytest.LogCaptureFixture
) -> None:
    ev0, ev1 = make_event(0), make_event(1)
    with CluePublisher(embedded) as pub:
        pub.publish(ev0)
    with Connection(embedded) as conn:  # a foreign producer sends garbage to the same exchange
        Producer(conn).publish(
            '{"kind": "opened"}',
            exchange=DEFAULT_TOPOLOGY.exchange,
            routing_key="clue.opened.x",
            declare=[DEFAULT_TOPOLOGY.queue],
            content_type="application/json",
            content_encoding="utf-8",
        )
    with CluePublisher(embedded) as pub:
        pub.publish(ev1)

    def fail(event: ClueEvent) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        consume(embedded, fail, limit=1, timeout=1.0)
    with caplog.at_level(logging.ERROR, logger="xuncha.clues.broker"):
        got = collect_events(embedded, limit=10, timeout=1.0)
    assert sorted(e.event_id for e in got) == ["clue-000:0", "clue-001:0"]  # the failed one came back
    assert "rejecting message" in caplog.text and "for ClueEve" in caplog.text
    assert collect_events(embedded, limit=10, timeout=0.3) == []  # the invalid one is not redelivered


def test_consume_stops_when_told(embedded: str) -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t = time.monotonic()
    assert consume(embedded, lambda e: None, stop=stop) == 0
    assert time.monotonic() - t < 3


def test_embedded_outage_spools_and_drains_once(tmp_path: Path) -> None:
    # The broker's folder does not exist yet: SQLite cannot open the file (like a missing volume).
    url = f"sqla+sqlite:///{tmp_path / 'missing' / 'broker.sqlite'}"
    spool = ClueSpool(tmp_path / "spool" / "clues.jsonl")
    events = mixed_events()
    with CluePublisher(url, retry_policy=FAST_RETRY) as pub:
        for ev in events[:3]:
            assert spool.publish(pub, ev) is False
        assert len(spool) == 3
        (tmp_path / "missing").mkdir()  # the broker is back
        assert spool.publish(pub, events[3]) is False  # behind the backlog, never before it
        assert spool.drain(pub) == 4 and len(spool) == 0
        for ev in events[4:]:
            assert spool.publish(pub, ev) is True
    assert collect_events(url, limit=10, timeout=1.0) == events


# ---- unreachable broker


def test_unreachable_broker_raises_publish_error_quickly_and_spool_keeps_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"amqp://xuncha:TopSecret42@127.0.0.1:{free_port()}//"
    spool = ClueSpool(tmp_path / "spool.jsonl")
    ev = make_event(7)
    t = time.monotonic()
    with caplog.at_level(logging.DEBUG), CluePublisher(url, retry_policy=FAST_RETRY) as pub:
        with pytest.raises(PublishError) as err:
            pub.publish(ev)
        assert time.monotonic() - t < 5
        assert err.value.event_id == ev.event_id
        assert "amqp://xuncha:***@127.0.0.1" in str(err.value)
        assert spool.publish(pub, ev) is False
    assert "TopSecret42" not in str(err.value)
    assert "TopSecret42" not in caplog.text
    assert len(spool) == 1
    assert ClueSpool(tmp_path / "spool.jsonl").drain(FakePublisher()) == 1  # it survived on disk


# ---- spool (unit: fake publisher)


def test_spool_drain_stops_at_first_failure_and_keeps_order(tmp_path: Path) -> None:
    spool, pub = ClueSpool(tmp_path / "s.jsonl"), FakePublisher()
    events = [make_event(i) for i in range(5)]
    for ev in events:
        spool.add(ev)
    pub.fail_after = 2
    assert spool.drain(pub) == 2
    assert len(spool) == 3
    pub.fail_after = None
    assert spool.drain(pub) == 3
    assert pub.sent == events and len(spool) == 0 and not spool.path.exists()


def test_spool_crash_mid_drain_republishes_idempotently(tmp_path: Path) -> None:
    spool, pub = ClueSpool(tmp_path / "s.jsonl"), FakePublisher()
    events = [make_event(i) for i in range(4)]
    for ev in events:
        spool.add(ev)
    pub.crash_after = 2  # the 2nd event reached the broker, then the process died before removing it
    with pytest.raises(RuntimeError, match="crash"):
        spool.drain(pub)
    assert len(spool) == 3
    pub.crash_after = None
    assert spool.drain(pub) == 3
    ids = [e.event_id for e in pub.sent]
    assert ids == ["clue-000:0", "clue-001:0", "clue-001:0", "clue-002:0", "clue-003:0"]
    assert list(dict.fromkeys(ids)) == [e.event_id for e in events]  # consumers dedupe on event_id


def test_spool_keeps_events_added_while_draining(tmp_path: Path) -> None:
    spool, pub = ClueSpool(tmp_path / "s.jsonl"), FakePublisher()
    spool.add(make_event(0))
    spool.add(make_event(1))
    late = make_event(9)
    pub.on_publish = lambda ev: spool.add(late) if ev.clue_id == "clue-000" else None
    pub.fail_after = 1
    assert spool.drain(pub) == 1
    pub.fail_after, pub.on_publish = None, None
    assert spool.drain(pub) == 2
    assert [e.clue_id for e in pub.sent] == ["clue-000", "clue-001", "clue-009"]


def test_spool_moves_torn_lines_aside(tmp_path: Path) -> None:
    spool, pub = ClueSpool(tmp_path / "s.jsonl"), FakePublisher()
    spool.add(make_event(0))
    with open(spool.path, "ab") as f:
        f.write(make_event(1).model_dump_json().encode()[:50])  # a crash in the middle of a write
    spool.add(make_event(2))
    assert spool.drain(pub) == 2
    assert [e.clue_id for e in pub.sent] == ["clue-000", "clue-002"]
    assert spool.rejected_path.read_bytes().startswith(b'{"schema_version":1')
    assert len(spool) == 0


def test_spool_publish_keeps_order_across_an_outage(tmp_path: Path) -> None:
    spool, pub = ClueSpool(tmp_path / "s.jsonl"), FakePublisher()
    opened, updated, closed = make_event(0), make_event(0, "updated", 1), make_event(0, "closed", 2)
    pub.down = True
    assert spool.publish(pub, opened) is False
    assert spool.publish(pub, updated) is False
    pub.down = False
    assert spool.publish(pub, closed) is False  # still behind the backlog, never before it
    assert spool.drain(pub) == 3
    assert pub.sent == [opened, updated, closed]
    assert spool.publish(pub, make_event(1)) is True  # backlog gone: straight to the broker


# ---- RabbitMQ


@pytest.mark.rabbitmq
def test_rabbitmq_round_trip_keeps_every_field(rabbit: str, topology: Topology) -> None:
    events = mixed_events()
    with CluePublisher(rabbit, topology=topology) as pub:
        for ev in events:
            pub.publish(ev)
    got = collect_events(rabbit, topology=topology, limit=10, timeout=1.0)
    assert got == events
    assert collect_events(rabbit, topology=topology, limit=10, timeout=0.3) == []


@pytest.mark.rabbitmq
def test_rabbitmq_messages_are_persistent_and_routed_by_kind_and_category(rabbit: str, topology: Topology) -> None:
    with CluePublisher(rabbit, topology=topology) as pub:
        pub.publish(make_event(3, "updated", 4, category="0508"))
    with Connection(rabbit) as conn:
        ch = conn.default_channel
        # Passive re-declaration fails unless both exist with these properties.
        topology.exchange(ch).declare(passive=True)
        topology.queue(ch).queue_declare(passive=True)
        msg = topology.queue(ch).get()
        assert msg is not None
        assert msg.properties["delivery_mode"] == 2
        assert msg.properties["message_id"] == "clue-003:4"
        assert msg.delivery_info["routing_key"] == "clue.updated.0508"
        assert msg.delivery_info["exchange"] == topology.exchange_name
        msg.ack()


@pytest.mark.rabbitmq
def test_rabbitmq_outage_spools_then_delivers_each_event_once(
    rabbit: str, topology: Topology, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = TcpProxy((RABBIT_HOST, RABBIT_PORT))
    proxy.start()
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}//"
    spool = ClueSpool(tmp_path / "spool.jsonl")
    events = mixed_events()
    try:
        with CluePublisher(url, topology=topology, retry_policy=FAST_RETRY) as pub:
            assert spool.publish(pub, events[0]) is True
            proxy.stop()  # the broker goes away under an open connection
            t = time.monotonic()
            assert spool.publish(pub, events[1]) is False
            assert spool.publish(pub, events[2]) is False
            assert time.monotonic() - t < 10
            assert len(spool) == 2
            proxy.start()  # and comes back
            assert spool.drain(pub) == 2
            for ev in events[3:]:
                assert spool.publish(pub, ev) is True
            assert len(spool) == 0
    finally:
        proxy.stop()
    got = collect_events(rabbit, topology=topology, limit=10, timeout=1.0)
    assert [e.event_id for e in got] == [e.event_id for e in events]
    assert got == events


def test_log_formatter_masks_passwords_in_tracebacks_too() -> None:
    import logging
    import sys

    from xuncha.redact import MaskingFormatter

    try:
        raise OSError("cannot open rtsp://admin:Secr3t@10.0.0.7/ch1")
    except OSError:
        info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "camera %s failed", ("gate",), info)
    text = MaskingFormatter("%(message)s").format(record)
    assert "Secr3t" not in text and "rtsp://admin:***@10.0.0.7/ch1" in text and "Traceback" in text
