"""The camera registry: cameras admins register, their versioned zone sets, and what workers fetch.

A camera is validated by the worker's own `CameraConfig` and a zone set by its `ZoneSet`, so the
service refuses exactly what a worker would. Zone sets are keyed by camera and PTZ preset ('' = no
preset); every save is a new version, never an update.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from xuncha.config.worker import CameraConfig
from xuncha.db.cameras import CameraRow, ReferencePicture, WorkerSeen, ZoneSetVersion
from xuncha.redact import mask_url
from xuncha.spreadsheet import plain_cell, safe_cell
from xuncha.taxonomy import Taxonomy
from xuncha.zones.editor import ZoneSetInvalid, diff_zone_sets, field_zh, message_zh, validate_zone_set
from xuncha.zones.model import ZoneSet

REFERENCE_MAX_AGE = timedelta(days=1)  # workers send a fresh reference picture at least this often


class RegistryError(ValueError):
    """A request the registry refuses; the message is Chinese, `status` the HTTP status."""

    def __init__(self, message: str, status: int = 422, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or [message]


class CameraFields(BaseModel):
    """A camera as the admin form, CSV and YAML import give it: flat, zones apart."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = ""
    source: str
    enabled: bool = True
    sample_interval_s: float = 2.0
    sampling: str = "keyframes"
    preset: str | None = None
    lon: float | None = None
    lat: float | None = None
    region_code: str | None = None
    region_name: str | None = None
    worker: str | None = Field(None, description="Worker token name that runs it; empty = any worker")


def _blank_to_none(v: str | None) -> str | None:
    return v.strip() or None if isinstance(v, str) else v


def camera_config(f: CameraFields, zones: ZoneSet | None = None) -> CameraConfig:
    """The worker's CameraConfig for a camera; RegistryError with Chinese problems if a worker would refuse it."""
    data: dict[str, Any] = {
        "id": f.id,
        "name": f.name,
        "source": f.source,
        "enabled": f.enabled,
        "sample_interval_s": f.sample_interval_s,
        "sampling": f.sampling,
        "preset": _blank_to_none(f.preset),
        "location": {"lon": f.lon, "lat": f.lat} if f.lon is not None or f.lat is not None else None,
        "region": {"code": f.region_code, "name": f.region_name or ""} if _blank_to_none(f.region_code) else None,
        "zones": zones if zones is not None else ZoneSet(),
    }
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as e:
        problems = [
            f"点位 {f.id} 的{field_zh(CameraConfig, tuple(err['loc']))}：{message_zh(err)}" for err in e.errors()
        ]
        raise RegistryError("；".join(problems), problems=problems) from None


def _fields(row: CameraRow) -> CameraFields:
    return CameraFields(
        id=row.id,
        name=row.name,
        source=row.source,
        enabled=row.enabled,
        sample_interval_s=row.sample_interval_s,
        sampling=row.sampling,
        preset=row.preset,
        lon=row.lon,
        lat=row.lat,
        region_code=row.region_code,
        region_name=row.region_name,
        worker=row.worker,
    )


def camera_json(row: CameraRow) -> dict[str, Any]:
    """A camera for pages and admins: the source URL's password masked, never in full."""
    out = _fields(row).model_dump()
    out["source"] = mask_url(row.source)
    out["updated_at"] = row.updated_at.isoformat()
    out["updated_by"] = row.updated_by
    return out


def keep_password(stored: str, sent: str) -> str:
    """An edit that sends back the masked URL unchanged keeps the stored password.

    >>> keep_password("rtsp://u:secret@cam/1", "rtsp://u:***@cam/1")
    'rtsp://u:secret@cam/1'
    >>> keep_password("rtsp://u:secret@cam/1", "rtsp://u:***@cam/2")
    'rtsp://u:***@cam/2'
    """
    return stored if sent == mask_url(stored) else sent


def save_camera(s: Session, f: CameraFields, user: str, now: datetime, *, create: bool) -> CameraRow:
    """Create or update a camera (validated as a worker would load it)."""
    row = s.get(CameraRow, f.id)
    if create and row is not None:
        raise RegistryError(f"点位编号 {f.id} 已存在", 409)
    if not create and row is None:
        raise RegistryError(f"点位 {f.id} 不存在", 404)
    if row is not None:
        f = f.model_copy(update={"source": keep_password(row.source, f.source)})
    camera_config(f)
    if row is None:
        row = CameraRow(id=f.id, created_at=now)
        s.add(row)
    for key, value in f.model_dump(exclude={"id"}).items():
        setattr(row, key, _blank_to_none(value) if key in ("preset", "region_code", "region_name", "worker") else value)
    row.updated_at, row.updated_by = now, user
    s.flush()
    return row


def list_cameras(
    s: Session, *, region: str | None = None, state: str | None = None, worker: str | None = None
) -> list[CameraRow]:
    """Cameras filtered by region code, state ('enabled' / 'disabled') and owner worker ('-' = any worker)."""
    q = select(CameraRow).order_by(CameraRow.id)
    if region:
        q = q.where(CameraRow.region_code == region)
    if state in ("enabled", "disabled"):
        q = q.where(CameraRow.enabled.is_(state == "enabled"))
    if worker == "-":
        q = q.where(CameraRow.worker.is_(None))
    elif worker:
        q = q.where(CameraRow.worker == worker)
    return list(s.scalars(q))


