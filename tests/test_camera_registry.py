"""Camera registry API on SQLite and PostgreSQL: cameras, versioned zone sets, worker fetch, reference pictures."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from review_support import Clock, add_users, database, login, review_config

from xuncha.config.worker import CameraConfig
from xuncha.review.app import create_app
from xuncha.taxonomy import load_taxonomy

CAMERA = {
    "id": "jnx-01",
    "name": "江南西路口",
    "source": "rtsp://admin:S3cret-pw@10.0.0.8:554/ch1",
    "sample_interval_s": 3,
    "region_code": "440105001",
    "region_name": "江南中街",
    "lon": 113.27,
    "lat": 23.09,
}
ZONE = {
    "id": "box",
    "name": "配电箱旁",
    "polygon": [[0.1, 0.5], [0.6, 0.5], [0.6, 0.95], [0.1, 0.95]],
    "rules": [{"category": "0507", "labels": ["static_object"], "dwell_s": 10}],
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        clock = Clock()
        app = create_app(review_config(tmp_path), load_taxonomy(), sessions, clock=clock)
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "admin")
            yield client, tokens, clock


def _worker(client: TestClient, token: str, labels: list[str] | None = None) -> dict:
    r = client.post("/api/worker/cameras", json={"labels": labels or []}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_camera_password_is_stored_but_never_shown_or_logged(env, caplog) -> None:
    client, tokens, _ = env
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/cameras", json=CAMERA)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "rtsp://admin:***@10.0.0.8:554/ch1"
    listed = client.get("/api/cameras").text + client.get("/cameras").text + client.get("/api/cameras/jnx-01").text
    assert "S3cret-pw" not in listed
    # Editing the name sends the masked URL back: the password stays.
    r = client.put("/api/cameras/jnx-01", json={**CAMERA, "source": r.json()["source"], "name": "江南西路口北"})
    assert r.status_code == 200, r.text
    cams = _worker(client, tokens["worker"])["cameras"]
    assert cams[0]["source"] == CAMERA["source"] and cams[0]["name"] == "江南西路口北"
    assert "S3cret-pw" not in caplog.text
    assert client.post("/api/cameras", json=CAMERA).status_code == 409


def test_camera_errors_name_the_camera_and_field_in_chinese(env) -> None:
    client, *_ = env
    r = client.post("/api/cameras", json={**CAMERA, "id": "bad id", "sample_interval_s": 0, "sampling": "x"})
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert "点位 bad id 的「点位编号」：只能用字母、数字、- 和 _，并以字母或数字开头" in problems
    assert "点位 bad id 的「抽帧间隔（秒）」：必须大于 0.0" in problems
    assert any(p.startswith("点位 bad id 的「抽帧方式」：须为") for p in problems)


def test_zone_sets_are_versioned_with_diff_and_revert(env) -> None:
    client, tokens, clock = env
    client.post("/api/cameras", json=CAMERA)
    r = client.put("/api/cameras/jnx-01/zones", json={"zones": [ZONE]})
    assert r.status_code == 200 and r.json()["version"] == 1
    clock.advance(60)
    moved = {**ZONE, "polygon": [[0.2, 0.5], [0.6, 0.5], [0.6, 0.95], [0.2, 0.95]]}
    mask = {"id": "door", "name": "店门", "polygon": [[0.7, 0.7], [0.9, 0.7], [0.9, 0.9]]}
    assert client.put("/api/cameras/jnx-01/zones", json={"zones": [moved], "masks": [mask]}).json()["version"] == 2
    data = client.get("/api/cameras/jnx-01/zones").json()
    assert data["zone_set"]["version"] == 2 and data["zone_set"]["masks"][0]["id"] == "door"
    v2, v1 = data["versions"]
    assert v2["changes"] == ["修改区域「配电箱旁」：多边形", "新增屏蔽区「店门」"] and v2["saved_by"] == "admin"
    assert v1["changes"] == ["新增区域「配电箱旁」"]
    r = client.post("/api/cameras/jnx-01/zones/revert", json={"version": 1})
    assert r.json()["version"] == 3
    data = client.get("/api/cameras/jnx-01/zones").json()
    assert data["zone_set"]["zones"][0]["polygon"][0] == [0.1, 0.5] and data["versions"][0]["note"] == "恢复到版本 1"
    cam = CameraConfig.model_validate(_worker(client, tokens["worker"])["cameras"][0])
    assert cam.zones.version == 3 and cam.zones.zones[0].polygon[0] == (0.1, 0.5)


def test_invalid_zone_set_refused_naming_zone_and_field(env) -> None:
    client, *_ = env
    client.post("/api/cameras", json=CAMERA)
    bow_tie = {**ZONE, "polygon": [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]}
    bad_rule = {**ZONE, "id": "b2", "name": "路边", "rules": [{"category": "9999", "labels": ["x"], "min_score": 2}]}
    r = client.put("/api/cameras/jnx-01/zones", json={"zones": [bow_tie, bad_rule]})
    assert r.status_code == 422
    assert r.json()["problems"] == [
        "区域「配电箱旁」的「多边形」：边线交叉或相接：多边形不能自相交",
        "区域「路边」的第 1 条规则的「最低置信度」：不能大于 1.0",
    ]
    r = client.put(
        "/api/cameras/jnx-01/zones", json={"zones": [{**bad_rule, "rules": [{"category": "9999", "labels": ["x"]}]}]}
    )
    assert r.json()["problems"] == [
        "区域「路边」的第 1 条规则的「类别」：未知类别代码 9999（不在分类 GB/T 30428.2 中）"
    ]
    assert client.get("/api/cameras/jnx-01/zones").json()["versions"] == []


def test_operator_and_worker_refused_on_admin_routes(env) -> None:
    client, tokens, _ = env
    client.post("/api/cameras", json=CAMERA)
    client.post("/logout")
    client.headers["X-CSRF-Token"] = login(client, "op1")
    assert client.get("/cameras", follow_redirects=False).status_code == 403
    assert client.get("/api/cameras").status_code == 403
    assert client.put("/api/cameras/jnx-01/zones", json={"zones": [ZONE]}).status_code == 403
    worker = {"Authorization": f"Bearer {tokens['worker']}"}
    assert client.get("/api/cameras", headers=worker).status_code == 403
    assert client.post("/api/worker/cameras", json={}).status_code == 403  # an operator is no worker


def test_worker_fetch_assignment_labels_and_reference_pictures(env) -> None:
    client, tokens, clock = env
    client.post("/api/cameras", json=CAMERA)
    client.post("/api/cameras", json={**CAMERA, "id": "other", "worker": "worker-9"})
    got = _worker(client, tokens["worker"], ["person", "suitcase"])
    assert [c["id"] for c in got["cameras"]] == ["jnx-01"]  # "other" belongs to worker-9
    assert got["reference_wanted"] == ["jnx-01"]  # no picture yet
    assert client.get("/api/zone-schema").json()["labels"] == ["person", "suitcase"]
    assert client.get("/api/cameras?worker=worker-9").json()["items"][0]["id"] == "other"
    assert [c["id"] for c in client.get("/api/cameras?worker=-").json()["items"]] == ["jnx-01"]

    img = np.full((240, 320, 3), 90, np.uint8)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    headers = {"Authorization": f"Bearer {tokens['worker']}"}
    r = client.post("/api/cameras/jnx-01/reference", files={"picture": ("v.jpg", jpeg)}, headers=headers)
    assert r.status_code == 200, r.text
    assert _worker(client, tokens["worker"])["reference_wanted"] == []
    info = client.get("/api/cameras/jnx-01/reference").json()
    assert (info["width"], info["height"]) == (320, 240) and info["requested_at"] is None
    assert client.get(info["picture"]).content[:2] == b"\xff\xd8"
    clock.advance(5)
    client.post("/api/cameras/jnx-01/reference/request")  # the admin wants a fresh one
    assert _worker(client, tokens["worker"])["reference_wanted"] == ["jnx-01"]
    r = client.post("/api/cameras/jnx-01/reference", files={"picture": ("v.jpg", b"nope")}, headers=headers)
    assert r.status_code == 422
    clock.advance(60)
    client.post("/api/cameras/jnx-01/reference", files={"picture": ("v.jpg", jpeg)}, headers=headers)
    assert _worker(client, tokens["worker"])["reference_wanted"] == []
    clock.advance(24 * 3600)  # one a day
    assert _worker(client, tokens["worker"])["reference_wanted"] == ["jnx-01"]


def test_import_export_csv_and_yaml_and_copy_zone_set(env) -> None:
    client, tokens, _ = env
    rows = "id,name,source,sample_interval_s,region_code,region_name,enabled\n" + "".join(
        f"c{i:03d},路口{i},rtsp://u:pw{i}@10.0.0.{i}/ch1,5,44010500{i % 2},街道{i % 2},{'true' if i % 3 else 'false'}\n"
        for i in range(1, 101)
    )
    r = client.post("/api/cameras/import", files={"file": ("cams.csv", rows.encode())})
    assert r.json() == {"created": 100, "updated": 0, "zone_sets": 0}, r.text
    assert len(client.get("/api/cameras?region=440105001&state=enabled").json()["items"]) == 33
    exported = client.get("/api/cameras/export.csv").text
    assert exported.startswith("id,name,source,") and "rtsp://u:***@10.0.0.7/ch1" in exported and "pw7" not in exported
    # The exported file imported again updates the same cameras and keeps their passwords.
    r = client.post("/api/cameras/import", files={"file": ("cams.csv", exported.encode())})
    assert r.json()["updated"] == 100
    sources = {c["id"]: c["source"] for c in _worker(client, tokens["worker"])["cameras"]}
    assert sources["c007"] == "rtsp://u:pw7@10.0.0.7/ch1"

    # A bad file saves nothing and names every bad row.
    bad = "id,source,sample_interval_s\nok-1,rtsp://x/1,2\nbad id,rtsp://x/2,2\nok-2,rtsp://x/3,-1\n"
    r = client.post("/api/cameras/import", files={"file": ("more.csv", bad.encode())})
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert any("点位 bad id" in p and "「点位编号」" in p for p in problems)
    assert any("点位 ok-2" in p and "「抽帧间隔（秒）」：必须大于 0.0" in p for p in problems)
    assert client.get("/api/cameras/ok-1").status_code == 404

    # YAML in the worker's format, zones included; exported YAML is a worker camera list.
    doc = {"cameras": [{**{k: CAMERA[k] for k in ("id", "name", "source")}, "zones": [ZONE]}]}
    r = client.post("/api/cameras/import", files={"file": ("cams.yaml", yaml.safe_dump(doc, allow_unicode=True))})
    assert r.json() == {"created": 1, "updated": 0, "zone_sets": 1}, r.text
    out = yaml.safe_load(client.get("/api/cameras/export.yaml").text)
    jnx = next(c for c in out["cameras"] if c["id"] == "jnx-01")
    assert CameraConfig.model_validate(jnx).zones.zones[0].id == "box" and "S3cret-pw" not in str(jnx)

    r = client.post("/api/cameras/jnx-01/zones/copy", json={"to": ["c001", "c002"]})
    assert r.json() == {"versions": {"c001": 1, "c002": 1}}
    assert client.get("/api/cameras/c002/zones").json()["versions"][0]["note"] == "复制自 jnx-01 版本 1"
    assert client.post("/api/cameras/c003/zones/copy", json={"to": ["c001"]}).status_code == 422
