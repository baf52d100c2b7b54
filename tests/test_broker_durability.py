"""The embedded broker keeps what is not acknowledged and forgets what is: SIGKILL at random points
of a real intake subprocess loses no event and duplicates no case, and acked messages leave the file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kombu import Connection
from review_support import database, make_event
from sqlalchemy import func, select

from xuncha.clues import embedded
from xuncha.clues.broker import DEFAULT_TOPOLOGY, CluePublisher, consume, embedded_broker_url
from xuncha.db.clues import Clue, ClueEventRow

ROOT = Path(__file__).resolve().parents[1]
LEASE_S = 0.5  # short so that the test need not wait; the default is minutes

# A real intake (run_intake) with a short lease; "ready" once imported, so kills land in consumption.
CHILD = """
import sys, threading
from xuncha.clues import embedded
from xuncha.db.engine import open_database
from xuncha.review.intake import run_intake
embedded.Channel.lease_s = float(sys.argv[3])
_engine, sessions = open_database(sys.argv[1])
print("ready", flush=True)
run_intake(sessions, sys.argv[2], threading.Event())
"""


def _rows(broker: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(broker) as db:
        return db.execute("SELECT id, visible FROM kombu_message").fetchall()


def _counts(sessions) -> tuple[int, int]:
    with sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(ClueEventRow)) or 0,
            s.scalar(select(func.count()).select_from(Clue)) or 0,
        )


def _start(db_url: str, broker_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, broker_url, str(LEASE_S)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def test_a_message_in_hand_at_sigkill_goes_back_on_its_queue(tmp_path: Path) -> None:
    broker = tmp_path / "broker.sqlite"
    url = embedded_broker_url(broker)
    with CluePublisher(url) as pub:
        pub.publish(make_event(1, evidence=False))
    grab = (
        "import os, signal, sys\nfrom kombu import Connection\nimport xuncha.clues.broker as b\n"
        "with Connection(sys.argv[1]) as c:\n"
        "    q = b.DEFAULT_TOPOLOGY.queue(c.default_channel); q.declare(); m = q.get()\n"
        "    print(m.properties['message_id'], flush=True); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", grab, url], capture_output=True, text=True, env=env)
    assert out.returncode == -signal.SIGKILL and out.stdout.strip() == make_event(1).event_id
    assert [v for _id, v in _rows(broker)] == [0]  # in hand when its consumer died: invisible
    old, embedded.Channel.lease_s = embedded.Channel.lease_s, LEASE_S
    try:
        with Connection(url) as conn:
            queue = DEFAULT_TOPOLOGY.queue(conn.default_channel)
            queue.declare()
            assert queue.get() is None  # its lease has not expired: not taken from a live consumer
            time.sleep(LEASE_S + 0.1)
            conn.default_channel._next_sweep = 0.0  # sweep now rather than in lease/4
            msg = queue.get()
            assert msg is not None and msg.properties["message_id"] == make_event(1).event_id
            msg.ack()
    finally:
        embedded.Channel.lease_s = old
    assert _rows(broker) == []  # acknowledged: gone from the file


def test_sigkill_at_random_points_of_intake_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    kills, backlog = int(os.environ.get("XUNCHA_KILLS", "25")), 100
    broker = tmp_path / "broker.sqlite"
    broker_url = embedded_broker_url(broker)
    rng = random.Random(21)
    n_events = 0  # distinct events published so far

    def top_up(pub: CluePublisher, applied: int) -> None:
        """Keep `backlog` events waiting, so that every kill lands while intake has work, however fast it is."""
        nonlocal n_events
        while n_events - applied < backlog:
            pub.publish(make_event(n_events, evidence=False))
            if n_events % 3 == 0:  # a redelivered duplicate, as after a crash between commit and ack
                pub.publish(make_event(n_events, evidence=False))
            n_events += 1

    with database("sqlite", tmp_path) as (db_url, sessions), CluePublisher(broker_url) as pub:
        seen: list[int] = []
        for _ in range(kills):
            top_up(pub, _counts(sessions)[0])
            p = _start(db_url, broker_url)
            time.sleep(rng.uniform(0.0, 0.4))
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            seen.append(_counts(sessions)[0])
        assert 0 < seen[-1] < n_events, "the kills landed before or after all work: they proved little"
        p = _start(db_url, broker_url)  # a last run drains the queue, after the leases expire
        try:
            deadline = time.monotonic() + 120
            while (_counts(sessions)[0] < n_events or _rows(broker)) and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        assert _counts(sessions) == (n_events, n_events), (seen, _rows(broker)[:5])  # 0 lost, 0 duplicated
        assert _rows(broker) == []  # every message acknowledged and deleted


def test_acknowledged_messages_leave_the_file_and_old_files_are_adopted(tmp_path: Path) -> None:
    broker = tmp_path / "broker.sqlite"
    url = embedded_broker_url(broker)
    with CluePublisher(url) as pub:
        for i in range(30):
            pub.publish(make_event(i, evidence=False))
    assert consume(url, lambda _e: None, limit=30, timeout=5, poll_interval=0.01) == 30
    assert _rows(broker) == []  # kombu's transport keeps all 30, invisible, for ever

    legacy = tmp_path / "legacy.sqlite"  # what kombu's own transport left: acked rows, invisible
    with sqlite3.connect(broker) as src, sqlite3.connect(legacy) as dst:
        src.backup(dst)
        dst.execute("DROP TABLE xuncha_broker_leases")
        dst.execute(
            "INSERT INTO kombu_message (visible, payload, version, queue_id) SELECT 0, 'x', 1, id FROM kombu_queue"
        )
    legacy_url = embedded_broker_url(legacy)
    with CluePublisher(legacy_url) as pub:
        pub.publish(make_event(99, evidence=False))
    assert [v for _i, v in _rows(legacy)] == [1]  # the acked leftovers went, the new message stayed
