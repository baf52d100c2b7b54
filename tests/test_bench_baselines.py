"""The baselines on hand-made candidate sequences: one static bag, seen with gaps."""

from __future__ import annotations

from xuncha.bench.baselines import Naive, TrackerDwell, XunchaConfirm
from xuncha.confirm import Confirmer
from xuncha.types import Detection
from xuncha.zones.match import Candidate

BAG = Candidate("z", "0507", Detection("static_object", 0.8, (100.0, 100.0, 140.0, 150.0)))
SUITCASE = Candidate("z", "0507", Detection("suitcase", 0.6, (102.0, 101.0, 141.0, 149.0)))


def run(system: object, seen: list[bool]) -> list:
    out = []
    for ts, present in enumerate(seen):
        out.extend(system.step(float(ts), [BAG, SUITCASE] if present else []))  # type: ignore[attr-defined]
    return out


def dwell10(zone: str, category: str) -> float:
    return 10.0


# 40 samples; the bag is missed (e.g. a passer-by in front) at 15-16 and 25-27.
SEEN = [True] * 15 + [False] * 2 + [True] * 8 + [False] * 3 + [True] * 12


def test_naive_makes_a_clue_per_sample_and_counts_one_place_once() -> None:
    clues = run(Naive(), SEEN)
    assert len(clues) == sum(SEEN)
    assert {c.box for c in clues} == {BAG.detection.box}  # the best-scoring candidate of the place
    assert [c.open_ts for c in clues[:2]] == [0.0, 1.0]


def test_tracker_makes_a_new_clue_when_a_gap_outlives_the_track() -> None:
    clues = run(TrackerDwell(dwell10, max_misses=1), SEEN)
    # Track 1 opens at 10 s and dies in the 15-16 gap; track 2 (17-24) is too short; the
    # 25-27 gap kills it; track 3 from 28 s opens at 38 s: the same bag, reported twice.
    assert [(c.first_ts, c.open_ts) for c in clues] == [(0.0, 10.0), (28.0, 38.0)]
    assert len(run(TrackerDwell(dwell10, max_misses=3), SEEN)) == 1


def test_xuncha_reports_the_bag_once() -> None:
    clues = run(XunchaConfirm(Confirmer("cam", dwell10)), SEEN)
    assert [(c.first_ts, c.open_ts) for c in clues] == [(0.0, 10.0)]
