"""Auth: every non-public route refuses anonymous and wrong-role callers, CSRF, cookies, evidence paths."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from review_support import add_users, database, login, make_event, review_config, write_evidence
from sqlalchemy import select

from xuncha.db.users import User
from xuncha.review.app import create_app
from xuncha.review.auth import COOKIE
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy

PUBLIC = {("GET", "/health"), ("GET", "/login"), ("POST", "/login")}


@pytest.fixture
def env(tmp_path: Path):
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        cfg = review_config(tmp_path)
        ev = make_event(1)
        write_evidence(cfg.evidence_root, ev)
        ingest(sessions, ev)
        ingest(sessions, make_event(2))
        app = create_app(cfg, load_taxonomy(), sessions)
        yield app, sessions, tokens, cfg


def _client(app) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _routes(app) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        if isinstance(r, APIRoute):
            path = re.sub(r"\{(\w+)(:path)?\}", "x", r.path)
            out += [(m, path) for m in sorted(r.methods) if m != "HEAD"]
    return out


def test_every_route_but_login_and_health_refuses_anonymous(env) -> None:
    app, *_ = env
    client = _client(app)
    routes = _routes(app)
    assert len(routes) >= 18  # the walk below really covers the app
    for method, path in routes:
        r = client.request(method, path)
        if (method, path) in PUBLIC:
            assert r.status_code in (200, 422), (method, path)
        elif method == "GET" and not path.startswith("/api/"):
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (method, path)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
    # A bogus token or cookie is anonymous too.
    assert client.get("/api/clues", headers={"Authorization": "Bearer xct_forged"}).status_code == 401
    client.cookies.set(COOKIE, "forged")
    assert client.get("/api/clues").status_code == 401


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("op1", "GET", "/api/users"),
        ("op1", "GET", "/admin"),
        ("op1", "POST", "/api/users"),
        ("op1", "GET", "/metrics"),
        ("op1", "POST", "/api/cases/case-clue-001/handled"),
        ("op1", "GET", "/api/cases/case-clue-001"),
        ("dispatch", "GET", "/api/clues"),
        ("dispatch", "POST", "/api/clues/clue-001/accept"),
        ("dispatch", "GET", "/"),
        ("dispatch", "GET", "/api/cameras/cam-1/fixtures"),
        ("worker", "GET", "/evidence/2024-05-01/clue-001/scene.jpg"),
        ("worker", "POST", "/api/cases/case-clue-001/handled"),
        ("worker", "GET", "/stats"),
    ],
)
def test_wrong_role_is_refused(env, who: str, method: str, path: str) -> None:
    app, _s, tokens, _cfg = env
    client = _client(app)
    if who in tokens:
        client.headers["Authorization"] = f"Bearer {tokens[who]}"
    else:
        client.headers["X-CSRF-Token"] = login(client, who)
    assert client.request(method, path).status_code == 403


def test_admin_can_manage_users_and_operator_reviews(env) -> None:
    app, sessions, *_ = env
    admin = _client(app)
    admin.headers["X-CSRF-Token"] = login(admin, "admin")
    r = admin.post("/api/users", json={"username": "op3", "password": "op3-pass-1", "role": "operator"})
    assert r.status_code == 201
    assert "op3" in [u["username"] for u in admin.get("/api/users").json()]
    assert "op3" in admin.get("/admin").text
    assert (
        admin.post("/api/users", json={"username": "op4", "password": "short", "role": "operator"}).status_code == 422
    )
    with sessions() as s:
        stored = s.scalar(select(User).where(User.username == "op3")).password_hash
    assert stored.startswith("$argon2id$") and "op3-pass-1" not in stored
    op3 = _client(app)
    op3.headers["X-CSRF-Token"] = login(op3, "op3")
    assert op3.post("/api/clues/clue-001/accept").status_code == 200


def test_csrf_is_enforced_for_cookie_sessions(env) -> None:
    app, _s, tokens, _cfg = env
    client = _client(app)
    csrf = login(client, "op1")
    assert client.post("/api/clues/clue-001/accept").status_code == 403
    assert client.post("/api/clues/clue-001/accept", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    other = _client(app)
    other_csrf = login(other, "op2")  # another session's token does not fit this session
    assert client.post("/api/clues/clue-001/accept", headers={"X-CSRF-Token": other_csrf}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.post("/api/clues/clue-001/accept", headers={"X-CSRF-Token": csrf}).status_code == 200
    # Bearer tokens need none (no browser sends them by itself).
    svc = _client(app)
    r = svc.post(
        "/api/cases/case-clue-001/handled",
        headers={"Authorization": f"Bearer {tokens['dispatch']}"},
        data={"unit": "中队"},
    )
    assert r.status_code == 200


def test_login_cookie_flags_logout_and_failures(env) -> None:
    app, *_ = env
    client = _client(app)
    bad = client.post("/login", data={"username": "op1", "password": "wrong-password"})
    assert bad.status_code == 200 and "用户名或密码错误" in bad.text and COOKIE not in bad.headers.get("set-cookie", "")
    nobody = client.post("/login", data={"username": "ghost", "password": "whatever1"})
    assert "用户名或密码错误" in nobody.text
    r = client.post("/login", data={"username": "op1", "password": "op1-pass-1", "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    page = client.get("/")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
    client.cookies.set(COOKIE, r.cookies[COOKIE])  # the old cookie is dead on the server too
    assert client.get("/api/clues").status_code == 401
    # A login form posted from another site is refused.
    cross = client.post(
        "/login", data={"username": "op1", "password": "op1-pass-1"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403


def test_evidence_only_from_the_store(env, tmp_path: Path) -> None:
    app, _s, _t, cfg = env
    client = _client(app)
    login(client, "op1")
    ok = client.get("/evidence/2024-05-01/clue-001/scene.jpg")
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg" and ok.content[:2] == b"\xff\xd8"
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, cfg.evidence_root / "2024-05-01" / "link.jpg")
    for path in (
        "/evidence/..%2Fsecret.txt",
        "/evidence/2024-05-01/..%2F..%2Fsecret.txt",
        "/evidence/%2e%2e/secret.txt",
        "/evidence/%2Fetc%2Fpasswd",
        "/evidence/2024-05-01/link.jpg",
        "/evidence/2024-05-01/clue-001/missing.jpg",
        "/evidence/2024-05-01%5C..%5C..%5Csecret.txt",
    ):
        r = client.get(path)
        assert r.status_code == 404 and b"top secret" not in r.content, path
