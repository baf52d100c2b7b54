"""Issue 11, web half, against PostgreSQL and the service under uvicorn: login throttling, formula-safe
exports, request body and field limits, normalised user names (and the throttled login in Chromium)."""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import time
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from review_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    add_users,
    database,
    make_event,
    review_config,
    write_evidence,
)
from sqlalchemy import select

from xuncha.clues.contracts import CameraRef, ZoneRef
from xuncha.db.clues import Decision
from xuncha.db.users import User
from xuncha.review.app import create_app
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

pytestmark = pytest.mark.postgres
HYPERLINK = '=HYPERLINK("http://x","ok")'


@pytest.fixture
def site(tmp_path: Path):
    with database("postgresql", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        cfg = review_config(tmp_path).model_copy(update={"cookie_secure": False})
        with LiveServer(create_app(cfg, load_taxonomy(), sessions)) as server:
            yield server.url, sessions, tokens


def _client(url: str, address: str = "127.0.0.1") -> httpx.Client:
    """A client whose requests come from `address` (any 127.x address is this machine)."""
    return httpx.Client(
        base_url=url, transport=httpx.HTTPTransport(local_address=address), timeout=10, follow_redirects=True
    )


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/login", data={"username": username, "password": password, "next": "/"})


def _csrf(client: httpx.Client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def _metric(client: httpx.Client, token: str, name: str) -> float:
    text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))


def test_wrong_passwords_are_throttled_per_account_and_address(site) -> None:
    url, _sessions, tokens = site
    with _client(url, "127.0.0.1") as attacker, _client(url, "127.0.0.2") as office, _client(url, "127.0.0.3") as scan:
        answers = [_login(attacker, "admin", f"guess-{i}") for i in range(50)]
        assert [r.status_code for r in answers[:5]] == [200] * 5
        assert all("用户名或密码错误" in r.text for r in answers[:5])
        throttled = answers[5:]
        assert {r.status_code for r in throttled} == {429}
        assert all("登录失败次数过多，请 15 分钟后再试" in r.text for r in throttled)
        assert 890 <= int(throttled[-1].headers["Retry-After"]) <= 901
        # The right password does not help while the account waits, under any spelling of the name.
        assert _login(attacker, "admin", "admin-pass-1").status_code == 429
        assert _login(office, " ADMIN", "admin-pass-1").status_code == 429
        # Another account from another address logs in.
        ok = _login(office, "op1", "op1-pass-1")
        assert ok.status_code == 200 and str(ok.url) == url + "/" and "xuncha_session" in office.cookies
        # One address trying many accounts waits too (30 failures), whatever the next name.
        answers = [_login(scan, f"user{i}", "wrong-password") for i in range(31)]
        assert [r.status_code for r in answers] == [200] * 30 + [429]
        assert _login(scan, "op2", "op2-pass-1").status_code == 429
        assert _metric(office, tokens["dispatch"], "xuncha_review_login_failures_total") == 35
        assert _metric(office, tokens["dispatch"], "xuncha_review_login_throttled_total") == 49


def test_a_good_login_clears_the_account_count(site) -> None:
    url, *_ = site
    with _client(url) as c:
        for _ in range(2):
            for i in range(4):
                assert _login(c, "op1", f"wrong-{i}").status_code == 200
            assert _login(c, "op1", "op1-pass-1").status_code == 200 and "xuncha_session" in c.cookies
            c.cookies.clear()


