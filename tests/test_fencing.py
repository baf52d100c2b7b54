"""Lease fencing at intake: the refusal rule, and clue events and re-check results under a stale lease
dead-lettered on SQLite and real PostgreSQL (the two-worker test with a paused process is test_fencing_e2e)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from review_support import database, make_event
from sqlalchemy import select

from xuncha.clues.broker import Poison
from xuncha.clues.contracts import ClueEvent
from xuncha.clues.dispatch import VERDICT_NAMES, RecheckResult
from xuncha.db.cameras import CameraFence
from xuncha.db.cases import Case, CaseReport, Recheck
from xuncha.db.clues import Clue, ClueEventRow, Decision
from xuncha.review.auth import create_user
from xuncha.review.fencing import refusal
from xuncha.review.handling import apply_result
from xuncha.review.intake import apply_or_poison


def test_refusal_rule() -> None:
    assert refusal("event e:1", "cam-1", None, 7) is None  # sent before fencing, or without leases
    assert refusal("event e:1", "cam-1", 3, None) is None  # nothing known of the camera yet
    assert refusal("event e:1", "cam-1", 7, 7) is None  # the current holder
    assert refusal("event e:1", "cam-1", 8, 7) is None  # a newer holder
    reason = refusal("event e:1", "cam-1", 6, 7)
    assert reason is not None
    assert "event e:1" in reason and "camera cam-1" in reason and "token 6" in reason and "token 7" in reason


def test_old_messages_without_a_token_stay_valid() -> None:
    body = make_event(1).model_dump(mode="json")
    del body["lease_token"]
    assert ClueEvent.model_validate(body).lease_token is None


def _event(seq: int, token: int | None) -> ClueEvent:
    e = make_event(1, "opened" if seq == 0 else "updated", seq, camera="cam-f")
    return e.model_copy(update={"lease_token": token})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, s):
        yield s


def test_events_under_an_older_lease_are_refused(sessions) -> None:
    assert apply_or_poison(sessions, _event(0, 2), None, None)
    assert apply_or_poison(sessions, _event(1, 3), None, None)  # the camera moved: token 3 is current
    with pytest.raises(Poison, match=r"camera cam-f .*token 2, older than the camera's current token 3"):
        apply_or_poison(sessions, _event(2, 2), None, None)
    # Even an id the new holder already sent: the stale copy is refused, not passed off as a duplicate.
    with pytest.raises(Poison, match="token 2"):
        apply_or_poison(sessions, _event(1, 2), None, None)
    assert apply_or_poison(sessions, _event(2, None), None, None)  # no token: accepted, fence unchanged
    assert apply_or_poison(sessions, _event(3, 3), None, None)
    with sessions() as s:
        rows = {r.seq: r.lease_token for r in s.scalars(select(ClueEventRow))}
        assert rows == {0: 2, 1: 3, 2: None, 3: 3}
        assert s.get(CameraFence, "cam-f").lease_token == 3
        assert s.get(Clue, "clue-001").last_seq == 3


def test_recheck_results_under_an_older_lease_are_refused(sessions) -> None:
    now = datetime.now(UTC)
    apply_or_poison(sessions, _event(0, 5), None, None)
    with sessions.begin() as s:
        user = create_user(s, "op1", "op1-pass-1", "operator")
        decision = Decision(clue_id="clue-001", accepted=True, category_code="0507", user_id=user.id)
        s.add(decision)
        s.flush()
        s.add(Case(id="case-1", clue_id="clue-001", decision_id=decision.id, payload={}))
        report = CaseReport(case_id="case-1", seq=1, reported_at=now, handled=True, unit="中队")
        s.add(report)
        s.flush()
        for n in (1, 2):
            s.add(Recheck(id=f"case-1:r{n}", case_id="case-1", report_id=report.id, requested_at=now))

    def result(n: int, token: int | None) -> RecheckResult:
        rid = f"case-1:r{n}"
        return RecheckResult(
            result_id=rid,
            request_id=rid,
            case_id="case-1",
            verdict="not_rectified",
            verdict_name=VERDICT_NAMES["not_rectified"],
            samples=3,
            present=3,
            worker="w-a",
            emitted_at=now,
            lease_token=token,
        )

    with pytest.raises(Poison, match=r"re-check result case-1:r1 for camera cam-f .*token 4.*token 5"):
        with sessions.begin() as s:
            apply_result(s, result(1, 4), now)
    with sessions.begin() as s:
        assert apply_result(s, result(1, 6), now)  # a newer holder's verdict raises the fence
        assert apply_result(s, result(2, None), now)
    with pytest.raises(Poison, match="token 5, older than the camera's current token 6"):
        apply_or_poison(sessions, _event(1, 5), None, None)
    with sessions() as s:
        assert s.get(Recheck, "case-1:r1").verdict == "not_rectified"
