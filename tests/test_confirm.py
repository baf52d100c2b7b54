"""Confirmation state machine: dwell, dedup, updates, close, cooldown, fixtures, ids, invariants."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from xuncha.confirm import Confirmer, ConfirmParams, Fixture, Transition
from xuncha.types import BoxXYXY, Detection, overlap_fraction


@dataclass(frozen=True)
class Cand:
    """Stand-in for xuncha.zones.match.Candidate (same fields)."""

    zone_id: str
    category: str
    detection: Detection
    rank: int = 0


BAG: BoxXYXY = (100.0, 100.0, 140.0, 150.0)
FAR: BoxXYXY = (300.0, 100.0, 340.0, 150.0)


def cand(box: BoxXYXY = BAG, score: float = 0.8, zone: str = "z1", cat: str = "0507") -> Cand:
    return Cand(zone, cat, Detection("static_object", score, box))


def shift(box: BoxXYXY, dx: float = 0.0, dy: float = 0.0) -> BoxXYXY:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def confirmer(dwell: float = 10.0, camera: str = "cam1", **params: float) -> Confirmer:
    return Confirmer(camera, lambda zone, category: dwell, ConfirmParams(**params))


def run(c: Confirmer, samples: Iterable[tuple[float, list[Cand]]]) -> list[Transition]:
    out: list[Transition] = []
    for ts, cands in samples:
        out += c.step(ts, cands, ref=f"frame@{ts:g}")
    return out


def timeline(
    stop: float, interval: float = 1.0, present: Callable[[float], bool] = lambda ts: True, start: float = 0.0
) -> list[tuple[float, list[Cand]]]:
    """Samples from `start` to `stop` inclusive; the bag is there when `present(ts)`."""
    n = int(round((stop - start) / interval))
    return [(start + i * interval, [cand()] if present(start + i * interval) else []) for i in range(n + 1)]


def kinds(ts: list[Transition]) -> list[tuple[str, float]]:
    return [(t.kind, t.ts) for t in ts]


# -- opening -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dwell", "interval", "open_ts"),
    [(10, 1, 10), (10, 2, 10), (10, 3, 12), (10, 5, 10), (7, 4, 8), (60, 5, 60), (600, 5, 600), (15, 15, 15)],
)
def test_opens_once_dwell_is_spanned_not_before(dwell: float, interval: float, open_ts: float) -> None:
    c = confirmer(dwell)
    out = run(c, timeline(open_ts - interval, interval))
    assert out == [] and c.open_violations == []
    out = run(c, timeline(open_ts, interval, start=open_ts))
    assert kinds(out) == [("opened", open_ts)]
    v = out[0].violation
    assert (v.first.ts, v.last.ts, v.dwell_s) == (0, open_ts, open_ts)
    assert v.occurrences == open_ts / interval + 1
    assert (v.camera_id, v.zone_id, v.category, v.box) == ("cam1", "z1", "0507", BAG)
    assert out[0].seq == 0 and c.open_violations == [v]


def test_dwell_zero_opens_at_first_sighting() -> None:
    c = confirmer(0)
    out = c.step(5.0, [cand()])
    assert kinds(out) == [("opened", 5.0)]
    v = out[0].violation
    assert v.first == v.last and v.occurrences == 1 and v.dwell_s == 0


def test_single_sighting_never_opens_with_positive_dwell() -> None:
    c = confirmer(10)
    assert run(c, timeline(60, present=lambda ts: ts == 0)) == []


def test_repeated_sightings_open_one_violation_only() -> None:
    c = confirmer(10, close_after_s=120)
    out = run(c, timeline(1800, 2))
    assert [t.kind for t in out].count("opened") == 1
    assert {t.violation.id for t in out} == {out[0].violation.id}
    assert [t.seq for t in out] == list(range(len(out)))
    assert len(c.open_violations) == 1 and c.open_violations[0].occurrences == 901


@pytest.mark.parametrize(
    ("interval", "dwell", "present", "stop", "expected"),
    [
        pytest.param(1, 10, lambda ts: ts % 2 == 0, 30, (10, 0), id="every-other-sample"),
        pytest.param(1, 10, lambda ts: not 3 <= ts <= 7, 30, (10, 0), id="five-misses-in-a-row"),
        pytest.param(5, 60, lambda ts: not 30 <= ts <= 40, 120, (60, 0), id="15s-gap-within-max-gap"),
        pytest.param(5, 60, lambda ts: not 30 <= ts <= 50, 200, (115, 55), id="gap-beyond-max-gap-restarts"),
        pytest.param(1, 10, lambda ts: ts % 3 == 0, 120, None, id="one-in-three-too-rare"),
        pytest.param(1, 10, lambda ts: ts == 0 or ts >= 20, 60, (30, 20), id="stray-hit-then-object"),
        pytest.param(1, 10, lambda ts: ts == 15 or ts >= 20, 60, (25, 15), id="stray-hit-just-before"),
    ],
)
def test_missed_samples(
    interval: float, dwell: float, present: Callable[[float], bool], stop: float, expected: tuple | None
) -> None:
    out = run(confirmer(dwell), timeline(stop, interval, present))
    if expected is None:
        assert out == []
    else:
        opened = [t for t in out if t.kind == "opened"]
        assert len(opened) == 1
        assert (opened[0].ts, opened[0].violation.first.ts) == expected


def test_pending_not_seen_beyond_max_gap_is_dropped_silently() -> None:
    c = confirmer(30, max_gap_s=20)
    out = run(c, timeline(10, 1))  # pending, 11 sightings
    out += run(c, [(float(ts), []) for ts in range(11, 40)])
    out += run(c, timeline(60, 1, start=40))  # back: would have spanned the dwell by 30 had it been kept
    assert out == []
    out = run(c, timeline(70, 1, start=61))
    assert kinds(out) == [("opened", 70)] and out[0].violation.first.ts == 40


def test_stream_outage_restarts_a_pending_dwell() -> None:
    """No samples during an outage: nothing vouches for the object having stayed."""
    c = confirmer(10)
    run(c, timeline(5, 1))
    assert c.step(300.0, [cand()]) == []
    out = run(c, timeline(310, 1, start=301))
    assert kinds(out) == [("opened", 310)] and out[0].violation.first.ts == 300


def test_walking_object_never_opens() -> None:
    """A box that moves 15 px per sample overlaps its previous position but never stays at one place."""
    c = confirmer(10)
    out = run(c, [(float(ts), [cand(shift(BAG, dx=15 * ts))]) for ts in range(60)])
    assert out == []


def test_slowly_loitering_object_opens() -> None:
    """Within the match tolerance of its place for the dwell: that is staying, not passing."""
    c = confirmer(10)
    out = run(c, [(float(ts), [cand(shift(BAG, dx=ts))]) for ts in range(15)])
    assert kinds(out) == [("opened", 10)]


def test_spurious_detections_do_not_accumulate_state() -> None:
    """A worker runs for months: pending places nobody sees again must be forgotten."""
    rng = random.Random(1)
    c = confirmer(30, max_gap_s=20)
    for ts in range(0, 3600, 2):
        x, y = rng.uniform(0, 1000), rng.uniform(0, 1000)
        c.step(float(ts), [cand((x, y, x + 30, y + 30))])
    assert len(c._tracks) <= 11  # at most the last 20 s of samples


# -- one clue per violation -------------------------------------------------------------------------


def test_jittering_box_stays_one_violation() -> None:
    rng = random.Random(7)
    c = confirmer(10)
    samples = [
        (float(ts), [cand(shift(BAG, rng.uniform(-5, 5), rng.uniform(-5, 5)), rng.uniform(0.4, 0.9))])
        for ts in range(0, 600, 2)
    ]
    out = run(c, samples)
    assert [t.kind for t in out].count("opened") == 1 and "closed" not in [t.kind for t in out]
    assert len({t.violation.id for t in out}) == 1


def test_growing_pile_stays_one_violation() -> None:
    """The first small bag lies inside the later, larger pile: same place by overlap fraction."""
    c = confirmer(10)
    samples = [(float(ts), [cand((100.0, 150.0 - 2 * ts, 140.0 + 3 * ts, 150.0))]) for ts in range(1, 61)]
    out = run(c, samples)
    assert [t.kind for t in out] == ["opened"] and len(c.open_violations) == 1


def test_restarted_dwell_does_not_move_its_place_onto_another() -> None:
    """A box can match two places that do not match each other (overlap is not transitive)."""
    a, b_place = (0.0, 0.0, 40.0, 40.0), (36.0, 0.0, 76.0, 40.0)  # IoU 0.05: two places
    bridge = (29.8, 0.0, 45.8, 40.0)  # matches both by overlap fraction, A slightly better
    b_now = (50.0, 0.0, 76.0, 40.0)  # inside B, clear of the bridge
    c = confirmer(10)
    run(c, [(0.0, [cand(a), cand(b_place)])])
    run(c, [(float(ts), [cand(b_now)]) for ts in range(1, 20)])
    out = run(c, [(float(ts), [cand(b_now), cand(bridge)]) for ts in range(20, 31)])
    assert [(t.kind, t.ts, t.violation.first.ts) for t in out] == [("opened", 30, 20)]  # stray hit at 0 dropped
    boxes = [v.box for v in c.open_violations]
    assert boxes == [a, b_place] and not c.params.same_place(*boxes)


def test_two_separate_objects_are_two_violations() -> None:
    c = confirmer(10)
    both = run(c, [(float(ts), [cand(BAG), cand(FAR)]) for ts in range(11)])
    assert [t.kind for t in both] == ["opened", "opened"]
    assert {t.violation.box for t in both} == {BAG, FAR}
    assert both[0].violation.id != both[1].violation.id
    # the far one leaves; only it closes
    out = run(c, [(float(ts), [cand(BAG)]) for ts in range(11, 140)])
    closed = [t for t in out if t.kind == "closed"]
    assert [t.violation.box for t in closed] == [FAR] and closed[0].ts == 131
    assert [v.box for v in c.open_violations] == [BAG]


def test_adjacent_objects_touching_stay_separate() -> None:
    right = shift(BAG, dx=36)  # 4 px overlap: IoU 0.05, overlap fraction 0.1
    c = confirmer(10)
    out = run(c, [(float(ts), [cand(BAG), cand(right)]) for ts in range(11)])
    assert [t.kind for t in out] == ["opened", "opened"]


@pytest.mark.parametrize(
    ("other", "n_violations"),
    [(cand(zone="z2"), 2), (cand(shift(BAG, dx=3), score=0.9), 1)],
    ids=["other-zone", "duplicate-box"],
)
def test_same_box_counts_per_zone(other: Cand, n_violations: int) -> None:
    c = confirmer(10)
    run(c, [(float(ts), [cand(score=0.7), other]) for ts in range(11)])
    assert len(c.open_violations) == n_violations
    if n_violations == 1:  # the duplicate is one sighting per sample, and the better one is the evidence
        v = c.open_violations[0]
        assert v.occurrences == 11 and v.best.detection.score == 0.9


def test_updated_is_rate_limited_and_carries_state() -> None:
    c = confirmer(10, update_every_s=60, update_score_gain=0.1)
    score = {80: 0.85, 100: 0.95}
    samples = [(float(ts), [cand(score=score.get(ts, 0.8))]) for ts in range(301)]
    out = run(c, samples)
    assert kinds(out) == [("opened", 10)] + [("updated", ts) for ts in (70, 100, 160, 220, 280)]
    assert [t.seq for t in out] == [0, 1, 2, 3, 4, 5]
    at = {t.ts: t.violation for t in out}
    assert at[70].occurrences == 71 and at[70].last.ts == 70 and at[70].best.ts == 0
    assert at[100].best.ts == 100 and at[100].best.detection.score == 0.95  # 0.85 at 80 was not enough alone
    assert at[280].best.ts == 100 and at[280].first.ts == 0


def test_no_updates_while_not_seen() -> None:
    c = confirmer(10, update_every_s=10, close_after_s=120)
    run(c, timeline(10))
    out = run(c, [(float(ts), []) for ts in range(11, 100)])
    assert out == []
    assert kinds(c.step(100.0, [cand()])) == [("updated", 100)]


def test_evidence_refs_are_first_and_best_only() -> None:
    c = confirmer(10)
    out = run(c, [(float(ts), [cand(score=0.9 if ts == 4 else 0.5)]) for ts in range(11)])
    v = out[0].violation
    assert v.first.ref == "frame@0" and v.best.ref == "frame@4" and v.last.ref is None


def test_a_read_with_the_whole_phone_number_is_the_best_sighting_over_a_surer_fragment() -> None:
    """A poster half hidden on some samples: OCR may be surer of the fragment, the clue must show the number."""
    c = confirmer(10)
    reads = {4: ("3712345678", 0.95), 6: ("办证 13712345678", 0.80), 8: ("办证", 0.99)}
    samples = [
        (
            float(ts),
            [
                Cand(
                    "z1",
                    "0201",
                    Detection("phone_number", reads.get(ts, ("", 0.5))[1], BAG, text=reads.get(ts, ("",))[0]),
                )
            ],
        )
        for ts in range(11)
    ]
    v = run(c, samples)[0].violation
    assert v.best.ref == "frame@6" and v.best.detection.text == "办证 13712345678"


# -- closing and cooldown ----------------------------------------------------------------------------


def test_closes_after_absence_not_before() -> None:
    c = confirmer(10, close_after_s=120)
    out = run(c, timeline(30, 2))
    out += run(c, [(float(ts), []) for ts in range(32, 200, 2)])
    assert kinds(out) == [("opened", 10), ("closed", 152)]
    v = out[-1].violation
    assert v.id == out[0].violation.id and out[-1].seq == 1
    assert (v.first.ts, v.last.ts, v.occurrences) == (0, 30, 16)
    assert c.open_violations == []


def test_absence_shorter_than_close_after_keeps_the_violation() -> None:
    c = confirmer(10, close_after_s=120)
    out = run(c, timeline(600, 2, present=lambda ts: not 100 <= ts <= 210))
    assert [t.kind for t in out].count("opened") == 1 and "closed" not in [t.kind for t in out]


def test_open_violation_survives_a_stream_outage_when_seen_again() -> None:
    c = confirmer(10, close_after_s=120)
    run(c, timeline(20))
    assert kinds(c.step(500.0, [cand()])) == [("updated", 500)]
    assert kinds(c.step(700.0, [])) == [("closed", 700)]


def test_cooldown_blocks_the_spot_then_allows_it() -> None:
    c = confirmer(10, close_after_s=120, cooldown_s=600)
    first = run(c, timeline(30, 2))
    first += run(c, [(float(ts), []) for ts in range(32, 200, 2)])
    assert kinds(first)[-1] == ("closed", 152)  # cooldown until 752
    out = run(c, timeline(800, 2, start=200))
    assert kinds(out) == [("opened", 762)]
    assert out[0].violation.first.ts == 752 and out[0].violation.id != first[0].violation.id


@pytest.mark.parametrize(
    "other",
    [cand(FAR), cand(zone="z2")],
    ids=["other-spot", "other-zone"],
)
def test_cooldown_is_only_for_its_spot(other: Cand) -> None:
    c = confirmer(10, close_after_s=20, cooldown_s=600)
    run(c, timeline(10))
    assert kinds(run(c, [(float(ts), []) for ts in range(11, 40)])) == [("closed", 31)]
    out = run(c, [(float(ts), [cand(), other]) for ts in range(40, 60)])
    assert [(t.kind, t.violation.zone_id, t.violation.category, t.violation.box) for t in out] == [
        ("opened", other.zone_id, other.category, other.detection.box)
    ]


def test_close_all_closes_open_and_forgets_pending() -> None:
    dwell = {"z1": 10.0, "z2": 300.0}
    c = Confirmer("cam1", lambda zone, category: dwell[zone])
    out = run(c, [(float(ts), [cand(), cand(zone="z2")]) for ts in range(0, 40, 2)])
    assert [t.kind for t in out] == ["opened"]
    closed = c.close_all(40.0)
    assert [(t.kind, t.seq, t.ts) for t in closed] == [("closed", 1, 40.0)]
    assert closed[0].violation.id == out[0].violation.id
    assert c.open_violations == [] and c.close_all(41.0) == []
    # the pending z2 track is gone: its dwell starts again
    assert run(c, [(float(ts), [cand(zone="z2")]) for ts in range(42, 300, 2)]) == []


def test_samples_out_of_order_are_rejected() -> None:
    c = confirmer(10, camera="gate-3")
    c.step(10.0, [])
    with pytest.raises(ValueError, match="gate-3"):
        c.step(9.0, [])
    with pytest.raises(ValueError, match="gate-3"):
        c.close_all(5.0)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "candidate", "suppressed"),
    [
        (Fixture(None, None, BAG), cand(), True),
        (Fixture(None, None, shift(BAG, dx=5)), cand(), True),
        (Fixture("z1", None, BAG), cand(), True),
        (Fixture("z1", None, BAG), cand(zone="z2"), False),
        (Fixture(None, "0507", BAG), cand(), True),
        (Fixture(None, "0507", BAG), cand(cat="0102"), False),
        (Fixture("z1", "0507", shift(BAG, dx=20)), cand(), False),  # IoU 0.33 < fixture_iou
        (Fixture(None, None, (90.0, 90.0, 200.0, 200.0)), cand(), False),  # a bag by a kiosk counts
    ],
)
def test_fixtures_suppress_their_spot(fixture: Fixture, candidate: Cand, suppressed: bool) -> None:
    c = Confirmer("cam1", lambda zone, category: 10.0, fixtures=[fixture])
    out = run(c, [(float(ts), [candidate]) for ts in range(20)])
    assert [t.kind for t in out] == ([] if suppressed else ["opened"])


def test_new_fixture_ends_an_open_violation() -> None:
    c = confirmer(10, close_after_s=120)
    run(c, timeline(20))
    c.set_fixtures([Fixture("z1", "0507", BAG)])
    out = run(c, timeline(300, start=21))
    assert kinds(out) == [("closed", 141)]
    c.set_fixtures([])
    assert run(c, timeline(800, start=301)) != []  # removed fixture: the spot counts again after cooldown


# -- ids --------------------------------------------------------------------------------------------


def scripted() -> list[tuple[float, list[Cand]]]:
    rng = random.Random(3)
    return [
        (float(ts), [cand(score=rng.uniform(0.5, 0.9))] + ([cand(FAR)] if 50 <= ts <= 200 else []))
        for ts in range(0, 600, 2)
    ]


def test_ids_are_stable_and_deterministic_across_a_replay() -> None:
    a = run(confirmer(10), scripted())
    b = run(confirmer(10), scripted())

    def key(t: Transition) -> tuple:
        return (t.kind, t.ts, t.seq, t.violation.id)

    assert [key(t) for t in a] == [key(t) for t in b]
    by_box: dict[BoxXYXY, set[str]] = {}
    for t in a:
        by_box.setdefault(t.violation.box, set()).add(t.violation.id)
    assert all(len(ids) == 1 for ids in by_box.values()) and len(by_box) == 2
    for t in a:
        assert uuid.UUID(t.violation.id).version == 5
    other_camera = run(confirmer(10, camera="cam2"), scripted())
    assert {t.violation.id for t in other_camera}.isdisjoint({t.violation.id for t in a})


def test_dwell_comes_from_zone_and_category() -> None:
    calls: set[tuple[str, str]] = set()

    def dwell_for(zone: str, category: str) -> float:
        calls.add((zone, category))
        return {"0507": 10.0, "0102": 30.0}[category]

    c = Confirmer("cam1", dwell_for)
    out = run(c, [(float(ts), [cand(), cand(FAR, cat="0102")]) for ts in range(40)])
    assert [(t.violation.category, t.ts) for t in out] == [("0507", 10), ("0102", 30)]
    assert calls == {("z1", "0507"), ("z1", "0102")}


def test_negative_dwell_names_camera_zone_and_category() -> None:
    c = Confirmer("cam9", lambda zone, category: -1.0)
    with pytest.raises(ValueError, match="cam9 zone z1 category 0507"):
        c.step(0.0, [cand()])


def test_degenerate_boxes_are_ignored() -> None:
    c = confirmer(0)
    assert c.step(0.0, [cand((10.0, 10.0, 10.0, 50.0))]) == []


# -- params ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"match_iou": 0.0}, "match_iou"),
        ({"match_overlap": 1.5}, "match_overlap"),
        ({"min_hit_ratio": -0.1}, "min_hit_ratio"),
        ({"fixture_iou": 2}, "fixture_iou"),
        ({"max_gap_s": -1}, "max_gap_s"),
        ({"cooldown_s": -5}, "cooldown_s"),
        ({"max_gap_s": 60, "close_after_s": 30}, "close_after_s"),
        ({"update_score_gain": 0}, "update_score_gain"),
    ],
)
def test_bad_params_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ConfirmParams(**kwargs)


@pytest.mark.parametrize(
    ("interval", "max_gap", "close_after"), [(1, 20, 120), (5, 20, 120), (10, 40, 120), (30, 120, 360)]
)
def test_params_for_interval(interval: float, max_gap: float, close_after: float) -> None:
    p = ConfirmParams.for_interval(interval)
    assert (p.max_gap_s, p.close_after_s, p.cooldown_s) == (max_gap, close_after, ConfirmParams.cooldown_s)
    assert ConfirmParams.for_interval(interval, cooldown_s=5).cooldown_s == 5
    with pytest.raises(ValueError, match="interval"):
        ConfirmParams.for_interval(0)


def test_overlap_fraction() -> None:
    assert overlap_fraction(BAG, (90.0, 90.0, 200.0, 200.0)) == 1.0
    assert overlap_fraction(BAG, FAR) == 0.0
    assert overlap_fraction(BAG, shift(BAG, dx=20)) == pytest.approx(0.5)


# -- invariants over random sequences -----------------------------------------------------------------


def random_scenario(rng: random.Random) -> tuple[Confirmer, list[tuple[float, list[Cand]]], dict]:
    params = ConfirmParams(
        max_gap_s=rng.choice([5.0, 20.0]),
        close_after_s=rng.choice([20.0, 60.0, 120.0]),
        cooldown_s=rng.choice([0.0, 30.0, 600.0]),
        update_every_s=rng.choice([0.0, 10.0, 60.0]),
    )
    dwell = {(z, k): rng.choice([0.0, 5.0, 10.0, 30.0]) for z in ("z1", "z2") for k in ("a", "b")}
    objects = []
    for _ in range(rng.randint(1, 7)):
        x, y, w, h = rng.uniform(0, 300), rng.uniform(0, 300), rng.uniform(15, 120), rng.uniform(15, 120)
        start = rng.uniform(0, 300)
        objects.append(
            dict(
                box=(x, y, x + w, y + h),
                zone=rng.choice(["z1", "z2"]),
                cat=rng.choice(["a", "b"]),
                start=start,
                end=start + rng.uniform(0, 300),
                p=rng.uniform(0.3, 1.0),
                drift=rng.choice([0.0, 0.0, 2.0, 10.0]),
            )
        )
    samples, ts = [], 0.0
    while ts < 600:
        cands = []
        for o in objects:
            if o["start"] <= ts <= o["end"] and rng.random() < o["p"]:
                d = o["drift"] * (ts - o["start"]) + rng.uniform(-4, 4)
                cands.append(Cand(o["zone"], o["cat"], Detection("x", rng.random(), shift(o["box"], dx=d))))
        for _ in range(rng.choice([0, 0, 1, 3])):  # spurious detections
            x, y = rng.uniform(0, 400), rng.uniform(0, 400)
            box = (x, y, x + rng.uniform(5, 80), y + rng.uniform(5, 80))
            zone, cat = rng.choice(["z1", "z2"]), rng.choice(["a", "b"])
            cands.append(Cand(zone, cat, Detection("x", rng.random(), box)))
        rng.shuffle(cands)
        samples.append((ts, cands))
        ts += rng.choice([1.0, 2.0, 5.0]) if rng.random() > 0.02 else rng.uniform(30, 200)  # rare outage
    fixtures = [Fixture(o["zone"], None, o["box"]) for o in objects if rng.random() < 0.2]
    c = Confirmer("cam", lambda zone, category: dwell[(zone, category)], params)
    return c, samples, {"dwell": dwell, "fixtures": fixtures}


@pytest.mark.parametrize("seed", range(40))
def test_invariants_on_random_sequences(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5):
        c, samples, extra = random_scenario(rng)
        p = c.params
        open_seq: dict[str, int] = {}  # id -> last seq
        closed: set[str] = set()
        for i, (ts, cands) in enumerate(samples):
            if i == len(samples) // 2:
                c.set_fixtures(extra["fixtures"])
            for t in c.step(ts, cands):
                v = t.violation
                assert v.first.ts <= v.best.ts <= v.last.ts <= ts
                if t.kind == "opened":
                    assert v.id not in open_seq and v.id not in closed and t.seq == 0
                    assert v.dwell_s >= extra["dwell"][(v.zone_id, v.category)] and v.last.ts == ts
                    assert v.occurrences >= (2 if v.dwell_s > 0 else 1)
                else:
                    assert v.id in open_seq and t.seq == open_seq[v.id] + 1
                    if t.kind == "updated":
                        assert v.last.ts == ts
                    else:
                        assert ts - v.last.ts > p.close_after_s
                open_seq[v.id] = t.seq
                if t.kind == "closed":
                    del open_seq[v.id]
                    closed.add(v.id)
            now = c.open_violations
            assert {v.id for v in now} == set(open_seq)
            for i, a in enumerate(now):
                for b in now[i + 1 :]:
                    if (a.zone_id, a.category) == (b.zone_id, b.category):
                        assert not p.same_place(a.box, b.box), (a, b)
        final = c.close_all(samples[-1][0] + 1)
        assert {t.violation.id for t in final} == set(open_seq)
        assert all(t.seq == open_seq[t.violation.id] + 1 for t in final)
        assert closed.isdisjoint(t.violation.id for t in final)


def test_adopted_violation_continues_under_its_id_and_seq() -> None:
    """A worker taking over a camera continues the clue another worker opened: no duplicate under a new id."""
    from xuncha.confirm import Confirmer
    from xuncha.types import Detection

    bag = Cand("z", "0507", Detection("static_object", 0.8, (100, 100, 140, 150)))
    first = Confirmer("cam", dwell_for=lambda z, c: 10.0)
    events = [t for ts in range(0, 14, 2) for t in first.step(float(ts), [bag])]
    assert [t.kind for t in events] == ["opened"]
    opened = events[0].violation

    second = Confirmer("cam", dwell_for=lambda z, c: 10.0)
    second.adopt(opened, next_seq=1)
    later = [t for ts in range(60, 200, 2) for t in second.step(float(ts), [bag])]
    assert later and {t.violation.id for t in later} == {opened.id}
    assert [t.seq for t in later] == list(range(1, 1 + len(later)))
    assert all(t.kind == "updated" for t in later)
    closing = second.step(400.0, [])
    assert [(t.kind, t.violation.id) for t in closing] == [("closed", opened.id)]


def named(cat: str = "0102", box: BoxXYXY = BAG, score: float = 0.9) -> Cand:
    """A named object (e.g. the garbage model's) at the place: rank 0 beats static_object's 1000."""
    return Cand("z1", cat, Detection("garbage", score, box), 0)


def generic(box: BoxXYXY = BAG) -> Cand:
    return Cand("z1", "0507", Detection("static_object", 0.6, box), 1000)


@pytest.mark.parametrize(("every", "category"), [(1, "0102"), (3, "0102"), (10, "0507")])
def test_a_place_is_one_violation_named_by_what_is_seen_often_enough(every: int, category: str) -> None:
    # The stationary model sees the bag every sample; the garbage model every `every`-th sample. One place,
    # one clue: named garbage when that is seen in >= min_category_share (0.3) of the sightings.
    c = confirmer(20)
    out = run(c, [(float(ts), [generic(), named()] if ts % every == 0 else [generic()]) for ts in range(40)])
    assert [(t.kind, t.violation.category) for t in out] == [("opened", category)]


def test_category_is_fixed_once_opened_and_cooldown_covers_any_category() -> None:
    c = confirmer(10, close_after_s=20, cooldown_s=600)
    out = run(c, [(float(ts), [generic()]) for ts in range(12)])
    out += run(c, [(float(ts), [named()]) for ts in range(12, 40)])
    assert [(t.kind, t.violation.category) for t in out] == [("opened", "0507"), ("updated", "0507")]
    assert kinds(run(c, [(float(ts), []) for ts in range(40, 70)])) == [("closed", 60)]
    assert run(c, [(float(ts), [named()]) for ts in range(70, 100)]) == []  # same place, cooling down


def test_a_dwell_follows_the_resolved_category() -> None:
    c = Confirmer("cam1", lambda zone, category: {"0507": 10.0, "0102": 30.0}[category])
    out = run(c, [(float(ts), [generic(), named()]) for ts in range(40)])
    assert [(t.violation.category, t.ts) for t in out] == [("0102", 30)]


def test_object_put_back_continues_its_open_violation_even_if_a_part_of_it_started_a_pending_track() -> None:
    # The place is the first sighting's box: here only the object's bottom strip (its contact shadow).
    strip, full, part = (100.0, 140.0, 140.0, 150.0), (100.0, 100.0, 140.0, 150.0), (110.0, 110.0, 125.0, 150.0)
    c = confirmer(10)
    out = run(c, [(0.0, [cand(strip)])] + [(float(ts), [cand(full)]) for ts in range(1, 13)])
    out += run(c, [(20.0, [cand(part)])])  # while it was away, a part of something: a pending track
    out += run(c, [(float(ts), [cand(full)]) for ts in range(25, 60)])  # put back
    assert [t.kind for t in out].count("opened") == 1
    assert c.open_violations[0].last.ts == 59