def test_exports_escape_formulas(site, tmp_path: Path) -> None:
    url, sessions, _t = site
    events = []
    for i, (camera, zone) in enumerate([(HYPERLINK, "+1"), ("@SUM(1)", "\t-2"), ("-3号杆", "正常")], start=1):
        ev = make_event(i)
        ev = ev.model_copy(update={"camera": CameraRef(id=f"cam-{i}", name=camera), "zone": ZoneRef(id="z", name=zone)})
        write_evidence(tmp_path / "evidence", ev)
        ingest(sessions, ev)
        events.append(ev)
    with _client(url) as c:
        _login(c, "op1", "op1-pass-1")
        c.headers["X-CSRF-Token"] = _csrf(c)
        for ev in events:
            assert c.post(f"/api/clues/{ev.clue_id}/accept").status_code == 200
        with sessions() as s:
            assert len(list(s.scalars(select(Decision)))) == 3
        for by in ("camera", "zone"):
            book = load_workbook(io.BytesIO(c.get(f"/stats.xlsx?by={by}").content))
            cells = [cell for row in book.active.iter_rows() for cell in row]
            assert len(cells) == 4 * 6
            assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
            texts = [cell.value for cell in cells if isinstance(cell.value, str)]
            assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r"))], texts
            rows = list(csv.reader(io.StringIO(c.get(f"/stats.csv?by={by}").text.lstrip("\ufeff"))))
            assert len(rows) == 4
            assert not [v for row in rows for v in row if v.startswith(("=", "+", "-", "@", "\t", "\r"))], rows
        labels = {row[1] for row in rows[1:]}  # by zone: "camera / zone", the camera first
        assert "'" + HYPERLINK + " / +1" in labels
        book = load_workbook(io.BytesIO(c.get("/stats.xlsx?by=camera").content))
        assert "'" + HYPERLINK in [row[1].value for row in book.active.iter_rows()]


def _raw_post(url: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, float]:
    """POST over a plain socket (announcing what `headers` say): status, body of the answer, seconds taken."""
    host, port = url.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after a 413
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1].decode(), time.monotonic() - start


