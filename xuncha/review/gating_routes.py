"""Routes of adaptive gating: a camera's adjustments (workers, admins) and undoing a change (admins)."""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies evaluated.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from xuncha.review import gating_store
from xuncha.review.auth import Principal
from xuncha.review.deps import Admin, require
from xuncha.review.deps import state as st


def make_router() -> APIRouter:
    router = APIRouter(tags=["gating"])
    AdminOrWorker = Annotated[Principal, Depends(require("admin", "worker"))]

    @router.get("/api/cameras/{camera_id}/gating")
    def camera_gating(request: Request, who: AdminOrWorker, camera_id: str) -> dict[str, Any]:
        """The camera's zones that run tighter than their rules (after making the changes now due), and the log."""
        p = st(request).cfg.gating
        if not p.enabled:
            return {"camera_id": camera_id, "enabled": False, "adjustments": [], "log": []}
        with st(request).sessions.begin() as s:
            gating_store.refresh(s, camera_id, p, st(request).clock())
            return {
                "camera_id": camera_id,
                "enabled": True,
                "adjustments": gating_store.adjustments(s, camera_id, p),
                "log": gating_store.camera_log(s, camera_id, p) if who.role == "admin" else [],
            }

    @router.post("/api/gating/{change_id}/undo")
    def undo_change(request: Request, who: Admin, change_id: int) -> Response:
        p = st(request).cfg.gating
        try:
            with st(request).sessions.begin() as s:
                back = gating_store.undo(s, change_id, who.name, st(request).clock())
                return JSONResponse(gating_store.change_json(back, p))
        except gating_store.GatingError as e:
            return JSONResponse({"detail": str(e)}, status_code=e.status)

    return router
