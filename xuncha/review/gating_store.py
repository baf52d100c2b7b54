"""Adaptive gating in the database: each group's level, recomputed lazily, its log, and undo.

Levels are recomputed when someone asks for them (a worker's GET, the camera's page) rather than in
the decision path: the decision routes stay as they are, a worker gets a level at most one refresh
(30 s) after the decision that tipped it, and a change is made in one transaction with the numbers
that caused it. Each group reads at most `window` decision rows (newest first, after its last change).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xuncha.db.clues import Clue, Decision
from xuncha.db.gating import GatingChange, GatingLevel
from xuncha.review.gating import (
    AUTO,
    WORKER_REFRESH,
    GatingSettings,
    clue_text,
    describe,
    level_at,
    level_text,
    next_level,
)


class GatingError(Exception):
    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _standing(
    session: Session, camera_id: str, zone_id: str, category: str, since: datetime | None, n: int
) -> list[bool]:
    """The group's newest `n` standing decisions after `since`, newest first (True = 立案)."""
    q = (
        select(Decision.accepted)
        .join(Clue, Clue.id == Decision.clue_id)
        .where(
            Clue.camera_id == camera_id,
            Clue.zone_id == zone_id,
            Clue.category_code == category,
            Decision.undone_at.is_(None),
        )
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
        .limit(n)
    )
    if since is not None:
        q = q.where(Decision.decided_at > since)
    return list(session.scalars(q))


def refresh(session: Session, camera_id: str, p: GatingSettings, now: datetime) -> list[GatingChange]:
    """Make the changes due on the camera's groups (one step each at most); the new log rows."""
    groups = session.execute(
        select(Clue.zone_id, Clue.category_code)
        .join(Decision, Decision.clue_id == Clue.id)
        .where(Clue.camera_id == camera_id, Decision.undone_at.is_(None))
        .distinct()
    ).all()
    made = []
    for zone_id, category in groups:
        row = session.get(GatingLevel, (camera_id, zone_id, category))
        level, since = (row.level, row.changed_at) if row else (0, None)
        change = next_level(level, _standing(session, camera_id, zone_id, category, since, p.window), p)
        if change is None:
            continue
        if row is None:
            row = GatingLevel(camera_id=camera_id, zone_id=zone_id, category_code=category)
            session.add(row)
        row.level, row.changed_at = change.new, now
        log = GatingChange(
            camera_id=camera_id,
            zone_id=zone_id,
            category_code=category,
            at=now,
            old_level=change.old,
            new_level=change.new,
            reviewed=change.reviewed,
            accepted=change.accepted,
            by=AUTO,
        )
        session.add(log)
        made.append(log)
    session.flush()
    return made


def undo(session: Session, change_id: int, who: str, now: datetime) -> GatingChange:
    """Put the change's group back to the level before it; only a group's newest change can be undone."""
    change = session.get(GatingChange, change_id)
    if change is None:
        raise GatingError(f"调整记录 {change_id} 不存在", 404)
    newest = session.scalars(
        select(GatingChange)
        .where(
            GatingChange.camera_id == change.camera_id,
            GatingChange.zone_id == change.zone_id,
            GatingChange.category_code == change.category_code,
        )
        .order_by(GatingChange.id.desc())
        .limit(1)
    ).one()
    if newest.id != change.id or change.undone_at is not None:
        raise GatingError("只能撤销该区域该类别最近一次调整")
    row = session.get(GatingLevel, (change.camera_id, change.zone_id, change.category_code))
    assert row is not None  # a change always writes its level
    row.level, row.changed_at = change.old_level, now
    change.undone_at = now
    back = GatingChange(
        camera_id=change.camera_id,
        zone_id=change.zone_id,
        category_code=change.category_code,
        at=now,
        old_level=change.new_level,
        new_level=change.old_level,
        by=who,
        undoes=change.id,
    )
    session.add(back)
    session.flush()
    return back


def change_text(c: GatingChange, p: GatingSettings) -> str:
    if c.undoes is not None:
        return f"{c.by} 撤销调整 #{c.undoes}：恢复为{level_text(c.new_level, p)}"
    return describe(c.old_level, c.new_level, c.reviewed, c.accepted, p)


def change_json(c: GatingChange, p: GatingSettings) -> dict[str, Any]:
    return {
        "id": c.id,
        "zone": c.zone_id,
        "category": c.category_code,
        "at": c.at.isoformat(),
        "old_level": c.old_level,
        "new_level": c.new_level,
        "reviewed": c.reviewed,
        "accepted": c.accepted,
        "rate": round(c.accepted / c.reviewed, 4) if c.reviewed and c.accepted is not None else None,
        "by": c.by,
        "undoes": c.undoes,
        "undone_at": c.undone_at.isoformat() if c.undone_at else None,
        "text": change_text(c, p),
    }


def adjustments(session: Session, camera_id: str, p: GatingSettings) -> list[dict[str, Any]]:
    """The camera's groups above level 0, as the worker applies them (xuncha/zones/gating.Adjustment)."""
    rows = session.scalars(
        select(GatingLevel)
        .where(GatingLevel.camera_id == camera_id, GatingLevel.level > 0)
        .order_by(GatingLevel.zone_id, GatingLevel.category_code)
    )
    out = []
    for r in rows:
        last = session.scalars(
            select(GatingChange)
            .where(
                GatingChange.camera_id == camera_id,
                GatingChange.zone_id == r.zone_id,
                GatingChange.category_code == r.category_code,
            )
            .order_by(GatingChange.id.desc())
            .limit(1)
        ).first()
        out.append(
            {
                "zone": r.zone_id,
                "category": r.category_code,
                "level": r.level,
                "score_delta": p.score_delta(r.level),
                "dwell_factor": p.dwell_factor(r.level),
                "since": r.changed_at.isoformat(),
                "note": change_text(last, p) if last else level_text(r.level, p),
            }
        )
    return out


def camera_log(session: Session, camera_id: str, p: GatingSettings, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(GatingChange).where(GatingChange.camera_id == camera_id).order_by(GatingChange.id.desc()).limit(limit)
    )
    return [change_json(c, p) for c in rows]


def for_clues(session: Session, clues: Sequence[Clue], p: GatingSettings) -> dict[str, dict[str, Any]]:
    """Per clue id, the level of its camera x zone x category when it was first seen and now, from the log
    (one query for all the clues' cameras). The log records when the service made a change; a worker
    applies it at its next refresh, so a clue seen within WORKER_REFRESH after a change is marked unsettled."""
    logs: dict[tuple[str, str, str], list[tuple[datetime, int]]] = defaultdict(list)
    cameras = {c.camera_id for c in clues}
    if cameras:
        rows = session.execute(
            select(
                GatingChange.camera_id,
                GatingChange.zone_id,
                GatingChange.category_code,
                GatingChange.at,
                GatingChange.new_level,
            )
            .where(GatingChange.camera_id.in_(cameras))
            .order_by(GatingChange.id)
        )
        for camera_id, zone_id, category, at, new in rows:
            logs[(camera_id, zone_id, category)].append((at, new))
    out = {}
    for c in clues:
        log = logs.get((c.camera_id, c.zone_id, c.category_code), [])
        raised = level_at(log, c.first_seen)
        settled = level_at(log, c.first_seen - WORKER_REFRESH) == raised
        now = (log[-1][1] if log else 0) if p.enabled else None
        out[c.id] = {"raised": raised, "settled": settled, "now": now, "text": clue_text(raised, now, settled, p)}
    return out
