"""Clue events in -> decisions -> cases out on the cases exchange, on the embedded broker and RabbitMQ.

The RabbitMQ outage test stops the broker with `rabbitmqctl stop_app` (root on the CI machine) and
always starts it again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kombu import Connection
from review_support import RABBIT_URL, Clock, add_users, database, login, make_event, review_config
from sqlalchemy import func, select

from xuncha.clues.broker import CluePublisher, Topology, embedded_broker_url
from xuncha.db.cases import OutboxMessage
from xuncha.db.clues import ClueEventRow
from xuncha.review.app import create_app
from xuncha.review.cases import CASE_TOPOLOGY, CaseMessage, CaseRelay
from xuncha.review.config import DispatchSettings
from xuncha.review.intake import run_intake
from xuncha.taxonomy import load_taxonomy


def _topologies() -> tuple[Topology, Topology]:
    tag = uuid.uuid4().hex[:8]
    return (
        Topology(exchange_name=f"t.clues.{tag}", queue_name=f"t.clues.review.{tag}"),
        Topology(f"t.cases.{tag}", f"t.cases.dispatch.{tag}", CASE_TOPOLOGY.binding_key),
    )


def _rabbit_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def _cleanup(url: str, clue_topo: Topology, case_topo: Topology) -> None:
    if not url.startswith("amqp"):
        return
    with Connection(url) as conn:
        ch = conn.channel()
        for q in (clue_topo.queue, case_topo.queue):
            q(ch).delete()
        for x in (clue_topo.exchange, case_topo.exchange):
            x(ch).delete()


def drain_cases(url: str, topo: Topology, expect: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Consume the dispatch queue like the dispatch service would; waits briefly for extra copies."""
    got: list[dict[str, Any]] = []

    def on_message(body: Any, message: Any) -> None:
        got.append({"body": body, "headers": dict(message.headers or {}), "id": message.properties.get("message_id")})
        message.ack()

    with Connection(url) as conn:
        if hasattr(conn.transport, "polling_interval"):
            conn.transport.polling_interval = 0.05
        with conn.Consumer(topo.queue, callbacks=[on_message], accept=["json"]):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(got) < expect:
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
            extra_until = time.monotonic() + 1.0
            while time.monotonic() < extra_until:
                try:
                    conn.drain_events(timeout=0.3)
                except TimeoutError:
                    pass
    return got


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_kind, broker = request.param
    if broker == "rabbitmq" and not _rabbit_up():
        pytest.skip("RabbitMQ at 127.0.0.1:5672 unavailable")
    url = embedded_broker_url(tmp_path / "broker.sqlite") if broker == "embedded" else RABBIT_URL
    clue_topo, case_topo = _topologies()
    with database(db_kind, tmp_path) as (_db_url, sessions):
        add_users(sessions)
        cfg = review_config(
            tmp_path, undo_window_s=10, dispatch=DispatchSettings(deadline_h=24, deadlines_h={"0102": 2})
        )
        clock = Clock()
        app = create_app(cfg, load_taxonomy(), sessions, clock=clock)
        relay = CaseRelay(sessions, url, topology=case_topo, connect_timeout=2.0)
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "op1")
            try:
                yield {
                    "url": url,
                    "sessions": sessions,
                    "client": client,
                    "clock": clock,
                    "relay": relay,
                    "clue_topo": clue_topo,
                    "case_topo": case_topo,
                }
            finally:
                relay.close()
                _cleanup(url, clue_topo, case_topo)


def _intake(stack: dict[str, Any], events: list, unique: int) -> None:
    with CluePublisher(stack["url"], topology=stack["clue_topo"]) as pub:
        for ev in events:
            pub.publish(ev)
    stop = threading.Event()
    t = threading.Thread(
        target=run_intake, args=(stack["sessions"], stack["url"], stop), kwargs={"topology": stack["clue_topo"]}
    )
    t.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with stack["sessions"]() as s:
                if s.scalar(select(func.count()).select_from(ClueEventRow)) >= unique:
                    break
            time.sleep(0.1)
        time.sleep(0.5)  # duplicates queued behind are consumed (and ignored) too
    finally:
        stop.set()
        t.join(10)


