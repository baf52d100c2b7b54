"""Review decisions: accept (立案, may correct the category), reject with a reason, undo within a window.

Each function runs inside the caller's transaction, so a decision, its case and outbox message,
or its fixture are committed together or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xuncha.db.clues import ACCEPTED, PENDING, REJECTED, Clue, Decision, FixtureRow
from xuncha.db.users import User
from xuncha.review.cases import build_case, count_recurrence, file_case, withdraw_case
from xuncha.review.config import FIXTURE_REASON, ReviewConfig
from xuncha.taxonomy import Taxonomy


class ReviewError(Exception):
    """A decision that cannot be made; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _claim(session: Session, clue_id: str, status: str) -> Clue:
    """Move a pending clue to `status` atomically (two operators on one clue: one wins)."""
    done = session.execute(
        update(Clue).where(Clue.id == clue_id, Clue.status == PENDING).values(status=status)
    ).rowcount
    clue = session.get(Clue, clue_id)
    if clue is None:
        raise ReviewError(f"线索 {clue_id} 不存在", 404)
    if not done:
        raise ReviewError(f"线索 {clue_id} 已审核")
    session.refresh(clue)
    return clue


def accept(
    session: Session,
    clue_id: str,
    user: User,
    cfg: ReviewConfig,
    taxonomy: Taxonomy,
    now: datetime,
    category_code: str | None = None,
) -> Decision:
    """File the clue as a case; the case goes out after the undo window."""
    if category_code is not None and category_code not in taxonomy:
        raise ReviewError(f"未知类别 {category_code}", 422)
    clue = _claim(session, clue_id, ACCEPTED)
    code = category_code or clue.category_code
    name = taxonomy.get(code).name if code in taxonomy else clue.category_name
    decision = Decision(clue_id=clue.id, accepted=True, category_code=code, user_id=user.id, decided_at=now)
    session.add(decision)
    session.flush()
    since = now - timedelta(days=cfg.dispatch.recurrence_days)
    recurrence = count_recurrence(session, clue, code, since)
    at_place = count_recurrence(session, clue, code, now - timedelta(days=cfg.dispatch.escalation_days)) + 1
    escalation = cfg.dispatch.escalation_level(at_place)
    case = build_case(clue, decision, name, user.username, recurrence, cfg.dispatch, cfg.public_url, escalation)
    file_case(session, case, decision.id, now + timedelta(seconds=cfg.undo_window_s))
    return decision


def reject(
    session: Session, clue_id: str, user: User, cfg: ReviewConfig, now: datetime, reason_code: str, text: str = ""
) -> Decision:
    """Reject with a configured reason; 固定设施 also records a fixture for the clue's spot."""
    try:
        reason = cfg.reason(reason_code)
    except KeyError:
        raise ReviewError(f"未知驳回原因 {reason_code}", 422) from None
    text = text.strip()
    if reason.needs_text and not text:
        raise ReviewError(f"驳回原因“{reason.name}”需要填写说明", 422)
    clue = _claim(session, clue_id, REJECTED)
    decision = Decision(
        clue_id=clue.id,
        accepted=False,
        category_code=clue.category_code,
        reason_code=reason.code,
        reason_text=text or None,
        user_id=user.id,
        decided_at=now,
    )
    session.add(decision)
    session.flush()
    if reason.code == FIXTURE_REASON:
        x1, y1, x2, y2 = clue.box
        w, h = clue.frame_w, clue.frame_h
        box = [max(0.0, x1 / w), max(0.0, y1 / h), min(1.0, x2 / w), min(1.0, y2 / h)]
        session.add(
            FixtureRow(
                camera_id=clue.camera_id,
                preset=clue.preset,
                zone_id=clue.zone_id,
                category_code=clue.category_code,
                box=box,
                clue_id=clue.id,
                decision_id=decision.id,
            )
        )
    return decision


def undo(session: Session, clue_id: str, user: User, cfg: ReviewConfig, now: datetime) -> Decision:
    """Undo the clue's decision if it is the user's own (or the user is admin) and still in the window."""
    decision = session.scalar(
        select(Decision)
        .where(Decision.clue_id == clue_id, Decision.undone_at.is_(None))
        .order_by(Decision.id.desc())
        .limit(1)
    )
    if decision is None:
        raise ReviewError(f"线索 {clue_id} 没有可撤销的决定", 404)
    if decision.user_id != user.id and user.role != "admin":
        raise ReviewError("只能撤销自己的决定", 403)
    if now - decision.decided_at > timedelta(seconds=cfg.undo_window_s):
        raise ReviewError(f"已超过撤销时限（{cfg.undo_window_s:g} 秒）")
    if decision.accepted and not withdraw_case(session, clue_id):
        raise ReviewError("案件已派发，不能撤销")
    fixture = session.scalar(select(FixtureRow).where(FixtureRow.decision_id == decision.id))
    if fixture is not None:
        session.delete(fixture)
    decision.undone_at = now
    session.execute(update(Clue).where(Clue.id == clue_id).values(status=PENDING))
    return decision
