"""Adaptive gating where people see it, in real headless Chromium: the camera's page lists the raised zone
and the log (an admin undoes the change there), and the review page's clue details say at which level
the clue's zone and category ran when it was first seen and now. Screenshots go to artifacts/gating/."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from review_support import (
    CHROMIUM,
    Clock,
    LiveServer,
    add_users,
    chromium_page,
    database,
    make_event,
    review_config,
)
from test_gating import decide

from xuncha.db.base import utcnow
from xuncha.review.app import create_app
from xuncha.review.cameras import CameraFields, save_camera
from xuncha.review.gating import GatingSettings
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "gating"
LEVEL_1 = "第1级（分数 +0.05，停留 ×1.5）"

pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)", allow_module_level=True)


def test_camera_page_shows_and_undoes_the_level_and_the_clue_says_which_applied(tmp_path: Path) -> None:
    clock = Clock()
    now = clock.now
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        with sessions.begin() as s:
            save_camera(s, CameraFields(id="cam-0", source="rtsp://10.0.0.1/1"), "admin", utcnow(), create=True)
        decide(sessions, 0, [False] * 10, now - timedelta(hours=1))  # zone box, 0507: 立案率 0 over 10 reviews
        pending = make_event(50, camera="cam-0").model_copy(update={"clue_id": "later"})
        seen = now + timedelta(minutes=2)  # first seen after the change the camera page's visit makes
        ingest(sessions, pending.model_copy(update={"first_seen": seen, "last_seen": seen + timedelta(seconds=12)}))
        cfg = review_config(tmp_path, gating=GatingSettings(window=10))
        app = create_app(cfg, load_taxonomy(), sessions, clock=clock)
        with LiveServer(app) as server, chromium_page(ARTIFACTS) as page:
            url = server.url
            page.goto(f"{url}/login?next=/cameras/cam-0")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "admin-pass-1")
            page.click("button[type=submit]")
            page.wait_for_url(url + "/cameras/cam-0")
            page.wait_for_selector("#gating-log button.gating-undo")
            assert (page.text_content("#gating-now li") or "").startswith(f"区域 box · 类别 0507：{LEVEL_1}，自 ")
            logged = page.text_content("#gating-log li") or ""
            assert "区域 box · 类别 0507：自动提高门槛：分数 +0.05，停留 ×1.5（近10条立案率 0.00）" in logged
            page.screenshot(path=str(ARTIFACTS / "01-camera-raised.png"))

            page.goto(url + "/")
            page.wait_for_function("document.getElementById('f-id').textContent === 'later'")
            assert page.text_content("#f-gating") == f"首次发现时：{LEVEL_1}；现在：{LEVEL_1}"
            page.screenshot(path=str(ARTIFACTS / "02-clue-level.png"))

            clock.advance(3600)  # undone an hour later: the clue was first seen while the zone ran at level 1
            page.goto(url + "/cameras/cam-0")
            page.click("#gating-log button.gating-undo")
            page.wait_for_function("document.getElementById('gating-status').textContent === '已撤销调整 #1'")
            defaults = "document.querySelector('#gating-now li').textContent === '各区域均按场景默认值运行'"
            page.wait_for_function(defaults)
            items = [li.text_content() or "" for li in page.query_selector_all("#gating-log li")]
            assert "admin 撤销调整 #1：恢复为分数 +0.00，停留 ×1" in items[0] and items[1].endswith("（已撤销）")
            assert page.locator("#gating-log button.gating-undo").count() == 0  # an undo is not undone here
            page.screenshot(path=str(ARTIFACTS / "03-camera-undone.png"))

            page.goto(url + "/")
            page.wait_for_function("document.getElementById('f-id').textContent === 'later'")
            assert page.text_content("#f-gating") == f"首次发现时：{LEVEL_1}；现在：场景默认值"
