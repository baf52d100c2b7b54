"""模型管理: shadow reports uploaded, 推广 / 回退 logged, the workers' API; on SQLite and PostgreSQL, and in
real headless Chromium (an admin uploads a report, promotes, rolls back). Screenshots go to artifacts/review/."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_support import CHROMIUM, Clock, LiveServer, add_users, chromium_page, database, login, review_config

from xuncha.bench.shadow import Replayed, row_json, tabulate
from xuncha.db.promotions import ModelPromotion
from xuncha.review.app import create_app
from xuncha.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "review"
NEW, OLD = "garbage@new", "garbage"


def _report() -> dict[str, object]:
    """A report as `xuncha bench shadow --json` writes it (same core), for a retrained garbage model."""
    replayed = [
        Replayed("cam-a", "0102", True, {NEW: True, OLD: True}),
        Replayed("cam-a", "0102", False, {NEW: False, OLD: True}),
        Replayed("cam-b", "0102", True, {NEW: True, OLD: False}),
    ]
    return {
        "kind": "xuncha.shadow",
        "export": "/data/export",
        "models": {
            "model": {
                "name": NEW,
                "ref": "/runs/v4/garbage.onnx",
                "file": "/runs/v4/garbage.onnx",
                "checksum": "sha256:new",
            },
            "against": {"name": OLD, "ref": "garbage", "file": "/srv/models/garbage.onnx", "checksum": "sha256:old"},
        },
        "replayed": 3,
        "skipped": [],
        "rows": [row_json(r, [NEW, OLD]) for r in tabulate(replayed, [NEW, OLD])],
        "text": "",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        clock = Clock(datetime(2024, 5, 1, 2, 0, tzinfo=UTC))
        app = create_app(review_config(tmp_path), load_taxonomy(), sessions, clock=clock)
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "admin")
            yield client, sessions, clock, tokens


def test_upload_promote_roll_back_and_the_workers_see_each_change(env) -> None:
    client, sessions, clock, tokens = env
    worker = TestClient(
        client.app, base_url="https://testserver", headers={"Authorization": f"Bearer {tokens['worker']}"}
    )
    assert worker.get("/api/worker/models").json() == {"models": {}}  # nothing promoted: the config's models

    r = client.post("/api/models/reports", json=_report())
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    assert r.json() == {"id": report_id, "model": NEW, "against": OLD}
    page = client.get("/models").text
    assert "模型管理" in page and "推广 garbage@new（替换 garbage）" in page and "尚未推广过模型" in page
    assert "100.0%" in page and "50.0%" in page  # new model 2/2 filed, old 1 filed 1 rejected on the totals

    clock.advance(60)
    r = client.post("/api/models/promote", json={"report_id": report_id})
    assert r.status_code == 200, r.text
    got = worker.get("/api/worker/models").json()["models"]
    assert list(got) == [OLD]
    assert got[OLD] | {"at": None} == {
        "model_name": OLD,
        "action": "promote",
        "ref": "/runs/v4/garbage.onnx",
        "checksum": "sha256:new",
        "previous_ref": "/srv/models/garbage.onnx",
        "previous_checksum": "sha256:old",
        "report_id": report_id,
        "by": "admin",
        "at": None,
    }
    assert (
        client.post("/api/models/promote", json={"report_id": report_id}).json()["detail"] == "garbage 已在使用该模型"
    )

    clock.advance(60)
    r = client.post("/api/models/rollback", json={"model_name": OLD})
    assert r.status_code == 200, r.text
    now = worker.get("/api/worker/models").json()["models"][OLD]
    assert (now["action"], now["ref"], now["checksum"]) == ("rollback", "/srv/models/garbage.onnx", "sha256:old")
    assert now["previous_ref"] == "/runs/v4/garbage.onnx"  # the promoted one is one click away again

    log = client.get("/api/models").json()["history"]
    assert [(h["action"], h["ref"]) for h in log] == [
        ("rollback", "/srv/models/garbage.onnx"),
        ("promote", "/runs/v4/garbage.onnx"),
    ]
    with sessions() as s:
        assert s.query(ModelPromotion).count() == 2
    assert client.post("/api/models/rollback", json={"model_name": "yolox_nano_coco"}).status_code == 422
    assert client.post("/api/models/promote", json={"report_id": 999}).status_code == 422


def test_only_admins_change_models_and_workers_only_read(env) -> None:
    client, _sessions, _clock, tokens = env
    assert client.post("/api/models/reports", json=_report(), headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/api/models/reports", json={"kind": "other", "rows": []}).status_code == 422
    op = TestClient(client.app, base_url="https://testserver")
    op.headers["X-CSRF-Token"] = login(op, "op1")
    assert op.post("/api/models/reports", json=_report()).status_code == 403
    assert op.get("/api/worker/models").status_code == 403
    for name in ("dispatch", "worker"):
        svc = TestClient(client.app, base_url="https://testserver", headers={"Authorization": f"Bearer {tokens[name]}"})
        assert svc.post("/api/models/reports", json=_report()).status_code == 403
        assert svc.post("/api/models/rollback", json={"model_name": OLD}).status_code == 403
    dispatch = TestClient(
        client.app, base_url="https://testserver", headers={"Authorization": f"Bearer {tokens['dispatch']}"}
    )
    assert dispatch.get("/api/worker/models").status_code == 403
    assert TestClient(client.app, base_url="https://testserver").get("/api/worker/models").status_code == 401


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing (apt-get install chromium)")
def test_admin_uploads_promotes_and_rolls_back_in_the_browser(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    report = tmp_path / "shadow.json"
    report.write_text(json.dumps(_report(), ensure_ascii=False), encoding="utf-8")
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        with (
            LiveServer(create_app(review_config(tmp_path), load_taxonomy(), sessions)) as server,
            chromium_page(ARTIFACTS) as page,
        ):
            url = server.url
            page.goto(url + "/login?next=/models")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "admin-pass-1")
            page.click("button[type=submit]")
            page.wait_for_url(url + "/models")
            assert "尚未推广过模型" in (page.text_content("#current") or "")
            page.set_input_files("input[name=report]", str(report))
            page.click("#upload button[type=submit]")
            page.wait_for_selector("#report")
            rows = page.locator("#report tbody tr")
            assert rows.count() == 3  # cam-a 0102, cam-b 0102, 合计
            assert page.locator("#report tbody tr:last-child .new-rate").text_content() == "100.0%"
            assert page.locator("#report tbody tr:last-child .old-rate").text_content() == "50.0%"
            page.screenshot(path=str(ARTIFACTS / "21-models-report.png"))

            page.on("dialog", lambda d: d.accept())
            page.click("#promote")
            page.wait_for_selector("#current tr[data-model=garbage]")
            assert page.locator("#current tr[data-model=garbage] .ref").text_content() == "/runs/v4/garbage.onnx"
            page.screenshot(path=str(ARTIFACTS / "22-models-promoted.png"))

            page.click("button.rollback[data-model=garbage]")
            ref = "document.querySelector('#current tr[data-model=garbage] .ref').textContent"
            page.wait_for_function(f"{ref} === '/srv/models/garbage.onnx'")
            history = page.locator("#history tbody tr")
            assert history.count() == 2 and "回退" in (history.nth(0).text_content() or "")
            page.screenshot(path=str(ARTIFACTS / "23-models-rolled-back.png"))