def test_oversized_bodies_are_refused_before_they_are_read(site) -> None:
    url, sessions, tokens = site
    ingest(sessions, make_event(1))
    bearer = {"Authorization": f"Bearer {tokens['dispatch']}", "Content-Type": "application/json"}
    # 20 MB announced, 10 bytes sent: answered at once, nothing waits for the rest.
    status, body, took = _raw_post(url, "/api/clues/clue-001/reject", {**bearer, "Content-Length": "20000000"}, b"{}")
    assert status == 413 and "请求内容过大（上限 1 MB）" in body and took < 2
    # A chunked body (no length announced) is cut off at the limit.
    with _client(url) as c:
        _login(c, "op1", "op1-pass-1")
        c.headers["X-CSRF-Token"] = _csrf(c)

        def chunks():
            yield b'{"reason": "other", "text": "'
            for _ in range(40):
                yield b"x" * 65536
            yield b'"}'

        r = c.post("/api/clues/clue-001/reject", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "上限 1 MB" in r.json()["detail"]
        # Under the body limit, fields have their own, with a Chinese message naming the field.
        r = c.post("/api/clues/clue-001/reject", json={"reason": "other", "text": "说" * 2001})
        assert r.status_code == 422 and r.json()["detail"] == "text：最多 2000 个字符"
        assert c.post("/api/clues/clue-001/reject", json={"reason": "other", "text": "误报"}).status_code == 200
        admin = _client(url)
        _login(admin, "admin", "admin-pass-1")
        admin.headers["X-CSRF-Token"] = _csrf(admin)
        r = admin.post("/api/users", json={"username": "op9", "password": "p" * 1025, "role": "operator"})
        assert r.status_code == 422 and "password：最多 1024 个字符" in r.json()["detail"]
        admin.close()
    with sessions() as s:
        texts = [d.reason_text for d in s.scalars(select(Decision))]
        assert texts == ["误报"] and s.scalar(select(User).where(User.username == "op9")) is None


@pytest.mark.parametrize("name", ["admin ", "ADMIN", " Admin", "ａｄｍｉｎ", "ＡＤＭＩＮ"])
def test_look_alike_user_names_are_refused(site, name: str) -> None:
    url, sessions, _t = site
    with _client(url) as admin:
        _login(admin, "admin", "admin-pass-1")
        admin.headers["X-CSRF-Token"] = _csrf(admin)
        r = admin.post("/api/users", json={"username": name, "password": "another-pass-1", "role": "admin"})
        assert r.status_code == 422 and "用户 'admin' 已存在" in r.json()["detail"]
    with _client(url, "127.0.0.2") as c:  # the same account, whatever the spelling at login
        r = _login(c, name, "admin-pass-1")
        assert r.status_code == 200 and "xuncha_session" in c.cookies and c.get("/admin").status_code == 200
    with sessions() as s:
        assert [u.username for u in s.scalars(select(User).where(User.role == "admin"))] == ["admin"]


def test_user_names_are_stored_normalised_and_other_scripts_refused(site) -> None:
    url, sessions, _t = site
    with _client(url) as admin:
        _login(admin, "admin", "admin-pass-1")
        admin.headers["X-CSRF-Token"] = _csrf(admin)
        r = admin.post("/api/users", json={"username": " Wang.Li ", "password": "wang-pass-1", "role": "operator"})
        assert r.status_code == 201 and r.json()["username"] == "wang.li"
        r = admin.post("/api/users", json={"username": "张三", "password": "zhang-pass-1", "role": "operator"})
        assert r.status_code == 201
        for bad in ("аdmin", "ad min", "op\u200b1", ""):  # Cyrillic а, a space inside, a zero-width space
            r = admin.post("/api/users", json={"username": bad, "password": "some-pass-1", "role": "operator"})
            assert r.status_code == 422 and "用户名" in r.json()["detail"], bad
        r = admin.post("/api/users", json={"username": "blank", "password": " " * 8, "role": "operator"})
        assert r.status_code == 422 and "密码不能为空或全是空白" in r.json()["detail"]
    with sessions() as s:
        assert {u.username for u in s.scalars(select(User))} == {"admin", "op1", "op2", "wang.li", "张三"}


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing (apt-get install chromium)")
def test_throttled_login_message_in_chromium(site) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url, *_ = site
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(locale="zh-CN")
            page.set_default_timeout(10_000)
            for i in range(6):
                page.goto(url + "/login")
                page.fill("input[name=username]", "op2")
                page.fill("input[name=password]", f"wrong-{i}")
                page.click("button[type=submit]")
                page.wait_for_selector("p.error")
            assert page.text_content("p.error") == "登录失败次数过多，请 15 分钟后再试"
            page.fill("input[name=username]", "op1")  # another account is not held up
            page.fill("input[name=password]", "op1-pass-1")
            page.click("button[type=submit]")
            page.wait_for_url(url + "/")
        finally:
            browser.close()


def test_report_workbook_and_camera_csv_escape_formulas(site) -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    from xuncha.reports.query import Period, Ranking, RegionRow
    from xuncha.reports.xlsx import ranking_xlsx

    period = Period.day(date(2024, 5, 1), ZoneInfo("Asia/Shanghai"))
    ranking = Ranking(period, [RegionRow("x", HYPERLINK, 3)], RegionRow("", "合计"))
    book = load_workbook(io.BytesIO(ranking_xlsx(ranking)))
    cells = [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"] and "'" + HYPERLINK in [c.value for c in cells]
    # The camera registry's CSV export escapes; importing that file again gives the name back as it was.
    url, *_ = site
    with _client(url) as admin:
        _login(admin, "admin", "admin-pass-1")
        admin.headers["X-CSRF-Token"] = _csrf(admin)
        camera = {"id": "gate-3", "name": HYPERLINK, "source": "rtsp://10.0.0.8/ch1", "lon": -73.9, "lat": 40.7}
        assert admin.post("/api/cameras", json=camera).status_code == 201
        exported = admin.get("/api/cameras/export.csv").text
        rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
        assert rows[0]["name"] == "'" + HYPERLINK and rows[0]["lon"] == "-73.9"
        admin.put("/api/cameras/gate-3", json={**camera, "name": "改过"})
        files = {"file": ("cameras.csv", exported.encode(), "text/csv")}
        assert admin.post("/api/cameras/import", files=files).status_code == 200
        assert admin.get("/api/cameras/gate-3").json()["name"] == HYPERLINK