def get_camera(s: Session, camera_id: str) -> CameraRow:
    row = s.get(CameraRow, camera_id)
    if row is None:
        raise RegistryError(f"点位 {camera_id} 不存在", 404)
    return row


# -- zone sets ------------------------------------------------------------------------------------


def latest_version(s: Session, camera_id: str, preset: str) -> ZoneSetVersion | None:
    return s.scalar(
        select(ZoneSetVersion)
        .where(ZoneSetVersion.camera_id == camera_id, ZoneSetVersion.preset == preset)
        .order_by(ZoneSetVersion.version.desc())
        .limit(1)
    )


def save_zone_set(
    s: Session,
    camera_id: str,
    preset: str,
    data: dict[str, Any],
    user: str,
    now: datetime,
    taxonomy: Taxonomy,
    note: str = "",
) -> ZoneSetVersion:
    """Validate with the worker's models and store as the next version."""
    get_camera(s, camera_id)
    body = {k: v for k, v in data.items() if k not in ("version", "reference_image")}
    zs = validate_zone_set(body, taxonomy)
    last = latest_version(s, camera_id, preset)
    version = (last.version if last else 0) + 1
    row = ZoneSetVersion(
        camera_id=camera_id,
        preset=preset,
        version=version,
        data=zs.model_copy(update={"version": version}).model_dump(mode="json"),
        saved_by=user,
        saved_at=now,
        note=note,
    )
    s.add(row)
    s.flush()
    return row


def versions(s: Session, camera_id: str, preset: str) -> list[dict[str, Any]]:
    """Every version, newest first, with what changed from the one before it."""
    rows = list(
        s.scalars(
            select(ZoneSetVersion)
            .where(ZoneSetVersion.camera_id == camera_id, ZoneSetVersion.preset == preset)
            .order_by(ZoneSetVersion.version)
        )
    )
    out, previous = [], None
    for r in rows:
        zs = ZoneSet.model_validate(r.data)
        out.append(
            {
                "version": r.version,
                "saved_by": r.saved_by,
                "saved_at": r.saved_at.isoformat(),
                "note": r.note,
                "changes": diff_zone_sets(previous, zs),
            }
        )
        previous = zs
    return out[::-1]


def revert(
    s: Session, camera_id: str, preset: str, version: int, user: str, now: datetime, taxonomy: Taxonomy
) -> ZoneSetVersion:
    """Go back to an earlier version: saved again as the newest (history is never rewritten)."""
    old = s.scalar(
        select(ZoneSetVersion).where(
            ZoneSetVersion.camera_id == camera_id, ZoneSetVersion.preset == preset, ZoneSetVersion.version == version
        )
    )
    if old is None:
        raise RegistryError(f"点位 {camera_id} 没有版本 {version}", 404)
    return save_zone_set(s, camera_id, preset, old.data, user, now, taxonomy, note=f"恢复到版本 {version}")


# -- workers --------------------------------------------------------------------------------------


def worker_cameras(s: Session, worker: str, labels: list[str], now: datetime) -> dict[str, Any]:
    """What a worker runs: its cameras as worker-config entries (full source URL, current preset's zones),
    and the cameras whose reference picture it should send. Records the worker's model labels."""
    seen = s.get(WorkerSeen, worker)
    if seen is None:
        s.add(WorkerSeen(name=worker, labels=labels, seen_at=now))
    else:
        seen.labels, seen.seen_at = labels, now
    rows = list(
        s.scalars(
            select(CameraRow).where((CameraRow.worker.is_(None)) | (CameraRow.worker == worker)).order_by(CameraRow.id)
        )
    )
    cameras, wanted = [], []
    for row in rows:
        preset = row.preset or ""
        latest = latest_version(s, row.id, preset)
        zones = ZoneSet.model_validate(latest.data) if latest else ZoneSet()
        ref = s.get(ReferencePicture, (row.id, preset))
        if ref is not None:  # the worker's view check compares its samples with it (relative to review_url)
            zones.reference_image = f"/api/cameras/{quote(row.id)}/reference.jpg?preset={quote(preset)}"
        cameras.append(camera_config(_fields(row), zones).model_dump(mode="json", exclude_defaults=True))
        if row.enabled and (
            ref is None
            or now - ref.taken_at >= REFERENCE_MAX_AGE
            or (row.reference_wanted_at is not None and row.reference_wanted_at > ref.taken_at)
        ):
            wanted.append(row.id)
    return {"cameras": cameras, "reference_wanted": wanted}


def known_labels(s: Session) -> list[str]:
    """Model labels the workers said they detect (the editor offers these)."""
    labels: set[str] = set()
    for row in s.scalars(select(WorkerSeen)):
        labels.update(row.labels)
    return sorted(labels)


