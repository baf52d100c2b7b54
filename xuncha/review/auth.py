"""Users, login sessions, CSRF and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). A browser login is a random cookie value whose
SHA-256 is stored with the session's CSRF token; every unsafe request made with the cookie must
send that token in the `X-CSRF-Token` header (the pages put it in a <meta> tag). Services use
`Authorization: Bearer <token>`; only the token's SHA-256 is stored, and bearer requests need no
CSRF token (a browser never sends one on its own).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xuncha.db.base import utcnow
from xuncha.db.users import ROLES, TOKEN_ROLES, ApiToken, LoginSession, User, normalize_username

COOKIE = "xuncha_session"
CSRF_HEADER = "X-CSRF-Token"
# argon2-cffi's defaults (RFC 9106 low-memory profile); tests swap in cheaper parameters.
HASHER = PasswordHasher()
USERNAME_CHARS = 64  # the users.username column
PASSWORD_CHARS = 1024
_NAME_CHAR = r"a-z0-9\u3400-\u4dbf\u4e00-\u9fff"  # ASCII and the CJK ideographs
USERNAME_PATTERN = re.compile(f"[{_NAME_CHAR}][{_NAME_CHAR}._@-]*")


@cache
def _dummy_hash() -> str:
    return HASHER.hash("not a password")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a logged-in user (with the session's CSRF token) or a service token."""

    name: str
    role: str
    user: User | None = None
    csrf_token: str | None = None

    @property
    def is_token(self) -> bool:
        return self.user is None


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def check_username(name: str) -> str:
    """The normalised user name, or ValueError if it may not be one. Only ASCII letters, digits,
    `.`, `_`, `-`, `@` and Chinese characters: look-alikes from other scripts (Cyrillic а) are refused.

    >>> check_username("Wang.Li")
    'wang.li'
    >>> check_username("аdmin")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: 用户名只能用...
    """
    norm = normalize_username(name)
    if not 1 <= len(norm) <= USERNAME_CHARS:
        raise ValueError(f"用户名须为 1-{USERNAME_CHARS} 个字符 (username must be 1-{USERNAME_CHARS} characters)")
    if not USERNAME_PATTERN.fullmatch(norm):
        raise ValueError(
            "用户名只能用字母、数字、汉字和 . _ - @，并以字母、数字或汉字开头 "
            f"(username: letters, digits, Chinese characters, . _ - @ only), got {name!r}"
        )
    return norm


def check_password_rules(password: str) -> None:
    if not password.strip():
        raise ValueError("密码不能为空或全是空白 (password must not be blank)")
    if len(password) < 8:
        raise ValueError("密码至少 8 个字符 (password must have at least 8 characters)")
    if len(password) > PASSWORD_CHARS:
        raise ValueError(f"密码最多 {PASSWORD_CHARS} 个字符 (password must have at most {PASSWORD_CHARS} characters)")


def create_user(session: Session, username: str, password: str, role: str) -> User:
    """A new user; the name is stored normalised, and a name that normalises to an existing one is refused."""
    if role not in ROLES:
        raise ValueError(f"角色必须是 {', '.join(ROLES)} 之一 (role must be one of them), got {role!r}")
    username = check_username(username)
    check_password_rules(password)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ValueError(f"用户 {username!r} 已存在 (user exists already)")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def create_token(session: Session, name: str, role: str) -> str:
    """A new API token; the plain value is returned once and never stored."""
    if role not in TOKEN_ROLES:
        raise ValueError(f"令牌角色必须是 {', '.join(TOKEN_ROLES)} 之一 (token role must be one of them), got {role!r}")
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise ValueError(f"令牌 {name!r} 已存在 (token exists already)")
    value = "xct_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_sha256(value), role=role))
    session.flush()
    return value


def check_password(session: Session, username: str, password: str) -> User | None:
    """The active user `username` (any spelling that normalises to it) if `password` is theirs."""
    if len(password) > PASSWORD_CHARS:
        return None  # no such password was ever accepted; do not spend a hash on it
    username = normalize_username(username)
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    try:
        # An unknown user costs a verification too: timing does not tell which usernames exist.
        HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def start_session(session: Session, user: User, hours: float, now: datetime | None = None) -> str:
    """A new login for `user`; returns the cookie value. Expired sessions are swept here."""
    now = now or utcnow()
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    value = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=_sha256(value),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return value


def end_session(session: Session, cookie: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == _sha256(cookie)))


def from_cookie(session: Session, cookie: str, now: datetime | None = None) -> Principal | None:
    row = session.get(LoginSession, _sha256(cookie))
    if row is None or row.expires_at < (now or utcnow()):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return Principal(name=user.username, role=user.role, user=user, csrf_token=row.csrf_token)


def from_bearer(session: Session, token: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(token), ApiToken.revoked.is_(False)))
    return None if row is None else Principal(name=row.name, role=row.role)


def csrf_ok(principal: Principal, sent: str | None) -> bool:
    """Bearer calls need none; cookie calls must echo the session's token."""
    if principal.is_token:
        return True
    return bool(sent) and principal.csrf_token is not None and hmac.compare_digest(sent, principal.csrf_token)
