"""Phone numbers read on small ads: search clues by number, count one number across cameras.

Cities stop advertisers by their number (停机), so one number on many posters is one advertiser: the
review page shows, for each number, on how many cameras and clues it was read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from xuncha.db.clues import Clue, CluePhone

_DIGITS = re.compile(r"\d+")


def phone_filter(query: str) -> ColumnElement[bool]:
    """Clues with a number containing the digits typed (spaces and dashes ignored); ValueError without digits."""
    digits = "".join(_DIGITS.findall(query))
    if not digits:
        raise ValueError("电话号码须包含数字")
    return Clue.id.in_(select(CluePhone.clue_id).where(CluePhone.phone.contains(digits, autoescape=True)))


def counts(session: Session, phones: Iterable[str]) -> dict[str, dict[str, int]]:
    """For each number: on how many cameras and clues it was read (all statuses)."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    rows = session.execute(
        select(CluePhone.phone, func.count(func.distinct(CluePhone.camera_id)), func.count())
        .where(CluePhone.phone.in_(wanted))
        .group_by(CluePhone.phone)
    ).all()
    return {phone: {"cameras": cams, "clues": n} for phone, cams, n in rows}


def repeated(session: Session, min_cameras: int = 2, limit: int = 100) -> list[dict[str, Any]]:
    """Numbers read on at least `min_cameras` cameras, most cameras first."""
    cams = func.count(func.distinct(CluePhone.camera_id))
    rows = session.execute(
        select(CluePhone.phone, cams, func.count())
        .group_by(CluePhone.phone)
        .having(cams >= min_cameras)
        .order_by(cams.desc(), func.count().desc(), CluePhone.phone)
        .limit(limit)
    ).all()
    return [{"phone": phone, "cameras": c, "clues": n} for phone, c, n in rows]
