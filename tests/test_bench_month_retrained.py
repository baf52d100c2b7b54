"""`xuncha bench month` with a retrained model: the four systems of the pure simulation, and the
simulated reviews written as export-dataset's rows."""

from __future__ import annotations

from datetime import UTC, datetime

from xuncha.bench.baselines import Opened
from xuncha.bench.month import Episode, Levels, Reviewed, simulate, table4, weeks
from xuncha.bench.month_export import Seen, distinct, reviewed_rows
from xuncha.review.export_plan import label_text, plan
from xuncha.review.gating import GatingSettings

P = GatingSettings(window=10)
TP, FP = Reviewed("z", "0102", True), Reviewed("z", "0102", False)


def old_model(camera: str, levels: Levels, seed: int) -> Episode:
    """A fixture raises four false clues beside the real one at level 0; raised, only the real one."""
    return Episode((TP,) if levels else (TP, FP, FP, FP, FP), found=1, violations=1)


def retrained_model(camera: str, levels: Levels, seed: int) -> Episode:
    """The retrained model no longer sees the fixture (and gating changes nothing more)."""
    return Episode((TP,), found=1, violations=1)


def test_retrained_systems_take_over_on_their_day_and_gated_retrained_starts_from_the_gated_levels() -> None:
    m = simulate({"cam": 1}, old_model, days=6, p=P, seed=0, retrained=retrained_model, from_day=4)
    # Days 1-3: retrained = today, gated+retrained = gated (one model); gated raises on day 2.
    assert [d.retrained.clues for d in m.days] == [5, 5, 5, 1, 1, 1]
    assert [d.both.clues for d in m.days] == [d.gated.clues for d in m.days[:3]] + [1, 1, 1]
    assert [d.today.clues for d in m.days] == [5] * 6 and [d.gated.clues for d in m.days] == [5, 5, 1, 1, 1, 1]
    assert m.changes == [(2, "cam", "z", "0102", 0, 1, 10, 2)]
    assert m.levels_both == {"cam": {("z", "0102"): 1}}  # carried over at the switch, own state from then
    assert m.levels_both is not m.levels
    w = weeks(m.days, first=4)
    assert [x.label for x in w] == ["4-6", "4-6"] and w[-1].retrained.rate == w[-1].both.rate == 1.0
    assert w[-1].today.rate == 0.2 and w[-1].retrained.recall == w[-1].today.recall == 1.0
    lines = table4(w[-1:]).splitlines()
    assert lines[0].count("|") == lines[2].count("|") == 18  # label + 4 systems x 4 measures
    assert lines[2].startswith("| 4-6 | 0.20 | 1.00 | 1.00 | 1.00 |")


def test_without_a_retrained_model_the_extra_columns_repeat_today_and_gated() -> None:
    m = simulate({"cam": 1}, old_model, days=4, p=P, seed=0)
    assert all(d.retrained == d.today and d.both == d.gated for d in m.days)
    assert m.changes_both == []


def _seen(day: int, outcome: str, ts: float = 100.0) -> Seen:
    o = Opened("z", "0102", (64.0, 36.0, 128.0, 108.0), open_ts=ts, first_ts=ts - 15.0)
    return Seen(day, "cam-a", "sc-a", o, outcome, 0.0, (640, 360))


def test_reviews_become_export_rows_the_export_plan_labels_and_splits() -> None:
    seen = [_seen(1, "fp"), _seen(2, "fp"), _seen(2, "fp", 101.0), _seen(3, "tp"), _seen(3, "dup")]
    kept = distinct(seen)
    assert [(s.day, s.opened.open_ts, s.outcome) for s in kept] == [
        (1, 100.0, "fp"),
        (2, 101.0, "fp"),
        (3, 100.0, "tp"),
    ]
    pictures = {("sc-a", 100.0): "p100.jpg", ("sc-a", 101.0): "p101.jpg"}
    rows = reviewed_rows(kept, pictures)
    assert [r.clue_id for r in rows] == ["m01-00001", "m02-00002", "m03-00003"]
    assert rows[1].first_seen == datetime(2026, 11, 2, 0, 1, 26, tzinfo=UTC)  # day 2, video time 86 s
    assert [(r.accepted, r.reason_code, r.picture) for r in rows] == [
        (False, "misdetection", "p100.jpg"),
        (False, "misdetection", "p101.jpg"),
        (True, None, "p100.jpg"),
    ]
    items, names = plan(rows, UTC)
    assert names == ["0102"]
    assert [label_text(i) for i in items] == ["", "", "0 0.150000 0.200000 0.100000 0.200000\n"]
