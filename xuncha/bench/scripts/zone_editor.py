"""The admin's path in the zone editor, in headless Chromium with a running worker: actions and seconds.

For each run a camera is registered (before the clock starts), the editor is opened on the picture
the worker sent, and a zone is drawn with the mouse and saved; the clock stops when the worker has
fetched the new version and restarted the camera with it. Two paths, measured in the same run:

- scene preset: N, four clicks, a click on the first point, the scene (乱堆物堆料), Ctrl+S;
- the same rules without the preset, through the rule form (category, labels, excluded labels,
  score, size range, anchor): the baseline an editor without presets needs.

Actions are clicks, keys and form fields. Scripted time is system latency (page, service, worker
poll every 5 s), not an admin's thinking time.

    .venv/bin/xuncha bench zone-editor [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from review_support import CHROMIUM, CHROMIUM_ARGS, LiveServer, add_users, database, review_config  # noqa: E402
from test_service_cameras import start_worker, stop  # noqa: E402
from test_worker_live import free_port, get, wait_for  # noqa: E402

from xuncha.db.base import utcnow  # noqa: E402
from xuncha.review.app import create_app  # noqa: E402
from xuncha.review.cameras import CameraFields, save_camera  # noqa: E402
from xuncha.taxonomy import load_taxonomy  # noqa: E402

VIDEO = Path(__file__).resolve().parents[4] / "shared" / "data" / "footage" / "indoor_people_standing.mp4"
POLYGON = [(0.1, 0.5), (0.9, 0.5), (0.9, 0.95), (0.1, 0.95)]


class Admin:
    def __init__(self, page: Page) -> None:
        self.page, self.actions = page, 0

    def click(self, fx: float, fy: float) -> None:
        box = self.page.locator("#canvas").bounding_box()
        self.page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        self.actions += 1

    def key(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.actions += 1

    def select(self, name: str, value: str) -> None:
        self.page.select_option(f"#item-form select[name={name}]", value)
        self.actions += 1

    def fill(self, name: str, value: str) -> None:
        self.page.fill(f"#item-form input[name={name}]", value)
        self.page.press(f"#item-form input[name={name}]", "Tab")  # the change event; same form field
        self.actions += 1


def _serving(port: int) -> bool:
    try:
        return get(f"http://127.0.0.1:{port}/health")[0] == 200
    except OSError:
        return False


def draw(admin: Admin) -> None:
    admin.key("n")
    for fx, fy in POLYGON:
        admin.click(fx, fy)
    admin.click(*POLYGON[0])


def with_scene(admin: Admin) -> None:
    draw(admin)
    admin.select("scene", "piled_materials")
    admin.key("Control+s")


def with_rule_form(admin: Admin) -> None:
    draw(admin)
    admin.page.click("#item-form button:has-text('添加规则')")
    admin.actions += 1
    admin.select("category", "0507")
    admin.select("labels-pick", "static_object")
    admin.fill("exclude_labels", "person, bicycle, motorcycle, car, truck, bus")
    admin.fill("min_score", "0.3")
    admin.fill("min_area", "0.001")
    admin.fill("max_area", "0.2")
    admin.select("anchor", "overlap")
    admin.key("Control+s")


def run_path(page: Page, url: str, var: Path, log: Path, camera: str, path) -> tuple[int, float, float]:  # noqa: ANN001
    page.goto(f"{url}/cameras/{camera}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("document.getElementById('ref-info').textContent.startsWith('画面时间')", timeout=60_000)
    started = log.read_text().count(f"camera {camera}: started")
    admin = Admin(page)
    t0 = time.perf_counter()
    path(admin)
    page.wait_for_function("document.getElementById('status').textContent.startsWith('已保存为版本 1')")
    saved = time.perf_counter() - t0

    def applied() -> bool:
        cams = {c["id"]: c for c in json.loads((var / "service_cameras.json").read_text())["cameras"]}
        return bool(cams.get(camera, {}).get("zones", {}).get("zones")) and (
            log.read_text().count(f"camera {camera}: started") > started
        )

    wait_for(applied, timeout=60, every=0.1)
    return admin.actions, saved, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not VIDEO.exists():
        print(f"{VIDEO} missing", file=sys.stderr)
        return 2
    taxonomy = load_taxonomy()
    results: dict[str, list[tuple[int, float, float]]] = {"scene preset": [], "rule form (baseline)": []}
    with tempfile.TemporaryDirectory() as tmp, database("sqlite", Path(tmp)) as (_url, sessions):
        tmp_path = Path(tmp)
        token = add_users(sessions)["worker"]
        with sessions.begin() as s:
            for i in range(args.runs * 2):
                fields = CameraFields(id=f"cam-{i}", source=str(VIDEO), sample_interval_s=1)
                save_camera(s, fields, "admin", utcnow(), create=True)
        with LiveServer(create_app(review_config(tmp_path), taxonomy, sessions)) as server:
            port = free_port()
            worker, log = start_worker(tmp_path, "bench", server.url, token, port)
            try:
                wait_for(lambda: _serving(port), timeout=60)
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
                    page.goto(f"{server.url}/login?next=/cameras")
                    page.fill("input[name=username]", "admin")
                    page.fill("input[name=password]", "admin-pass-1")
                    page.press("input[name=password]", "Enter")
                    page.wait_for_url(f"{server.url}/cameras")
                    for i in range(args.runs):
                        for j, (name, path) in enumerate(
                            [("scene preset", with_scene), ("rule form (baseline)", with_rule_form)]
                        ):
                            camera = f"cam-{2 * i + j}"
                            results[name].append(run_path(page, server.url, tmp_path / "var", log, camera, path))
                    browser.close()
            finally:
                stop(worker)
    print(f"{'path':<22} {'actions':>7} {'saved s (median)':>17} {'applied by worker s (median)':>29}")
    for name, rows in results.items():
        actions = {a for a, _, _ in rows}
        saved = statistics.median(s for _, s, _ in rows)
        applied = statistics.median(a for _, _, a in rows)
        print(f"{name:<22} {'/'.join(map(str, sorted(actions))):>7} {saved:>17.2f} {applied:>29.2f}")
    base, preset = results["rule form (baseline)"][0][0], results["scene preset"][0][0]
    print(f"actions: {preset} with the preset vs {base} without ({base / preset:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
