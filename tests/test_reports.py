"""Leaders' reports on a seeded month of cases: SQL aggregates against totals counted here in Python,
the pages, the xlsx (opened with openpyxl), escalation on cases, and the pages in headless Chromium."""

from __future__ import annotations

import io
import os
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient
from review_support import CHROMIUM, CHROMIUM_ARGS, Clock, LiveServer, add_users, database, login, review_config

from xuncha.bench.cases import generate, seed
from xuncha.reports.query import Period, escalations, filing_rates, hotspots, place_counts, ranking
from xuncha.review.app import create_app
from xuncha.review.config import DispatchSettings
from xuncha.taxonomy import load_taxonomy

TZ = ZoneInfo("Asia/Shanghai")
MAY = datetime(2026, 5, 1, tzinfo=TZ)
DAY = date(2026, 5, 12)  # a Tuesday
THRESHOLDS = {"交办": 3, "督办": 4, "重点督办": 5}


def local(t: datetime | None) -> date | None:
    return t.astimezone(TZ).date() if t else None


@pytest.fixture(scope="module")
def records():
    return generate(2500, MAY, days=31, seed=11)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path, records):
    with database(request.param, tmp_path) as (_url, sessions):
        seed(sessions, records)
        yield sessions


def expected_ranking(records, days: set[date], before: set[date]) -> dict[str | None, tuple[int, ...]]:
    out: dict[str | None, list[int]] = {}
    for r in records:
        row = out.setdefault(r.region_code, [0] * 7)
        if r.accepted and local(r.decided_at) in days:
            row[0] += 1
        if r.accepted and local(r.decided_at) in before:
            row[1] += 1
        if local(r.closed_at) in days:
            row[2] += 1
            row[3] += r.closed_at <= r.deadline
        if local(r.result_at) in days:
            row[4] += r.verdict == "rectified" or r.overruled
            row[5] += r.verdict == "not_rectified" and not r.overruled
            row[6] += r.verdict == "unverifiable"
    return {k: tuple(v) for k, v in out.items() if any(v)}


def test_daily_and_weekly_numbers_match_an_independent_count(db, records) -> None:
    with db() as s:
        got = ranking(s, Period.day(DAY, TZ))
        want = expected_ranking(records, {DAY}, {DAY - timedelta(days=1)})
        assert {
            (r.code or None): (
                r.filed, r.filed_before, r.closed, r.closed_on_time, r.recheck_passed, r.recheck_failed,
                r.recheck_unverifiable,
            )
            for r in got.rows
        } == want  # fmt: skip
        assert [r.filed for r in got.rows] == sorted((r.filed for r in got.rows), reverse=True)
        assert got.total.filed == sum(v[0] for v in want.values()) > 0

        week = Period.week(DAY, TZ)
        days = {week.first + timedelta(days=i) for i in range(7)}
        cases = [r for r in records if r.accepted and local(r.decided_at) in days]
        places = Counter((r.camera_id, r.zone_id) for r in cases)
        counts = place_counts(s, week)
        hot = hotspots(s, week, counts, top=5)
        assert [h.cases for h in hot.places] == sorted(places.values(), reverse=True)[:5]
        for h in hot.places:
            assert places[(h.camera_id, h.zone_id)] == h.cases
            assert h.by_category == Counter(
                r.category for r in cases if (r.camera_id, r.zone_id) == (h.camera_id, h.zone_id)
            )
        assert hot.places[0].scene is not None and hot.places[4].scene is None  # pictures of the 3 worst only
        assert dict(hot.by_category) == Counter(r.category for r in cases)
        assert hot.by_hour == [sum(1 for r in cases if r.decided_at.astimezone(TZ).hour == h) for h in range(24)]

        groups = Counter((r.camera_id, r.zone_id, r.category) for r in cases)
        esc = escalations(counts, THRESHOLDS)
        assert sorted(e.cases for e in esc) == sorted(n for n in groups.values() if n >= 3)
        for e in esc:
            assert e.level == ("重点督办" if e.cases >= 5 else "督办" if e.cases >= 4 else "交办")

        rates = {r.key: r for r in filing_rates(s, week, "category")}
        before = {week.first - timedelta(days=i) for i in range(1, 8)}
        for code in {r.category for r in records}:
            now = [r for r in records if r.category == code and local(r.decided_at) in days]
            old = [r for r in records if r.category == code and local(r.decided_at) in before]
            row = rates[code]
            assert (row.reviewed, row.accepted) == (len(now), sum(r.accepted for r in now))
            assert (row.reviewed_before, row.accepted_before) == (len(old), sum(r.accepted for r in old))
        by_camera = filing_rates(s, week, "camera")
        assert sum(r.reviewed for r in by_camera) == sum(1 for r in records if local(r.decided_at) in days)


