"""Review API on SQLite and PostgreSQL: queue, decisions, outbox cases, fixtures, undo, stats, dispatch feedback."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient
from review_support import Clock, add_users, database, login, make_event, review_config, write_evidence
from sqlalchemy import select

from xuncha.clues.dispatch import VERDICT_NAMES, RecheckResult
from xuncha.config.worker import FixtureSetting
from xuncha.db.cases import Case, OutboxMessage
from xuncha.db.clues import Clue, Decision, FixtureRow
from xuncha.review.app import create_app
from xuncha.review.config import DispatchSettings
from xuncha.review.handling import apply_result
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        cfg = review_config(
            tmp_path,
            dispatch=DispatchSettings(
                district_code="440105",
                district_name="海珠区",
                default_department="城管执法中队",
                departments={"0102": "环卫站"},
            ),
        )
        clock = Clock()
        app = create_app(cfg, load_taxonomy(), sessions, clock=clock)
        for i in range(1, 5):
            ev = make_event(i, category="0508" if i == 4 else "0507")
            write_evidence(cfg.evidence_root, ev)
            ingest(sessions, ev)
        ingest(sessions, make_event(3, "closed", 1))
        with TestClient(app, base_url="https://testserver") as client:
            csrf = login(client, "op1")
            client.headers["X-CSRF-Token"] = csrf
            yield client, sessions, clock, tokens, cfg


def test_queue_lists_pending_with_filters_and_counts(env) -> None:
    client, *_ = env
    data = client.get("/api/clues").json()
    assert [c["id"] for c in data["items"]] == ["clue-001", "clue-002", "clue-003", "clue-004"]
    assert data["total"] == 4
    assert {f["key"]: f["count"] for f in data["facets"]["category"]} == {"0507": 3, "0508": 1}
    gone = next(c for c in data["items"] if c["id"] == "clue-003")
    assert gone["status_label"] == "已消失" and gone["evidence"]["scene"]["url"].startswith("/evidence/2024-05-01/")
    newest = client.get("/api/clues", params={"order": "newest", "camera": "cam-1"}).json()
    assert [c["id"] for c in newest["items"]] == ["clue-003", "clue-001"]
    # Facet counts of one dimension ignore its own filter but apply the others.
    assert {f["key"]: f["count"] for f in newest["facets"]["camera"]} == {"cam-1": 2, "cam-0": 2}
    assert {f["key"]: f["count"] for f in newest["facets"]["category"]} == {"0507": 2}
    zones = client.get("/api/clues", params={"zone": "cam-0/box"}).json()
    assert [c["id"] for c in zones["items"]] == ["clue-002", "clue-004"]
    assert {f["key"]: f["label"] for f in zones["facets"]["zone"]} == {
        "cam-0/box": "江南西路口 / 配电箱旁",
        "cam-1/box": "宝岗大道 / 配电箱旁",
    }


def test_accept_with_correction_writes_case_to_outbox(env) -> None:
    client, sessions, clock, _tokens, cfg = env
    r = client.post("/api/clues/clue-001/accept", json={"category": "0102"})
    assert r.status_code == 200, r.text
    with sessions() as s:
        assert s.get(Clue, "clue-001").status == "accepted"
        case = s.get(Case, "case-clue-001")
        msg = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "case-clue-001"))
        assert msg.published_at is None and msg.routing_key == "case.filed.0102"
        assert msg.not_before == clock.now + timedelta(seconds=cfg.undo_window_s)
        body = msg.body
    assert case.payload == body
    assert body["category"] == {"code": "0102", "name": "暴露垃圾", "liuluan": None}
    assert body["reported_category"]["code"] == "0507"
    assert body["source"] == "视频AI" and body["reviewer"] == "op1"
    assert body["camera"] == {"id": "cam-1", "name": "宝岗大道", "preset": None, "location": None}
    assert body["region"] == {"code": "440105001", "name": "江南中街"}
    assert body["district"] == {"code": "440105", "name": "海珠区"}
    assert body["location"] == {"lon": 113.27, "lat": 23.09}
    assert body["suggested_department"] == "环卫站" and body["recurrence"] == 0
    assert body["evidence"]["scene"] == "https://review.example/evidence/2024-05-01/clue-001/scene.jpg"
    assert body["dwell_s"] == 12.0 and body["occurrences"] == 5
    assert "暴露垃圾" in body["description"]
    # Deciding it again (or by someone else) is refused.
    assert client.post("/api/clues/clue-001/accept", json={}).status_code == 409
    assert client.post("/api/clues/clue-001/reject", json={"reason": "duplicate"}).status_code == 409
    assert client.post("/api/clues/nope/accept", json={}).status_code == 404
    assert client.post("/api/clues/clue-002/accept", json={"category": "9999"}).status_code == 422


def test_recurrence_counts_earlier_cases_at_the_spot(env) -> None:
    client, sessions, *_ = env
    assert client.post("/api/clues/clue-002/accept").status_code == 200  # cam-0/box/0507
    assert client.post("/api/clues/clue-004/accept", json={"category": "0507"}).status_code == 200  # cam-0 too
    with sessions() as s:
        assert s.get(Case, "case-clue-004").payload["recurrence"] == 1


def test_reject_reasons_and_fixture(env) -> None:
    client, sessions, _clock, tokens, _cfg = env
    assert client.post("/api/clues/clue-001/reject", json={"reason": "nope"}).status_code == 422
    r = client.post("/api/clues/clue-001/reject", json={"reason": "other"})
    assert r.status_code == 422 and "说明" in r.json()["detail"]
    assert client.post("/api/clues/clue-001/reject", json={"reason": "other", "text": "画面模糊"}).status_code == 200
    assert client.post("/api/clues/clue-003/reject", json={"reason": "fixture"}).status_code == 200
    with sessions() as s:
        d = s.scalar(select(Decision).where(Decision.clue_id == "clue-001"))
        assert (d.accepted, d.reason_code, d.reason_text) == (False, "other", "画面模糊")
        assert s.scalar(select(OutboxMessage)) is None  # rejections send nothing
    fx = TestClient(client.app, base_url="https://testserver").get(
        "/api/cameras/cam-1/fixtures", headers={"Authorization": f"Bearer {tokens['worker']}"}
    )
    assert fx.status_code == 200
    fixtures = fx.json()["fixtures"]
    assert fixtures == [{"zone": "box", "category": "0507", "box": [0.1, 0.1, 0.2, 0.3]}]
    FixtureSetting.model_validate(fixtures[0])  # the worker's config model reads it as is
    assert client.get("/api/cameras/cam-0/fixtures").json()["fixtures"] == []


def test_undo_within_window_only_and_own_decisions(env) -> None:
    client, sessions, clock, _tokens, cfg = env
    client.post("/api/clues/clue-001/accept")
    clock.advance(5)
    assert client.post("/api/clues/clue-001/undo").status_code == 200
    with sessions() as s:
        assert s.get(Clue, "clue-001").status == "pending"
        assert s.get(Case, "case-clue-001") is None and s.scalar(select(OutboxMessage)) is None
    # Re-deciding after an undo works; the undone decision is kept but not counted.
    client.post("/api/clues/clue-003/reject", json={"reason": "fixture"})
    assert client.post("/api/clues/clue-003/undo").status_code == 200
    with sessions() as s:
        assert s.scalar(select(FixtureRow)) is None
    client.post("/api/clues/clue-001/accept")
    clock.advance(cfg.undo_window_s + 1)
    r = client.post("/api/clues/clue-001/undo")
    assert r.status_code == 409 and "撤销时限" in r.json()["detail"]
    # Another operator cannot undo op1's decision.
    client.post("/api/clues/clue-002/reject", json={"reason": "duplicate"})
    with TestClient(client.app, base_url="https://testserver") as other:
        other.headers["X-CSRF-Token"] = login(other, "op2")
        assert other.post("/api/clues/clue-002/undo").status_code == 403
    # A case already published cannot be undone even inside the window.
    client.post("/api/clues/clue-004/accept")
    with sessions.begin() as s:
        s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "case-clue-004")).published_at = clock.now
    r = client.post("/api/clues/clue-004/undo")
    assert r.status_code == 409 and "已派发" in r.json()["detail"]


def test_undo_refused_once_the_relay_started_sending(env) -> None:
    """The attempt is committed before the send: withdrawing then could let a re-accept send the same
    case id again as a first attempt."""
    client, sessions, *_ = env
    client.post("/api/clues/clue-001/accept")
    with sessions.begin() as s:
        s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "case-clue-001")).attempts = 1
    r = client.post("/api/clues/clue-001/undo")
    assert r.status_code == 409 and "已派发" in r.json()["detail"]
    with sessions() as s:
        assert s.get(Case, "case-clue-001") is not None and s.get(Clue, "clue-001").status != "pending"


def test_stats_by_dimension_and_csv(env) -> None:
    client, *_ = env
    client.post("/api/clues/clue-001/accept")
    client.post("/api/clues/clue-002/reject", json={"reason": "misdetection"})
    client.post("/api/clues/clue-003/reject", json={"reason": "fixture"})
    client.post("/api/clues/clue-004/accept")
    client.post("/api/clues/clue-004/undo")
    data = client.get("/api/stats", params={"by": "category"}).json()
    assert data["total"] == {"reviewed": 3, "accepted": 1, "rate": pytest.approx(1 / 3)}
    assert data["rows"] == [
        {
            "key": "0507",
            "label": "0507 乱堆物堆料",
            "reviewed": 3,
            "accepted": 1,
            "rejected": 2,
            "rate": pytest.approx(1 / 3),
            "reasons": {"misdetection": 1, "fixture": 1},
        }
    ]
    for by in ("camera", "zone", "region", "model", "day"):
        rows = client.get("/api/stats", params={"by": by}).json()["rows"]
        assert sum(r["reviewed"] for r in rows) == 3, by
    assert client.get("/api/stats", params={"by": "colour"}).status_code == 422
    r = client.get("/stats.csv", params={"by": "camera"})
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == ["摄像头", "名称", "审核数", "立案数", "驳回数", "立案率"]
    assert sorted(row[0] for row in table[1:]) == ["cam-0", "cam-1"]
    xlsx = client.get("/stats.xlsx", params={"by": "category"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[2]] == ["0507", "0507 乱堆物堆料", 3, 1, 2, pytest.approx(1 / 3)]
    assert client.get("/stats.pdf").status_code == 404
    page = client.get("/stats", params={"by": "region"})
    assert page.status_code == 200 and "<svg" in page.text and "33.3%" in page.text


def test_dispatch_reports_case_handled_with_picture(env) -> None:
    client, sessions, clock, tokens, cfg = env
    client.post("/api/clues/clue-001/accept")
    bearer = {"Authorization": f"Bearer {tokens['dispatch']}"}
    ok, jpg = cv2.imencode(".jpg", np.full((48, 64, 3), 200, np.uint8))
    svc = TestClient(client.app, base_url="https://testserver")
    r = svc.post(
        "/api/cases/case-clue-001/handled",
        headers=bearer,
        data={"unit": "江南中街城管中队", "note": "已清理", "taken_at": clock.now.isoformat()},
        files={"picture": ("after.jpg", jpg.tobytes(), "image/jpeg")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["flags"] == [] and r.json()["report"] == 1
    with sessions() as s:
        case = s.get(Case, "case-clue-001")
        assert (case.handled, case.handling_unit, case.handling_note) == (True, "江南中街城管中队", "已清理")
        assert case.after_picture.endswith("/clue-001/after-1.jpg")
        assert (cfg.evidence_root / case.after_picture).is_file()
        # A handled report asks the camera to re-check the place, through the outbox.
        request = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "case-clue-001:r1"))
        assert request.routing_key == "recheck.cam-1"
        assert request.body["camera"]["id"] == "cam-1" and request.body["box"] == [72.0, 48.0, 144.0, 144.0]
    got = svc.get("/api/cases/case-clue-001", headers=bearer).json()
    assert got["handled"] is True and got["case"]["case_id"] == "case-clue-001"
    assert svc.get(got["after_picture"], headers=bearer).status_code == 200
    assert [k["verdict_name"] for k in got["rechecks"]] == ["核查中"]

    # A second report: the same picture again, said to be taken before the case was found. Flagged,
    # and the first report stays as it was.
    clock.advance(3600)
    old = make_event(1).first_seen - timedelta(days=3)
    second = svc.post(
        "/api/cases/case-clue-001/handled",
        headers=bearer,
        data={"unit": "另一中队", "taken_at": old.isoformat()},
        files={"picture": ("after.jpg", jpg.tobytes(), "image/jpeg")},
    )
    assert second.status_code == 200, second.text
    assert second.json()["flags"] == ["picture_before_case", "picture_reused"]
    got = svc.get("/api/cases/case-clue-001", headers=bearer).json()
    assert got["handling_unit"] == "江南中街城管中队"
    assert [(r["seq"], r["unit"], r["flags"]) for r in got["reports"]] == [
        (1, "江南中街城管中队", []),
        (2, "另一中队", ["picture_before_case", "picture_reused"]),
    ]
    assert [k["id"] for k in got["rechecks"]] == ["case-clue-001:r1", "case-clue-001:r2"]
    page = client.get("/cases")
    assert page.status_code == 200 and "照片与此前回复的照片完全相同" in page.text and "核查中" in page.text

    bad = svc.post(
        "/api/cases/case-clue-001/handled",
        headers=bearer,
        data={"unit": "x"},
        files={"picture": ("a.jpg", b"not a jpeg", "image/jpeg")},
    )
    assert bad.status_code == 422
    naive = svc.post(
        "/api/cases/case-clue-001/handled", headers=bearer, data={"unit": "x", "taken_at": "2024-05-01T10:00"}
    )
    assert naive.status_code == 422 and "时区" in naive.json()["detail"]
    assert svc.post("/api/cases/case-nope/handled", headers=bearer, data={"unit": "x"}).status_code == 404
    # Operators cannot report handling.
    assert client.post("/api/cases/case-clue-001/handled", data={"unit": "x"}).status_code == 403


def test_recheck_results_close_the_case_and_an_operator_can_overrule_not_rectified(env) -> None:
    client, sessions, clock, tokens, _cfg = env
    bearer = {"Authorization": f"Bearer {tokens['dispatch']}"}
    svc = TestClient(client.app, base_url="https://testserver")
    for clue in ("clue-001", "clue-002"):
        client.post(f"/api/clues/{clue}/accept")
        assert svc.post(f"/api/cases/case-{clue}/handled", headers=bearer, data={"unit": "中队"}).status_code == 200

    def result(case: str, verdict: str, present: int) -> RecheckResult:
        return RecheckResult(
            result_id=f"{case}:r1",
            request_id=f"{case}:r1",
            case_id=case,
            verdict=verdict,
            verdict_name=VERDICT_NAMES[verdict],
            samples=3,
            present=present,
            checked_to=clock.now,
            worker="w1",
            emitted_at=clock.now,
        )

    with sessions.begin() as s:
        assert apply_result(s, result("case-clue-001", "rectified", 0), clock.now)
        assert apply_result(s, result("case-clue-002", "not_rectified", 3), clock.now)
    with sessions.begin() as s:  # a redelivered result changes nothing
        assert not apply_result(s, result("case-clue-002", "rectified", 0), clock.now)
    with sessions() as s:
        assert s.get(Case, "case-clue-001").closed_at is not None
        assert s.get(Case, "case-clue-002").closed_at is None
    assert client.post("/api/rechecks/case-clue-001:r1/overrule", json={"note": "x"}).status_code == 409
    r = client.post("/api/rechecks/case-clue-002:r1/overrule", json={"note": "画面中为路人暂放的包"})
    assert r.status_code == 200, r.text
    assert client.post("/api/rechecks/case-clue-002:r1/overrule", json={}).status_code == 409
    with sessions() as s:
        assert s.get(Case, "case-clue-002").closed_at is not None
        told = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == "case-clue-002:r1:overruled"))
        assert told.routing_key == "case.rechecked.rectified" and told.body["worker"] == "operator:op1"
    page = client.get("/cases").text
    assert "已人工改判为已整改：画面中为路人暂放的包" in page and "改判为已整改</button>" not in page


def test_metrics_and_health(env) -> None:
    client, _s, _c, tokens, _cfg = env
    client.post("/api/clues/clue-001/accept")
    client.post("/api/clues/clue-002/reject", json={"reason": "fixture"})
    svc = TestClient(client.app, base_url="https://testserver")
    text = svc.get("/metrics", headers={"Authorization": f"Bearer {tokens['worker']}"}).text
    assert "xuncha_review_pending_clues 2.0" in text
    assert 'xuncha_review_decisions{outcome="rejected",reason="fixture"} 1.0' in text
    assert "xuncha_review_outbox_depth 1.0" in text
    client.post("/api/clues/clue-002/undo")  # a gauge of standing decisions: the undone one leaves it
    text = svc.get("/metrics", headers={"Authorization": f"Bearer {tokens['worker']}"}).text
    assert 'reason="fixture"' not in text and "xuncha_review_pending_clues 3.0" in text
    assert svc.get("/health").json() == {"status": "ok", "database": True, "dead_letters": 0}
