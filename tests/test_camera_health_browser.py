"""The 设备状态 page in real headless Chromium: states in Chinese, worst first, region filter, and an
admin confirming a changed view, which the camera's worker receives with its next report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from review_support import CHROMIUM, CHROMIUM_ARGS, LiveServer, add_users, database, review_config

from xuncha.review.app import create_app
from xuncha.taxonomy import load_taxonomy

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "review"

sync_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)", allow_module_level=True)


def report(now: float) -> dict:
    """A worker's /health camera entries: one up, one down, one whose view moved."""
    town = {"region_code": "440105001", "region_name": "江南中街"}
    other = {"region_code": "440105002", "region_name": "滨江街"}
    return {
        "cameras": {
            "jnx-01": {
                "state": "up",
                "last_frame_ts": now - 1,
                "reconnects": 2,
                "dropped_samples": 5,
                "name": "江南西路口",
            }
            | town,
            "bj-02": {
                "state": "down",
                "down_since": now - 600,
                "last_frame_ts": now - 600,
                "reconnects": 9,
                "dropped_samples": 0,
                "name": "滨江东路",
            }
            | other,
            "jnx-03": {
                "state": "view_changed",
                "last_frame_ts": now - 2,
                "reconnects": 0,
                "dropped_samples": 1,
                "name": "宝岗大道",
                "view": {
                    "state": "changed",
                    "since": now - 120,
                    "verdict": "moved",
                    "inliers": 150,
                    "shift": [0.04, -0.02],
                    "suggestion": [[1, 0, 0.04], [0, 1, -0.02]],
                },
            }
            | town,
        }
    }


def test_health_page_filters_by_region_and_an_admin_confirms_a_view(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        with LiveServer(create_app(review_config(tmp_path), load_taxonomy(), sessions)) as server:
            worker = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['worker']}"})
            r = worker.post("/api/worker/health", json=report(time.time()))
            assert r.status_code == 200 and r.json() == {"accept_view": []}, r.text

            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    page = browser.new_page(
                        viewport={"width": 1500, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai"
                    )
                    page.set_default_timeout(10_000)
                    page.goto(server.url + "/camera-health")
                    page.fill("input[name=username]", "admin")
                    page.fill("input[name=password]", "admin-pass-1")
                    page.keyboard.press("Enter")
                    page.wait_for_url(server.url + "/camera-health")
                    states = page.locator("#health tbody tr td.state").all_text_contents()
                    assert states == ["离线", "视角变化", "正常"]  # worst first
                    row = page.locator("tr[data-camera=jnx-03]")
                    assert "建议平移 +4.0%，-2.0%" in row.text_content()
                    assert "worker-1" in row.text_content()
                    assert row.locator("button.shift-zones").text_content() == "按建议平移区域"
                    page.screenshot(path=str(ARTIFACTS / "health-01-all.png"))

                    page.select_option("select[name=region]", "440105001")  # 江南中街
                    page.wait_for_url("**region=440105001")
                    assert page.locator("#health tbody tr").evaluate_all("rs => rs.map(r => r.dataset.camera)") == [
                        "jnx-03",
                        "jnx-01",
                    ]

                    page.click("tr[data-camera=jnx-03] button.accept-view")
                    page.wait_for_selector("tr[data-camera=jnx-03] .pending")
                    assert page.locator("tr[data-camera=jnx-03] button.view-action").count() == 0
                    page.screenshot(path=str(ARTIFACTS / "health-02-confirmed.png"))
                    r = worker.post("/api/worker/health", json=report(time.time()))
                    assert r.json() == {"accept_view": ["jnx-03"]}
                    r = worker.post("/api/worker/health", json=report(time.time()))
                    assert r.json() == {"accept_view": ["jnx-03"]}  # again, until the worker reports the view settled
                    settled = report(time.time())
                    settled["cameras"]["jnx-03"] |= {"state": "up", "view": {"state": "ok"}}
                    assert worker.post("/api/worker/health", json=settled).json() == {"accept_view": []}
                    assert worker.post("/api/worker/health", json=settled).json() == {"accept_view": []}

                    page.goto(server.url + "/logout")  # operators see the page but cannot confirm
                    ctx = browser.new_context(locale="zh-CN")
                    op = ctx.new_page()
                    op.goto(server.url + "/camera-health")
                    op.fill("input[name=username]", "op1")
                    op.fill("input[name=password]", "op1-pass-1")
                    op.keyboard.press("Enter")
                    op.wait_for_url(server.url + "/camera-health")
                    assert op.locator("button.accept-view").count() == 0
                    assert op.locator("#health tbody tr").count() == 3
                finally:
                    browser.close()
            worker.close()
