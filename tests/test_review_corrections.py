"""Corrections (框选更正 / 分类更正): validation, the API on SQLite and PostgreSQL, their use by the export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from review_support import Clock, add_users, database, login, make_event, review_config, write_evidence

from xuncha.clues.evidence import EvidenceStore
from xuncha.db.clues import Correction
from xuncha.review.app import create_app
from xuncha.review.corrections import CorrectionError, check
from xuncha.review.export import Filters, reviewed, write_export
from xuncha.review.export_plan import Corrected, Reviewed, class_names, label_text, manifest_record, plan
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

CODES = {"0507", "0102", "0508"}
TZ = ZoneInfo("Asia/Shanghai")


# -- validation (pure) --------------------------------------------------------------------------


def test_check_turns_a_box_of_fractions_into_frame_pixels() -> None:
    assert check([0.1, 0.2, 0.5, 0.6], "0102", CODES, (720, 480)) == ([72.0, 96.0, 360.0, 288.0], "0102")
    assert check(None, "0102", CODES, (720, 480)) == (None, "0102")
    assert check([0, 0, 1, 1], "", CODES, (720, 480)) == ([0.0, 0.0, 720.0, 480.0], None)  # "" keeps the category


@pytest.mark.parametrize(
    ("box", "category", "field", "words"),
    [
        (None, None, "box_norm", "至少一项"),
        (None, "", "box_norm", "至少一项"),
        (None, "9999", "category", "未知类别 9999"),
        ([0.1, 0.2, 0.5, 0.6], "9999", "category", "未知类别"),
        ([0.1, 0.2, 1.2, 0.6], None, "box_norm", "超出画面"),
        ([-0.1, 0.2, 0.5, 0.6], None, "box_norm", "超出画面"),
        ([0.5, 0.2, 0.1, 0.6], None, "box_norm", "面积为正"),
        ([0.1, 0.6, 0.5, 0.6], None, "box_norm", "面积为正"),
        ([0.1, 0.2, 0.1005, 0.6], None, "box_norm", "框太小"),
        ([0.1, 0.2, float("nan"), 0.6], None, "box_norm", "4 个数"),
        ([0.1, 0.2, 0.5], None, "box_norm", "4 个数"),
    ],
)
def test_check_refuses_naming_the_field(box, category, field: str, words: str) -> None:
    with pytest.raises(CorrectionError) as err:
        check(box, category, CODES, (720, 480))
    assert err.value.field == field and str(err.value).startswith(f"{field}：") and words in str(err.value)


# -- the export's use of it (pure) --------------------------------------------------------------


def _row(correction: Corrected | None, accepted: bool = True, filed_as: str = "0507") -> Reviewed:
    return Reviewed(
        clue_id="c001",
        camera_id="cam-a",
        category_code=filed_as,
        accepted=accepted,
        reason_code=None if accepted else "misdetection",
        reason_text=None,
        reviewer="op1",
        decided_at=datetime(2024, 5, 2, 1, 0, tzinfo=UTC),
        decision_id=1,
        first_seen=datetime(2024, 5, 1, 17, 0, tzinfo=UTC),
        box=(72.0, 48.0, 144.0, 144.0),
        frame_size=(720, 480),
        picture="2024-05-02/c001/scene.jpg",
        correction=correction,
    )


def _fix(box: tuple[float, float, float, float] | None, category: str | None) -> Corrected:
    at = datetime(2024, 5, 2, 2, 0, tzinfo=UTC)
    return Corrected(box=box, category_code=category, by="op2", at=at, reported_category="0507")


def test_plan_labels_with_the_corrected_box_and_category_and_the_manifest_keeps_both() -> None:
    fixed = _row(_fix((360.0, 240.0, 720.0, 480.0), "0102"), filed_as="0508")  # reported 0507, filed 0508
    (item,), names = plan([fixed], TZ)
    assert names == ["0102"] and class_names([_row(None, filed_as="0508")]) == ["0508"]
    assert label_text(item) == "0 0.750000 0.750000 0.500000 0.500000\n"
    rec = manifest_record(item, TZ, "images/train/c001.jpg", (720, 480), None)
    assert rec["category"] == "0102" and rec["box"] == (360.0, 240.0, 720.0, 480.0)
    assert rec["correction"] == {
        "category": {"original": "0507", "corrected": "0102"},
        "box_norm": {"original": [0.15, 0.2, 0.1, 0.2], "corrected": [0.75, 0.75, 0.5, 0.5]},
        "by": "op2",
        "at": "2024-05-02T10:00:00+08:00",
    }
    (plain,), _ = plan([_row(None)], TZ)
    assert manifest_record(plain, TZ, None, None, None)["correction"] is None
    # Category only: the worker's box stays; a rejected clue's hard negative takes the corrected box.
    (cat_only,), _ = plan([_row(_fix(None, "0508"))], TZ)
    assert label_text(cat_only) == "0 0.150000 0.200000 0.100000 0.200000\n"
    assert manifest_record(cat_only, TZ, None, None, None)["correction"]["box_norm"] is None
    (neg,), names = plan([_row(_fix((0.0, 0.0, 72.0, 48.0), None), accepted=False)], TZ)
    assert names == [] and label_text(neg) == ""
    assert manifest_record(neg, TZ, "x.jpg", (360, 240), None)["hard_negative"] == (0.0, 0.0, 36.0, 24.0)
    # A worker's box outside its frame is skipped, unless a correction gives a usable one.
    lost = Reviewed(**{**vars(_row(None)), "box": (800.0, 500.0, 900.0, 600.0)})
    assert plan([lost], TZ)[0][0].problem is not None
    (saved,), _ = plan([Reviewed(**{**vars(lost), "correction": _fix((0.0, 0.0, 72.0, 48.0), None)})], TZ)
    assert saved.problem is None and manifest_record(saved, TZ, None, None, None)["correction"]["box_norm"] == {
        "original": None,
        "corrected": [0.05, 0.05, 0.1, 0.1],
    }


# -- the API on a real database -----------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        cfg = review_config(tmp_path)
        clock = Clock(datetime(2024, 5, 1, 2, 0, tzinfo=UTC))
        app = create_app(cfg, load_taxonomy(), sessions, clock=clock)
        for i in (1, 2):
            ev = make_event(i)  # 0507, box (72, 48, 144, 144) in a 720x480 frame
            write_evidence(cfg.evidence_root, ev)
            ingest(sessions, ev)
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "op1")
            yield client, sessions, clock, tokens, cfg


URL = "/api/clues/clue-001/correction"


def test_correction_is_saved_replaced_kept_through_undo_and_removed(env) -> None:
    client, sessions, clock, _tokens, _cfg = env
    assert client.get(URL).json() == {"correction": None}
    r = client.post(URL, json={"box_norm": [0.25, 0.5, 0.75, 1.0], "category": "0102"})
    assert r.status_code == 200, r.text
    saved = r.json()["correction"]
    assert saved == {
        "clue_id": "clue-001",
        "box_norm": [0.25, 0.5, 0.75, 1.0],
        "category": {"code": "0102", "name": "暴露垃圾"},
        "by": "op1",
        "at": clock.now.isoformat(),
    }
    assert client.get(URL).json()["correction"] == saved
    with sessions() as s:
        row = s.get(Correction, "clue-001")
        assert (row.box, row.category_code) == ([180.0, 240.0, 540.0, 480.0], "0102")  # frame pixels, as clues.box
    # Deciding and undoing leave it; another operator's save replaces it.
    assert client.post("/api/clues/clue-001/accept").status_code == 200
    assert client.post("/api/clues/clue-001/undo").status_code == 200
    other = TestClient(client.app, base_url="https://testserver")
    other.headers["X-CSRF-Token"] = login(other, "op2")
    clock.advance(60)
    r = other.post(URL, json={"category": "0508"})
    assert r.status_code == 200 and r.json()["correction"]["by"] == "op2"
    assert r.json()["correction"]["box_norm"] is None and r.json()["correction"]["category"]["code"] == "0508"
    assert client.delete(URL).json() == {"correction": None, "removed": True}
    assert client.delete(URL).json()["removed"] is False
    with sessions() as s:
        assert s.get(Correction, "clue-001") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "9999"}, "category"),
        ({"box_norm": [0.5, 0.5, 0.4, 0.9]}, "box_norm"),
        ({"box_norm": [0.5, 0.5, 1.4, 0.9], "category": "0102"}, "box_norm"),
        ({"box_norm": [0.1, 0.2, 0.3]}, "box_norm"),  # the request model's own check
        ({"box_norm": ["a", 0.2, 0.3, 0.4]}, "box_norm"),
        ({}, "box_norm"),
    ],
)
def test_bad_correction_is_a_422_naming_the_field(env, body: dict, field: str) -> None:
    client, sessions, *_ = env
    r = client.post(URL, json=body)
    assert r.status_code == 422 and r.json()["detail"].startswith(field), r.text
    with sessions() as s:
        assert s.get(Correction, "clue-001") is None


def test_only_reviewers_correct_with_the_csrf_token(env) -> None:
    client, _sessions, _clock, tokens, _cfg = env
    body = {"category": "0102"}
    assert client.post("/api/clues/nope/correction", json=body).status_code == 404
    assert client.get("/api/clues/nope/correction").status_code == 404
    assert client.post(URL, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    anonymous = TestClient(client.app, base_url="https://testserver")
    assert anonymous.post(URL, json=body).status_code == 401
    for name in ("dispatch", "worker"):
        svc = TestClient(client.app, base_url="https://testserver", headers={"Authorization": f"Bearer {tokens[name]}"})
        assert svc.post(URL, json=body).status_code == 403 and svc.get(URL).status_code == 403
    admin = TestClient(client.app, base_url="https://testserver")
    admin.headers["X-CSRF-Token"] = login(admin, "admin")
    assert admin.post(URL, json=body).status_code == 200


def test_export_reads_the_correction_from_the_database(env, tmp_path: Path) -> None:
    client, sessions, clock, _tokens, cfg = env
    assert client.post(URL, json={"box_norm": [0.5, 0.5, 1.0, 1.0], "category": "0102"}).status_code == 200
    for clue in ("clue-001", "clue-002"):
        assert client.post(f"/api/clues/{clue}/accept").status_code == 200
    since = (clock.now - timedelta(days=1)).date()
    with sessions() as s:
        rows = reviewed(s, Filters(since=since), TZ)
        only = reviewed(s, Filters(category_code="0102"), TZ)  # the corrected category is the one filtered
        assert reviewed(s, Filters(category_code="0507"), TZ)[0].clue_id == "clue-002"
    assert [r.clue_id for r in only] == ["clue-001"]
    done = write_export(rows, EvidenceStore(cfg.evidence_root), tmp_path / "ds", TZ)
    assert done.names == ["0102", "0507"] and done.filed == 2
    split = next((tmp_path / "ds" / "labels").glob("*/clue-001.txt"))
    assert split.read_text() == "0 0.750000 0.750000 0.500000 0.500000\n"
    manifest = [json.loads(x) for x in (tmp_path / "ds" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    rec = {m["clue_id"]: m for m in manifest}
    assert rec["clue-001"]["correction"]["category"] == {"original": "0507", "corrected": "0102"}
    assert rec["clue-001"]["correction"]["by"] == "op1" and rec["clue-002"]["correction"] is None
    assert next((tmp_path / "ds" / "labels").glob("*/clue-002.txt")).read_text().startswith("1 0.150000 0.200000")
