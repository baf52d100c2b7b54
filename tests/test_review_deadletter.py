"""Dead letters: a poison message costs one message, never the queue, and admins can see and handle it.

Against the real brokers (embedded SQLite, RabbitMQ) and databases (SQLite, PostgreSQL), and the real
review service in a subprocess: a 5 MB garbage message costs well under a second, /health answers
throughout, SIGTERM stops the service within seconds and nothing acknowledged is lost.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import pg_schema_url
from fastapi.testclient import TestClient
from review_support import (
    RABBIT_URL,
    RUN,
    add_users,
    database,
    isolated_queue,
    login,
    make_event,
    publish_raw,
    remaining,
    review_config,
)
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from xuncha.clues import embedded
from xuncha.clues.broker import BadMessage, Topology, consume, embedded_broker_url
from xuncha.clues.dispatch import results_queue
from xuncha.clues.limits import MAX_MESSAGE_BYTES
from xuncha.db.clues import Clue
from xuncha.db.engine import make_engine, open_database
from xuncha.review import cli, deadletter
from xuncha.review.app import create_app
from xuncha.review.handling import run_results_intake
from xuncha.review.intake import run_intake
from xuncha.taxonomy import load_taxonomy

GARBAGE = (b"not json " + b"abcdefghijklmnopqrstuvwxyz" * 210_000)[: 5 * 1024 * 1024]  # 5 MB of letters


def wait_until(cond: Callable[[], object], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Topology]]:
    url = embedded_broker_url(tmp_path / "broker.sqlite") if request.param == "embedded" else RABBIT_URL
    with isolated_queue(url) as topo:
        yield url, topo


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (url, sessions):
        yield url, sessions


def test_garbage_5mb_is_dead_lettered_in_well_under_a_second_and_the_queue_moves_on(broker, db) -> None:
    url, topo = broker
    _db_url, sessions = db
    publish_raw(url, topo, [("garbage-1", GARBAGE), ("clue-001:0", make_event(1).model_dump_json().encode())])
    buried: list[float] = []

    def bury(bad: BadMessage) -> None:
        deadletter.record(sessions, bad)
        buried.append(time.perf_counter())

    t0 = time.perf_counter()
    handled = consume(url, lambda e: None, topology=topo, timeout=1.0, dead_letter=bury)
    cost = buried[0] - t0  # connecting, fetching the 5 MB, refusing it and recording it
    print(f"5 MB garbage message: {cost * 1000:.0f} ms from consume() start to dead letter recorded")
    assert cost < 1.0 and handled == 1
    with sessions() as s:
        (row,) = deadletter.newest(s)
        assert row.queue == topo.queue_name and row.message_id == "garbage-1"
        assert row.body_size == len(GARBAGE) and row.truncated and row.body == GARBAGE[:MAX_MESSAGE_BYTES]
        assert "over the limit" in row.reason and row.received_at is not None
    assert remaining(url, topo) == []  # acked once recorded, not redelivered


def test_invalid_json_is_kept_whole_and_can_be_fixed_and_requeued(broker, db) -> None:
    url, topo = broker
    _db_url, sessions = db
    publish_raw(url, topo, [("garbage-1", b'{"kind": "opened", "clue_id": "x"')])
    good = make_event(7)
    bad_score = good.model_dump(mode="json") | {"score": 2.0}  # valid JSON, fails the schema
    publish_raw(url, topo, [("bad-score", json.dumps(bad_score).encode())])
    consume(url, lambda e: None, topology=topo, timeout=0.5, dead_letter=lambda b: deadletter.record(sessions, b))
    with sessions() as s:
        rows = deadletter.newest(s)
        assert [r.message_id for r in rows] == ["bad-score", "garbage-1"]
        assert "validation error for ClueEvent" in rows[1].reason and "EOF" in rows[1].reason
        assert rows[1].body == b'{"kind": "opened", "clue_id": "x"' and not rows[1].truncated
    assert "score" in rows[0].reason
    deadletter.requeue(sessions, rows[1].id, url)  # the very same bytes go back to the queue
    assert remaining(url, topo) == [b'{"kind": "opened", "clue_id": "x"']
    with sessions() as s:
        assert [r.message_id for r in deadletter.newest(s)] == ["bad-score"]


def test_message_stays_queued_when_the_dead_letter_store_is_down(broker) -> None:
    url, topo = broker
    publish_raw(url, topo, [("garbage-1", b"garbage")])

    def down(bad: BadMessage) -> None:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        consume(url, lambda e: None, topology=topo, timeout=1.0, dead_letter=down)
    assert remaining(url, topo) == [b"garbage"]  # requeued, not lost


@pytest.mark.postgres
def test_event_postgresql_refuses_costs_one_message_and_requeues_after_the_fix(broker, tmp_path: Path) -> None:
    url, topo = broker
    with database("postgresql", tmp_path) as (_u, sessions):
        with sessions.begin() as s:  # PostgreSQL refuses one camera's clues for good (like a too-long value)
            s.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN"
                    " RAISE EXCEPTION 'camera % refused', NEW.camera_id; END $$ LANGUAGE plpgsql;"
                    " CREATE TRIGGER refuse BEFORE INSERT ON clues FOR EACH ROW"
                    " WHEN (NEW.camera_id = 'poison') EXECUTE FUNCTION refuse();"
                )
            )
        events = [make_event(1), make_event(2, camera="poison"), make_event(3), make_event(4)]
        for ev in events:
            publish_raw(url, topo, [(ev.event_id, ev.model_dump_json().encode())])
        stop = threading.Event()
        t = threading.Thread(target=run_intake, args=(sessions, url, stop), kwargs={"topology": topo})
        t.start()
        try:
            wait_until(lambda: _clues(sessions) == 3, what="the three good clues behind the poison one")
            with sessions() as s:
                (row,) = deadletter.newest(s)
            assert row.message_id == "clue-002:0" and "database refused clue-002:0" in row.reason
            assert "camera poison refused" in row.reason
            with sessions.begin() as s:
                s.execute(text("DROP TRIGGER refuse ON clues"))
            deadletter.requeue(sessions, row.id, url)
            wait_until(lambda: _clues(sessions) == 4, what="the requeued clue")
        finally:
            stop.set()
            t.join(10)
        with sessions() as s:
            assert deadletter.count(s) == 0


def _clues(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Clue)) or 0


def test_cli_lists_shows_requeues_and_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump({"data_dir": "data"}), encoding="utf-8")
    broker_url = embedded_broker_url(tmp_path / "data" / "broker.sqlite")
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'data' / 'review.sqlite'}")
    for i, body in enumerate((b"{broken", GARBAGE)):
        deadletter.record(sessions, BadMessage("xuncha.clues.review", f"reason {i}", body, f"m{i}", "clue.opened.0507"))
    engine.dispose()
    parser = cli.argparse.ArgumentParser(prog="xuncha")
    cli.register(parser.add_subparsers(dest="command", required=True))

    def run(*words: str) -> tuple[int, str, str]:
        args = parser.parse_args(["review", "--config", str(path), "dead-letters", *words])
        rc = args.func(args)
        out = capsys.readouterr()
        return rc, out.out, out.err

    rc, out, _ = run("list")
    assert rc == 0 and out.splitlines()[0] == "2 dead letter(s)" and "\treason 1" in out.splitlines()[1]
    rc, out, _ = run("show", "2", "--bytes", "20")
    assert rc == 0 and f"size: {len(GARBAGE)} bytes (first {MAX_MESSAGE_BYTES} kept)" in out
    assert out.rstrip().endswith(GARBAGE[:20].decode()) and len(out) < 1000
    rc, _, err = run("requeue", "2")
    assert rc == 1 and "cannot requeue" in err  # only a prefix was kept
    assert run("requeue", "1")[0] == 0
    assert remaining(broker_url, Topology()) == [b"{broken"]
    assert run("drop", "2")[0] == 0
    rc, _, err = run("drop", "2")
    assert rc == 1 and "no dead letter 2" in err
    assert run("list")[1].splitlines() == ["0 dead letter(s)"]


# ---- the real service


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("rabbitmq+postgresql", marks=[pytest.mark.rabbitmq, pytest.mark.postgres]),
    ]
)
def service_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(broker, database) of the service: the embedded defaults, or a fresh RabbitMQ vhost (the default
    queue names) and a fresh PostgreSQL schema."""
    if request.param == "embedded":
        yield (
            embedded_broker_url(tmp_path / "data" / "broker.sqlite"),
            f"sqlite:///{tmp_path / 'data' / 'review.sqlite'}",
        )
        return
    with pg_schema_url("t_dlq") as db_url:
        yield request.getfixturevalue("amqp_vhost"), db_url


