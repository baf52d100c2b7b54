"""The review web service (FastAPI): pages, the review API, evidence, stats, dispatch feedback, metrics.

Every route except /login and /health requires a logged-in user or an API token with a fitting
role; unsafe requests made with the session cookie must carry the CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.dispatch import VERDICT_NAMES
from xuncha.clues.evidence import EvidenceStore
from xuncha.review import api_docs, auth, deadletter, decisions, handling, phones, stats
from xuncha.review.auth import COOKIE, CSRF_HEADER, PASSWORD_CHARS, USERNAME_CHARS, Principal
from xuncha.review.bodylimit import BodyLimit
from xuncha.review.camera_api import add_camera_routes
from xuncha.review.cases import outbox_depth
from xuncha.review.config import ReviewConfig
from xuncha.review.correction_routes import correction_router
from xuncha.review.db import (
    PENDING,
    ROLES,
    TOKEN_ROLES,
    Case,
    CaseReport,
    Clue,
    Decision,
    FixtureRow,
    Recheck,
    User,
    utcnow,
)
from xuncha.review.deadletter_api import add_dead_letter_routes
from xuncha.review.health_api import add_health_routes
from xuncha.review.model_routes import model_router
from xuncha.review.report_routes import add_report_routes
from xuncha.review.throttle import LoginThrottle, wait_text
from xuncha.review.uploads import read_picture
from xuncha.taxonomy import Taxonomy
from xuncha.zones.editor import message_zh

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
REVIEWERS = ("operator", "admin")
PUBLIC_PATHS = {"/login", "/health", "/static"}
# Zone ids are unique only within a camera: the zone filter's key is "<camera id>/<zone id>".
FILTERS = {
    "category": Clue.category_code,
    "camera": Clue.camera_id,
    "region": Clue.region_code,
    "zone": Clue.camera_id + "/" + Clue.zone_id,
    "model": Clue.model_name,
}
FILTER_LABELS = {
    "category": Clue.category_name,
    "camera": Clue.camera_name,
    "region": Clue.region_name,
    "zone": Clue.camera_name + " / " + Clue.zone_name,
    "model": Clue.model_name,
}
STATUS_LABELS = {"pending": "待审核", "accepted": "已立案", "rejected": "已驳回"}


@dataclass
class ReviewState:
    cfg: ReviewConfig
    taxonomy: Taxonomy
    sessions: sessionmaker
    store: EvidenceStore
    throttle: LoginThrottle
    clock: Callable[[], datetime] = utcnow


class LoginRequired(Exception):
    """Raised for anonymous page requests: answered with a redirect to the login page."""


def _state(request: Request) -> ReviewState:
    return request.app.state.review


def _principal(request: Request) -> Principal | None:
    st = _state(request)
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


def _db(request: Request) -> Session:
    return _state(request).sessions()


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def clue_json(c: Clue) -> dict[str, Any]:
    ev = c.evidence or {}
    x1, y1, x2, y2 = c.box
    return {
        "id": c.id,
        "status": c.status,
        "status_label": "已消失" if c.gone and c.status == PENDING else STATUS_LABELS.get(c.status, c.status),
        "gone": c.gone,
        "camera": {"id": c.camera_id, "name": c.camera_name, "preset": c.preset},
        "zone": {"id": c.zone_id, "name": c.zone_name},
        "category": {"code": c.category_code, "name": c.category_name},
        "region": {"code": c.region_code, "name": c.region_name} if c.region_code else None,
        "location": {"lon": c.lon, "lat": c.lat} if c.lon is not None else None,
        "model": c.model_name,
        "label": c.label,
        "score": c.score,
        "box_norm": [x1 / c.frame_w, y1 / c.frame_h, x2 / c.frame_w, y2 / c.frame_h],
        "first_seen": _iso(c.first_seen),
        "last_seen": _iso(c.last_seen),
        "dwell_s": c.dwell_s,
        "occurrences": c.occurrences,
        "text": c.text,
        "phone_numbers": c.phone_numbers or [],
        "evidence": {
            k: {"url": "/evidence/" + quote(v["path"]), "taken_at": v["taken_at"], "missing": v.get("missing", False)}
            for k, v in ev.items()
        },
    }


class AcceptBody(BaseModel):
    category: str | None = Field(None, description="Corrected category code; empty keeps the reported one")


class RejectBody(BaseModel):
    reason: str = Field(max_length=32, description="Reject reason code from the config")
    text: str = Field("", max_length=2000, description="The operator's explanation")


class OverruleBody(BaseModel):
    note: str = Field("", max_length=2000, description="Why the 未整改 is wrong")


def _pic(path: str | None) -> str | None:
    return "/evidence/" + quote(path) if path else None


def case_json(s: Session, case: Case) -> dict[str, Any]:
    """A case with its handling history and re-checks (for dispatch, the API and the cases page)."""
    reports = s.scalars(select(CaseReport).where(CaseReport.case_id == case.id).order_by(CaseReport.seq))
    checks = s.scalars(select(Recheck).where(Recheck.case_id == case.id).order_by(Recheck.requested_at, Recheck.id))
    clue = s.get(Clue, case.clue_id)
    scene = clue.evidence["scene"]["path"] if clue is not None and clue.evidence else None
    return {
        "case": case.payload,
        "case_id": case.id,
        "escalation": case.escalation,
        "deadline": _iso(case.deadline),
        "closed_at": _iso(case.closed_at),
        "scene": _pic(scene),
        "handled": case.handled,
        "handled_at": _iso(case.handled_at),
        "handling_unit": case.handling_unit,
        "handling_note": case.handling_note,
        "after_picture": _pic(case.after_picture),
        "reports": [
            {
                "seq": r.seq,
                "reported_at": _iso(r.reported_at),
                "handled": r.handled,
                "unit": r.unit,
                "note": r.note,
                "picture": _pic(r.picture),
                "picture_taken_at": _iso(r.picture_taken_at),
                "flags": list(r.flags),
            }
            for r in reports
        ],
        "rechecks": [
            {
                "id": c.id,
                "requested_at": _iso(c.requested_at),
                "verdict": c.verdict,
                "verdict_name": VERDICT_NAMES.get(c.verdict or "", "核查中"),
                "reason": c.reason,
                "samples": c.samples,
                "present": c.present,
                "checked_to": _iso(c.checked_to),
                "after_picture": _pic(c.after_picture),
                "overruled": c.overruled_at is not None,
                "overrule_note": c.overrule_note,
            }
            for c in checks
        ],
    }


class NewUser(BaseModel):
    username: str = Field(max_length=4 * USERNAME_CHARS, description="Stored normalised (trimmed, lower case)")
    password: str = Field(max_length=PASSWORD_CHARS)
    role: str = Field(max_length=16)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with Chinese lines naming the field (`detail` a string, as the pages show it; `problems` the list)."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "body")
        problems.append(f"{where}：{message_zh(err)}" if where else message_zh(err))
    return JSONResponse({"detail": "；".join(problems), "problems": problems}, status_code=422)


def _metrics(st: ReviewState) -> bytes:
    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            with st.sessions() as s:
                pending = s.scalar(select(func.count()).select_from(Clue).where(Clue.status == PENDING)) or 0
                g = GaugeMetricFamily("xuncha_review_pending_clues", "Clues waiting for review")
                g.add_metric([], pending)
                yield g
                # A gauge: an undo takes a decision back, and a counter must never go down.
                c = GaugeMetricFamily(
                    "xuncha_review_decisions",
                    "Standing review decisions (undone ones excluded)",
                    labels=["outcome", "reason"],
                )
                rows = s.execute(
                    select(Decision.accepted, Decision.reason_code, func.count())
                    .where(Decision.undone_at.is_(None))
                    .group_by(Decision.accepted, Decision.reason_code)
                ).all()
                for accepted, reason, n in rows:
                    c.add_metric(["accepted" if accepted else "rejected", reason or ""], n)
                yield c
                o = GaugeMetricFamily("xuncha_review_outbox_depth", "Cases not yet published to dispatch")
                o.add_metric([], outbox_depth(s))
                yield o
                d = GaugeMetricFamily("xuncha_review_dead_letters", "Clue messages intake could not apply")
                d.add_metric([], deadletter.count(s))
                yield d
            f = CounterMetricFamily("xuncha_review_login_failures", "Logins refused: wrong user name or password")
            f.add_metric([], st.throttle.failed)
            yield f
            t = CounterMetricFamily(
                "xuncha_review_login_throttled", "Logins refused unchecked: too many recent failures (account/address)"
            )
            t.add_metric([], st.throttle.refused)
            yield t

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry)


def create_app(
    cfg: ReviewConfig,
    taxonomy: Taxonomy,
    sessions: sessionmaker,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    app = FastAPI(title="xuncha 线索审核", docs_url=None, redoc_url=None, openapi_url=None)
    throttle = LoginThrottle(cfg.login_failures_per_account, cfg.login_failures_per_address, cfg.login_window_s)
    app.state.review = ReviewState(cfg, taxonomy, sessions, EvidenceStore(cfg.evidence_root), throttle, clock)
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    tz = ZoneInfo(cfg.timezone)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    def page(request: Request, name: str, who: Principal | None, status: int = 200, **ctx: Any) -> Response:
        ctx = {"who": who, "csrf": who.csrf_token if who else "", **ctx}
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    # -- public -----------------------------------------------------------------------------------
    @app.get("/health")
    def health(request: Request) -> JSONResponse:
        try:
            with _db(request) as s:
                s.execute(text("SELECT 1"))
                dead = deadletter.count(s)
        except Exception as e:  # noqa: BLE001 - health reports, never raises
            log.warning("health: database: %s", type(e).__name__)
            return JSONResponse({"status": "error", "database": False}, status_code=503)
        # Dead letters need an admin's look, but the service itself is healthy.
        return JSONResponse({"status": "ok", "database": True, "dead_letters": dead})

    @app.get("/login")
    def login_page(request: Request, next: str = "/") -> Response:
        return page(request, "login.html", None, next=_safe_next(next), error="")

    @app.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
            raise HTTPException(403, "登录请求来源不符")  # login CSRF: another site posting the form
        st = _state(request)
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

    @app.post("/logout")
    def logout(request: Request, who: Reviewer) -> Response:
        with _state(request).sessions.begin() as s:
            auth.end_session(s, request.cookies.get(COOKIE, ""))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    # -- pages ------------------------------------------------------------------------------------
    @app.get("/")
    def review_page(request: Request, who: Reviewer) -> Response:
        categories = [{"code": c.code, "name": c.name} for c in taxonomy.categories]
        reasons = [r.model_dump() for r in cfg.reject_reasons]
        return page(
            request, "review.html", who, categories=categories, reasons=reasons, undo_window_s=cfg.undo_window_s
        )

    @app.get("/stats")
    def stats_page(
        request: Request, who: Reviewer, by: str = "category", days: Annotated[int, Query(ge=1, le=3650)] = 30
    ) -> Response:
        if by not in stats.DIMENSIONS:
            raise HTTPException(422, f"未知统计维度 {by}")
        table, daily = _summary(request, by, days), _summary(request, "day", days)
        reasons = {r.code: r.name for r in cfg.reject_reasons}
        return page(
            request,
            "stats.html",
            who,
            by=by,
            days=days,
            dimensions=stats.DIMENSIONS,
            table=table,
            total=stats.total_of(table),
            bars=stats.bar_chart_svg(table),
            trend=stats.trend_svg(daily),
            reason_names=reasons,
        )

    def _summary(request: Request, by: str, days: int) -> list[stats.StatRow]:
        with _db(request) as s:
            return stats.summarize(s, by, tz, since=_state(request).clock() - timedelta(days=days))

    @app.get("/stats.{fmt}")
    def stats_export(
        request: Request,
        who: Reviewer,
        fmt: str,
        by: str = "category",
        days: Annotated[int, Query(ge=1, le=3650)] = 30,
    ) -> Response:
        if by not in stats.DIMENSIONS or fmt not in ("csv", "xlsx"):
            raise HTTPException(404 if by in stats.DIMENSIONS else 422, f"未知统计维度 {by} 或格式 {fmt}")
        table = _summary(request, by, days)
        if fmt == "csv":
            body, media = stats.to_csv(table, by).encode("utf-8"), "text/csv; charset=utf-8"
        else:
            body, media = stats.to_xlsx(table, by), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="lianlv-{by}-{days}d.{fmt}"'}
        )

    @app.get("/api/stats")
    def stats_api(
        request: Request, who: Reviewer, by: str = "category", days: Annotated[int, Query(ge=1, le=3650)] = 30
    ) -> dict[str, Any]:
        if by not in stats.DIMENSIONS:
            raise HTTPException(422, f"未知统计维度 {by}")
        table = _summary(request, by, days)
        total = stats.total_of(table)
        return {
            "by": by,
            "total": {"reviewed": total.reviewed, "accepted": total.accepted, "rate": total.rate},
            "rows": [
                {
                    "key": r.key,
                    "label": r.label,
                    "reviewed": r.reviewed,
                    "accepted": r.accepted,
                    "rejected": r.rejected,
                    "rate": r.rate,
                    "reasons": dict(r.reasons),
                }
                for r in table
            ],
        }

    # -- review API -------------------------------------------------------------------------------
    @app.get("/api/clues")
    def list_clues(
        request: Request,
        who: Reviewer,
        status: str = PENDING,
        order: str = "oldest",
        category: str | None = None,
        camera: str | None = None,
        region: str | None = None,
        zone: str | None = None,
        model: str | None = None,
        phone: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        if status not in STATUS_LABELS or order not in ("oldest", "newest"):
            raise HTTPException(422, "status 或 order 无效")
        chosen = {"category": category, "camera": camera, "region": region, "zone": zone, "model": model}
        conds = {k: FILTERS[k] == v for k, v in chosen.items() if v}
        with _db(request) as s:
            base = [Clue.status == status]
            if phone:
                try:
                    base.append(phones.phone_filter(phone))
                except ValueError as e:
                    raise HTTPException(422, str(e)) from None
            q = select(Clue).where(*base, *conds.values())
            q = q.order_by(Clue.first_seen.asc() if order == "oldest" else Clue.first_seen.desc(), Clue.id)
            items = [clue_json(c) for c in s.scalars(q.limit(limit))]
            seen = phones.counts(s, (p for item in items for p in item["phone_numbers"]))
            for item in items:
                item["phone_counts"] = {p: seen.get(p, {"cameras": 0, "clues": 0}) for p in item["phone_numbers"]}
            total = s.scalar(select(func.count()).select_from(Clue).where(*base, *conds.values())) or 0
            facets: dict[str, list[dict[str, Any]]] = {}
            for name, col in FILTERS.items():
                # Counts per value with every other filter applied: what choosing that value would show.
                others = [c for k, c in conds.items() if k != name]
                rows = s.execute(
                    select(col, func.max(FILTER_LABELS[name]), func.count())
                    .where(*base, *others)
                    .group_by(col)
                    .order_by(func.count().desc())
                ).all()
                facets[name] = [
                    {"key": key, "label": label or key or "未知", "count": n} for key, label, n in rows if key
                ]
        return {"items": items, "total": total, "facets": facets}

    @app.get("/api/clues/{clue_id}")
    def get_clue(request: Request, who: Reviewer, clue_id: str) -> dict[str, Any]:
        with _db(request) as s:
            clue = s.get(Clue, clue_id)
            if clue is None:
                raise HTTPException(404, "线索不存在")
            out = clue_json(clue)
            out["phone_counts"] = phones.counts(s, out["phone_numbers"])
            return out

    @app.get("/api/phone-numbers")
    def repeated_phone_numbers(
        request: Request,
        who: Reviewer,
        min_cameras: Annotated[int, Query(ge=1)] = 2,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Numbers read on several cameras (one advertiser, many posters)."""
        with _db(request) as s:
            return {"items": phones.repeated(s, min_cameras, limit)}

    def _decide(request: Request, who: Principal, act: Callable[[Session, User, datetime], Decision]) -> dict:
        st = _state(request)
        try:
            with st.sessions.begin() as s:
                d = act(s, who.user, st.clock())
                out = {"decision_id": d.id, "clue_id": d.clue_id, "accepted": d.accepted}
        except decisions.ReviewError as e:
            raise HTTPException(e.status, str(e)) from None
        return out

    @app.post("/api/clues/{clue_id}/accept")
    def accept(request: Request, who: Reviewer, clue_id: str, body: AcceptBody | None = None) -> dict:
        cat = body.category if body else None
        return _decide(request, who, lambda s, u, now: decisions.accept(s, clue_id, u, cfg, taxonomy, now, cat))

    @app.post("/api/clues/{clue_id}/reject")
    def reject(request: Request, who: Reviewer, clue_id: str, body: RejectBody) -> dict:
        return _decide(
            request, who, lambda s, u, now: decisions.reject(s, clue_id, u, cfg, now, body.reason, body.text)
        )

    @app.post("/api/clues/{clue_id}/undo")
    def undo(request: Request, who: Reviewer, clue_id: str) -> dict:
        return _decide(request, who, lambda s, u, now: decisions.undo(s, clue_id, u, cfg, now))

    # -- evidence, fixtures, cases ----------------------------------------------------------------
    @app.get("/evidence/{rel:path}")
    def evidence(
        request: Request, who: Annotated[Principal, Depends(require(*REVIEWERS, "dispatch"))], rel: str
    ) -> Response:
        try:
            path = _state(request).store.resolve(rel)
        except ValueError:
            raise HTTPException(404, "证据不存在") from None
        if not path.is_file():
            raise HTTPException(404, "证据不存在")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/cameras/{camera_id}/fixtures")
    def fixtures(
        request: Request,
        who: Annotated[Principal, Depends(require(*REVIEWERS, "worker"))],
        camera_id: str,
        preset: str | None = None,
    ) -> dict[str, Any]:
        """The camera's fixtures as the worker config's `fixtures:` entries (normalised boxes)."""
        with _db(request) as s:
            q = select(FixtureRow).where(FixtureRow.camera_id == camera_id).order_by(FixtureRow.id)
            if preset is not None:
                q = q.where(FixtureRow.preset == preset)
            rows = list(s.scalars(q))
        return {
            "camera_id": camera_id,
            "fixtures": [{"zone": f.zone_id, "category": f.category_code, "box": f.box} for f in rows],
        }

    @app.get("/api/cases/{case_id}")
    def get_case(
        request: Request, who: Annotated[Principal, Depends(require("admin", "dispatch"))], case_id: str
    ) -> dict[str, Any]:
        with _db(request) as s:
            case = s.get(Case, case_id)
            if case is None:
                raise HTTPException(404, "案件不存在")
            return case_json(s, case)

    @app.post("/api/cases/{case_id}/handled")
    def case_handled(
        request: Request,
        who: Annotated[Principal, Depends(require("dispatch"))],
        case_id: str,
        unit: Annotated[str, Form(min_length=1, max_length=200)],
        handled: Annotated[bool, Form()] = True,
        note: Annotated[str, Form(max_length=2000)] = "",
        taken_at: Annotated[datetime | None, Form(description="When the after picture was taken (ISO 8601)")] = None,
        picture: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        """Dispatch reports a case handled (or not), with the handling unit and an optional after picture.

        Every report is kept; a handled one makes the camera re-check the place."""
        st = _state(request)
        if taken_at is not None and taken_at.tzinfo is None:
            raise HTTPException(422, "taken_at 需要带时区，例如 2024-05-01T10:00:00+08:00")
        data, image = b"", None
        if picture is not None:
            data, image = read_picture(picture)
        with st.sessions.begin() as s:
            case = s.get(Case, case_id)
            if case is None:
                raise HTTPException(404, "案件不存在")
            now = st.clock()
            seq = handling.report_count(s, case_id) + 1
            path = (
                st.store.put(case.clue_id, f"after-{seq}", image, day=now.astimezone(tz).date())
                if image is not None
                else None
            )
            report = handling.record_report(
                s,
                case,
                handled=handled,
                unit=unit,
                note=note or None,
                picture=path,
                picture_bytes=data or None,
                taken_at=taken_at,
                now=now,
            )
            out = {"case_id": case_id, "report": report.seq, "handled": handled, "after_picture": path}
            out["flags"] = list(report.flags)
        return out

    @app.post("/api/rechecks/{recheck_id}/overrule")
    def overrule_recheck(request: Request, who: Reviewer, recheck_id: str, body: OverruleBody) -> dict[str, Any]:
        st = _state(request)
        try:
            with st.sessions.begin() as s:
                row = handling.overrule(s, recheck_id, who.user, body.note.strip(), st.clock())
                return {"recheck_id": row.id, "overruled": True, "case_id": row.case_id}
        except handling.OverruleError as e:
            raise HTTPException(e.status, str(e)) from None

    @app.get("/cases")
    def cases_page(request: Request, who: Reviewer, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
        with _db(request) as s:
            rows = list(s.scalars(select(Case).order_by(Case.filed_at.desc()).limit(limit)))
            cases = [case_json(s, c) for c in rows]
        return page(request, "cases.html", who, cases=cases, flag_names=handling.PICTURE_FLAGS)

    # -- admin ------------------------------------------------------------------------------------
    @app.get("/admin")
    def admin_page(request: Request, who: Admin) -> Response:
        with _db(request) as s:
            rows = list(s.scalars(select(User).order_by(User.username)))
        return page(request, "admin.html", who, users=rows, roles=ROLES)

    @app.get("/api/users")
    def users(request: Request, who: Admin) -> list[dict[str, Any]]:
        with _db(request) as s:
            return [
                {"username": u.username, "role": u.role, "active": u.active}
                for u in s.scalars(select(User).order_by(User.username))
            ]

    @app.post("/api/users", status_code=201)
    def add_user(request: Request, who: Admin, body: NewUser) -> dict[str, Any]:
        try:
            with _state(request).sessions.begin() as s:
                user = auth.create_user(s, body.username, body.password, body.role)
                out = {"username": user.username, "role": user.role}
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return out

    add_camera_routes(app, require, page)
    add_report_routes(app, require, page)
    add_health_routes(app, require, page)
    add_dead_letter_routes(app, require, page)
    app.include_router(correction_router(require(*REVIEWERS)))
    app.include_router(model_router(require("admin"), require("worker", "admin")))

    @app.get("/metrics")
    def metrics(
        request: Request, who: Annotated[Principal, Depends(require("admin", "dispatch", "worker"))]
    ) -> Response:
        return Response(_metrics(_state(request)), media_type="text/plain; version=0.0.4")

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_doc(
        request: Request, who: Annotated[Principal, Depends(require(*ROLES, *TOKEN_ROLES))]
    ) -> dict[str, Any]:
        """The OpenAPI description of the dispatch and worker endpoints (see api_docs)."""
        return api_docs.openapi(request.app)

    return app


def _safe_next(target: str) -> str:
    """Only same-site paths: an open redirect after login would help phishing."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
