"""The review web service (FastAPI), assembled: state, middleware, error answers and one router per resource.

The routes live in the `*_routes` modules, each an APIRouter with its own OpenAPI tag; what they
share (the app state, the caller and its roles, sessions, pages) is in deps. Every route except
/login and /health requires a logged-in user or an API token with a fitting role.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker
from starlette.routing import BaseRoute, Mount

from xuncha.clues.evidence import EvidenceStore
from xuncha.db.base import utcnow
from xuncha.review import (
    camera_routes,
    case_routes,
    clue_routes,
    correction_routes,
    deadletter_routes,
    decision_routes,
    gating_routes,
    health_routes,
    model_routes,
    report_routes,
    service_routes,
    stats_routes,
    user_routes,
)
from xuncha.review.bodylimit import BodyLimit
from xuncha.review.config import ReviewConfig
from xuncha.review.deps import HERE, LoginRequired, ReviewState
from xuncha.review.throttle import LoginThrottle
from xuncha.taxonomy import Taxonomy
from xuncha.zones.editor import message_zh

# One router per resource, each with its OpenAPI tag; a module builds a fresh router per app (the
# camera and health routers keep in-memory state). Order matters only where paths overlap, within a module.
ROUTERS = (
    service_routes,
    user_routes,
    clue_routes,
    stats_routes,
    decision_routes,
    correction_routes,
    case_routes,
    camera_routes,
    report_routes,
    health_routes,
    deadletter_routes,
    model_routes,
    gating_routes,
)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with Chinese lines naming the field (`detail` a string, as the pages show it; `problems` the list)."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "body")
        problems.append(f"{where}：{message_zh(err)}" if where else message_zh(err))
    return JSONResponse({"detail": "；".join(problems), "problems": problems}, status_code=422)


async def _to_login(request: Request, _exc: LoginRequired) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def create_app(
    cfg: ReviewConfig,
    taxonomy: Taxonomy,
    sessions: sessionmaker,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    # The routers' routes go into the app's own route list, not through app.include_router: since
    # FastAPI 0.137 an included router is one lazy node in app.routes, and api_docs (what it describes)
    # and the tests (every route refuses anonymous callers) walk app.routes for the APIRoutes.
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    for module in ROUTERS:
        routes += module.make_router().routes
    app = FastAPI(title="xuncha 线索审核", docs_url=None, redoc_url=None, openapi_url=None, routes=routes)
    throttle = LoginThrottle(cfg.login_failures_per_account, cfg.login_failures_per_address, cfg.login_window_s)
    app.state.review = ReviewState(cfg, taxonomy, sessions, EvidenceStore(cfg.evidence_root), throttle, clock)
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(LoginRequired, _to_login)  # type: ignore[arg-type]
    return app
