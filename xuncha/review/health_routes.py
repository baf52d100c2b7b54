"""Routes of the camera health page: workers report, admins and operators look, admins confirm a view.

POST /api/worker/health (worker token): a worker's `/health` camera entries; the answer lists the
cameras whose current view an admin accepted. GET /camera-health (page) and /api/camera-health
(JSON), filtered by region. POST /api/cameras/{id}/view/accept (admin): the worker takes the
camera's current view as its new reference and its zones resume; a registered camera's worker also
sends that view as the camera's reference picture, which the view check uses from then on.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from xuncha.clues import limits
from xuncha.db.cameras import CameraRow, CameraStateChange, ReferencePicture
from xuncha.db.clues import Clue
from xuncha.review import cameras, health_store
from xuncha.review.auth import Principal
from xuncha.review.camera_routes import _refused as refused
from xuncha.review.cameras import RegistryError
from xuncha.review.deps import Admin, page, require
from xuncha.review.deps import state as st
from xuncha.review.health import STATES, CameraStatus, HealthBoard, camera_rows
from xuncha.view.check import shift_zone_set
from xuncha.zones.editor import ZoneSetInvalid


class WorkerHealth(BaseModel):
    cameras: dict[str, dict[str, Any]] = Field(description="Camera id -> the worker's /health entry")


def make_router() -> APIRouter:
    router = APIRouter(tags=["camera health"])
    Viewer = Annotated[Principal, Depends(require("admin", "operator"))]
    WorkerToken = Annotated[Principal, Depends(require("worker"))]
    board = HealthBoard()
    loaded = False  # the stored reports are read once, on the first request after a start

    def load(request: Request) -> None:
        nonlocal loaded
        if not loaded:
            with st(request).sessions() as s:
                board.load(health_store.load(s))
            loaded = True

    def change(c: CameraStateChange) -> dict[str, Any]:
        zh = {k: v[0] for k, v in STATES.items()}
        return {
            "at": c.at,
            "old": c.old_state,
            "new": c.new_state,
            "old_zh": zh.get(c.old_state or "", "无"),
            "new_zh": zh.get(c.new_state, c.new_state),
        }

    def rows(request: Request, region: str | None) -> list[CameraStatus]:
        load(request)
        state = st(request)
        now: datetime = state.clock()
        tz = ZoneInfo(state.cfg.timezone)
        midnight = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        with state.sessions() as s:
            registered = {
                c.id: {
                    "name": c.name,
                    "region_code": c.region_code,
                    "region_name": c.region_name,
                    "preset": c.preset,
                    "worker": c.worker,
                }
                for c in s.scalars(select(CameraRow).where(CameraRow.enabled))
            }
            thumbnails = {
                p.camera_id: "/evidence/" + quote(p.path)
                for p in s.scalars(select(ReferencePicture).order_by(ReferencePicture.taken_at))
            }
            reports, pending = board.latest()
            changes = {
                cid: [change(c) for c in health_store.changes(s, cid, 20)] for cid in registered.keys() | reports.keys()
            }
            today = dict(
                s.execute(
                    select(Clue.camera_id, func.count()).where(Clue.received_at >= midnight).group_by(Clue.camera_id)
                ).all()
            )
        return camera_rows(reports, pending, registered, today, now, region or None, thumbnails, changes)

    @router.post("/api/worker/health")
    def worker_health(request: Request, who: WorkerToken, body: WorkerHealth) -> dict[str, Any]:
        if long := [cid for cid in body.cameras if len(cid) > limits.ID_CHARS]:
            raise HTTPException(422, f"点位编号超过 {limits.ID_CHARS} 个字符：{long[0][:80]}")
        load(request)
        now = st(request).clock()
        with st(request).sessions.begin() as s:
            health_store.save(s, who.name, body.cameras, now)
        return {"accept_view": board.report(who.name, body.cameras, now)}

    @router.get("/camera-health")
    def health_page(request: Request, who: Viewer, region: str = "") -> Response:
        shown = rows(request, region)
        everything = rows(request, None)
        regions = sorted(
            {(r.region_code or r.region_name, r.region_name or r.region_code) for r in everything} - {(None, None)}
        )
        counts = {STATES[k][0]: sum(r.state == k for r in shown) for k in STATES}
        tz = ZoneInfo(st(request).cfg.timezone)
        return page(
            request, "camera_health.html", who, rows=shown, regions=regions, region=region, counts=counts, tz=tz
        )

    @router.get("/api/camera-health")
    def health_json(request: Request, who: Viewer, region: str = "") -> list[dict[str, Any]]:
        return [asdict(r) | {"state_zh": r.state_zh} for r in rows(request, region)]

    def alarm(request: Request, camera_id: str) -> dict[str, Any]:
        load(request)
        rep = board.latest()[0].get(camera_id)
        view = (rep.camera.get("view") or {}) if rep else {}
        if view.get("state") != "changed":
            raise HTTPException(409, f"点位 {camera_id} 当前没有视角变化告警")
        return view

    @router.post("/api/cameras/{camera_id}/view/shift")
    def shift_zones(request: Request, who: Admin, camera_id: str) -> Response:
        """Save the camera's zones moved by the suggested shift as a new version, then confirm the view."""
        suggestion = alarm(request, camera_id).get("suggestion")
        if not suggestion:
            raise HTTPException(409, f"点位 {camera_id} 没有可用的平移建议，请重画区域")
        state = st(request)
        try:
            with state.sessions.begin() as s:
                row = cameras.get_camera(s, camera_id)
                latest = cameras.latest_version(s, camera_id, row.preset or "")
                if latest is None:
                    raise RegistryError(f"点位 {camera_id} 还没有区域", 409)
                dx, dy = suggestion[0][2], suggestion[1][2]
                saved = cameras.save_zone_set(
                    s,
                    camera_id,
                    row.preset or "",
                    shift_zone_set(latest.data, (tuple(suggestion[0]), tuple(suggestion[1]))),
                    who.name,
                    state.clock(),
                    state.taxonomy,
                    note=f"按视角偏移平移 {100 * dx:+.1f}%，{100 * dy:+.1f}%",
                )
                row.reference_wanted_at = state.clock()  # the worker sends the view the zones now fit
                version = saved.version
        except (RegistryError, ZoneSetInvalid) as e:
            return refused(e)
        board.request_accept(camera_id, version)
        return JSONResponse({"camera": camera_id, "version": version, "accept_pending": True})

    @router.post("/api/cameras/{camera_id}/view/accept")
    def accept_view(request: Request, who: Admin, camera_id: str) -> dict[str, Any]:
        alarm(request, camera_id)
        board.request_accept(camera_id)
        with st(request).sessions.begin() as s:  # a registered camera's worker then sends the accepted view
            row = s.get(CameraRow, camera_id)
            if row is not None:
                row.reference_wanted_at = st(request).clock()
        return {"camera": camera_id, "accept_pending": True}

    return router
