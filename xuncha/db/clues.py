"""Clues as the workers report them, the events applied, and what operators make of them: decisions,
corrections, fixtures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xuncha.clues import limits
from xuncha.db.base import Base, utcnow

# Clue statuses; a pending clue whose violation disappeared before review has `gone` set (已消失).
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"


class Clue(Base):
    """The latest state of a clue as the worker reported it, plus its review status. Column sizes are
    the contract's limits (`xuncha/clues/limits.py`): every event the schema accepts fits."""

    __tablename__ = "clues"
    id: Mapped[str] = mapped_column(String(limits.CLUE_ID_CHARS), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_reason: Mapped[str | None] = mapped_column(String(limits.CLOSED_REASON_CHARS))
    last_seq: Mapped[int] = mapped_column(Integer)
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), index=True)
    camera_name: Mapped[str] = mapped_column(String(limits.NAME_CHARS))
    preset: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    zone_id: Mapped[str] = mapped_column(String(limits.ID_CHARS))
    zone_name: Mapped[str] = mapped_column(String(limits.NAME_CHARS))
    category_code: Mapped[str] = mapped_column(String(limits.CATEGORY_CODE_CHARS), index=True)
    category_name: Mapped[str] = mapped_column(String(limits.CATEGORY_NAME_CHARS))
    region_code: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    region_name: Mapped[str | None] = mapped_column(String(limits.NAME_CHARS))
    community_code: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    community_name: Mapped[str | None] = mapped_column(String(limits.NAME_CHARS))
    grid_code: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    grid_name: Mapped[str | None] = mapped_column(String(limits.NAME_CHARS))
    model_name: Mapped[str] = mapped_column(String(limits.MODEL_NAME_CHARS))
    label: Mapped[str] = mapped_column(String(limits.MODEL_NAME_CHARS))
    score: Mapped[float] = mapped_column(Float)
    box: Mapped[list[Any]] = mapped_column(JSON)
    frame_w: Mapped[int] = mapped_column(Integer)
    frame_h: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    dwell_s: Mapped[float] = mapped_column(Float)
    occurrences: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)  # what the text stage read (text rules only)
    phone_numbers: Mapped[list[Any] | None] = mapped_column(JSON)
    phones: Mapped[list[CluePhone]] = relationship(cascade="all, delete-orphan")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CluePhone(Base):
    """A phone number read in a clue: searched by operators, counted across cameras (one advertiser)."""

    __tablename__ = "clue_phones"
    clue_id: Mapped[str] = mapped_column(
        String(limits.CLUE_ID_CHARS), ForeignKey("clues.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(limits.PHONE_CHARS), primary_key=True, index=True)
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS))


class ClueEventRow(Base):
    """Every event applied, by event_id: the record that makes intake idempotent."""

    __tablename__ = "clue_events"
    event_id: Mapped[str] = mapped_column(String(limits.EVENT_ID_CHARS), primary_key=True)
    clue_id: Mapped[str] = mapped_column(String(limits.CLUE_ID_CHARS), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(limits.KIND_CHARS))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_token: Mapped[int | None] = mapped_column(Integer, doc="The sender's camera lease token (fencing.py)")


class Decision(Base):
    """An operator's accept or reject; an undone decision stays, with undone_at set, out of the stats."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clue_id: Mapped[str] = mapped_column(ForeignKey("clues.id"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean)
    category_code: Mapped[str] = mapped_column(String(16), doc="Filed category (the operator may correct it)")
    reason_code: Mapped[str | None] = mapped_column(String(32))
    reason_text: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    undone_at: Mapped[datetime | None]


class Correction(Base):
    """An operator's correction of a clue's box and/or category for the training export (框选更正 /
    分类更正). Kept per clue beside its decisions, so an undo or a new decision keeps it; saving again
    replaces it."""

    __tablename__ = "corrections"
    clue_id: Mapped[str] = mapped_column(ForeignKey("clues.id"), primary_key=True)
    box: Mapped[list[Any] | None] = mapped_column(JSON, doc="x1, y1, x2, y2 in frame pixels, as clues.box")
    category_code: Mapped[str | None] = mapped_column(String(limits.CATEGORY_CODE_CHARS), doc="A taxonomy code")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    corrected_at: Mapped[datetime]


class FixtureRow(Base):
    """A permanent object (固定设施) an operator marked; the worker stops reporting it there."""

    __tablename__ = "fixtures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    preset: Mapped[str | None] = mapped_column(String(64))
    zone_id: Mapped[str | None] = mapped_column(String(64))
    category_code: Mapped[str | None] = mapped_column(String(16))
    box: Mapped[list[Any]] = mapped_column(JSON, doc="x1, y1, x2, y2 as fractions of the frame")
    clue_id: Mapped[str | None] = mapped_column(ForeignKey("clues.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
