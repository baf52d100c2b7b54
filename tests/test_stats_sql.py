"""The /stats numbers counted in SQL (`summarize`) equal the row-by-row reference (`load_reviewed` +
`aggregate`) on a small seeded set, on SQLite and PostgreSQL: every dimension, local days in a
whole-hour and a half-hour time zone, undone decisions left out, a camera renamed, a `since` cut."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from review_support import add_users, database, make_event
from sqlalchemy import select, update

from xuncha.db.clues import Clue, Decision
from xuncha.db.users import User
from xuncha.review import stats
from xuncha.review.intake import ingest

T = datetime(2024, 5, 1, 15, 40, tzinfo=UTC)  # 23:40 in Shanghai: decisions straddle local midnights


def _seed(sessions) -> None:
    rng = random.Random(5)
    for i in range(60):
        ingest(
            sessions,
            make_event(i, category=rng.choice(["0507", "0102", "0508"]), camera=f"cam-{i % 4}", evidence=False),
        )
    with sessions.begin() as s:
        user = s.scalar(select(User.id).where(User.username == "op1"))
        for i in range(60):
            accepted = rng.random() < 0.6
            s.add(
                Decision(
                    clue_id=f"clue-{i:03d}",
                    accepted=accepted,
                    category_code="0507",
                    reason_code=None if accepted else rng.choice(["not_garbage", "moved", ""]),
                    user_id=user,
                    decided_at=T + timedelta(minutes=rng.randrange(0, 6 * 24 * 60)),
                    undone_at=T + timedelta(days=9) if i % 11 == 0 else None,
                )
            )
        # Renamed after its first decisions: the label is the one of the earliest decision.
        s.execute(update(Clue).where(Clue.id.in_(["clue-041", "clue-045"])).values(camera_name="改名后"))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sql_aggregates_equal_the_row_by_row_reference(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as (_url, sessions):
        add_users(sessions)
        _seed(sessions)
        with sessions() as s:
            for since in (None, T + timedelta(days=2, hours=3)):
                rows = stats.load_reviewed(s, since=since)
                assert len(rows) > 20
                for tz in (ZoneInfo("Asia/Shanghai"), ZoneInfo("Asia/Kolkata")):
                    for by in stats.DIMENSIONS:
                        expected = stats.aggregate(rows, by, tz)
                        got = stats.summarize(s, by, tz, since=since)
                        assert [vars(r) for r in got] == [vars(r) for r in expected], (by, tz, since)
                        assert vars(stats.total_of(got)) == {
                            "key": "all", "label": "合计", "reviewed": len(rows),
                            "accepted": sum(r.accepted for r in rows),
                            "reasons": stats.Counter(r.reason_code for r in rows if r.reason_code),
                        }  # fmt: skip
                days = stats.summarize(s, "day", ZoneInfo("Asia/Shanghai"), since=since)
                assert len(days) >= 4  # the seed spans local days (6 of them, 4 after the cut)