def test_report_pages_and_xlsx_downloads(tmp_path: Path, records) -> None:
    with database("sqlite", tmp_path) as (_url, sessions):
        seed(sessions, records)
        add_users(sessions)
        cfg = review_config(tmp_path, dispatch=DispatchSettings(escalation=THRESHOLDS))
        app = create_app(cfg, load_taxonomy(), sessions, clock=Clock(datetime(2026, 5, 13, 9, tzinfo=TZ)))
        with TestClient(app, base_url="https://testserver") as client:
            login(client, "op1")
            want = expected_ranking(records, {DAY}, {DAY - timedelta(days=1)})
            page = client.get("/reports/daily")  # default: yesterday
            assert page.status_code == 200, page.text[:500]
            assert "镇街排名（2026-05-12）" in page.text and "<svg" in page.text
            assert f'id="total-filed">{sum(v[0] for v in want.values())}<' in page.text
            book = openpyxl.load_workbook(
                io.BytesIO(client.get("/reports/daily.xlsx", params={"date": "2026-05-12"}).content)
            )
            ws = book["镇街排名"]
            rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
            assert rows[-1][0] == "合计" and rows[-1][1] == sum(v[0] for v in want.values())
            assert rows[-1][4] == sum(v[2] for v in want.values()) and rows[-1][7] == sum(v[4] for v in want.values())
            assert sorted(r[1] for r in rows[:-1]) == sorted(v[0] for v in want.values())
            assert ws.cell(2, 7).number_format == "0.0%" and len(ws._charts) == 1

            weekly = client.get("/reports/weekly", params={"date": "2026-05-12"})
            assert weekly.status_code == 200 and "热点点位（2026-05-11 至 2026-05-17）" in weekly.text
            assert "重点督办" in weekly.text or "督办" in weekly.text
            book = openpyxl.load_workbook(
                io.BytesIO(client.get("/reports/weekly.xlsx", params={"date": "2026-05-12"}).content)
            )
            assert book.sheetnames == ["热点点位", "按类别", "按时段", "督办", "立案率-类别", "立案率-摄像头"]
            week = Period.week(DAY, TZ)
            days = {week.first + timedelta(days=i) for i in range(7)}
            cases = [r for r in records if r.accepted and local(r.decided_at) in days]
            assert sum(row[1].value for row in book["按时段"].iter_rows(min_row=2)) == len(cases)
            assert {row[0].value.split()[0]: row[1].value for row in book["按类别"].iter_rows(min_row=2)} == Counter(
                r.category for r in cases
            )
            assert all(len(book[name]._charts) == 1 for name in ("热点点位", "按类别", "按时段", "立案率-类别"))
            assert client.get("/reports/daily", params={"date": "12/05"}).status_code == 422


def test_repeats_at_a_place_escalate_the_next_case(tmp_path: Path) -> None:
    from review_support import make_event, write_evidence

    from xuncha.review.intake import ingest

    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        cfg = review_config(tmp_path, dispatch=DispatchSettings(escalation={"交办": 2, "督办": 3}))
        app = create_app(cfg, load_taxonomy(), sessions)
        for i in (2, 4, 6):  # same camera (cam-0), zone and category
            ev = make_event(i)
            write_evidence(cfg.evidence_root, ev)
            ingest(sessions, ev)
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "op1")
            for i in (2, 4, 6):
                assert client.post(f"/api/clues/clue-{i:03d}/accept").status_code == 200
            from xuncha.db.cases import Case

            with sessions() as s:
                levels = [s.get(Case, f"case-clue-{i:03d}") for i in (2, 4, 6)]
                assert [(c.escalation, c.payload["escalation"]) for c in levels] == [
                    (None, None), ("交办", "交办"), ("督办", "督办")
                ]  # fmt: skip
            assert "督办" in client.get("/cases").text


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing")
def test_report_pages_in_chromium(tmp_path: Path, records) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with database("sqlite", tmp_path) as (_url, sessions):
        seed(sessions, records)
        add_users(sessions)
        cfg = review_config(tmp_path)
        with sessions() as s:  # real scene pictures for the worst places
            from sqlalchemy import select

            from xuncha.db.clues import Clue

            for clue in s.scalars(select(Clue).where(Clue.status == "accepted")):
                path = Path(clue.evidence["scene"]["path"])
                target = cfg.evidence_root / path
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(target), np.full((120, 160, 3), 80, np.uint8))
        app = create_app(cfg, load_taxonomy(), sessions, clock=Clock(datetime(2026, 5, 13, 9, tzinfo=TZ)))
        with LiveServer(app) as server, sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(locale="zh-CN", timezone_id="Asia/Shanghai")
                page.set_default_timeout(10_000)
                page.goto(server.url + "/reports/daily")
                page.fill("input[name=username]", "op1")
                page.fill("input[name=password]", "op1-pass-1")
                page.click("button[type=submit]")
                page.wait_for_selector("#ranking")
                want = expected_ranking(records, {DAY}, {DAY - timedelta(days=1)})
                assert page.inner_text("#total-filed") == str(sum(v[0] for v in want.values()))
                assert page.locator("#ranking tbody tr").count() == len(want)
                assert page.locator("svg.chart rect.bar").count() == len(want)
                page.fill("input[name=date]", "2026-05-10")
                page.select_option("select[name=period]", "week")
                page.click("form.stat-controls button[type=submit]")
                page.wait_for_url("**/reports/daily?date=2026-05-10&period=week")
                assert "2026-05-04 至 2026-05-10" in page.inner_text("h2")
                with page.expect_download() as dl:
                    page.click("#xlsx")
                assert dl.value.suggested_filename == "ribao-2026-05-04-week.xlsx"
                book = openpyxl.load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
                assert book["镇街排名"].cell(1, 1).value == "镇街"
                page.click("text=周报")
                page.wait_for_selector("#hotspots")
                assert page.locator("#hotspots tbody tr").count() == 10
                assert page.locator(".scenes img").count() == 3
                assert all(
                    page.evaluate("(img) => img.naturalWidth", img.element_handle()) > 0
                    for img in page.locator(".scenes img").all()
                )
                assert page.locator("#escalations tbody tr").count() >= 1
                assert page.locator("svg.chart").count() == 4
            finally:
                browser.close()
