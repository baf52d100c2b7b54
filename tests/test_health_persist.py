"""Camera health and the editor's overlay survive a service restart: a new app on the same database
shows the last report, state, thumbnail, state changes and detections; the change log stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_support import Clock, add_users, database, login, review_config
from sqlalchemy import func, select

from xuncha.db.cameras import CameraRow, CameraStateChange, ReferencePicture
from xuncha.review import health_store
from xuncha.review.app import create_app
from xuncha.taxonomy import load_taxonomy

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def report(client: TestClient, token: str, state: str, last_frame: float) -> None:
    entry = {"state": state, "last_frame_ts": last_frame, "reconnects": 2, "name": "东门 路口"}
    r = client.post("/api/worker/health", json={"cameras": {"c1": entry}}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_health_and_overlay_survive_a_restart(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        with sessions.begin() as s:
            s.add(CameraRow(id="c1", name="东门", source="rtsp://cam/c1", region_code="R1", region_name="一街道"))
            s.add(
                ReferencePicture(
                    camera_id="c1", preset="", path="ref/c1.jpg", width=64, height=36, taken_at=T0, worker="worker-1"
                )
            )
        clock = Clock(T0)
        app = create_app(review_config(tmp_path / "review"), load_taxonomy(), sessions, clock=clock)
        worker = TestClient(app, base_url="https://testserver")
        report(worker, tokens["worker"], "up", T0.timestamp())
        clock.advance(5)
        report(worker, tokens["worker"], "down", T0.timestamp())
        boxes = [{"label": "suitcase", "score": 0.8, "box": [0.1, 0.2, 0.3, 0.4], "zones": ["z"]}]
        r = worker.post(
            "/api/worker/cameras",
            json={"labels": ["suitcase"], "sightings": {"c1": [{"ts": clock().timestamp(), "boxes": boxes}]}},
            headers={"Authorization": f"Bearer {tokens['worker']}"},
        )
        assert r.status_code == 200, r.text

        clock.advance(10)  # a restart: a new app, same database, no report yet
        admin = TestClient(
            create_app(review_config(tmp_path / "review"), load_taxonomy(), sessions, clock=clock),
            base_url="https://testserver",
        )
        admin.headers["X-CSRF-Token"] = login(admin, "admin")
        (row,) = admin.get("/api/camera-health").json()
        assert row["camera_id"] == "c1"
        assert row["state"] == "down" and row["reported_at"] is not None
        assert datetime.fromisoformat(row["reported_at"]) == T0.replace(second=5)
        assert row["last_frame"] is not None and row["worker"] == "worker-1"
        assert row["thumbnail"] == "/evidence/ref/c1.jpg"
        assert [(c["old"], c["new"]) for c in row["changes"]] == [("up", "down"), (None, "up")]
        page = admin.get("/camera-health").text
        assert "离线" in page and "/evidence/ref/c1.jpg" in page and "正常 → 离线" in page
        got = admin.get("/api/cameras/c1/sightings").json()["sightings"]
        assert [b["label"] for x in got for b in x["boxes"]] == ["suitcase"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_state_change_log_stays_bounded(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as (_url, sessions):
        for i in range(30):
            with sessions.begin() as s:
                state = "up" if i % 2 else "down"
                health_store.save(
                    s, "w", {"c1": {"state": state}, "c2": {"state": "up"}}, T0.replace(second=i), keep=10
                )
        with sessions() as s:
            counts = dict(
                s.execute(select(CameraStateChange.camera_id, func.count()).group_by(CameraStateChange.camera_id)).all()
            )
            newest = health_store.changes(s, "c1", 3)
        assert counts == {"c1": 10, "c2": 1}  # c2 changed once (first seen), never again
        assert [c.at.second for c in newest] == [29, 28, 27]


def test_what_counts_as_a_state_change() -> None:
    assert health_store.changed(None, "up") and health_store.changed("up", "down")
    assert not health_store.changed("down", "down")
    assert health_store.to_prune(list(range(1, 13)), keep=10) == [1, 2]
    assert health_store.to_prune([1, 2], keep=10) == []


def test_a_report_is_refused_for_an_overlong_camera_id(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        client = TestClient(
            create_app(review_config(tmp_path / "r"), load_taxonomy(), sessions), base_url="https://testserver"
        )
        body = {"cameras": {"c" * 65: {"state": "up"}}}
        r = client.post("/api/worker/health", json=body, headers={"Authorization": f"Bearer {tokens['worker']}"})
        assert r.status_code == 422 and "点位编号超过 64 个字符" in r.text
