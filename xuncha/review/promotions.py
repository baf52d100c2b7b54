"""Model management (模型管理): shadow reports uploaded by admins, and which model the workers run.

A worker config names its detectors (`detectors.models`, e.g. `garbage`); a promotion (推广) points
that name at the new model of a shadow report (`xuncha bench shadow --json`): the report's `against`
model is the name's current one, its `model` the replacement. Every change is a new row of
`model_promotions`, newest first wins, so the table is the log; 回退 (roll back) is a change too, back to
the row's `previous_ref`, so the previous model is always one click away (and 回退 twice goes forward).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from xuncha.db.promotions import ModelPromotion, ShadowReport
from xuncha.db.users import User

PROMOTE, ROLLBACK = "promote", "rollback"


class PromotionError(ValueError):
    """A change refused; the message is shown to the admin."""


class ReportModel(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    ref: str = Field(min_length=1, max_length=1024)
    file: str = Field(min_length=1, max_length=1024)
    checksum: str | None = Field(None, max_length=80)


class ReportModels(BaseModel):
    model: ReportModel
    against: ReportModel


class ReportRow(BaseModel):
    camera_id: str
    category: str
    filed: int = Field(ge=0)
    rejected: int = Field(ge=0)
    rate: float | None
    models: dict[str, dict[str, float | int | None]]


class ShadowReportIn(BaseModel):
    """The JSON `xuncha bench shadow --json` writes (extra keys kept as they are)."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(pattern="^xuncha.shadow$")
    models: ReportModels
    rows: list[ReportRow] = Field(min_length=1, max_length=10_000)


def upload(s: Session, report: ShadowReportIn, user: User, now: datetime) -> ShadowReport:
    row = ShadowReport(
        model_name=report.models.model.name,
        against_name=report.models.against.name,
        report=report.model_dump(mode="json"),
        user_id=user.id,
        uploaded_at=now,
    )
    s.add(row)
    s.flush()
    return row


def current(s: Session) -> dict[str, ModelPromotion]:
    """The latest change per model name."""
    out: dict[str, ModelPromotion] = {}
    for p in s.scalars(select(ModelPromotion).order_by(ModelPromotion.id)):
        out[p.model_name] = p
    return out


def promote(s: Session, report_id: int, user: User, now: datetime) -> ModelPromotion:
    """Point the report's `against` name at its new model; the name's model in use becomes the previous."""
    report = s.get(ShadowReport, report_id)
    if report is None:
        raise PromotionError(f"评估报告 {report_id} 不存在")
    models = ReportModels.model_validate(report.report["models"])
    slot = models.against.name
    now_in_use = current(s).get(slot)
    prev_ref, prev_sum = (
        (now_in_use.ref, now_in_use.checksum) if now_in_use else (models.against.file, models.against.checksum)
    )
    if prev_sum is not None and prev_sum == models.model.checksum:
        raise PromotionError(f"{slot} 已在使用该模型")
    row = ModelPromotion(
        model_name=slot,
        action=PROMOTE,
        ref=models.model.file,
        checksum=models.model.checksum,
        previous_ref=prev_ref,
        previous_checksum=prev_sum,
        report_id=report.id,
        user_id=user.id,
        at=now,
    )
    s.add(row)
    s.flush()
    return row


def rollback(s: Session, model_name: str, user: User, now: datetime) -> ModelPromotion:
    """Back to the model in use before the latest change of `model_name`."""
    last = current(s).get(model_name)
    if last is None:
        raise PromotionError(f"{model_name} 尚未推广过模型，无可回退")
    row = ModelPromotion(
        model_name=model_name,
        action=ROLLBACK,
        ref=last.previous_ref,
        checksum=last.previous_checksum,
        previous_ref=last.ref,
        previous_checksum=last.checksum,
        report_id=last.report_id,
        user_id=user.id,
        at=now,
    )
    s.add(row)
    s.flush()
    return row


def promotion_json(p: ModelPromotion, by: str) -> dict[str, Any]:
    return {
        "model_name": p.model_name,
        "action": p.action,
        "ref": p.ref,
        "checksum": p.checksum,
        "previous_ref": p.previous_ref,
        "previous_checksum": p.previous_checksum,
        "report_id": p.report_id,
        "by": by,
        "at": p.at.isoformat(),
    }


def history(s: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The latest changes, newest first."""
    q = (
        select(ModelPromotion, User.username)
        .join(User, User.id == ModelPromotion.user_id)
        .order_by(ModelPromotion.id.desc())
        .limit(limit)
    )
    return [promotion_json(p, by) for p, by in s.execute(q)]


def worker_models(s: Session) -> dict[str, dict[str, Any]]:
    """The model in use per model name, for the workers."""
    names = {u.id: u.username for u in s.scalars(select(User))}
    return {name: promotion_json(p, names.get(p.user_id, "")) for name, p in current(s).items()}
