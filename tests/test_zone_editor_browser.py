"""The camera registry and zone editor in real headless Chromium, with a running worker.

An admin registers a camera and draws a zone with the mouse on the picture the worker sent; the
worker applies the saved version without a restart. The editor path's actions are counted and
timed (bench/README.md). An invalid polygon is refused with its Chinese message; an operator is
refused on the admin pages. Screenshots go to artifacts/editor/.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
from conftest import shared_file
from review_support import CHROMIUM, LiveServer, add_users, chromium_page, database, review_config, seed
from test_service_cameras import cameras_up, start_worker, stop
from test_worker_live import free_port, get, wait_for

from xuncha.db.base import utcnow
from xuncha.review.app import create_app
from xuncha.review.cameras import CameraFields, save_camera
from xuncha.taxonomy import load_taxonomy

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "editor"

sync_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def site(tmp_path: Path):
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        with LiveServer(create_app(review_config(tmp_path), load_taxonomy(), sessions)) as server:
            yield server.url, tokens


@pytest.fixture
def page():
    with chromium_page(ARTIFACTS, timeout_ms=15_000) as pg:
        yield pg


def login(page, url: str, user: str, next_path: str) -> None:
    page.goto(f"{url}/login?next={next_path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"{user}-pass-1")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(url + next_path)


class Actions:
    """Counts what the admin does: clicks, keys and form fields."""

    def __init__(self, page) -> None:
        self.page, self.count = page, 0

    def click_at(self, fx: float, fy: float) -> None:
        box = self.page.locator("#canvas").bounding_box()
        self.page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        self.count += 1

    def key(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1

    def select(self, selector: str, value: str) -> None:
        self.page.select_option(selector, value)
        self.count += 1


def _serving(port: int) -> bool:
    try:
        return get(f"http://127.0.0.1:{port}/health")[0] == 200
    except OSError:
        return False


def test_admin_registers_camera_draws_zone_and_worker_applies_it(site, page, tmp_path: Path) -> None:
    url, tokens = site
    video = shared_file("footage/indoor_people_standing.mp4")  # 139 s in real time
    port = free_port()
    worker, log = start_worker(tmp_path, "w1", url, tokens["worker"], port)
    try:
        wait_for(lambda: _serving(port), timeout=60)  # the worker has fetched (no cameras yet) and told its labels
        login(page, url, "admin", "/cameras")
        page.fill("input[name=id]", "hall-01")
        page.fill("input[name=name]", "大厅")
        page.fill("input[name=source]", str(video))
        page.fill("input[name=sample_interval_s]", "0.5")
        page.click("#save-camera")
        page.wait_for_url(f"{url}/cameras/hall-01")
        page.wait_for_selector("body[data-ready='1']")
        # The worker picks the camera up and sends its picture; the editor shows it by itself.
        wait_for(lambda: cameras_up(port) == {"hall-01"}, timeout=60)
        page.wait_for_function("document.getElementById('ref-info').textContent.startsWith('画面时间')", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "01-reference.png"))

        act = Actions(page)
        t0 = time.perf_counter()
        act.key("n")
        for fx, fy in [(0.1, 0.5), (0.9, 0.5), (0.9, 0.95), (0.1, 0.95)]:
            act.click_at(fx, fy)
        act.click_at(0.1, 0.5)  # back on the first point closes the polygon
        act.select("#item-form select[name=scene]", "piled_materials")  # 乱堆物堆料: a scene preset
        act.key("Control+s")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 1')")
        saved = time.perf_counter() - t0
        page.screenshot(path=str(ARTIFACTS / "02-zone-saved.png"))

        copy = tmp_path / "var" / "service_cameras.json"
        zones = wait_for(lambda: json.loads(copy.read_text())["cameras"][0]["zones"]["zones"], timeout=30)
        wait_for(lambda: log.read_text().count("camera hall-01: started") == 2)  # restarted with the zone
        applied = time.perf_counter() - t0
        zone = zones[0]
        assert zone["name"] == "区域1" and zone["scene"] == ["piled_materials"]
        assert zone["polygon"][0] == pytest.approx([0.1, 0.5], abs=0.01)
        assert zone["polygon"][2] == pytest.approx([0.9, 0.95], abs=0.01)
        assert act.count <= 12
        print(f"\nEDITOR PATH: {act.count} actions, saved after {saved:.1f} s, worker applied it after {applied:.1f} s")

        # Move a point with the mouse, undo it, and the version list shows what changed.
        box = page.locator("#canvas").bounding_box()
        page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.5 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.4 * box["height"], steps=5)
        page.mouse.up()
        page.keyboard.press("Control+s")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 2')")
        page.wait_for_function("document.getElementById('versions').textContent.includes('修改区域「区域1」：多边形')")
        page.keyboard.press("Control+z")
        page.keyboard.press("Control+s")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 3')")
        # The keyboard moves a point too: ] picks the first point, Shift+→ moves it 2 % right.
        page.keyboard.press("]")
        page.keyboard.press("Shift+ArrowRight")
        page.keyboard.press("Control+s")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 4')")
        current = page.evaluate("fetch('/api/cameras/hall-01/zones').then(r => r.json())")["zone_set"]
        assert current["zones"][0]["polygon"][0] == pytest.approx([0.12, 0.5], abs=0.011)
        page.screenshot(path=str(ARTIFACTS / "03-versions.png"), full_page=True)
    finally:
        stop(worker)


def test_invalid_polygon_refused_with_its_message(site, page) -> None:
    url, _ = site
    login(page, url, "admin", "/cameras")
    page.fill("input[name=id]", "gate-1")
    page.fill("input[name=source]", "rtsp://u:pw@10.1.1.1/ch1")
    page.click("#save-camera")
    page.wait_for_url(f"{url}/cameras/gate-1")
    page.wait_for_selector("body[data-ready='1']")
    act = Actions(page)
    act.key("n")
    for fx, fy in [(0.1, 0.1), (0.5, 0.5), (0.5, 0.1), (0.1, 0.5)]:  # a bow-tie
        act.click_at(fx, fy)
    act.key("Enter")
    act.key("Control+s")
    page.wait_for_selector("#errors li")
    errors = [li.text_content() for li in page.query_selector_all("#errors li")]
    assert errors == ["区域「区域1」的「多边形」：边线交叉或相接：多边形不能自相交"]
    assert page.text_content("#status") == "未保存"
    page.screenshot(path=str(ARTIFACTS / "04-invalid.png"))
    # Undo keeps working after a refusal: the zone goes, an empty set saves.
    page.keyboard.press("Control+z")
    page.wait_for_function("document.querySelectorAll('#items li').length === 0")
    assert "rtsp://u:pw@" not in page.content()


def test_operator_refused_on_admin_pages(site, page) -> None:
    url, _ = site
    login(page, url, "op1", "/")
    for path in ("/cameras", "/cameras/any", "/api/cameras", "/api/zone-schema"):
        assert page.goto(url + path).status == 403, path
    page.goto(url + "/")
    assert "点位" not in page.text_content("header nav")


def test_exclude_this_spot_from_the_review_page(tmp_path: Path, page) -> None:
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path)
        seed(sessions, cfg.evidence_root, 2)
        with sessions.begin() as s:
            save_camera(s, CameraFields(id="cam-1", source="rtsp://10.0.0.1/1"), "admin", utcnow(), create=True)
        with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
            login(page, server.url, "admin", "/")
            page.wait_for_selector("#list li")
            assert page.text_content("#f-id") == "clue-001"  # camera cam-1
            page.goto(server.url + page.get_attribute("#link-mask", "href"))
            page.wait_for_selector("body[data-ready='1']")
            assert page.text_content("#items li.on") == "屏蔽区 排除：配电箱旁（4 点）"
            page.keyboard.press("Control+s")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 1')")
            page.goto(server.url + "/")
            page.wait_for_selector("#list li")
            page.goto(server.url + page.get_attribute("#link-zone", "href"))
            page.wait_for_selector("body[data-ready='1']")
            assert page.input_value("#item-form select[name=category]") == "0102"  # the clue's category
            assert page.input_value("#item-form input[name=labels]") == "suitcase"
            page.keyboard.press("Control+s")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 2')")
            page.screenshot(path=str(ARTIFACTS / "05-from-clue.png"))


def test_editor_shows_what_a_rule_would_catch(site, page) -> None:
    url, tokens = site
    login(page, url, "admin", "/cameras")
    page.fill("input[name=id]", "street-1")
    page.fill("input[name=source]", "rtsp://10.1.1.2/ch1")
    page.click("#save-camera")
    page.wait_for_url(f"{url}/cameras/street-1")
    boxes = [
        {"label": "suitcase", "score": 0.6, "box": [0.25, 0.6, 0.35, 0.8], "zones": []},  # bottom centre (0.3, 0.8)
        {"label": "suitcase", "score": 0.6, "box": [0.65, 0.6, 0.75, 0.8], "zones": []},  # (0.7, 0.8): outside
        {"label": "person", "score": 0.9, "box": [0.2, 0.3, 0.3, 0.85], "zones": []},  # inside, another label
    ]
    r = httpx.post(
        url + "/api/worker/cameras",
        json={"sightings": {"street-1": [{"ts": time.time() - 60, "boxes": boxes}]}},
        headers={"Authorization": f"Bearer {tokens['worker']}"},
    )
    assert r.status_code == 200, r.text
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#sighting-info") == "近一小时 1 帧的检测框：当时计入区域 0 个"
    act = Actions(page)
    act.key("n")
    for fx, fy in [(0.05, 0.6), (0.5, 0.6), (0.5, 0.95), (0.05, 0.95)]:
        act.click_at(fx, fy)
    act.key("Enter")
    page.click("#item-form button:has-text('添加规则')")
    page.select_option("#item-form select[name=category]", "0507")
    page.fill("#item-form input[name=labels]", "suitcase")
    page.press("#item-form input[name=labels]", "Tab")
    page.wait_for_function("document.getElementById('sighting-info').textContent.endsWith('本区域会计入 1 个')")
    page.fill("#item-form input[name=exclude_labels]", "person")  # the person's box covers the bag
    page.press("#item-form input[name=exclude_labels]", "Tab")
    page.wait_for_function("document.getElementById('sighting-info').textContent.endsWith('本区域会计入 0 个')")
    page.fill("#item-form input[name=exclude_overlap]", "0.9")  # it covers 50 % of the bag: not enough now
    page.press("#item-form input[name=exclude_overlap]", "Tab")
    page.wait_for_function("document.getElementById('sighting-info').textContent.endsWith('本区域会计入 1 个')")
    page.fill("#item-form input[name=min_area]", "0.05")  # larger than the bag (0.02 of the frame)
    page.press("#item-form input[name=min_area]", "Tab")
    page.wait_for_function("document.getElementById('sighting-info').textContent.endsWith('本区域会计入 0 个')")
    page.screenshot(path=str(ARTIFACTS / "06-would-catch.png"))
    # Each PTZ preset has its own zone set: preset 2 starts empty, the zone above stays with no preset.
    page.keyboard.press("Control+s")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 1')")
    page.fill("#preset", "2")
    page.press("#preset", "Enter")
    page.wait_for_url(f"{url}/cameras/street-1?preset=2")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#items li").count() == 0 and page.input_value("#preset") == "2"
    page.goto(f"{url}/cameras/street-1")
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#items li") == "区域 区域1（4 点）"