def test_service_survives_5mb_garbage_and_stops_on_sigterm_without_losing_it(
    service_urls: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    path = tmp_path / "review.yaml"
    service_broker, db_url = service_urls
    cfg = {
        "data_dir": "data",
        "port": port,
        "cookie_secure": False,
        "broker_url": service_broker,
        "database_url": db_url,
    }
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    log = open(tmp_path / "service.log", "w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "review", "--config", str(path)], stdout=log, stderr=log, env=env
    )
    topo = Topology()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            def health() -> dict | None:
                try:
                    return http.get("/health").json()
                except httpx.TransportError:
                    return None

            wait_until(lambda: health() or proc.poll() is not None, 60, "the service")
            assert proc.poll() is None, (tmp_path / "service.log").read_text()
            publish_raw(
                service_broker, topo, [("garbage-1", GARBAGE), ("clue-001:0", make_event(1).model_dump_json().encode())]
            )
            slowest, t0 = 0.0, time.monotonic()
            while True:
                t = time.monotonic()
                h = health()
                slowest = max(slowest, time.monotonic() - t)
                assert h is not None and h["status"] == "ok"
                if h["dead_letters"] == 1:
                    break
                assert time.monotonic() - t0 < 20, "the garbage did not reach the dead letters"
                time.sleep(0.05)
            print(f"/health: slowest answer {slowest * 1000:.0f} ms while the 5 MB message went through")
            assert slowest < 1.0
            wait_until(lambda: _clues_in(db_url) == 1, 20, "the valid event behind the garbage")

            # SIGTERM right after two more garbage messages: the service stops within seconds, and
            # each message is either a dead letter or still queued.
            publish_raw(service_broker, topo, [("garbage-2", GARBAGE), ("garbage-3", b"{")])
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
            print(f"SIGTERM to exit: {time.monotonic() - t:.1f} s")
            assert time.monotonic() - t < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    engine = make_engine(db_url)
    with sessionmaker(engine)() as s:
        buried = [r.message_id for r in deadletter.newest(s)]
    engine.dispose()
    if service_broker.startswith("sqla+"):  # a message in hand at any stop is back once its lease expires
        monkeypatch.setattr(embedded.Channel, "lease_s", 0.5)
        time.sleep(0.6)
    queued = remaining(service_broker, topo)
    assert buried[-1] == "garbage-1", buried
    assert len(buried) + len(queued) == 3, (buried, len(queued))
    assert "Traceback" not in (tmp_path / "service.log").read_text()
    assert max(len(line) for line in (tmp_path / "service.log").read_text().splitlines()) < 3000  # bounded logs


def _clues_in(db_url: str) -> int:
    engine = make_engine(db_url)  # the service migrated it
    try:
        return _clues(sessionmaker(engine))
    finally:
        engine.dispose()


def test_dead_letter_api_is_for_admins_and_explains_what_it_cannot_do(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as (_u, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path)
        big = deadletter.record(sessions, BadMessage("q", "too large", GARBAGE, "g", None))
        app = create_app(cfg, load_taxonomy(), sessions)
        operator = TestClient(app, base_url="https://testserver")
        login(operator, "op1")
        assert operator.get("/api/dead-letters").status_code == 403
        admin = TestClient(app, base_url="https://testserver")
        csrf = {"X-CSRF-Token": login(admin, "admin")}
        listed = admin.get("/api/dead-letters").json()
        assert listed["total"] == 1 and listed["items"][0]["size"] == len(GARBAGE)
        assert "body_preview" not in listed["items"][0]
        one = admin.get(f"/api/dead-letters/{big}").json()
        assert one["truncated"] and one["body_preview"] == GARBAGE[:4096].decode()
        r = admin.post(f"/api/dead-letters/{big}/requeue", headers=csrf)
        assert r.status_code == 409 and "无法重新入队" in r.json()["detail"]
        assert admin.post(f"/api/dead-letters/{big}/requeue").status_code == 403  # CSRF
        assert admin.delete(f"/api/dead-letters/{big}", headers=csrf).json() == {"dropped": big}
        assert admin.delete(f"/api/dead-letters/{big}", headers=csrf).status_code == 404
        assert admin.get("/health").json()["dead_letters"] == 0


def test_recheck_results_queue_dead_letters_poison_too_and_requeues_to_it(tmp_path: Path) -> None:
    url = embedded_broker_url(tmp_path / "broker.sqlite")
    exchange = f"t.cases.{uuid.uuid4().hex[:8]}"
    queue = results_queue(exchange)
    topo = Topology(exchange_name=exchange, queue_name=queue.name, binding_key=queue.routing_key)
    unknown = {
        "result_id": "r1", "request_id": "r1", "case_id": "c1", "verdict": "rectified", "verdict_name": "已整改",
        "samples": 3, "present": 0, "worker": "w", "emitted_at": "2026-05-01T09:00:00+00:00",
    }  # fmt: skip
    publish_raw(url, topo, [("garbage-r", GARBAGE), ("r1", json.dumps(unknown).encode())], "case.rechecked.x")
    with database("sqlite", tmp_path) as (_u, sessions):
        stop = threading.Event()
        t = threading.Thread(target=run_results_intake, args=(sessions, url, stop), kwargs={"exchange": exchange})
        t.start()
        try:
            wait_until(lambda: _dead(sessions) == 1, what="the garbage result in the dead letters")
            wait_until(lambda: remaining(url, topo) == [], what="the valid result consumed behind it")
        finally:
            stop.set()
            t.join(10)
        with sessions() as s:
            (row,) = deadletter.newest(s)
        assert row.queue == queue.name and row.message_id == "garbage-r" and row.truncated
        drop_big = row.id
        publish_raw(url, topo, [("small", b"{not json")], "case.rechecked.x")
        stop.clear()
        t = threading.Thread(target=run_results_intake, args=(sessions, url, stop), kwargs={"exchange": exchange})
        t.start()
        try:
            wait_until(lambda: _dead(sessions) == 2, what="the second bad result")
        finally:
            stop.set()
            t.join(10)
        deadletter.drop(sessions, drop_big)
        with sessions() as s:
            (small,) = deadletter.newest(s)
        deadletter.requeue(sessions, small.id, url)
        assert remaining(url, topo) == [b"{not json"]  # back on the results queue it came from


def _dead(sessions) -> int:
    with sessions() as s:
        return deadletter.count(s)
