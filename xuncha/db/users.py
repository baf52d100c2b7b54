"""Who may use the service: users with their browser logins, and the services' bearer tokens."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xuncha.db.base import Base, utcnow

ROLES = ("operator", "admin")
TOKEN_ROLES = ("dispatch", "worker")


def normalize_username(name: str) -> str:
    """The one spelling a user name is stored and looked up in: NFKC (full-width letters become
    ASCII), trimmed, case-folded; so `ADMIN`, ` admin ` and `ａｄｍｉｎ` all name `admin`.

    >>> normalize_username(" ＡＤＭＩＮ ")
    'admin'
    """
    return unicodedata.normalize("NFKC", name).strip().casefold()


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginSession(Base):
    """A browser login; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "login_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for a service (dispatch, worker); only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
