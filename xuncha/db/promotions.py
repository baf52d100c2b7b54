"""Model management (模型管理): uploaded shadow reports and the log of model promotions and rollbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xuncha.db.base import Base


class ShadowReport(Base):
    """A report of `xuncha bench shadow` uploaded on the 模型管理 page (the JSON as written)."""

    __tablename__ = "shadow_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), doc="The new model's card name")
    against_name: Mapped[str] = mapped_column(String(128), doc="The current model's card name (the slot)")
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]


class ModelPromotion(Base):
    """One change of the model the workers run under `model_name` (推广 or 回退): the log, newest wins."""

    __tablename__ = "model_promotions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), index=True, doc="The name in detectors.models")
    action: Mapped[str] = mapped_column(String(16), doc="promote or rollback")
    ref: Mapped[str] = mapped_column(String(1024), doc="The model now in use: an .onnx path or a card name")
    checksum: Mapped[str | None] = mapped_column(String(80))
    previous_ref: Mapped[str] = mapped_column(String(1024), doc="The model before: what 回退 goes back to")
    previous_checksum: Mapped[str | None] = mapped_column(String(80))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("shadow_reports.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]
