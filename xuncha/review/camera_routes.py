"""Routes of the camera registry and the zone editor: admin pages and API, and the workers' camera feed.

Admins (session + CSRF) register cameras and save zone sets; workers (bearer token) fetch their
cameras and the cameras' fixtures, and upload reference pictures. Refusals carry Chinese messages
naming the camera, zone and field (`detail` is a string, `problems` the list).
"""

# No `from __future__ import annotations`: the routes' Annotated dependencies are local to
# make_router and FastAPI must see them evaluated.
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from xuncha.clues.evidence import EvidenceStore
from xuncha.db.cameras import CameraRow, CameraSightings, ReferencePicture
from xuncha.db.clues import FixtureRow
from xuncha.review import cameras
from xuncha.review.auth import Principal
from xuncha.review.cameras import CameraFields, RegistryError
from xuncha.review.deps import REVIEWERS, Admin, page, require
from xuncha.review.deps import state as st
from xuncha.review.sightings import RecentSightings, Sighting
from xuncha.review.uploads import read_picture
from xuncha.zones.editor import ZoneSetInvalid, form_schema
from xuncha.zones.model import ZoneSet
from xuncha.zones.scenes import load_scenes


class WorkerHello(BaseModel):
    labels: list[str] = Field(default_factory=list, description="Model labels this worker detects")
    sightings: dict[str, list[Sighting]] = Field(
        default_factory=dict, description="Per camera: samples' detections since the last call"
    )


class RevertBody(BaseModel):
    version: int = Field(ge=1)


class CopyBody(BaseModel):
    to: list[str] = Field(min_length=1, description="Camera ids that get the zone set (same view)")


def _refused(e: RegistryError | ZoneSetInvalid) -> JSONResponse:
    status = e.status if isinstance(e, RegistryError) else 422
    return JSONResponse({"detail": str(e), "problems": e.problems}, status_code=status)


def _picture_name(preset: str) -> str:
    """The file name of a preset's reference picture (the evidence store allows few characters)."""
    return "view" if not preset else "preset-" + re.sub(r"[^A-Za-z0-9._-]", "_", preset)[:60]


