"""A fetch from the embedded broker costs the same whatever the file's other queues hold.

Cases for a dispatch service that is down (or re-check requests for a camera no worker runs) wait in
the same broker.sqlite as the clue events. kombu's fetch query walked its `timestamp` index from the
start, skipping every row of the other queues, so each clue fetch grew with that backlog. The cost is
counted in SQLite virtual-machine steps (a progress handler), not in seconds: the same on a loaded
machine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kombu import Connection
from review_support import make_event
from sqlalchemy import event

from xuncha.clues.broker import DEFAULT_TOPOLOGY, CluePublisher, Topology, embedded_broker_url

OTHER = Topology(exchange_name="t.cases", queue_name="t.cases.dispatch", binding_key="clue.#")
STEP = 10  # VM instructions per progress-handler call


def _fetch_steps(broker: Path, backlog_doublings: int) -> int:
    """VM steps of one fetch of the clue queue, its one message behind 2**doublings of another queue."""
    url = embedded_broker_url(broker)
    with CluePublisher(url, topology=OTHER) as other:
        other.publish(make_event(1, evidence=False))
    with sqlite3.connect(broker) as db:
        for _ in range(backlog_doublings):
            db.execute(
                "INSERT INTO kombu_message (visible, timestamp, payload, version, queue_id)"
                " SELECT visible, timestamp, payload, version, queue_id FROM kombu_message"
            )
    with CluePublisher(url) as pub:
        pub.publish(make_event(2, evidence=False))
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    def install(conn, *_args) -> None:
        conn.connection.driver_connection.set_progress_handler(count, STEP)

    with Connection(url) as conn:
        channel = conn.default_channel
        channel._get(DEFAULT_TOPOLOGY.queue_name)  # first fetch: queue lookups, lease sweep; nothing left
        engine, _ = channel._open()
        with CluePublisher(url) as pub:
            pub.publish(make_event(3, evidence=False))
        event.listen(engine, "before_cursor_execute", install)
        try:
            payload = channel._get(DEFAULT_TOPOLOGY.queue_name)
        finally:
            event.remove(engine, "before_cursor_execute", install)
            with engine.connect() as c:  # pooled DBAPI connections keep the handler: clear it
                c.connection.driver_connection.set_progress_handler(None, 0)
    assert payload["properties"]["message_id"] == make_event(3, evidence=False).event_id
    return steps


def test_a_fetch_does_not_walk_the_backlog_of_other_queues(tmp_path: Path) -> None:
    small = _fetch_steps(tmp_path / "small.sqlite", 0)
    large = _fetch_steps(tmp_path / "large.sqlite", 13)  # 8,192 rows of another queue ahead
    with sqlite3.connect(tmp_path / "large.sqlite") as db:
        assert db.execute("SELECT count(*) FROM kombu_message").fetchone()[0] >= 8192
    print(f"fetch: {small * STEP} VM steps behind one row of another queue, {large * STEP} behind 8,192")
    assert large <= small * 1.5 + 5, f"{large * STEP} VM steps behind 8,192 other rows, {small * STEP} behind one"
