"""`xuncha bench month`, the pure simulation: gating fed from the gated system's reviews, paired seeds,
the levels handed to the worker's zone tightening, the noise, the weekly pooling."""

from __future__ import annotations

import random

from xuncha.bench.month import Episode, Levels, Noise, Reviewed, adjustments, simulate, weeks
from xuncha.review.gating import GatingSettings
from xuncha.taxonomy import load_taxonomy
from xuncha.types import Detection
from xuncha.zones.gating import gated_zones
from xuncha.zones.model import ZoneSet

P = GatingSettings(window=10)
TP, FP = Reviewed("z", "0102", True), Reviewed("z", "0102", False)


def fixture_camera(camera: str, levels: Levels, seed: int) -> Episode:
    """Level 0: one real clue and four false ones (a fixture); raised: only the real one."""
    return Episode((TP,) if levels else (TP, FP, FP, FP, FP), found=1, violations=1)


def test_a_low_rate_raises_the_gated_system_only_and_a_perfect_rate_lowers_it_again() -> None:
    m = simulate({"cam": 1}, fixture_camera, days=14, p=P, seed=0)
    # 5 reviews a day: 10 by day 2 (rate 0.2 < 0.3) raise; then 1 a day, 10 by day 12 (rate 1.0 > 0.9) lower;
    # the fixture is back, and 10 more reviews raise it again on day 14 (hysteresis is one window, no more).
    assert m.changes == [
        (2, "cam", "z", "0102", 0, 1, 10, 2),
        (12, "cam", "z", "0102", 1, 0, 10, 10),
        (14, "cam", "z", "0102", 0, 1, 10, 2),
    ]
    assert [d.today.clues for d in m.days] == [5] * 14  # today's system never changes
    assert [d.gated.clues for d in m.days] == [5, 5] + [1] * 10 + [5, 5]
    assert [d.raised for d in m.days] == [0] + [1] * 10 + [0, 0, 1]
    assert m.levels == {"cam": {("z", "0102"): 1}}
    w = weeks(m.days)
    assert [x.label for x in w] == ["1-7", "8-14", "all"]
    assert w[0].today.rate == 0.2 and w[0].gated.rate == 7 / 15
    assert w[-1].today.recall == w[-1].gated.recall == 1.0


def test_today_and_gated_replay_one_episode_with_the_same_seed() -> None:
    calls: list[tuple[Levels, int]] = []

    def replay(camera: str, levels: Levels, seed: int) -> Episode:
        calls.append((levels, seed))
        return fixture_camera(camera, levels, seed)

    simulate({"a": 2, "b": 1}, replay, days=4, p=P, seed=7)
    gated = [(lv, s) for lv, s in calls if lv]
    assert gated and all(((), s) in calls for _, s in gated)  # every gated replay has today's twin
    assert len({s for _, s in calls}) == 3 * 4  # a seed per camera, day and episode
    again: list[tuple[Levels, int]] = []
    simulate({"a": 2, "b": 1}, lambda c, lv, s: again.append((lv, s)) or fixture_camera(c, lv, s), days=4, p=P, seed=7)
    assert again == calls


def test_levels_reach_the_worker_as_the_service_hands_them() -> None:
    zs = ZoneSet.model_validate(
        {
            "zones": [
                {
                    "id": "z",
                    "name": "路口",
                    "polygon": [(0, 0), (1, 0), (1, 1)],
                    "rules": [{"category": "0102", "labels": ["bag"], "min_score": 0.3, "dwell_s": 40}],
                }
            ]
        }
    )
    (adj,) = adjustments((("z", "0102", 2),), P)
    assert (adj.level, adj.score_delta, adj.dwell_factor) == (2, 0.1, 2.0)
    rule = gated_zones(zs, [adj], load_taxonomy()).get("z").all_rules[0]
    assert (rule.min_score, rule.dwell_s) == (0.4, 80.0)


def test_noise_is_seeded_bounded_and_identity_at_zero() -> None:
    dets = [Detection("bag", 0.5, (0, 0, 10, 10)), Detection("bag", 0.98, (20, 20, 30, 30))] * 50
    assert Noise(0.0, 0.0).apply(dets, random.Random(1)) == dets
    a = Noise(0.05, 0.2).apply(dets, random.Random(1))
    assert a == Noise(0.05, 0.2).apply(dets, random.Random(1))
    assert 60 <= len(a) <= 95 and all(0 <= d.score <= 1 for d in a)
    assert any(d.score != 0.5 for d in a if d.box == (0, 0, 10, 10))
    assert Noise(0.05, 1.0).apply(dets, random.Random(1)) == []


def test_the_simulated_levels_are_the_review_services_for_the_same_decisions(tmp_path) -> None:
    """Every episode's decisions also go to a real review database, refreshed by the service's own
    `gating_store.refresh` after each: the level the simulation runs the next episode with is the one the
    service hands the worker then."""
    from datetime import UTC, datetime, timedelta

    from review_support import add_users, database, make_event
    from sqlalchemy import select

    from xuncha.db.clues import ACCEPTED, REJECTED, Clue, Decision
    from xuncha.db.gating import GatingLevel
    from xuncha.db.users import User
    from xuncha.review.gating_store import refresh
    from xuncha.review.intake import ingest

    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    ok, bad = Reviewed("box", "0507", True), Reviewed("box", "0507", False)

    def camera(levels: Levels) -> Episode:  # a fixture's false clues until raised twice, then the bag alone
        lv = levels[0][2] if levels else 0
        return Episode((ok,) + (bad,) * {0: 4, 1: 3}.get(lv, 0), found=1, violations=1)

    with database("sqlite", tmp_path) as (_url, sessions):
        add_users(sessions)
        with sessions.begin() as s:
            user_id = s.scalars(select(User.id).where(User.username == "op1")).one()
        n = 0
        flight: dict = {"seed": None, "levels": (), "service": 0}
        checked = 0

        def flush() -> None:
            """The finished episode: its gated levels must be the service's; then its decisions go in."""
            nonlocal n, checked
            if flight["seed"] is None:
                return
            want = flight["service"]
            assert flight["levels"] == ((("box", "0507", want),) if want else ())
            checked += 1
            for r in camera(flight["levels"]).clues:
                ingest(sessions, make_event(n, camera="cam-0"))
                with sessions.begin() as s:
                    clue = s.get(Clue, f"clue-{n:03d}")
                    clue.status = ACCEPTED if r.filed else REJECTED
                    at = t0 + timedelta(seconds=n)
                    s.add(
                        Decision(
                            clue_id=clue.id, accepted=r.filed, category_code="0507", user_id=user_id, decided_at=at
                        )
                    )
                n += 1
            with sessions.begin() as s:
                refresh(s, "cam-0", P, t0 + timedelta(seconds=n - 0.5))
                row = s.get(GatingLevel, ("cam-0", "box", "0507"))
                flight["service"] = row.level if row else 0

        def replay(cam: str, levels: Levels, seed: int) -> Episode:
            if seed != flight["seed"]:  # today's run of a new episode comes first
                flush()
                flight.update(seed=seed, levels=())
            else:
                flight["levels"] = levels
            return camera(levels)

        m = simulate({"cam-0": 2}, replay, days=20, p=P, seed=3)
        flush()
    assert checked == 40
    assert [(c[4], c[5]) for c in m.changes] == [(0, 1), (1, 2), (2, 1), (1, 2), (2, 1), (1, 2)]  # level 2 oscillates
    assert m.levels["cam-0"][("box", "0507")] == flight["service"]
