"""Filed clues (立案) and what follows: dispatch's handling reports, re-checks, and the outbox of messages
to publish."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xuncha.db.base import Base, utcnow


class Case(Base):
    """A filed clue (立案) and what dispatch first reported back about it (every report: CaseReport)."""

    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    clue_id: Mapped[str] = mapped_column(ForeignKey("clues.id"), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    deadline: Mapped[datetime | None]
    escalation: Mapped[str | None] = mapped_column(String(16), doc="交办 / 督办 / 重点督办 at filing")
    closed_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="结案: a re-check found it rectified, or an operator ruled so"
    )
    handled_at: Mapped[datetime | None]
    handled: Mapped[bool | None] = mapped_column(Boolean)
    handling_unit: Mapped[str | None] = mapped_column(String(200))
    handling_note: Mapped[str | None] = mapped_column(Text)
    after_picture: Mapped[str | None] = mapped_column(String(300), doc="Evidence store path")


class CaseReport(Base):
    """One handling report from dispatch; a later report never overwrites an earlier one."""

    __tablename__ = "case_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, doc="1 for the case's first report")
    reported_at: Mapped[datetime]
    handled: Mapped[bool] = mapped_column(Boolean)
    unit: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    picture: Mapped[str | None] = mapped_column(String(300), doc="Evidence store path of the after picture")
    picture_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    picture_taken_at: Mapped[datetime | None] = mapped_column(doc="When dispatch says the picture was taken")
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list, doc="Suspicious-picture flags (PICTURE_FLAGS)")


class Recheck(Base):
    """A re-inspection of a handled case's place by its camera, and the verdict."""

    __tablename__ = "rechecks"
    id: Mapped[str] = mapped_column(String(160), primary_key=True, doc="The request id")
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("case_reports.id"))
    requested_at: Mapped[datetime]
    verdict: Mapped[str | None] = mapped_column(String(16), index=True, doc="null while waiting for the worker")
    reason: Mapped[str | None] = mapped_column(Text)
    samples: Mapped[int | None] = mapped_column(Integer)
    present: Mapped[int | None] = mapped_column(Integer)
    checked_to: Mapped[datetime | None]
    after_picture: Mapped[str | None] = mapped_column(String(300))
    worker: Mapped[str | None] = mapped_column(String(128))
    result_at: Mapped[datetime | None] = mapped_column(index=True)
    overruled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), doc="Operator who ruled 未整改 wrong")
    overruled_at: Mapped[datetime | None]
    overrule_note: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A message to publish, written in the decision's transaction; the relay sends it after `not_before`."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(160), unique=True)
    routing_key: Mapped[str] = mapped_column(String(100))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(index=True)