@pytest.mark.parametrize(
    "stack",
    [
        pytest.param(("sqlite", "embedded"), id="sqlite-embedded"),
        pytest.param(("postgresql", "rabbitmq"), id="pg-rabbit", marks=[pytest.mark.postgres, pytest.mark.rabbitmq]),
    ],
    indirect=True,
)
def test_events_in_decisions_cases_out(stack: dict[str, Any]) -> None:
    events = [make_event(1), make_event(2), make_event(1, "updated", 1), make_event(2), make_event(3), make_event(1)]
    _intake(stack, events, unique=4)
    client, clock, relay = stack["client"], stack["clock"], stack["relay"]
    with stack["sessions"]() as s:
        assert s.scalar(select(func.count()).select_from(ClueEventRow)) == 4
    assert client.get("/api/clues").json()["total"] == 3

    assert client.post("/api/clues/clue-001/accept", json={"category": "0102"}).status_code == 200
    assert client.post("/api/clues/clue-002/reject", json={"reason": "misdetection"}).status_code == 200
    assert client.post("/api/clues/clue-003/accept").status_code == 200
    assert relay.run_once(clock.now) == 0  # inside the undo window nothing leaves
    clock.advance(11)
    assert relay.run_once(clock.now) == 2
    assert relay.run_once(clock.now) == 0  # published ones are not sent again

    got = drain_cases(stack["url"], stack["case_topo"], expect=2)
    assert sorted(m["id"] for m in got) == ["case-clue-001", "case-clue-003"]
    by_id = {m["id"]: m for m in got}
    first = CaseMessage.model_validate(by_id["case-clue-001"]["body"])
    assert by_id["case-clue-001"]["headers"]["attempt"] == 1
    assert first.case_id == "case-clue-001" and first.clue_id == "clue-001"
    assert (first.category.code, first.category.name, first.reported_category.code) == ("0102", "暴露垃圾", "0507")
    assert first.camera.id == "cam-1" and first.zone.id == "box" and first.region.name == "江南中街"
    assert first.occurrences == 6 and first.dwell_s == 22.0  # from the updated event
    assert first.reviewer == "op1" and first.source == "视频AI"
    assert first.evidence.crop == "https://review.example/evidence/2024-05-01/clue-001/crop.jpg"
    assert first.deadline - first.filed_at == timedelta(hours=2)  # 0102's own deadline
    assert (first.community.code, first.community.name, first.grid.code) == ("440105001001", "南华西社区", "G-17")
    third = CaseMessage.model_validate(by_id["case-clue-003"]["body"])
    assert third.category.code == "0507" and third.region is None and third.community is None
    assert third.deadline - third.filed_at == timedelta(hours=24)


def _rabbitmqctl(action: str) -> None:
    subprocess.run(["rabbitmqctl", action], check=True, capture_output=True, timeout=60)


@pytest.mark.rabbitmq
@pytest.mark.parametrize("stack", [("sqlite", "rabbitmq")], indirect=True, ids=["sqlite-rabbit"])
def test_rabbitmq_outage_delays_case_and_it_arrives_once(stack: dict[str, Any]) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl not available")
    _intake(stack, [make_event(7), make_event(8)], unique=2)
    client, clock, relay, sessions = stack["client"], stack["clock"], stack["relay"], stack["sessions"]
    assert relay.run_once(clock.now) == 0  # connects and declares while the broker is up
    try:
        _rabbitmqctl("stop_app")
        assert client.post("/api/clues/clue-007/accept").status_code == 200  # the decision does not need the broker
        clock.advance(11)
        assert relay.run_once(clock.now) == 0
        assert relay.last_error
        with sessions() as s:
            msg = s.scalar(select(OutboxMessage))
            assert msg.published_at is None and msg.attempts == 1 and msg.last_error
    finally:
        _rabbitmqctl("start_app")
    deadline = time.monotonic() + 30
    sent = 0
    while sent == 0 and time.monotonic() < deadline:
        sent = relay.run_once(clock.now)
        if not sent:
            time.sleep(0.5)
    assert sent == 1
    assert client.post("/api/clues/clue-008/accept").status_code == 200
    clock.advance(11)
    assert relay.run_once(clock.now) == 1
    got = drain_cases(stack["url"], stack["case_topo"], expect=2)
    ids = [m["id"] for m in got]
    assert sorted(ids) == ["case-clue-007", "case-clue-008"]  # each exactly once
    attempts = {m["id"]: m["headers"]["attempt"] for m in got}
    assert attempts["case-clue-007"] == 2  # it says it is a second try
    with sessions() as s:
        assert all(m.published_at is not None and m.last_error is None for m in s.scalars(select(OutboxMessage)))
