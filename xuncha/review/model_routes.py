"""Routes of model management (模型管理): the admin page, shadow-report upload, 推广 / 回退, the workers' API.

GET /models (page), POST /api/models/reports (a `xuncha bench shadow --json` report), POST
/api/models/promote {report_id}, POST /api/models/rollback {model_name}, GET /api/models (the log);
GET /api/worker/models (worker token): the model in use per model name.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from xuncha.db.promotions import ShadowReport
from xuncha.db.users import User
from xuncha.review import promotions
from xuncha.review.auth import Principal
from xuncha.review.deps import Admin, page, require
from xuncha.review.deps import state as st

log = logging.getLogger(__name__)


class PromoteBody(BaseModel):
    report_id: int = Field(description="The shadow report whose new model to promote")


class RollbackBody(BaseModel):
    model_name: str = Field(max_length=128, description="The model name (as in detectors.models) to roll back")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def make_router() -> APIRouter:
    """The routes: the page and changes for admins, the workers' read for workers (and admins)."""
    router = APIRouter(tags=["models"])
    Worker = Annotated[Principal, Depends(require("worker", "admin"))]

    def user(s: Any, who: Principal) -> User:
        assert who.user is not None  # admin routes: a logged-in user
        return s.get(User, who.user.id)

    @router.get("/models")
    def models_page(request: Request, who: Admin) -> Response:
        with st(request).sessions() as s:
            latest = s.scalars(select(ShadowReport).order_by(ShadowReport.id.desc()).limit(1)).first()
            report = latest.report if latest else None
            ctx = {
                "report": report,
                "report_id": latest.id if latest else None,
                "current": promotions.worker_models(s),
                "history": promotions.history(s),
                "pct": _pct,
            }
        return page(request, "models.html", who, **ctx)

    @router.post("/api/models/reports", status_code=201)
    def upload_report(request: Request, who: Admin, body: promotions.ShadowReportIn) -> dict[str, Any]:
        state = st(request)
        with state.sessions.begin() as s:
            row = promotions.upload(s, body, user(s, who), state.clock())
            out = {"id": row.id, "model": row.model_name, "against": row.against_name}
        log.info("shadow report %s uploaded by %s: %s against %s", out["id"], who.name, out["model"], out["against"])
        return out

    @router.post("/api/models/promote")
    def promote(request: Request, who: Admin, body: PromoteBody) -> dict[str, Any]:
        state = st(request)
        try:
            with state.sessions.begin() as s:
                row = promotions.promote(s, body.report_id, user(s, who), state.clock())
                out = promotions.promotion_json(row, who.name)
        except promotions.PromotionError as e:
            raise HTTPException(422, str(e)) from None
        log.info("model %s promoted to %s by %s", out["model_name"], out["ref"], who.name)
        return out

    @router.post("/api/models/rollback")
    def rollback(request: Request, who: Admin, body: RollbackBody) -> dict[str, Any]:
        state = st(request)
        try:
            with state.sessions.begin() as s:
                row = promotions.rollback(s, body.model_name, user(s, who), state.clock())
                out = promotions.promotion_json(row, who.name)
        except promotions.PromotionError as e:
            raise HTTPException(422, str(e)) from None
        log.info("model %s rolled back to %s by %s", out["model_name"], out["ref"], who.name)
        return out

    @router.get("/api/models")
    def model_log(request: Request, who: Admin) -> dict[str, Any]:
        with st(request).sessions() as s:
            return {"current": promotions.worker_models(s), "history": promotions.history(s)}

    @router.get("/api/worker/models")
    def worker_models(request: Request, who: Worker) -> dict[str, Any]:
        with st(request).sessions() as s:
            return {"models": promotions.worker_models(s)}

    return router
