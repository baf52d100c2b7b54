"""The evaluator on hand-made clues and ground truth with known precision, recall and duplicates."""

from __future__ import annotations

import pytest

from xuncha.bench.evaluate import Clue, TruthViolation, match, metrics, table

BAG = (100.0, 100.0, 150.0, 160.0)
PILE = (300.0, 200.0, 420.0, 300.0)


def v(vid: str, box: tuple, start: float = 10.0, end: float | None = None, category: str = "0507") -> TruthViolation:
    return TruthViolation("s", vid, category, box, start, end)


def c(box: tuple, open_s: float, first_s: float | None = None, category: str = "0507") -> Clue:
    return Clue("s", category, box, open_s, open_s - 15 if first_s is None else first_s)


def shifted(box: tuple, dx: float) -> tuple:
    return (box[0] + dx, box[1], box[2] + dx, box[3])


def test_one_clue_per_violation_is_perfect() -> None:
    m = metrics([match([c(shifted(BAG, 3), 30), c(PILE, 40)], [v("bag", BAG), v("pile", PILE, start=20)])])
    assert (m.tp, m.dup, m.fp, m.violations) == (2, 0, 0, 2)
    assert m.precision == 1.0 and m.recall == 1.0
    assert m.latency_median_s == pytest.approx(20.0)  # 30 - 10 and 40 - 20


def test_repeat_clues_for_one_violation_are_duplicates_and_cost_precision() -> None:
    m = metrics([match([c(BAG, 30), c(shifted(BAG, 5), 31), c(shifted(BAG, -4), 45)], [v("bag", BAG)])])
    assert (m.tp, m.dup, m.fp) == (1, 2, 0)
    assert m.precision == pytest.approx(1 / 3)  # what operators see: three reviews, one case
    assert m.precision_unique == 1.0
    assert m.dup_per_violation == 2.0
    assert m.latency_median_s == 20.0  # from the first clue, not the duplicates


def test_clue_that_opens_before_the_violation_starts_is_a_false_positive() -> None:
    mt = match([c(BAG, 5, 1), c(BAG, 30)], [v("bag", BAG, start=10)])
    assert [x.outcome for x in mt.clues] == ["fp", "tp"]


def test_clue_whose_object_was_first_seen_after_the_violation_ended_is_a_false_positive() -> None:
    mt = match([c(BAG, 50, first_s=40)], [v("bag", BAG, start=10, end=35)])
    assert [x.outcome for x in mt.clues] == ["fp"]
    assert metrics([mt]).recall == 0.0


def test_wrong_place_is_a_false_positive_and_wrong_category_a_found_violation_counted_apart() -> None:
    mt = match([c(shifted(BAG, 200), 29), c(BAG, 30, category="0102")], [v("bag", BAG)])
    assert [(x.outcome, x.category_ok) for x in mt.clues] == [("fp", False), ("tp", False)]
    right = match([c(BAG, 30, category="0102")], [v("bag", BAG, category="0102")])
    m = metrics([mt, right])
    assert (m.tp, m.category_ok, m.category_correct, m.fp_per_scenario) == (2, 1, 0.5, 0.5)


def test_a_clue_on_part_of_a_pile_matches_by_overlap_of_the_smaller_box() -> None:
    part = (300.0, 250.0, 340.0, 300.0)  # IoU with the pile 0.17, but wholly inside it
    assert [x.outcome for x in match([c(part, 30)], [v("pile", PILE)]).clues] == ["tp"]


def test_two_clues_on_two_close_violations_each_find_one() -> None:
    left, right = (100.0, 100.0, 150.0, 160.0), (140.0, 100.0, 190.0, 160.0)  # overlapping neighbours
    mt = match([c(shifted(right, 1), 30), c(left, 31)], [v("l", left), v("r", right)])
    assert [(x.outcome, x.violation) for x in mt.clues] == [("tp", "r"), ("tp", "l")]


def test_pooled_metrics_over_scenarios() -> None:
    # Scenario a: 2 violations, 1 found + 1 FP. Scenario b: 3 violations, 2 found, 1 duplicate.
    a = match([c(BAG, 30), c((0, 0, 10, 10), 31)], [v("bag", BAG), v("pile", PILE)])
    b = match(
        [c(BAG, 20), c(PILE, 50), c(BAG, 55)],
        [v("bag", BAG), v("pile", PILE), v("far", (500, 50, 520, 70))],
    )
    m = metrics([a, b])
    assert (m.clues, m.tp, m.dup, m.fp, m.violations) == (5, 3, 1, 1, 5)
    assert m.precision == pytest.approx(0.6)
    assert m.precision_unique == pytest.approx(0.75)
    assert m.recall == pytest.approx(0.6)
    assert m.latency_median_s == 20.0 and m.latency_max_s == 40.0  # latencies 20, 10, 40


def test_no_clues_and_no_violations_has_no_ratios() -> None:
    m = metrics([match([], [])])
    assert m.precision is None and m.recall is None and m.latency_median_s is None
    text = table([("all", "xuncha", m)])
    assert text.splitlines()[2].startswith("| all | xuncha | 0 |")
    assert m.as_dict()["precision"] is None