def make_router() -> APIRouter:
    router = APIRouter(tags=["cameras"])
    WorkerToken = Annotated[Principal, Depends(require("worker"))]
    AdminOrWorker = Annotated[Principal, Depends(require("admin", "worker"))]
    sightings = RecentSightings()

    def stored_sightings(s: Any, camera_id: str) -> None:
        """A camera's overlay from the database, once per start (the in-memory copy is lost on restart)."""
        if not sightings.loaded(camera_id):
            row = s.get(CameraSightings, camera_id)
            sightings.load(camera_id, [Sighting.model_validate(x) for x in row.items] if row else [])

    def references(request: Request) -> EvidenceStore:
        return EvidenceStore(st(request).cfg.data_dir / "references")

    # -- pages ------------------------------------------------------------------------------------
    @router.get("/cameras")
    def cameras_page(request: Request, who: Admin) -> Response:
        return page(request, "cameras.html", who)

    @router.get("/cameras/{camera_id}")
    def editor_page(request: Request, who: Admin, camera_id: str) -> Response:
        with st(request).sessions() as s:
            if s.get(CameraRow, camera_id) is None:
                raise HTTPException(404, f"点位 {camera_id} 不存在")
        categories = [{"code": c.code, "name": c.name} for c in st(request).taxonomy.categories]
        return page(request, "zone_editor.html", who, camera_id=camera_id, categories=categories)

    # -- cameras ----------------------------------------------------------------------------------
    @router.get("/api/cameras")
    def list_cameras(
        request: Request, who: Admin, region: str | None = None, state: str | None = None, worker: str | None = None
    ) -> dict[str, Any]:
        with st(request).sessions() as s:
            rows = cameras.list_cameras(s, region=region, state=state, worker=worker)
            everything = list(s.scalars(select(CameraRow)))
            return {
                "items": [cameras.camera_json(r) for r in rows],
                "regions": sorted(
                    {(r.region_code, r.region_name or r.region_code) for r in everything if r.region_code}
                ),
                "workers": sorted({r.worker for r in everything if r.worker}),
            }

    @router.get("/api/cameras/export.{fmt}")
    def export_cameras(
        request: Request,
        who: Admin,
        fmt: str,
        region: str | None = None,
        state: str | None = None,
        worker: str | None = None,
    ) -> Response:
        if fmt not in ("csv", "yaml"):
            raise HTTPException(404, "只支持 csv 或 yaml")
        with st(request).sessions() as s:
            rows = cameras.list_cameras(s, region=region, state=state, worker=worker)
            body = cameras.export_cameras(s, fmt, rows)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/yaml; charset=utf-8"
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="cameras.{fmt}"'}
        )

    @router.post("/api/cameras/import")
    def import_cameras(request: Request, who: Admin, file: Annotated[UploadFile, File()]) -> Response:
        """Cameras from a CSV or YAML file: all created or updated, or none (every problem listed)."""
        data = file.file.read()  # BodyLimit has capped the request
        try:
            with st(request).sessions.begin() as s:
                out = cameras.import_cameras(
                    s, file.filename or "cameras", data, who.name, st(request).clock(), st(request).taxonomy
                )
        except RegistryError as e:
            return _refused(e)
        return JSONResponse(out)

    @router.post("/api/cameras", status_code=201)
    def create_camera(request: Request, who: Admin, body: CameraFields) -> Response:
        return _save(request, who, body, create=True)

    @router.put("/api/cameras/{camera_id}")
    def update_camera(request: Request, who: Admin, camera_id: str, body: CameraFields) -> Response:
        if body.id != camera_id:
            raise HTTPException(422, "点位编号不能修改")
        return _save(request, who, body, create=False)

    def _save(request: Request, who: Principal, body: CameraFields, *, create: bool) -> Response:
        try:
            with st(request).sessions.begin() as s:
                row = cameras.save_camera(s, body, who.name, st(request).clock(), create=create)
                out = cameras.camera_json(row)
        except RegistryError as e:
            return _refused(e)
        return JSONResponse(out, status_code=201 if create else 200)

    @router.get("/api/cameras/{camera_id}")
    def get_camera(request: Request, who: Admin, camera_id: str) -> Response:
        with st(request).sessions() as s:
            try:
                return JSONResponse(cameras.camera_json(cameras.get_camera(s, camera_id)))
            except RegistryError as e:
                return _refused(e)

    # -- zone sets --------------------------------------------------------------------------------
    @router.get("/api/zone-schema")
    def zone_schema(request: Request, who: Admin) -> dict[str, Any]:
        with st(request).sessions() as s:
            labels = cameras.known_labels(s)
        scenes = [
            {
                **sc.model_dump(include={"id", "title", "category", "purpose", "how", "failure_modes"}),
                "labels": sc.labels,
                "rules": [r.model_dump(mode="json") for r in sc.rules],
            }
            for sc in load_scenes().scenes
        ]
        return {**form_schema(), "labels": labels, "scenes": scenes}

    @router.get("/api/cameras/{camera_id}/zones")
    def get_zones(request: Request, who: Admin, camera_id: str, preset: str = "") -> Response:
        with st(request).sessions() as s:
            try:
                cameras.get_camera(s, camera_id)
            except RegistryError as e:
                return _refused(e)
            latest = cameras.latest_version(s, camera_id, preset)
            data = latest.data if latest else ZoneSet(version=1).model_dump(mode="json") | {"version": 0}
            return JSONResponse({"zone_set": data, "versions": cameras.versions(s, camera_id, preset)})

    def _new_version(request: Request, act: Callable[..., Any]) -> Response:
        """Run `act(session, now, taxonomy)`, which saves a zone set version; refusals in Chinese."""
        try:
            with st(request).sessions.begin() as s:
                row = act(s, st(request).clock(), st(request).taxonomy)
                return JSONResponse({"version": row.version, "zone_set": row.data})
        except (RegistryError, ZoneSetInvalid) as e:
            return _refused(e)

    @router.put("/api/cameras/{camera_id}/zones")
    def put_zones(request: Request, who: Admin, camera_id: str, body: dict[str, Any], preset: str = "") -> Response:
        return _new_version(
            request, lambda s, now, tax: cameras.save_zone_set(s, camera_id, preset, body, who.name, now, tax)
        )

    @router.post("/api/cameras/{camera_id}/zones/revert")
    def revert_zones(request: Request, who: Admin, camera_id: str, body: RevertBody, preset: str = "") -> Response:
        return _new_version(
            request, lambda s, now, tax: cameras.revert(s, camera_id, preset, body.version, who.name, now, tax)
        )

    @router.post("/api/cameras/{camera_id}/zones/copy")
    def copy_zones(request: Request, who: Admin, camera_id: str, body: CopyBody, preset: str = "") -> Response:
        try:
            with st(request).sessions.begin() as s:
                out = cameras.copy_zone_set(
                    s, camera_id, preset, body.to, who.name, st(request).clock(), st(request).taxonomy
                )
        except (RegistryError, ZoneSetInvalid) as e:
            return _refused(e)
        return JSONResponse({"versions": out})

    # -- reference pictures -----------------------------------------------------------------------
    @router.post("/api/cameras/{camera_id}/reference/request")
    def request_reference(request: Request, who: Admin, camera_id: str) -> Response:
        with st(request).sessions.begin() as s:
            try:
                row = cameras.get_camera(s, camera_id)
            except RegistryError as e:
                return _refused(e)
            row.reference_wanted_at = st(request).clock()
        return JSONResponse({"requested": True})

    @router.get("/api/cameras/{camera_id}/reference")
    def reference_info(request: Request, who: AdminOrWorker, camera_id: str, preset: str = "") -> Response:
        with st(request).sessions() as s:
            ref = s.get(ReferencePicture, (camera_id, preset))
            cam = s.get(CameraRow, camera_id)
            if cam is None:
                raise HTTPException(404, f"点位 {camera_id} 不存在")
            wanted = cam.reference_wanted_at
            if ref is None:
                return JSONResponse({"picture": None, "requested_at": wanted.isoformat() if wanted else None})
            return JSONResponse(
                {
                    "picture": f"/api/cameras/{camera_id}/reference.jpg?preset={preset}",
                    "width": ref.width,
                    "height": ref.height,
                    "taken_at": ref.taken_at.isoformat(),
                    "worker": ref.worker,
                    "requested_at": wanted.isoformat() if wanted and wanted > ref.taken_at else None,
                }
            )

    @router.get("/api/cameras/{camera_id}/reference.jpg")
    def reference_picture(request: Request, who: AdminOrWorker, camera_id: str, preset: str = "") -> Response:
        with st(request).sessions() as s:
            ref = s.get(ReferencePicture, (camera_id, preset))
        if ref is None:
            raise HTTPException(404, "暂无参考画面")
        return FileResponse(references(request).resolve(ref.path), media_type="image/jpeg")

    @router.post("/api/cameras/{camera_id}/reference")
    def upload_reference(
        request: Request,
        who: WorkerToken,
        camera_id: str,
        picture: Annotated[UploadFile, File()],
        preset: Annotated[str, Form()] = "",
    ) -> Response:
        """A worker's fresh picture of the camera's view (on request and once a day)."""
        _, image = read_picture(picture)
        now: datetime = st(request).clock()
        tz = ZoneInfo(st(request).cfg.timezone)
        with st(request).sessions.begin() as s:
            if s.get(CameraRow, camera_id) is None:
                raise HTTPException(404, f"点位 {camera_id} 不存在")
            path = references(request).put(camera_id, _picture_name(preset), image, day=now.astimezone(tz).date())
            ref = s.get(ReferencePicture, (camera_id, preset))
            if ref is None:
                ref = ReferencePicture(camera_id=camera_id, preset=preset)
                s.add(ref)
            ref.path, ref.taken_at, ref.worker = path, now, who.name
            ref.height, ref.width = image.shape[:2]
        return JSONResponse({"path": path, "taken_at": now.isoformat()})

    # -- workers ----------------------------------------------------------------------------------
    @router.post("/api/worker/cameras")
    def worker_cameras(request: Request, who: WorkerToken, body: WorkerHello) -> dict[str, Any]:
        """The calling worker's cameras as worker-config entries, and which reference pictures to send."""
        with st(request).sessions.begin() as s:
            out = cameras.worker_cameras(s, who.name, body.labels, st(request).clock())
        mine = {c["id"] for c in out["cameras"]}
        with st(request).sessions.begin() as s:
            for camera_id, items in body.sightings.items():
                if camera_id in mine and items:
                    stored_sightings(s, camera_id)
                    sightings.add(camera_id, items[-500:])
                    row = s.get(CameraSightings, camera_id) or s.merge(CameraSightings(camera_id=camera_id, items=[]))
                    row.items = [x.model_dump() for x in sightings.kept(camera_id)]
                    row.updated_at = st(request).clock()
        return out

    @router.get("/api/cameras/{camera_id}/fixtures")
    def fixtures(
        request: Request,
        who: Annotated[Principal, Depends(require(*REVIEWERS, "worker"))],
        camera_id: str,
        preset: str | None = None,
    ) -> dict[str, Any]:
        """The camera's fixtures as the worker config's `fixtures:` entries (normalised boxes)."""
        with st(request).sessions() as s:
            q = select(FixtureRow).where(FixtureRow.camera_id == camera_id).order_by(FixtureRow.id)
            if preset is not None:
                q = q.where(FixtureRow.preset == preset)
            rows = list(s.scalars(q))
        return {
            "camera_id": camera_id,
            "fixtures": [{"zone": f.zone_id, "category": f.category_code, "box": f.box} for f in rows],
        }

    @router.get("/api/cameras/{camera_id}/sightings")
    def recent_sightings(request: Request, who: Admin, camera_id: str) -> dict[str, Any]:
        """The last hour of what the detectors saw on this camera, with the zones each box counted in."""
        now = st(request).clock().timestamp()
        with st(request).sessions() as s:
            stored_sightings(s, camera_id)
        return {"sightings": [x.model_dump() for x in sightings.recent(camera_id, now)]}

    return router
