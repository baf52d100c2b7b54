"""Camera health in the database: each camera's latest report and a bounded log of its state changes.

The pure rules (what is a state change, which old changes go) come first; `save`, `load` and
`changes` are the I/O, called by the health routes in the request's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xuncha.db.cameras import CameraHealthRow, CameraStateChange
from xuncha.review.health import STATES, Report

CHANGES_KEPT = 200  # per camera: weeks of a flapping camera's history, a few KB each


def changed(old: str | None, new: str) -> bool:
    """A camera's first report counts as a change (from nothing known), then any different state."""
    return old != new


def to_prune(ids: list[int], keep: int) -> list[int]:
    """The ids (ascending: oldest first) beyond the newest `keep`."""
    return ids[: max(0, len(ids) - keep)]


def save(s: Session, worker: str, cameras: dict[str, dict[str, Any]], now: datetime, keep: int = CHANGES_KEPT) -> None:
    """Store a worker's report as each camera's latest; log and prune state changes."""
    for cid, entry in cameras.items():
        row = s.get(CameraHealthRow, cid)
        old = str(row.entry.get("state")) if row is not None and "state" in row.entry else None
        new = str(entry.get("state"))
        new = new if new in STATES else "unknown"  # the page shows an unknown state so too
        if row is None:
            s.add(CameraHealthRow(camera_id=cid, worker=worker, reported_at=now, entry=entry))
        else:
            row.worker, row.reported_at, row.entry = worker, now, entry
        if changed(old, new):
            s.add(CameraStateChange(camera_id=cid, at=now, old_state=old, new_state=new))
            s.flush()
            ids = list(
                s.scalars(
                    select(CameraStateChange.id)
                    .where(CameraStateChange.camera_id == cid)
                    .order_by(CameraStateChange.id)
                )
            )
            if gone := to_prune(ids, keep):
                s.execute(delete(CameraStateChange).where(CameraStateChange.id.in_(gone)))


def load(s: Session) -> dict[str, Report]:
    """Every camera's latest stored report (the board's contents after a restart)."""
    return {r.camera_id: Report(r.worker, r.reported_at, r.entry) for r in s.scalars(select(CameraHealthRow))}


def changes(s: Session, camera_id: str, limit: int = CHANGES_KEPT) -> list[CameraStateChange]:
    """A camera's state changes, newest first."""
    q = select(CameraStateChange).where(CameraStateChange.camera_id == camera_id)
    return list(s.scalars(q.order_by(CameraStateChange.id.desc()).limit(limit)))
