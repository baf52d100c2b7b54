"""What the review service's routers share: the app state, the caller and its roles, sessions, pages.

Every route except /login and /health requires a logged-in user or an API token with a fitting
role (`require`); unsafe requests made with the session cookie must carry the CSRF token.
"""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies evaluated.
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.evidence import EvidenceStore
from xuncha.db.base import utcnow
from xuncha.review import auth
from xuncha.review.auth import COOKIE, CSRF_HEADER, Principal
from xuncha.review.config import ReviewConfig
from xuncha.review.throttle import LoginThrottle
from xuncha.taxonomy import Taxonomy

HERE = Path(__file__).parent
REVIEWERS = ("operator", "admin")
templates = Jinja2Templates(directory=str(HERE / "templates"))


@dataclass
class ReviewState:
    """Per app, at `app.state.review`."""

    cfg: ReviewConfig
    taxonomy: Taxonomy
    sessions: sessionmaker
    store: EvidenceStore
    throttle: LoginThrottle
    clock: Callable[[], datetime] = utcnow


class LoginRequired(Exception):
    """Raised for anonymous page requests: answered with a redirect to the login page."""


def state(request: Request) -> ReviewState:
    return request.app.state.review


def db(request: Request) -> Session:
    return state(request).sessions()


def _principal(request: Request) -> Principal | None:
    st = state(request)
    header = request.headers.get("authorization", "")
    with st.sessions() as s:
        if header[:7].lower() == "bearer ":
            return auth.from_bearer(s, header[7:].strip())
        cookie = request.cookies.get(COOKIE)
        return auth.from_cookie(s, cookie) if cookie else None


def require(*roles: str) -> Callable[..., Principal]:
    """Dependency: the caller, if it has one of `roles` (and the CSRF token for unsafe cookie requests)."""

    def dependency(request: Request, who: Annotated[Principal | None, Depends(_principal)]) -> Principal:
        if who is None:
            if request.method == "GET" and not request.url.path.startswith("/api/"):
                raise LoginRequired()
            raise HTTPException(401, "请先登录", headers={"WWW-Authenticate": "Bearer"})
        if who.role not in roles:
            raise HTTPException(403, "没有权限")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not auth.csrf_ok(who, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, "CSRF 校验失败，请刷新页面")
        return who

    dependency.roles = roles  # type: ignore[attr-defined]  # read by api_docs to pick the routes it describes
    return dependency


Reviewer = Annotated[Principal, Depends(require(*REVIEWERS))]
Admin = Annotated[Principal, Depends(require("admin"))]


def page(request: Request, name: str, who: Principal | None, status: int = 200, **ctx: Any) -> Response:
    """A page from templates/, with the caller and its CSRF token for the page's scripts."""
    ctx = {"who": who, "csrf": who.csrf_token if who else "", **ctx}
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
