"""Cameras as admins register them, their zone set versions and reference pictures, the workers that
fetch them, and what the workers report back: health, state changes, sightings, lease fences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xuncha.clues import limits
from xuncha.db.base import Base, utcnow


class CameraRow(Base):
    """A camera registered by an admin; workers fetch these with their token.

    `source` holds the full URL with its password: only workers get it back, pages see it masked.
    """

    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    sample_interval_s: Mapped[float] = mapped_column(Float, default=2.0)
    sampling: Mapped[str] = mapped_column(String(16), default="keyframes")
    preset: Mapped[str | None] = mapped_column(String(64), doc="Current PTZ preset; its zone set is applied")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(String(64), index=True)
    region_name: Mapped[str | None] = mapped_column(String(200))
    worker: Mapped[str | None] = mapped_column(String(128), index=True, doc="Worker token name; empty = any worker")
    reference_wanted_at: Mapped[datetime | None] = mapped_column(doc="An admin asked for a fresh picture")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class ZoneSetVersion(Base):
    """One saved version of a camera's zone set for one PTZ preset ('' = no preset); never changed after."""

    __tablename__ = "zone_set_versions"
    __table_args__ = (UniqueConstraint("camera_id", "preset", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    preset: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, doc="The ZoneSet as the worker config reads it")
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(String(200), default="")


class ReferencePicture(Base):
    """The newest picture of a camera's view (per preset) that a worker uploaded; the file is in the evidence store."""

    __tablename__ = "reference_pictures"
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    preset: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    path: Mapped[str] = mapped_column(String(300), doc="Evidence store path of the JPEG")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime]
    worker: Mapped[str] = mapped_column(String(128))


class WorkerSeen(Base):
    """A worker that fetched its cameras: when, and which model labels it can detect (for the editor)."""

    __tablename__ = "workers_seen"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    labels: Mapped[list[Any]] = mapped_column(JSON)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraHealthRow(Base):
    """A camera's latest health report from its worker, kept so the health page survives a restart."""

    __tablename__ = "camera_health"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker: Mapped[str] = mapped_column(String(128))
    reported_at: Mapped[datetime]
    entry: Mapped[dict[str, Any]] = mapped_column(JSON, doc="The worker's /health entry")


class CameraStateChange(Base):
    """A reported state change of a camera; the newest `health_store.CHANGES_KEPT` per camera are kept."""

    __tablename__ = "camera_state_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    old_state: Mapped[str | None] = mapped_column(String(16))
    new_state: Mapped[str] = mapped_column(String(16))


class CameraSightings(Base):
    """The newest detections a worker sent for a camera (the zone editor's overlay), bounded per camera."""

    __tablename__ = "camera_sightings"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    items: Mapped[list[Any]] = mapped_column(JSON, doc="Sighting dicts, oldest first")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraFence(Base):
    """The newest camera lease token intake has seen for a camera: messages under an older one are refused."""

    __tablename__ = "camera_fences"
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), primary_key=True)
    lease_token: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, doc="When a message last passed the fence")
