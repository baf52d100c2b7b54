"""Camera health end to end: a live worker reports to the real review service over HTTP with its token;
a moved camera shows 视角变化 with its suggested shift, an admin confirms the new view, the worker resumes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from conftest import shared_file
from fastapi.testclient import TestClient
from review_support import LiveServer, add_users, login, make_event, review_config

from xuncha.bench.viewclips import frames, shifted, write_clip
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.db.base import utcnow
from xuncha.db.cameras import CameraRow, ReferencePicture
from xuncha.db.engine import open_database
from xuncha.review.app import create_app
from xuncha.review.cameras import CameraFields, save_camera, save_zone_set
from xuncha.review.intake import ingest
from xuncha.service_cameras import ServiceCameras
from xuncha.taxonomy import load_taxonomy
from xuncha.worker import Worker

ZONE = {
    "id": "z",
    "name": "人行道",
    "polygon": [(0.5, 0.6), (1, 0.6), (1, 1)],
    "rules": [{"category": "0507", "labels": ["suitcase"]}],
}


def camera(cam_id: str, video: Path, reference: Path, region: tuple[str, str]) -> dict:
    return {
        "id": cam_id,
        "name": f"{cam_id} 路口",
        "source": str(video),
        "sample_interval_s": 0.5,
        "region": {"code": region[0], "name": region[1]},
        "zones": {"reference_image": str(reference), "zones": [ZONE]},
    }


def wait_for(get: Callable[[], dict], ok: Callable[[dict], bool], timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = get()
        if ok(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_live_worker_reports_health_and_an_admin_confirms_a_moved_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("xuncha.health.report.REPORT_EVERY_S", 0.5)
    src = shared_file("footage/sidewalk_bag_left.avi")
    reference = tmp_path / "reference.jpg"
    cv2.imwrite(str(reference), next(frames(src)))
    moved = write_clip(src, tmp_path / "moved.avi", lambda i, n, img: shifted(img, -0.03, 0.02))

    engine, sessions = open_database(f"sqlite:///{tmp_path / 'review.sqlite'}")
    tokens = add_users(sessions)
    with sessions.begin() as s:  # registered, but no worker runs it
        s.add(CameraRow(id="idle", name="空闲点位", source="rtsp://cam/idle", region_code="R2", region_name="二街道"))
    ingest(sessions, make_event(1, camera="steady"))
    app = create_app(review_config(tmp_path / "review"), load_taxonomy(), sessions)

    admin, op = TestClient(app, base_url="https://testserver"), TestClient(app, base_url="https://testserver")
    admin.headers["X-CSRF-Token"] = login(admin, "admin")
    op.headers["X-CSRF-Token"] = login(op, "op1")
    with LiveServer(app) as server:  # the worker reports over real HTTP with its token
        cfg = WorkerConfig.model_validate(
            {
                "data_dir": str(tmp_path / "w"),
                "worker_id": "w-1",
                "detectors": {"models": [], "stationary": False},
                "review_url": server.url,
                "review_token": tokens["worker"],
                "cameras": [
                    camera("moved", moved, reference, ("R1", "一街道")),
                    camera("steady", src, reference, ("R2", "二街道")),
                ],
            }
        )
        worker = Worker(*resolve_config(cfg, tmp_path, "test"))
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, kwargs={"once": False, "stop": stop})
        thread.start()
        try:

            def rows(region: str = "") -> dict:
                r = op.get("/api/camera-health", params={"region": region})
                assert r.status_code == 200, r.text
                return {row["camera_id"]: row for row in r.json()}

            got = wait_for(
                rows, lambda g: g.get("moved", {}).get("state") == "view_changed" and g["steady"]["state"] == "up"
            )
            assert got["moved"]["state"] == "view_changed" and got["moved"]["state_zh"] == "视角变化", got
            assert got["steady"]["state"] == "up" and got["steady"]["state_zh"] == "正常"
            assert got["idle"]["state"] == "unknown" and got["idle"]["state_zh"] == "未知"
            assert list(got)[0] == "moved"  # worst first
            view = got["moved"]["view"]
            assert view["suggestion"][0][2] == pytest.approx(-0.03, abs=0.005)
            assert view["suggestion"][1][2] == pytest.approx(0.02, abs=0.005)
            assert got["moved"]["worker"] == "worker-1" and got["moved"]["last_frame"] is not None
            assert got["steady"]["clues_today"] == 1 and got["moved"]["clues_today"] == 0
            assert got["steady"]["dropped"] is not None
            assert set(rows("R2")) == {"steady", "idle"} and set(rows("R1")) == {"moved"}
            metrics = worker.metrics.render()
            assert b'xuncha_view_changed{camera="moved"} 1.0' in metrics
            assert b'xuncha_view_changed{camera="steady"} 0.0' in metrics

            assert op.post("/api/cameras/moved/view/accept").status_code == 403  # operators only look
            assert admin.post("/api/cameras/steady/view/accept").status_code == 409  # no alarm there
            r = admin.post("/api/cameras/moved/view/accept")
            assert r.status_code == 200, r.text
            assert rows()["moved"]["accept_pending"] is True
            got = wait_for(rows, lambda g: g["moved"]["state"] == "up", timeout=20)
            assert got["moved"]["state"] == "up" and got["moved"]["accept_pending"] is False, got["moved"]
            assert b'xuncha_view_changed{camera="moved"} 0.0' in worker.metrics.render()
        finally:
            stop.set()
            thread.join(30)
    engine.dispose()


def test_service_camera_checks_its_view_against_the_services_reference_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cameras_from_service: the reference picture is the one in the registry; 按建议平移区域 saves the zones
    moved by the suggested shift as a new version, the worker runs them and sends its current view as the
    camera's new reference picture."""
    monkeypatch.setattr("xuncha.health.report.REPORT_EVERY_S", 0.5)
    src = shared_file("footage/sidewalk_bag_left.avi")
    moved = write_clip(src, tmp_path / "moved.avi", lambda i, n, img: shifted(img, 0.03, 0.0))
    taxonomy = load_taxonomy()
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'review.sqlite'}")
    tokens = add_users(sessions)
    with sessions.begin() as s:
        save_camera(
            s, CameraFields(id="moved", source=str(moved), sample_interval_s=0.5), "admin", utcnow(), create=True
        )
        save_zone_set(s, "moved", "", {"zones": [ZONE]}, "admin", utcnow(), taxonomy)
    app = create_app(review_config(tmp_path / "review"), taxonomy, sessions)
    admin = TestClient(app, base_url="https://testserver")
    admin.headers["X-CSRF-Token"] = login(admin, "admin")
    ok, jpeg = cv2.imencode(".jpg", next(frames(src)))  # the picture the zones were drawn on: before the move
    r = TestClient(app).post(
        "/api/cameras/moved/reference",
        files={"picture": ("ref.jpg", jpeg.tobytes(), "image/jpeg")},
        headers={"Authorization": f"Bearer {tokens['worker']}"},
    )
    assert r.status_code == 200, r.text
    with sessions() as s:
        first_picture = s.get(ReferencePicture, ("moved", "")).taken_at

    with LiveServer(app) as server:
        cfg = WorkerConfig.model_validate(
            {
                "data_dir": str(tmp_path / "w"),
                "detectors": {"models": [], "stationary": False},
                "review_url": server.url,
                "review_token": tokens["worker"],
                "cameras_from_service": True,
            }
        )
        remote = ServiceCameras(cfg, taxonomy, tokens["worker"], every_s=0.5)
        worker = Worker(cfg, taxonomy)
        worker.cfg = remote.initial()
        assert worker.cfg.cameras[0].zones.reference_image == f"{server.url}/api/cameras/moved/reference.jpg?preset="
        worker.observer = remote
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, kwargs={"once": False, "stop": stop, "reload": remote.reload})
        thread.start()
        try:

            def rows() -> dict:
                return {row["camera_id"]: row for row in admin.get("/api/camera-health").json()}

            got = wait_for(rows, lambda g: g.get("moved", {}).get("state") == "view_changed")
            assert got["moved"]["state"] == "view_changed", got
            assert got["moved"]["view"]["suggestion"][0][2] == pytest.approx(0.03, abs=0.005)
            with sessions() as s:  # no picture of the moved view replaces the reference while the alarm stands
                assert s.get(ReferencePicture, ("moved", "")).taken_at == first_picture

            r = admin.post("/api/cameras/moved/view/shift")  # 按建议平移区域
            assert r.status_code == 200 and r.json()["version"] == 2, r.text
            zones = admin.get("/api/cameras/moved/zones").json()["zone_set"]["zones"]
            assert zones[0]["polygon"][0] == pytest.approx([0.53, 0.6], abs=0.005)  # ZONE moved right by 3 %
            got = wait_for(rows, lambda g: g["moved"]["state"] == "up" and not g["moved"]["accept_pending"], timeout=30)
            assert got["moved"]["state"] == "up" and got["moved"]["accept_pending"] is False, got["moved"]
            assert worker.health()["cameras"]["moved"]["zones_version"] == 2  # running on the shifted zones

            def new_picture() -> dict:
                with sessions() as s:
                    return {"taken_at": s.get(ReferencePicture, ("moved", "")).taken_at}

            assert (
                wait_for(new_picture, lambda p: p["taken_at"] > first_picture, timeout=20)["taken_at"] > first_picture
            )
        finally:
            stop.set()
            thread.join(30)
            remote.close()
    engine.dispose()
