"""Review database and intake: migrations, idempotent events, updates, closing, out-of-order delivery."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from review_support import RABBIT_URL, database, make_event
from sqlalchemy import func, inspect, select

from xuncha.clues.broker import CluePublisher, Topology, embedded_broker_url
from xuncha.db.base import Base
from xuncha.db.clues import PENDING, Clue, ClueEventRow
from xuncha.db.engine import open_database
from xuncha.review.intake import ingest, run_intake


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        yield sessions


def test_migration_creates_schema_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    engine, _ = open_database(url)
    tables = set(inspect(engine).get_table_names())
    assert {"clues", "clue_events", "decisions", "cases", "outbox", "fixtures", "users", "alembic_version"} <= tables
    with engine.connect() as conn:  # the migrations build exactly what the models describe
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
    engine, _ = open_database(url)  # second start: nothing to do, no error
    engine.dispose()


def test_opened_event_creates_pending_clue(db) -> None:
    ev = make_event(1, occurrences=7)
    assert ingest(db, ev) is True
    with db() as s:
        clue = s.get(Clue, "clue-001")
        assert clue.status == PENDING and not clue.gone
        assert (clue.camera_id, clue.zone_id, clue.category_code) == ("cam-1", "box", "0507")
        assert clue.region_name == "江南中街" and clue.occurrences == 7
        assert clue.first_seen == ev.first_seen
        assert clue.evidence["scene"]["path"] == "2024-05-01/clue-001/scene.jpg"


def test_duplicate_event_changes_nothing(db) -> None:
    ev = make_event(2)
    assert ingest(db, ev)
    with db.begin() as s:
        s.get(Clue, "clue-002").status = "rejected"  # a decision made in between
    assert ingest(db, ev) is False
    with db() as s:
        assert s.get(Clue, "clue-002").status == "rejected"
        assert s.scalar(select(func.count()).select_from(ClueEventRow)) == 1


def test_updated_event_updates_clue_and_keeps_evidence_when_none(db) -> None:
    ingest(db, make_event(3))
    assert ingest(db, make_event(3, "updated", 1, evidence=False, occurrences=11))
    with db() as s:
        clue = s.get(Clue, "clue-003")
        assert clue.last_seq == 1 and clue.occurrences == 11 and clue.dwell_s == 22.0
        assert clue.evidence is not None  # an update without images keeps the earlier ones


def test_closed_before_review_marks_gone(db) -> None:
    ingest(db, make_event(4))
    ingest(db, make_event(4, "closed", 1))
    with db() as s:
        clue = s.get(Clue, "clue-004")
        assert clue.gone and clue.closed_reason == "gone" and clue.status == PENDING


def test_out_of_order_events(db) -> None:
    # updated arrives first (spool replay): it creates the clue; the late opened event does not regress it.
    ingest(db, make_event(5, "updated", 2, occurrences=20, evidence=False))
    ingest(db, make_event(5))
    with db() as s:
        clue = s.get(Clue, "clue-005")
        assert clue.last_seq == 2 and clue.occurrences == 20
        assert clue.evidence is not None  # but its evidence fills the gap
    ingest(db, make_event(6, "closed", 3))
    ingest(db, make_event(6, "updated", 1))
    with db() as s:
        assert s.get(Clue, "clue-006").gone


@pytest.mark.parametrize("broker", ["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def test_intake_from_broker_ignores_duplicates(broker: str, tmp_path: Path) -> None:
    url = embedded_broker_url(tmp_path / "broker.sqlite") if broker == "embedded" else RABBIT_URL
    topo = Topology(exchange_name=f"t.clues.{uuid.uuid4().hex[:8]}", queue_name=f"t.review.{uuid.uuid4().hex[:8]}")
    events = [make_event(1), make_event(2), make_event(1, "updated", 1), make_event(1), make_event(2, "closed", 1)]
    try:
        with CluePublisher(url, topology=topo) as pub:
            for ev in events:
                pub.publish(ev)
    except Exception as e:  # noqa: BLE001
        if broker == "rabbitmq":
            pytest.skip(f"RabbitMQ unavailable: {e}")
        raise
    with database("sqlite", tmp_path) as (_u, sessions):
        stop = threading.Event()
        t = threading.Thread(target=run_intake, args=(sessions, url, stop), kwargs={"topology": topo})
        t.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with sessions() as s:
                    if s.scalar(select(func.count()).select_from(ClueEventRow)) == 4:
                        break
                time.sleep(0.1)
            time.sleep(0.3)  # let the duplicate arrive too
        finally:
            stop.set()
            t.join(10)
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(ClueEventRow)) == 4
            assert s.get(Clue, "clue-001").last_seq == 1
            assert s.get(Clue, "clue-002").gone
    if broker == "rabbitmq":
        from kombu import Connection

        with Connection(url) as conn:
            topo.queue(conn.channel()).delete()
            topo.exchange(conn.channel()).delete()
