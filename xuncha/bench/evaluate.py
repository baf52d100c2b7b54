"""Match clues to ground truth and count what an operator would see (pure).

Clues are taken in the order they opened. A clue is a true positive when it is the first to
overlap a violation (IoU or overlap-of-the-smaller-box over a threshold) that had started when the
clue opened and had not ended before the clue's first sighting; a later clue for an already-found
violation is a duplicate (wasted review); any other clue is a false positive. Whether a true
positive names the violation's category is counted apart (`category_correct`): an operator can
re-type a wrong category, but dispatch sends it to the wrong department if nobody does.

Precision is the 立案率 operators would see: every clue is reviewed and only true positives become
cases, so duplicates count against it (`precision_unique` leaves them out, for comparison).

>>> v = [TruthViolation("s", "v0", "0507", (100, 100, 150, 150), 10.0, None)]
>>> c = [Clue("s", "0507", (102, 98, 149, 152), 30.0, 12.0), Clue("s", "0507", (0, 0, 20, 20), 31.0, 20.0)]
>>> m = match(c, v)
>>> [o.outcome for o in m.clues], m.found, m.clues[0].category_ok
(['tp', 'fp'], {'v0': 20.0}, True)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from xuncha.types import BoxXYXY, iou, overlap_fraction

Outcome = Literal["tp", "dup", "fp"]


@dataclass(frozen=True)
class Clue:
    """One opened clue: where (px box), what, when it opened and when its object was first seen (s)."""

    scenario: str
    category: str
    box: BoxXYXY
    open_s: float
    first_s: float
    text: str = ""  # what the text stage read (text clues)


@dataclass(frozen=True)
class TruthViolation:
    scenario: str
    id: str
    category: str
    box: BoxXYXY
    start_s: float
    end_s: float | None  # None: stays to the end of the video


@dataclass(frozen=True)
class MatchParams:
    min_iou: float = 0.3
    min_overlap: float = 0.5  # of the smaller box: a clue box on part of a pile, or a pile's box over a bag

    def overlaps(self, a: BoxXYXY, b: BoxXYXY) -> bool:
        return iou(a, b) >= self.min_iou or overlap_fraction(a, b) >= self.min_overlap


@dataclass(frozen=True)
class MatchedClue:
    clue: Clue
    outcome: Outcome
    violation: str | None
    category_ok: bool = False  # a true positive naming the violation's category


@dataclass
class Match:
    """One scenario's (or any set's) outcome: per clue, and latency per found violation."""

    clues: list[MatchedClue] = field(default_factory=list)
    violations: int = 0
    found: dict[str, float] = field(default_factory=dict)  # violation id -> latency s


def match(clues: Sequence[Clue], violations: Sequence[TruthViolation], params: MatchParams = MatchParams()) -> Match:
    """Match one scenario's clues to its violations (both of the same scenario)."""
    out = Match(violations=len(violations))
    for c in sorted(clues, key=lambda c: (c.open_s, c.box)):
        hits = [
            v
            for v in violations
            if params.overlaps(c.box, v.box) and c.open_s >= v.start_s and (v.end_s is None or c.first_s <= v.end_s)
        ]
        fresh = [v for v in hits if v.id not in out.found]
        if fresh:
            v = max(fresh, key=lambda v: (iou(c.box, v.box), -v.start_s))
            out.found[v.id] = c.open_s - v.start_s
            out.clues.append(MatchedClue(c, "tp", v.id, c.category == v.category))
        elif hits:
            out.clues.append(MatchedClue(c, "dup", hits[0].id))
        else:
            out.clues.append(MatchedClue(c, "fp", None))
    return out


@dataclass(frozen=True)
class Metrics:
    clues: int
    tp: int
    dup: int
    fp: int
    violations: int
    latency_median_s: float | None
    latency_max_s: float | None
    category_ok: int = 0
    scenarios: int = 0

    @property
    def category_correct(self) -> float | None:
        return self.category_ok / self.tp if self.tp else None

    @property
    def fp_per_scenario(self) -> float | None:
        return self.fp / self.scenarios if self.scenarios else None

    @property
    def precision(self) -> float | None:
        return self.tp / self.clues if self.clues else None

    @property
    def precision_unique(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.violations if self.violations else None

    @property
    def dup_per_violation(self) -> float | None:
        return self.dup / self.tp if self.tp else None

    def as_dict(self) -> dict:
        return {
            "clues": self.clues,
            "tp": self.tp,
            "dup": self.dup,
            "fp": self.fp,
            "violations": self.violations,
            "precision": _r(self.precision),
            "precision_unique": _r(self.precision_unique),
            "recall": _r(self.recall),
            "dup_per_violation": _r(self.dup_per_violation),
            "category_correct": _r(self.category_correct),
            "fp_per_scenario": _r(self.fp_per_scenario),
            "latency_median_s": _r(self.latency_median_s),
            "latency_max_s": _r(self.latency_max_s),
        }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def metrics(matches: Iterable[Match]) -> Metrics:
    """Pool several scenarios' matches."""
    ms = list(matches)
    outcomes = [c.outcome for m in ms for c in m.clues]
    lat = [x for m in ms for x in m.found.values()]
    return Metrics(
        clues=len(outcomes),
        tp=outcomes.count("tp"),
        dup=outcomes.count("dup"),
        fp=outcomes.count("fp"),
        violations=sum(m.violations for m in ms),
        latency_median_s=statistics.median(lat) if lat else None,
        latency_max_s=max(lat) if lat else None,
        category_ok=sum(c.category_ok for m in ms for c in m.clues),
        scenarios=len(ms),
    )


def _fmt(v: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if v is None else pattern.format(v)


def table(rows: Sequence[tuple[str, str, Metrics]]) -> str:
    """A Markdown table, one row per (group, system)."""
    head = (
        "| group | system | clues | TP | dup | FP | violations | precision | prec. w/o dup | recall "
        "| category correct | FP/scenario | dup/violation | latency median s | latency max s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for group, system, m in rows:
        lines.append(
            f"| {group} | {system} | {m.clues} | {m.tp} | {m.dup} | {m.fp} | {m.violations} "
            f"| {_fmt(m.precision)} | {_fmt(m.precision_unique)} | {_fmt(m.recall)} | {_fmt(m.category_correct)} "
            f"| {_fmt(m.fp_per_scenario)} | {_fmt(m.dup_per_violation)} "
            f"| {_fmt(m.latency_median_s, '{:.0f}')} | {_fmt(m.latency_max_s, '{:.0f}')} |"
        )
    return "\n".join(lines)
