"""Adaptive gating: the pure decision, the worker's tightened zones, and the service's levels, log and undo
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from review_support import Clock, add_users, database, login, make_event, review_config
from sqlalchemy import select

from xuncha.db.clues import ACCEPTED, REJECTED, Clue, Decision
from xuncha.db.users import User
from xuncha.review.app import create_app
from xuncha.review.gating import Change, GatingSettings, next_level
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy
from xuncha.zones.gating import Adjustment, gated_zones
from xuncha.zones.model import ZoneSet

P = GatingSettings(window=10)


def test_low_rate_raises_high_rate_lowers_never_below_defaults_nor_above_max() -> None:
    low = [True] * 2 + [False] * 8  # 0.2 < 0.3
    assert next_level(0, low, P) == Change(0, 1, 10, 2)
    assert next_level(P.max_level, low, P) is None
    assert next_level(0, [True] * 3 + [False] * 7, P) is None  # 0.3 is not below the floor
    high = [True] * 10
    assert next_level(2, high, P) == Change(2, 1, 10, 10)
    assert next_level(0, high, P) is None
    assert next_level(1, [True] * 9 + [False], P) is None  # 0.9 is not above the ceiling
    assert next_level(0, [False] * 9, P) is None  # fewer than a window since the last change
    assert next_level(0, [True] * 10 + [False] * 30, P) is None  # only the newest window counts


def test_settings_refuse_a_floor_above_the_ceiling() -> None:
    with pytest.raises(ValidationError, match="floor"):
        GatingSettings(floor=0.9, ceiling=0.5)


def test_gated_zones_tighten_only_the_adjusted_category_scene_rules_included() -> None:
    taxonomy = load_taxonomy()
    zs = ZoneSet.model_validate(
        {
            "zones": [
                {"id": "a", "name": "路口", "polygon": [(0, 0), (1, 0), (1, 1)], "scene": "exposed_garbage"},
                {
                    "id": "b",
                    "name": "店门",
                    "polygon": [(0, 0), (1, 0), (1, 1)],
                    "rules": [{"category": "0507", "labels": ["bag"], "min_score": 0.93}],
                },
            ]
        }
    )
    scene_rules = zs.get("a").all_rules
    category = scene_rules[0].category
    adj = [
        Adjustment(zone="a", category=category, level=2, score_delta=0.1, dwell_factor=2.0),
        Adjustment(zone="b", category="0507", level=1, score_delta=0.05, dwell_factor=1.5),
        Adjustment(zone="gone", category="0507", level=1, score_delta=0.05, dwell_factor=1.5),
    ]
    out = gated_zones(zs, adj, taxonomy)
    for before, after in zip(scene_rules, out.get("a").all_rules, strict=True):
        if before.category == category:
            assert after.min_score == pytest.approx(before.min_score + 0.1)
            assert after.dwell(taxonomy) == pytest.approx(2 * before.dwell(taxonomy))
        else:
            assert after == before
    assert out.get("a").claims == zs.get("a").claims
    b = out.get("b").all_rules[0]
    assert b.min_score == 0.95 and b.dwell_s == pytest.approx(1.5 * taxonomy.get("0507").dwell_s)  # capped
    assert zs.get("b").all_rules[0].min_score == 0.93  # the configured zone set is left alone
    assert gated_zones(zs, [adj[0].model_copy(update={"level": 0})], taxonomy) is zs


# -- the service --------------------------------------------------------------------------------

T = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    with database(request.param, tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        clock = Clock(T)
        cfg = review_config(tmp_path, gating=GatingSettings(window=10))
        app = create_app(cfg, load_taxonomy(), sessions, clock=clock)
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "admin")
            worker = TestClient(
                app, base_url="https://testserver", headers={"Authorization": f"Bearer {tokens['worker']}"}
            )
            yield client, worker, sessions, clock


def decide(sessions, first: int, accepted: list[bool], at: datetime, camera: str = "cam-0") -> None:
    """Clues first.. on `camera`, zone box, 0507, decided as given (one second apart, from `at`)."""
    with sessions.begin() as s:
        user = s.scalars(select(User).where(User.username == "op1")).one()
    for k, ok in enumerate(accepted):
        ingest(sessions, make_event(first + k, camera=camera))
        with sessions.begin() as s:
            clue = s.get(Clue, f"clue-{first + k:03d}")
            clue.status = ACCEPTED if ok else REJECTED
            when = at + timedelta(seconds=k)
            s.add(Decision(clue_id=clue.id, accepted=ok, category_code="0507", user_id=user.id, decided_at=when))


def test_levels_follow_the_rate_with_a_log_and_undo(env) -> None:
    client, worker, sessions, clock = env
    decide(sessions, 0, [True] * 2 + [False] * 8, T - timedelta(hours=1))
    decide(sessions, 100, [False] * 10, T - timedelta(hours=1), camera="cam-other")
    r = worker.get("/api/cameras/cam-0/gating")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["adjustments"] == [
        {
            "zone": "box",
            "category": "0507",
            "level": 1,
            "score_delta": 0.05,
            "dwell_factor": 1.5,
            "since": T.isoformat(),
            "note": "自动提高门槛：分数 +0.05，停留 ×1.5（近10条立案率 0.20）",
        }
    ]
    assert body["log"] == []  # the log is for admins

    # Hysteresis: the same decisions do not raise it again.
    assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"][0]["level"] == 1
    clock.advance(60)
    decide(sessions, 20, [False] * 9, T + timedelta(seconds=1))
    assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"][0]["level"] == 1
    decide(sessions, 29, [False], T + timedelta(seconds=30))
    assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"][0]["level"] == 2

    log = client.get("/api/cameras/cam-0/gating").json()["log"]
    assert [(c["old_level"], c["new_level"], c["reviewed"], c["accepted"], c["by"]) for c in log] == [
        (1, 2, 10, 0, "auto"),
        (0, 1, 10, 2, "auto"),
    ]
    assert log[0]["text"] == "自动提高门槛：分数 +0.10，停留 ×2（近10条立案率 0.00）"

    # Only a group's newest change can be undone, by an admin.
    assert client.post(f"/api/gating/{log[1]['id']}/undo").status_code == 409
    operator = TestClient(client.app, base_url="https://testserver")
    operator.headers["X-CSRF-Token"] = login(operator, "op1")
    assert operator.post(f"/api/gating/{log[0]['id']}/undo").status_code == 403
    r = client.post(f"/api/gating/{log[0]['id']}/undo")
    assert r.status_code == 200, r.text
    assert (
        r.json()["by"] == "admin" and r.json()["text"] == f"admin 撤销调整 #{log[0]['id']}：恢复为分数 +0.05，停留 ×1.5"
    )
    assert client.post(f"/api/gating/{log[0]['id']}/undo").status_code == 409
    assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"][0]["level"] == 1  # the undo holds

    # A zone whose clues are almost always filed comes back down to the scene's defaults.
    clock.advance(60)
    decide(sessions, 40, [True] * 10, clock.now + timedelta(seconds=1))
    assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"] == []
    newest = client.get("/api/cameras/cam-0/gating").json()["log"][0]
    assert newest["text"] == "自动恢复场景默认值：分数 +0.00，停留 ×1（近10条立案率 1.00）"
    assert worker.get("/api/cameras/cam-other/gating").json()["adjustments"][0]["level"] == 1


def test_undone_decisions_do_not_count(env) -> None:
    _client, worker, sessions, _clock = env
    decide(sessions, 0, [False] * 10, T - timedelta(hours=1))
    with sessions.begin() as s:
        s.scalars(select(Decision).limit(1)).one().undone_at = T
    assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"] == []


def test_disabled_gating_gives_workers_nothing(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        decide(sessions, 0, [False] * 50, T - timedelta(hours=1))
        cfg = review_config(tmp_path, gating=GatingSettings(enabled=False))
        with TestClient(create_app(cfg, load_taxonomy(), sessions), base_url="https://testserver") as worker:
            worker.headers["Authorization"] = f"Bearer {tokens['worker']}"
            assert worker.get("/api/cameras/cam-0/gating").json()["adjustments"] == []


def test_a_clues_details_say_its_level_when_first_seen_and_now(env) -> None:
    client, _worker, sessions, clock = env
    decide(sessions, 0, [False] * 10, T - timedelta(hours=1))
    assert client.get("/api/cameras/cam-0/gating").json()["adjustments"][0]["level"] == 1  # raised at T
    seen = {"before": -timedelta(minutes=5), "just-after": timedelta(seconds=10), "after": timedelta(minutes=5)}
    for k, (name, dt) in enumerate(seen.items()):
        ev = make_event(50 + k, camera="cam-0").model_copy(update={"clue_id": name})
        ingest(sessions, ev.model_copy(update={"first_seen": T + dt, "last_seen": T + dt + timedelta(seconds=12)}))
    texts = {c["id"]: c["gating"]["text"] for c in client.get("/api/clues").json()["items"]}
    now = "；现在：第1级（分数 +0.05，停留 ×1.5）"
    assert texts == {
        "before": "首次发现时：场景默认值" + now,
        "just-after": "首次发现时：第1级（分数 +0.05，停留 ×1.5）（调整后30秒内发现，worker 可能仍按上一级）" + now,
        "after": "首次发现时：第1级（分数 +0.05，停留 ×1.5）" + now,
    }
    # Undone an hour later: the clue seen at level 1 keeps it, now is the scene's defaults.
    clock.advance(3600)
    log = client.get("/api/cameras/cam-0/gating").json()["log"]
    assert client.post(f"/api/gating/{log[0]['id']}/undo").status_code == 200
    one = client.get("/api/clues/after").json()["gating"]
    assert one == {
        "raised": 1,
        "settled": True,
        "now": 0,
        "text": "首次发现时：第1级（分数 +0.05，停留 ×1.5）；现在：场景默认值",
    }
    other_camera = make_event(60, camera="cam-other").model_copy(update={"clue_id": "elsewhere"})
    ingest(sessions, other_camera)
    assert client.get("/api/clues/elsewhere").json()["gating"]["text"] == "首次发现时：场景默认值；现在：场景默认值"
