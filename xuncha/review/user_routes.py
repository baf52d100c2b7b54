"""Routes of users and their sessions: the login page (public, throttled), logout, the admin's user list.

POST /login sets the session cookie; failed logins count per account and per address, and too many
in a while are refused unchecked (429). Admins list and add users at /admin and /api/users.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from xuncha.db.users import ROLES, User
from xuncha.review import auth
from xuncha.review.auth import COOKIE, PASSWORD_CHARS, USERNAME_CHARS
from xuncha.review.deps import Admin, Reviewer, db, page, state
from xuncha.review.throttle import wait_text

log = logging.getLogger(__name__)


class NewUser(BaseModel):
    username: str = Field(max_length=4 * USERNAME_CHARS, description="Stored normalised (trimmed, lower case)")
    password: str = Field(max_length=PASSWORD_CHARS)
    role: str = Field(max_length=16)


def _safe_next(target: str) -> str:
    """Only same-site paths: an open redirect after login would help phishing."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def make_router() -> APIRouter:
    router = APIRouter(tags=["users"])

    @router.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        return page(request, "login.html", None, next=_safe_next(next), error="")

    @router.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
            raise HTTPException(403, "登录请求来源不符")  # login CSRF: another site posting the form
        st = state(request)
        cfg, throttle = st.cfg, st.throttle
        account = auth.normalize_username(username)[:USERNAME_CHARS]
        address = request.client.host if request.client else ""
        wait = throttle.wait_s(account, address)
        if wait > 0:
            throttle.refuse()
            log.info("login throttled for %r from %s (%.0f s)", account, address, wait)
            error = f"登录失败次数过多，请 {wait_text(wait)}后再试"
            resp = page(request, "login.html", None, status=429, next=_safe_next(next), error=error)
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        with st.sessions.begin() as s:
            user = auth.check_password(s, username, password)
            cookie = auth.start_session(s, user, cfg.session_hours) if user else None
        if cookie is None:
            throttle.fail(account, address)
            log.info("failed login for %r from %s", account, address)
            return page(request, "login.html", None, next=_safe_next(next), error="用户名或密码错误")
        throttle.succeed(account)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(
            COOKIE,
            cookie,
            max_age=int(cfg.session_hours * 3600),
            httponly=True,
            secure=cfg.cookie_secure,
            samesite="strict",
        )
        return resp

    @router.post("/logout")
    def logout(request: Request, who: Reviewer) -> Response:
        with state(request).sessions.begin() as s:
            auth.end_session(s, request.cookies.get(COOKIE, ""))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @router.get("/admin")
    def admin_page(request: Request, who: Admin) -> Response:
        with db(request) as s:
            rows = list(s.scalars(select(User).order_by(User.username)))
        return page(request, "admin.html", who, users=rows, roles=ROLES)

    @router.get("/api/users")
    def users(request: Request, who: Admin) -> list[dict[str, Any]]:
        with db(request) as s:
            return [
                {"username": u.username, "role": u.role, "active": u.active}
                for u in s.scalars(select(User).order_by(User.username))
            ]

    @router.post("/api/users", status_code=201)
    def add_user(request: Request, who: Admin, body: NewUser) -> dict[str, Any]:
        try:
            with state(request).sessions.begin() as s:
                user = auth.create_user(s, body.username, body.password, body.role)
                out = {"username": user.username, "role": user.role}
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return out

    return router
