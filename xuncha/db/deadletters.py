"""Dead letters: messages the review service could not apply, kept with the reason (handled in
`xuncha.review.deadletter`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xuncha.db.base import Base, utcnow


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    queue: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(255))
    routing_key: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary, doc="The body, or its first MAX_MESSAGE_BYTES")
    body_size: Mapped[int] = mapped_column(Integer, doc="Size of the whole body in bytes")
    truncated: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
