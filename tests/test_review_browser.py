"""The review UI in real headless Chromium (Debian's package, driven by Playwright; no browser download).

Log in, clear a queue with the keyboard only (accept, reject by number, undo, zoom), reject one as
固定设施, then see the stats page count the decisions. Screenshots go to artifacts/review/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from review_support import (
    CHROMIUM,
    LiveServer,
    add_users,
    chromium_page,
    database,
    make_event,
    remaining,
    review_config,
    seed,
    write_evidence,
)
from sqlalchemy import select

from xuncha.clues.broker import BadMessage, Topology
from xuncha.clues.evidence import EvidenceStore
from xuncha.clues.limits import MAX_MESSAGE_BYTES
from xuncha.db.clues import Decision, FixtureRow
from xuncha.review import deadletter
from xuncha.review.app import create_app
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "review"

sync_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def site(tmp_path: Path):
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path)
        seed(sessions, cfg.evidence_root, 6)
        with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
            yield server.url, sessions


@pytest.fixture
def page():
    with chromium_page(ARTIFACTS) as pg:
        yield pg


def _total(page) -> int:
    return int(page.text_content("#total"))


def _press(page, key: str, expect_total: int) -> None:
    page.keyboard.press(key)
    page.wait_for_function(f"document.getElementById('total').textContent === '{expect_total}'")


def test_keyboard_review_fixture_and_stats(site, page) -> None:
    url, sessions = site
    page.goto(url + "/stats")  # anonymous: sent to the login page, and back after it
    assert "/login" in page.url
    page.wait_for_function("document.activeElement && document.activeElement.name === 'username'")
    page.keyboard.type("op1")  # the user name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("op1-pass-1")
    page.keyboard.press("Enter")
    page.wait_for_url(url + "/stats")
    assert page.text_content("#total-reviewed") == "0"

    page.goto(url + "/")
    page.wait_for_selector("#list li")
    assert _total(page) == 6
    first = page.text_content("#f-id")
    page.wait_for_function("document.getElementById('scene').naturalWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "01-queue.png"))

    _press(page, "a", 5)  # accept the first
    assert page.text_content("#f-id") != first
    fixture_clue = page.text_content("#f-id")
    fixture_camera = page.text_content("#f-camera")
    _press(page, "3", 4)  # 3 = 固定设施
    undone = page.text_content("#f-id")
    _press(page, "1", 3)  # 1 = 误报
    _press(page, "u", 4)  # undo brings it back as the current clue
    assert page.text_content("#f-id") == undone
    page.keyboard.press("z")
    page.wait_for_selector("#zoom:not([hidden])")
    page.screenshot(path=str(ARTIFACTS / "02-zoom.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#zoom", state="hidden")
    page.keyboard.press("j")  # skip one, then come back (each may load the clue asynchronously)
    page.wait_for_function(f"document.getElementById('f-id').textContent !== {undone!r}")
    page.keyboard.press("k")
    page.wait_for_function(f"document.getElementById('f-id').textContent === {undone!r}")
    _press(page, "2", 3)  # 2 = 非违规
    page.screenshot(path=str(ARTIFACTS / "03-after-decisions.png"))
    _press(page, "a", 2)
    _press(page, "a", 1)
    _press(page, "Enter", 0)  # Enter accepts too
    page.wait_for_selector("#empty:not([hidden])")
    page.screenshot(path=str(ARTIFACTS / "04-queue-empty.png"))

    with sessions() as s:
        standing = list(s.scalars(select(Decision).where(Decision.undone_at.is_(None))))
        fixture = s.scalar(select(FixtureRow))
    assert len(standing) == 6 and sum(d.accepted for d in standing) == 4
    assert sorted(d.reason_code for d in standing if not d.accepted) == ["compliant", "fixture"]
    assert fixture.clue_id == fixture_clue and fixture_camera.startswith(("江南西路口", "宝岗大道"))

    page.click("text=统计")
    page.wait_for_url(url + "/stats")
    assert page.text_content("#total-reviewed") == "6"
    assert page.text_content("#total-accepted") == "4"
    assert page.text_content("#total-rate") == "66.7%"
    assert "固定设施 1" in page.text_content(".summary")
    assert page.locator("#stat-table tbody tr").count() == 3  # three categories
    page.select_option("select[name=by]", "camera")
    page.wait_for_url("**/stats?by=camera**")
    assert page.locator("#stat-table tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "05-stats.png"), full_page=True)


MARKED = """() => {
  const figures = [...document.querySelectorAll(".evidence figure")];
  return figures.length === 3 && figures.every((f) => f.classList.contains("missing")
    && getComputedStyle(f, "::before").content === '"证据图片缺失"'
    && getComputedStyle(f.querySelector("img")).display === "none");
}"""


def test_missing_evidence_is_marked_and_the_clue_stays_reviewable(tmp_path: Path, page) -> None:
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path)
        store = EvidenceStore(cfg.evidence_root)
        lost_before, lost_after = make_event(1), make_event(2)
        write_evidence(store.root, lost_after)
        for ev in (lost_before, lost_after):
            ingest(sessions, ev, evidence_store=store)  # intake records clue-001's files as missing
        for name in ("scene", "crop", "start"):  # clue-002's files disappear after intake (a lost volume)
            store.resolve(lost_after.evidence.model_dump()[name]["path"]).unlink()
        with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
            page.goto(server.url + "/login")
            page.fill("input[name=username]", "op1")
            page.fill("input[name=password]", "op1-pass-1")
            page.press("input[name=password]", "Enter")
            page.wait_for_selector("#list li")
            for clue_id in ("clue-001", "clue-002"):
                page.wait_for_function(f"document.getElementById('f-id').textContent === {clue_id!r}")
                page.wait_for_function(MARKED)  # three marks in place of the pictures, no broken image
                page.screenshot(path=str(ARTIFACTS / f"06-missing-evidence-{clue_id}.png"))
                _press(page, "a", 1 if clue_id == "clue-001" else 0)  # still reviewable: accepted
        with sessions() as s:
            assert len(list(s.scalars(select(Decision)))) == 2


def test_text_clue_shows_words_and_numbers_and_phone_search_filters(site, page) -> None:
    url, sessions = site
    from review_support import make_event

    from xuncha.review.intake import ingest

    for i, cam in ((7, "cam-a"), (8, "cam-b")):
        ev = make_event(i, camera=cam, evidence=False)
        ingest(sessions, ev.model_copy(update={"text": "专业开锁 13812345678", "phone_numbers": ["13812345678"]}))
    page.goto(url + "/login")
    page.fill("input[name=username]", "op1")
    page.fill("input[name=password]", "op1-pass-1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#list li")
    assert _total(page) == 8
    page.fill("#phone", "1381234")
    page.wait_for_function("document.getElementById('total').textContent === '2'")
    assert page.text_content("#f-text") == "专业开锁 13812345678"
    assert page.text_content("#f-phones") == "13812345678（2 个摄像头、2 条线索）"
    page.screenshot(path=str(ARTIFACTS / "text-clue.png"))


def test_admin_sees_inspects_requeues_and_drops_dead_letters(tmp_path: Path, page) -> None:
    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path)
        script = b'{"x": "<img src=x onerror=\\"document.title=\'pwned\'\\">", "bad": \xff}'
        big = b"A" * (MAX_MESSAGE_BYTES + 10)
        for body, reason in ((big, "too large"), (script, "invalid message: not JSON")):
            deadletter.record(sessions, BadMessage("xuncha.clues.review", reason, body, f"m-{len(body)}", "clue.x"))
        with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
            page.goto(server.url + "/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "admin-pass-1")
            page.press("input[name=password]", "Enter")
            page.wait_for_url(server.url + "/")
            page.click("text=死信")
            page.wait_for_url(server.url + "/dead-letters")
            assert page.text_content("#dl-total") == "2"
            rows = page.locator("#dead-letters tbody tr")
            assert rows.count() == 2 and "仅存开头" in rows.nth(1).text_content()
            assert rows.nth(1).locator("button.requeue").count() == 0  # only a prefix kept: cannot requeue
            rows.nth(0).locator("summary").click()
            assert "\\xff" in rows.nth(0).locator("pre.body").text_content()  # shown escaped, never run
            assert page.title() != "pwned"
            page.screenshot(path=str(ARTIFACTS / "07-dead-letters.png"), full_page=True)
            rows.nth(0).locator("button.requeue").click()
            page.wait_for_function("document.getElementById('dl-total').textContent === '1'")
            page.once("dialog", lambda d: d.accept())
            rows.nth(0).locator("button.drop").click()
            page.wait_for_function("document.getElementById('dl-total').textContent === '0'")
        with sessions() as s:
            assert deadletter.count(s) == 0
        assert remaining(cfg.kombu_url, Topology()) == [script]  # back on the clue queue, byte for byte