# -- bulk: import, export, copy -------------------------------------------------------------------

CSV_COLUMNS = list(CameraFields.model_fields)


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    """A worker-config camera (nested location/region) as CameraFields input; flat rows pass through."""
    out = {k: v for k, v in item.items() if k not in ("location", "region", "zones", "fixtures", "start_time")}
    if isinstance(item.get("location"), dict):
        out["lon"], out["lat"] = item["location"].get("lon"), item["location"].get("lat")
    if isinstance(item.get("region"), dict):
        out["region_code"], out["region_name"] = item["region"].get("code"), item["region"].get("name")
    return out


def parse_import(filename: str, data: bytes) -> list[tuple[CameraFields, dict[str, Any] | None]]:
    """Cameras (and their zone sets, YAML only) from an uploaded CSV or YAML file; every bad row is named."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RegistryError(f"{filename}：不是 UTF-8 文本") from None
    if filename.lower().endswith(".csv"):
        rows = [
            (f"第 {i} 行", {k: plain_cell(v) for k, v in row.items() if k and v not in (None, "")}, None)
            for i, row in enumerate(csv.DictReader(io.StringIO(text)), start=2)
        ]
        for _, row, _ in rows:
            if "enabled" in row:
                row["enabled"] = str(row["enabled"]).strip().lower() in ("1", "true", "yes", "是", "启用")
    elif filename.lower().endswith((".yaml", ".yml")):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise RegistryError(f"{filename}：YAML 格式错误：{e}") from None
        items = doc.get("cameras") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise RegistryError(f"{filename}：应为 cameras: 列表")
        rows = [
            (f"cameras[{i}]", _flat(item), item.get("zones")) if isinstance(item, dict) else (f"cameras[{i}]", {}, None)
            for i, item in enumerate(items)
        ]
    else:
        raise RegistryError(f"{filename}：只支持 .csv、.yaml 或 .yml 文件")
    out, problems = [], []
    for where, row, zones in rows:
        try:
            fields = CameraFields.model_validate(row)
        except ValidationError as e:
            problems += [
                f"{filename} {where} 的「{'.'.join(map(str, err['loc']))}」：{message_zh(err)}" for err in e.errors()
            ]
            continue
        out.append((fields, zones))
    if not out and not problems:
        problems.append(f"{filename}：没有点位")
    if problems:
        raise RegistryError("；".join(problems), problems=problems)
    return out


def import_cameras(
    s: Session, filename: str, data: bytes, user: str, now: datetime, taxonomy: Taxonomy
) -> dict[str, int]:
    """Create or update every camera of the file, or none: all problems are reported together."""
    created = updated = zone_sets = 0
    problems: list[str] = []
    for fields, zones in parse_import(filename, data):
        try:
            exists = s.get(CameraRow, fields.id) is not None
            save_camera(s, fields, user, now, create=not exists)
            if zones is not None:
                body = {"zones": zones} if isinstance(zones, list) else zones
                save_zone_set(s, fields.id, fields.preset or "", body, user, now, taxonomy, note=f"导入 {filename}")
                zone_sets += 1
        except (RegistryError, ZoneSetInvalid) as e:
            problems += [f"点位 {fields.id}：{p}" if not p.startswith("点位") else p for p in e.problems]
            continue
        updated += exists
        created += not exists
    if problems:
        raise RegistryError("；".join(problems), problems=problems)
    return {"created": created, "updated": updated, "zone_sets": zone_sets}


def export_cameras(s: Session, fmt: str, rows: list[CameraRow]) -> str:
    """CSV (the registry's columns) or YAML (worker-config `cameras:` with each camera's current zones).

    Source URLs are exported masked; importing the file into this service again keeps the passwords.
    """
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            cells = {k: "" if v is None else safe_cell(v) for k, v in camera_json(row).items() if k in CSV_COLUMNS}
            writer.writerow(cells)
        return buf.getvalue()
    cams = []
    for row in rows:
        latest = latest_version(s, row.id, row.preset or "")
        zones = ZoneSet.model_validate(latest.data) if latest else ZoneSet()
        cam = camera_config(_fields(row).model_copy(update={"source": mask_url(row.source)}), zones)
        item = cam.model_dump(mode="json", exclude_defaults=True)
        if row.worker:
            item["worker"] = row.worker
        cams.append(item)
    return yaml.safe_dump({"cameras": cams}, allow_unicode=True, sort_keys=False)


def copy_zone_set(
    s: Session, source: str, preset: str, targets: list[str], user: str, now: datetime, taxonomy: Taxonomy
) -> dict[str, int]:
    """Save the source camera's newest zone set as a new version of each target (for the target's preset)."""
    latest = latest_version(s, source, preset)
    if latest is None:
        raise RegistryError(f"点位 {source} 还没有区域，无法复制")
    out = {}
    for target in targets:
        row = get_camera(s, target)
        saved = save_zone_set(
            s, target, row.preset or "", latest.data, user, now, taxonomy, note=f"复制自 {source} 版本 {latest.version}"
        )
        out[target] = saved.version
    return out
