"""Handling reports from dispatch, re-check requests, re-check results and operator overrules.

Every report is kept (`CaseReport`, numbered per case): a second report never overwrites the first.
An after picture taken before the case was found, or byte-identical to a picture already sent for
any case, is flagged (dispatch units have answered with old or reused photos). A report that says
"handled" asks the camera to check the place (`RecheckRequest` in the outbox, to the camera's own
durable queue); the worker's verdict comes back as a `RecheckResult`. 已整改 closes the case (结案);
an operator may overrule a 未整改, which closes it too and tells dispatch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.broker import Topology, consume
from xuncha.clues.contracts import CameraRef, CategoryRef, ZoneRef
from xuncha.clues.dispatch import VERDICT_NAMES, RecheckRequest, RecheckResult, results_queue
from xuncha.db.base import utcnow
from xuncha.db.cases import Case, CaseReport, OutboxMessage, Recheck
from xuncha.db.clues import Clue
from xuncha.db.users import User
from xuncha.redact import mask_url
from xuncha.review import deadletter, fencing

log = logging.getLogger(__name__)

# Flag -> what the UI says.
PICTURE_FLAGS = {"picture_before_case": "照片拍摄时间早于案件", "picture_reused": "照片与此前回复的照片完全相同"}


def picture_flags(taken_at: datetime | None, found_at: datetime, reused: bool) -> list[str]:
    """Suspicion flags of an after picture (pure)."""
    flags = []
    if taken_at is not None and taken_at < found_at:
        flags.append("picture_before_case")
    if reused:
        flags.append("picture_reused")
    return flags


def request_id_for(case_id: str, seq: int) -> str:
    return f"{case_id}:r{seq}"


def report_count(session: Session, case_id: str) -> int:
    return int(session.scalar(select(func.count()).where(CaseReport.case_id == case_id)) or 0)


def record_report(
    session: Session,
    case: Case,
    *,
    handled: bool,
    unit: str,
    note: str | None,
    picture: str | None,
    picture_bytes: bytes | None,
    taken_at: datetime | None,
    now: datetime,
) -> CaseReport:
    """Add a report to the case's history in the caller's transaction; a handled one requests a re-check."""
    digest = hashlib.sha256(picture_bytes).hexdigest() if picture_bytes else None
    reused = digest is not None and session.scalar(
        select(CaseReport.id).where(CaseReport.picture_sha256 == digest).limit(1)
    )
    clue = session.get(Clue, case.clue_id)
    assert clue is not None  # a case is always filed from a clue
    seq = report_count(session, case.id) + 1
    report = CaseReport(
        case_id=case.id,
        seq=seq,
        reported_at=now,
        handled=handled,
        unit=unit,
        note=note,
        picture=picture,
        picture_sha256=digest,
        picture_taken_at=taken_at,
        flags=picture_flags(taken_at, clue.first_seen, bool(reused)),
    )
    session.add(report)
    if seq == 1:  # the case's columns keep the first report; the history has them all
        case.handled, case.handling_unit, case.handling_note, case.handled_at = handled, unit, note, now
        case.after_picture = picture
    session.flush()
    if handled:
        _request_recheck(session, case, clue, report, now)
    return report


def _request_recheck(session: Session, case: Case, clue: Clue, report: CaseReport, now: datetime) -> None:
    request = RecheckRequest(
        request_id=request_id_for(case.id, report.seq),
        case_id=case.id,
        clue_id=clue.id,
        camera=CameraRef(id=clue.camera_id, name=clue.camera_name, preset=clue.preset),
        zone=ZoneRef(id=clue.zone_id, name=clue.zone_name),
        category=CategoryRef(code=clue.category_code, name=clue.category_name),
        box=tuple(clue.box),
        frame_size=(clue.frame_w, clue.frame_h),
        found_at=clue.first_seen,
        handled_at=now,
    )
    session.add(Recheck(id=request.request_id, case_id=case.id, report_id=report.id, requested_at=now))
    session.add(
        OutboxMessage(
            message_id=request.request_id,
            routing_key=f"recheck.{clue.camera_id}",
            body=request.model_dump(mode="json"),
            not_before=now,
        )
    )


def apply_result(session: Session, result: RecheckResult, now: datetime) -> bool:
    """Store a worker's verdict; False for a repeat or an unknown request (nothing changed), Poison for
    one made under a stale camera lease (`fencing.py`)."""
    row = session.get(Recheck, result.request_id)
    if row is None:
        log.warning("re-check result %s for an unknown request: ignored", result.result_id)
        return False
    case = session.get(Case, row.case_id)
    clue = session.get(Clue, case.clue_id) if case is not None else None
    if clue is not None:
        fencing.check(session, f"re-check result {result.result_id}", clue.camera_id, result.lease_token)
    if row.verdict is not None:
        return False
    row.verdict, row.reason = result.verdict, result.reason
    row.samples, row.present, row.checked_to = result.samples, result.present, result.checked_to
    row.after_picture = result.after.path if result.after else None
    row.worker, row.result_at = result.worker, now
    if result.verdict == "rectified" and case is not None and case.closed_at is None:
        case.closed_at = result.checked_to or now
    return True


class OverruleError(Exception):
    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def overrule(session: Session, recheck_id: str, user: User, note: str, now: datetime) -> Recheck:
    """An operator rules a 未整改 wrong (looked at the after picture): the case closes, dispatch is told."""
    row = session.get(Recheck, recheck_id)
    if row is None:
        raise OverruleError(f"核查 {recheck_id} 不存在", 404)
    if row.verdict != "not_rectified":
        raise OverruleError("只能改判“未整改”的核查结果")
    if row.overruled_at is not None:
        raise OverruleError("该核查结果已改判")
    row.overruled_by, row.overruled_at, row.overrule_note = user.id, now, note or None
    case = session.get(Case, row.case_id)
    assert case is not None
    if case.closed_at is None:
        case.closed_at = now
    result = RecheckResult(
        result_id=f"{row.id}:overruled",
        request_id=row.id,
        case_id=row.case_id,
        verdict="rectified",
        verdict_name=f"{VERDICT_NAMES['rectified']}（人工改判）",
        reason=note or None,
        samples=row.samples or 0,
        present=row.present or 0,
        worker=f"operator:{user.username}",
        emitted_at=now,
    )
    session.add(
        OutboxMessage(
            message_id=result.result_id,
            routing_key=result.routing_key,
            body=result.model_dump(mode="json"),
            not_before=now,
        )
    )
    return row


def run_results_intake(
    sessions: sessionmaker, broker_url: str, stop: threading.Event, *, exchange: str, backoff_s: float = 2.0
) -> None:
    """Consume re-check results until `stop`; outages are retried, and a result that is invalid or
    that the database refuses is a dead letter (as for clue intake), never a stalled queue."""
    queue = results_queue(exchange)
    topology = Topology(exchange_name=exchange, queue_name=queue.name, binding_key=queue.routing_key)

    def apply(result: RecheckResult) -> None:
        with deadletter.refusal_is_poison(result.result_id), sessions.begin() as s:
            apply_result(s, result, utcnow())

    delay = backoff_s
    while not stop.is_set():
        try:
            consume(
                broker_url,
                apply,
                topology=topology,
                contract=RecheckResult,
                stop=stop,
                poll_interval=0.5,
                dead_letter=lambda bad: deadletter.record(sessions, bad),
            )
            delay = backoff_s
        except Exception as e:  # broker or database down: the message was requeued; retry later
            log.warning("re-check results from %s: %s: %s", mask_url(broker_url), type(e).__name__, mask_url(str(e)))
            stop.wait(delay)
            delay = min(delay * 2, 60.0)
