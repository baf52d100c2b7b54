"""Camera leases on SQLite and real PostgreSQL: fair spread, takeover after death, no double ownership."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import pg_schema_url

from xuncha.leases import LeaseStore, fair_share

CAMS = [f"cam-{i:02d}" for i in range(7)]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leases.sqlite'}"
        return
    with pg_schema_url("leases") as pg:
        yield pg


def test_fair_share() -> None:
    assert [fair_share(7, n) for n in (0, 1, 2, 3, 7, 8)] == [7, 7, 4, 3, 1, 1]


class Worker:
    """What the worker does each heartbeat: run `cameras`, stop and release the excess."""

    def __init__(self, url: str, name: str) -> None:
        self.store = LeaseStore(url, name, ttl_s=10)

    def heartbeat(self, cams: list[str], now: float):  # noqa: ANN201
        held = self.store.heartbeat(cams, now)
        self.store.release(held.excess)
        return held


def test_cameras_spread_and_are_taken_over_after_a_worker_dies(url: str) -> None:
    a, b, c = (Worker(url, w) for w in ("w-a", "w-b", "w-c"))
    t = 1000.0
    assert a.heartbeat(CAMS, t).cameras == frozenset(CAMS)  # alone: everything
    b.heartbeat(CAMS, t + 1)  # b is live now, a must give back to its share
    held_a = a.heartbeat(CAMS, t + 2)
    held_b = b.heartbeat(CAMS, t + 3)
    assert len(held_a.cameras) == 4 and len(held_b.cameras) == 3
    assert held_a.cameras.isdisjoint(held_b.cameras)
    assert held_a.excess == frozenset(CAMS) - held_a.cameras

    c.heartbeat(CAMS, t + 4)
    for step in range(5, 9):  # a few rounds to settle: nobody above the share of ceil(7/3) = 3
        for w in (a, b, c):
            w.heartbeat(CAMS, t + step)
    sets = [w.heartbeat(CAMS, t + 9).cameras for w in (a, b, c)]
    assert all(1 <= len(s) <= 3 for s in sets), [len(s) for s in sets]
    assert frozenset().union(*sets) == frozenset(CAMS)
    assert sum(len(s) for s in sets) == len(CAMS)  # no camera owned twice

    # c dies (stops heart-beating): within the TTL its cameras move to a and b.
    dead = sets[2]
    for step in range(10, 10 + 12):
        got = [w.heartbeat(CAMS, t + step).cameras for w in (a, b)]
        assert got[0].isdisjoint(got[1])
    assert got[0] | got[1] == frozenset(CAMS)
    assert dead <= got[0] | got[1]


def test_clean_release_hands_cameras_over_at_once(url: str) -> None:
    a, b = LeaseStore(url, "w-a", ttl_s=30), LeaseStore(url, "w-b", ttl_s=30)
    a.heartbeat(CAMS, 0.0)
    a.release_all()
    assert b.heartbeat(CAMS, 1.0).cameras == frozenset(CAMS)


def test_generation_bumps_on_every_change_of_owner(url: str) -> None:
    from sqlalchemy.orm import Session

    from xuncha.leases import CameraLease

    a, b = LeaseStore(url, "w-a", ttl_s=5), LeaseStore(url, "w-b", ttl_s=5)
    a.heartbeat(["cam-x"], 0.0)
    a.heartbeat(["cam-x"], 1.0)  # renewal: same generation
    b.heartbeat(["cam-x"], 10.0)  # a expired: b takes it
    with Session(b.engine) as s:
        row = s.get(CameraLease, "cam-x")
        assert row is not None and row.owner == "w-b" and row.generation == 2


def test_excess_stays_leased_until_released(url: str) -> None:
    a, b = LeaseStore(url, "w-a", ttl_s=10), LeaseStore(url, "w-b", ttl_s=10)
    a.heartbeat(CAMS, 0.0)
    b.heartbeat(CAMS, 1.0)
    held = a.heartbeat(CAMS, 2.0)
    assert len(held.excess) == 3
    # Until a has stopped those cameras and released them, b cannot take them.
    assert b.heartbeat(CAMS, 3.0).cameras == frozenset()
    a.release(held.excess)
    assert b.heartbeat(CAMS, 4.0).cameras == held.excess


def test_open_clues_move_with_the_camera(url: str) -> None:
    from xuncha.confirm import Sighting, Violation
    from xuncha.types import Detection

    s = Sighting(5.0, Detection("static_object", 0.7, (1.0, 2.0, 30.0, 40.0), "stationary"))
    v = Violation("clue-1", "cam-01", "z", "0507", (1.0, 2.0, 30.0, 40.0), s, s, s, 3)
    a, b = LeaseStore(url, "w-a"), LeaseStore(url, "w-b")
    a.save_open(v, 1)
    a.save_open(v, 2)  # upsert: the latest seq wins
    assert b.load_open("cam-01") == [(v, 2)]
    assert b.load_open("cam-02") == []
    b.drop_open("clue-1")
    assert a.load_open("cam-01") == []


def test_adding_missing_rows_never_touches_a_row_another_worker_holds(url: str) -> None:
    """A worker that saw the rows missing (starting together with another) must not reset the row the
    other one has just created and claimed: the old select-then-merge did, and two workers ran the camera."""
    from sqlalchemy.orm import Session

    from xuncha.leases import CameraLease, add_missing

    a = LeaseStore(url, "w-a", ttl_s=5)
    assert a.heartbeat(["cam-x"], 100.0).cameras == {"cam-x"}
    with Session(a.engine) as s, s.begin():
        add_missing(s, ["cam-x", "cam-y"])  # what a racing worker does with its stale view
    with Session(a.engine) as s:
        row = s.get(CameraLease, "cam-x")
        assert row is not None and (row.owner, row.expires_at, row.generation) == ("w-a", 105.0, 1)
        assert s.get(CameraLease, "cam-y") is not None
    b = LeaseStore(url, "w-b", ttl_s=5)
    assert "cam-x" not in b.heartbeat(["cam-x", "cam-y"], 101.0).cameras


def _first_heartbeats_together(url: str, n: int) -> tuple[dict[str, frozenset[str]], list[BaseException]]:
    import threading

    stores = [LeaseStore(url, f"w{i}", ttl_s=30) for i in range(n)]
    barrier = threading.Barrier(n)
    held: dict[str, frozenset[str]] = {}
    errors: list[BaseException] = []

    def beat(store: LeaseStore) -> None:
        barrier.wait()
        try:
            held[store.worker_id] = store.heartbeat(CAMS[:4]).cameras
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=beat, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return held, errors


def test_workers_starting_at_once_never_share_a_camera() -> None:
    """Three workers' first heartbeats on a fresh PostgreSQL schema, released together (as three worker
    processes started at once): each camera has one owner and no heartbeat fails."""
    for _ in range(5):
        with pg_schema_url("leases_race") as pg:
            held, errors = _first_heartbeats_together(pg, 3)
        assert errors == []
        owners = [c for cams in held.values() for c in cams]
        assert len(owners) == len(set(owners)), held
