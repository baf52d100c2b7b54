"""Review of text clues (small ads) on SQLite and PostgreSQL: words and numbers shown, searched, counted, filed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_support import add_users, database, login, make_event, review_config
from sqlalchemy import select

from xuncha.clues.contracts import ClueEvent
from xuncha.db.cases import OutboxMessage
from xuncha.db.clues import CluePhone
from xuncha.review.app import create_app
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

ADVERTISER = "13812345678"


def poster(i: int, camera: str, text: str, phones: list[str], kind: str = "opened", seq: int = 0) -> ClueEvent:
    ev = make_event(i, kind, seq, camera=camera, evidence=False)
    return ev.model_copy(update={"label": "phone_number", "text": text, "phone_numbers": phones})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        add_users(sessions)
        app = create_app(review_config(tmp_path), load_taxonomy(), sessions)
        ingest(sessions, poster(1, "cam-a", f"专业开锁 {ADVERTISER}", [ADVERTISER]))
        ingest(sessions, poster(2, "cam-b", f"疏通下水道 {ADVERTISER} 02087654321", [ADVERTISER, "02087654321"]))
        ingest(sessions, poster(3, "cam-b", "办证 13900001111", ["13900001111"]))
        ingest(sessions, make_event(4))  # not a text clue
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "op1")
            yield client, sessions


def test_clue_carries_text_and_numbers_with_repeat_counts(env) -> None:
    client, _ = env
    items = {c["id"]: c for c in client.get("/api/clues").json()["items"]}
    assert items["clue-002"]["text"] == f"疏通下水道 {ADVERTISER} 02087654321"
    assert items["clue-002"]["phone_numbers"] == [ADVERTISER, "02087654321"]
    assert items["clue-002"]["phone_counts"][ADVERTISER] == {"cameras": 2, "clues": 2}
    assert items["clue-003"]["phone_counts"] == {"13900001111": {"cameras": 1, "clues": 1}}
    assert items["clue-004"]["text"] is None and items["clue-004"]["phone_numbers"] == []
    one = client.get("/api/clues/clue-001").json()
    assert one["phone_counts"][ADVERTISER] == {"cameras": 2, "clues": 2}


def test_search_by_phone_number_part_and_repeated_numbers(env) -> None:
    client, _ = env
    found = client.get("/api/clues", params={"phone": "138-1234 5678"}).json()
    assert [c["id"] for c in found["items"]] == ["clue-001", "clue-002"] and found["total"] == 2
    part = client.get("/api/clues", params={"phone": "8765"}).json()
    assert [c["id"] for c in part["items"]] == ["clue-002"]
    assert client.get("/api/clues", params={"phone": "电话"}).status_code == 422
    repeated = client.get("/api/phone-numbers").json()["items"]
    assert repeated == [{"phone": ADVERTISER, "cameras": 2, "clues": 2}]
    assert len(client.get("/api/phone-numbers", params={"min_cameras": 1}).json()["items"]) == 3


def test_a_better_reading_replaces_the_numbers_and_the_case_carries_them(env) -> None:
    client, sessions = env
    ingest(sessions, poster(3, "cam-b", "办证 刻章 13900001112", ["13900001112"], "updated", 1))
    with sessions() as s:
        assert s.scalars(select(CluePhone.phone).where(CluePhone.clue_id == "clue-003")).all() == ["13900001112"]
    assert client.post("/api/clues/clue-003/accept").status_code == 200
    with sessions() as s:
        body = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "case-clue-003")).body
    assert body["text"] == "办证 刻章 13900001112" and body["phone_numbers"] == ["13900001112"]
    assert "识别文字：办证 刻章 13900001112" in body["description"] and "电话号码：13900001112" in body["description"]
