"""What intake accepts: one set of limits for the contract and the database, evidence files and the taxonomy.

- Every event the JSON Schema accepts, PostgreSQL stores (an event with every field at its limit);
  every value a column cannot hold is refused by the schema (issue 11's poison events among them), so
  such events become dead letters naming the field and the events behind them go through.
- A missing evidence file is recorded as missing (the clue stays reviewable); category names come
  from the taxonomy; an unknown category code is a dead letter.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from review_support import RABBIT_URL, database, isolated_queue, make_event, publish_raw, write_evidence
from sqlalchemy import func, select

from xuncha.clues import limits
from xuncha.clues.broker import CluePublisher, Topology
from xuncha.clues.contracts import ClueEvent
from xuncha.clues.evidence import EvidenceStore
from xuncha.clues.schemas import SCHEMA_FILE
from xuncha.db.clues import Clue
from xuncha.review import deadletter
from xuncha.review.intake import ingest, run_intake
from xuncha.taxonomy import Category, Taxonomy

SCHEMA = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
LONG_CODE = "X" * limits.CATEGORY_CODE_CHARS
TAXONOMY = Taxonomy(standard="test", categories=[Category(code=LONG_CODE, name="类" * limits.CATEGORY_NAME_CHARS)])


def longest() -> dict[str, Any]:
    """An event (JSON) with every string at its maximum length (in CJK characters where names are
    shown to people) and every integer at its maximum."""
    ev = make_event(1, "closed", limits.MAX_INT, occurrences=1).model_dump(mode="json")
    clue_id = "c" * limits.CLUE_ID_CHARS
    models = [f"{i:x}".rjust(limits.MODEL_NAME_CHARS, "m") for i in range(limits.MAX_CHECKSUMS)]
    path = "d/" + "p" * (limits.EVIDENCE_PATH_CHARS - 6) + ".jpg"
    ev.update(
        clue_id=clue_id,
        event_id=f"{clue_id}:{limits.MAX_INT}",
        camera={"id": "摄" * limits.ID_CHARS, "name": "名" * limits.NAME_CHARS, "preset": "p" * limits.ID_CHARS},
        zone={"id": "z" * limits.ID_CHARS, "name": "区" * limits.NAME_CHARS},
        category={"code": LONG_CODE, "name": "类" * limits.CATEGORY_NAME_CHARS, "liuluan": "乱" * 100},
        region={"code": "r" * limits.ID_CHARS, "name": "街" * limits.NAME_CHARS},
        model={
            "name": models[0],
            "checksums": [{"name": m, "checksum": "s" * limits.CHECKSUM_CHARS} for m in models],
        },
        label="l" * limits.MODEL_NAME_CHARS,
        frame_size=[limits.MAX_INT, limits.MAX_INT],
        occurrences=limits.MAX_INT,
        reason="r" * limits.CLOSED_REASON_CHARS,
        text="字" * limits.TEXT_CHARS,
        phone_numbers=[f"{i:0{limits.PHONE_CHARS}d}" for i in range(limits.MAX_PHONES)],
        evidence={k: {"path": path, "taken_at": ev["first_seen"]} for k in ("scene", "crop", "start")},
    )
    return ev


def changed(ev: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    ev = json.loads(json.dumps(ev))
    *parents, last = dotted.split(".")
    node = ev
    for p in parents:
        node = node[p]
    node[int(last) if isinstance(node, list) else last] = value
    return ev


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        yield sessions


def test_every_event_the_schema_accepts_the_database_stores(db) -> None:
    data = longest()
    SCHEMA.validate(data)  # what integrators check against
    event = ClueEvent.model_validate_json(json.dumps(data))
    assert ingest(db, event, TAXONOMY)
    with db() as s:
        clue = s.get(Clue, data["clue_id"])
        assert (clue.camera_name, clue.zone_name) == (data["camera"]["name"], data["zone"]["name"])
        assert (clue.occurrences, clue.last_seq, clue.frame_w) == (limits.MAX_INT,) * 3
        assert clue.category_code == LONG_CODE and clue.closed_reason == data["reason"]
        assert clue.text == data["text"] and len(clue.phones) == limits.MAX_PHONES


# Issue 11's four (the first four), then each other column at one past its limit.
TOO_BIG = [
    ("camera.name", "名" * 300),
    ("camera.id", "c" * 100),
    ("category.code", "0" * 17),
    ("occurrences", 3_000_000_000),
    ("camera.name", "名" * (limits.NAME_CHARS + 1)),
    ("camera.id", "c" * (limits.ID_CHARS + 1)),
    ("camera.preset", "p" * (limits.ID_CHARS + 1)),
    ("zone.id", "z" * (limits.ID_CHARS + 1)),
    ("zone.name", "区" * (limits.NAME_CHARS + 1)),
    ("category.name", "类" * (limits.CATEGORY_NAME_CHARS + 1)),
    ("region.code", "r" * (limits.ID_CHARS + 1)),
    ("region.name", "街" * (limits.NAME_CHARS + 1)),
    ("model.name", "m" * (limits.MODEL_NAME_CHARS + 1)),
    ("label", "l" * (limits.MODEL_NAME_CHARS + 1)),
    ("reason", "r" * (limits.CLOSED_REASON_CHARS + 1)),
    ("frame_size.0", limits.MAX_INT + 1),
    ("seq", limits.MAX_INT + 1),
    ("text", "字" * (limits.TEXT_CHARS + 1)),
    ("phone_numbers.0", "1" * (limits.PHONE_CHARS + 1)),
    ("camera.name", "nul\x00byte"),  # PostgreSQL text cannot hold NUL
    ("zone.name", "零\x00"),
]


@pytest.mark.parametrize(("field", "value"), TOO_BIG)
def test_values_a_column_cannot_hold_are_refused_by_the_schema(field: str, value: Any) -> None:
    data = changed(longest(), field, value)
    if field == "seq":
        data["event_id"] = f"{data['clue_id']}:{value}"
    assert not SCHEMA.is_valid(data)
    with pytest.raises(ValueError) as e:
        ClueEvent.model_validate_json(json.dumps(data))
    assert field in str(e.value)  # the error names the field


@pytest.fixture
def rabbit() -> Iterator[tuple[str, Topology]]:
    with isolated_queue(RABBIT_URL) as topo:
        yield RABBIT_URL, topo


def publish_json(url: str, topo: Topology, bodies: list[dict[str, Any]]) -> None:
    publish_raw(url, topo, [(body["event_id"], json.dumps(body).encode()) for body in bodies])


def intake_until(sessions, url: str, topo: Topology, done: Callable[[], bool], **kwargs: Any) -> None:
    stop = threading.Event()
    t = threading.Thread(target=run_intake, args=(sessions, url, stop), kwargs={"topology": topo, **kwargs})
    t.start()
    try:
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, "intake did not finish"
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(10)


def _count(sessions, model: type) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_poison_events_of_issue_11_cost_one_message_each_on_rabbitmq_and_postgresql(rabbit, tmp_path: Path) -> None:
    url, topo = rabbit
    good = [make_event(i).model_dump(mode="json") for i in range(1, 6)]
    poison = [changed(make_event(10 + i).model_dump(mode="json"), f, v) for i, (f, v) in enumerate(TOO_BIG[:4])]
    publish_json(url, topo, [m for pair in zip(good, poison + [None], strict=True) for m in pair if m])
    with database("postgresql", tmp_path) as (_u, sessions):
        intake_until(sessions, url, topo, lambda: _count(sessions, Clue) + _count(sessions, deadletter.DeadLetter) == 9)
        time.sleep(0.3)
        with sessions() as s:
            assert sorted(s.scalars(select(Clue.id))) == [f"clue-{i:03d}" for i in range(1, 6)]
            rows = sorted(deadletter.newest(s), key=lambda r: r.id)
        assert [r.message_id for r in rows] == [f"clue-{10 + i:03d}:0" for i in range(4)]
        for row, body, (field, _v) in zip(rows, poison, TOO_BIG[:4], strict=True):
            assert "validation error for ClueEvent" in row.reason and field in row.reason, row.reason
            assert not row.truncated and json.loads(row.body) == body  # kept whole: requeueable


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_evidence_files_and_category_names_are_checked_at_intake(rabbit, tmp_path: Path) -> None:
    url, topo = rabbit
    store = EvidenceStore(tmp_path / "evidence")
    with_files, without_files = make_event(1), make_event(2)
    write_evidence(store.root, with_files)
    renamed = changed(make_event(3).model_dump(mode="json"), "category.name", "随便什么名字")
    unknown = changed(make_event(4).model_dump(mode="json"), "category.code", "9999")
    with CluePublisher(url, topology=topo) as pub:
        pub.publish(with_files)
        pub.publish(without_files)
    publish_json(url, topo, [renamed, unknown])
    with database("postgresql", tmp_path) as (_u, sessions):
        intake_until(
            sessions,
            url,
            topo,
            lambda: _count(sessions, Clue) == 3 and _count(sessions, deadletter.DeadLetter) == 1,
            evidence_store=store,
        )
        with sessions() as s:
            ok, lost, third = (s.get(Clue, f"clue-00{i}") for i in (1, 2, 3))
            (dead,) = deadletter.newest(s)
        assert not any(img["missing"] for img in ok.evidence.values())
        assert all(img["missing"] for img in lost.evidence.values()) and lost.status == "pending"
        assert third.category_name == "乱堆物堆料"  # the taxonomy's name for 0507, not the event's
        assert dead.message_id == "clue-004:0" and "unknown category code '9999'" in dead.reason
