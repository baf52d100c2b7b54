"""框选更正 / 分类更正 in real headless Chromium: drag a box on the scene picture, pick a category, save,
file the clue, and `export-dataset` labels it with that box and category. Screenshots go to artifacts/review/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from review_support import (
    CHROMIUM,
    RUN,
    LiveServer,
    add_users,
    chromium_page,
    database,
    make_event,
    review_config,
    write_evidence,
)

from xuncha.review.app import create_app
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "review"

sync_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def site(tmp_path: Path):
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path)
        for i in (1, 2):
            ev = make_event(i)  # 0507 乱堆物堆料, box (72, 48, 144, 144) of a 720x480 frame
            write_evidence(cfg.evidence_root, ev)
            ingest(sessions, ev)
        with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
            yield server.url, tmp_path


def _text(page, selector: str) -> str:
    return page.text_content(selector) or ""


def test_drag_a_box_pick_a_category_file_and_export(site) -> None:
    url, data_dir = site
    with chromium_page(ARTIFACTS) as page:
        page.goto(url + "/login?next=/")
        page.fill("input[name=username]", "op1")
        page.fill("input[name=password]", "op1-pass-1")
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        page.wait_for_function("document.getElementById('f-id').textContent === 'clue-001'")
        page.wait_for_function("document.getElementById('scene').naturalWidth > 0")
        page.wait_for_function("document.getElementById('fix-status').textContent === '未更正'")

        page.click("#btn-draw")
        r = page.locator("#scene").bounding_box()
        page.mouse.move(r["x"] + 0.2 * r["width"], r["y"] + 0.3 * r["height"])
        page.mouse.down()
        page.mouse.move(r["x"] + 0.45 * r["width"], r["y"] + 0.6 * r["height"], steps=5)
        page.mouse.move(r["x"] + 0.6 * r["width"], r["y"] + 0.8 * r["height"], steps=5)
        page.mouse.up()
        assert page.is_visible("#fix-box") and page.is_hidden("#zoom")  # drawing, not zooming
        page.select_option("#fix-category", "0102")
        page.screenshot(path=str(ARTIFACTS / "11-correction-drawn.png"))
        page.click("#btn-fix-save")
        page.wait_for_function("document.getElementById('fix-status').textContent.startsWith('已更正')")
        status = _text(page, "#fix-status")
        assert "类别 0102 暴露垃圾" in status and "目标框已重画" in status and "op1" in status
        assert page.input_value("#category") == "0102"  # 立案 files the corrected category
        page.screenshot(path=str(ARTIFACTS / "12-correction-saved.png"))
        page.click("#btn-accept")
        page.wait_for_function("document.getElementById('f-id').textContent === 'clue-002'")

        # A category-only correction of a pending clue is shown again after a reload.
        page.wait_for_function("document.getElementById('fix-status').textContent === '未更正'")
        assert page.is_hidden("#fix-box")
        page.select_option("#fix-category", "0508")
        page.click("#btn-fix-save")
        page.wait_for_function("document.getElementById('fix-status').textContent.startsWith('已更正')")
        page.reload()
        page.wait_for_function("document.getElementById('fix-status').textContent.startsWith('已更正')")
        assert "类别 0508 占道经营" in _text(page, "#fix-status") and "目标框" not in _text(page, "#fix-status")
        assert page.input_value("#fix-category") == "0508" and page.is_hidden("#fix-box")

    config = data_dir / "export.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data_dir), "cookie_secure": False}), encoding="utf-8")
    out = data_dir / "ds"
    cmd = [sys.executable, "-c", RUN, "review", "--config", str(config), "export-dataset", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))["names"] == {0: "0102"}
    (label,) = out.glob("labels/*/clue-001.txt")
    cls, *box = (float(v) for v in label.read_text(encoding="utf-8").split())
    assert cls == 0 and box == pytest.approx([0.4, 0.55, 0.4, 0.5], abs=0.005)  # not the worker's 0.15 0.2 0.1 0.2
    (rec,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rec["clue_id"] == "clue-001" and rec["category"] == "0102" and rec["class"] == 0
    fix = rec["correction"]
    assert fix["category"] == {"original": "0507", "corrected": "0102"} and fix["by"] == "op1"
    assert fix["box_norm"]["original"] == [0.15, 0.2, 0.1, 0.2]
    assert fix["box_norm"]["corrected"] == pytest.approx([0.4, 0.55, 0.4, 0.5], abs=0.005)
