"""Adaptive gating: each camera zone's level per category, and the log of its changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xuncha.clues import limits
from xuncha.db.base import Base


class GatingLevel(Base):
    """How many steps tighter than its rules a camera's zone runs for a category (adaptive gating)."""

    __tablename__ = "gating_levels"
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), primary_key=True)
    category_code: Mapped[str] = mapped_column(String(limits.CATEGORY_CODE_CHARS), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(doc="Decisions before this do not count for the next change")


class GatingChange(Base):
    """One change of a gating level, with the numbers that caused it; an undo is a change too."""

    __tablename__ = "gating_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), index=True)
    zone_id: Mapped[str] = mapped_column(String(limits.ID_CHARS))
    category_code: Mapped[str] = mapped_column(String(limits.CATEGORY_CODE_CHARS))
    at: Mapped[datetime]
    old_level: Mapped[int] = mapped_column(Integer)
    new_level: Mapped[int] = mapped_column(Integer)
    reviewed: Mapped[int | None] = mapped_column(Integer, doc="Reviews the change was decided on (null: an undo)")
    accepted: Mapped[int | None] = mapped_column(Integer, doc="Of which filed (立案)")
    by: Mapped[str] = mapped_column(String(64), doc="'auto' or the admin who undid a change")
    undoes: Mapped[int | None] = mapped_column(ForeignKey("gating_changes.id"), doc="The change this one undid")
    undone_at: Mapped[datetime | None]
