"""`xuncha bench month`, the simulation (pure): a month of operator reviews fed to adaptive gating.

Each camera replays its scenarios a few times a day (`Episode`s: the clues one pass opens, each
filed or rejected by its ground truth, and the violations it found; the replays are
`month_replay.py`'s). Every episode is replayed twice with the same seed: *today* (every zone at its
rules' values) and *gated* (the camera's gating levels at that moment). Only the gated system's
decisions reach the gating core, as only they would exist; after each episode the camera's groups are
refreshed as the review service does on a worker's fetch (`xuncha/review/gating_store.refresh`:
standing decisions since the group's last change, newest first, at most one step per refresh), with
the real `next_level`. With a retrained model's replays, from a given day two more systems run on the
same seeds: retrained, and gated+retrained (`simulate`).

>>> p = GatingSettings(window=4)
>>> def run(camera, levels, seed):  # a zone with three false clues beside each real one, until raised
...     fp = () if levels else (Reviewed("z", "0102", False),) * 3
...     return Episode((Reviewed("z", "0102", True), *fp), found=1, violations=1)
>>> m = simulate({"cam": 1}, run, days=3, p=p, seed=0)
>>> [(d.today.clues, d.gated.clues) for d in m.days], m.changes
([(4, 4), (4, 1), (4, 1)], [(1, 'cam', 'z', '0102', 0, 1, 4, 1)])
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from xuncha.review.gating import GatingSettings, next_level
from xuncha.types import Detection
from xuncha.zones.gating import Adjustment

Group = tuple[str, str]  # (zone, category)
Levels = tuple[tuple[str, str, int], ...]  # (zone, category, level > 0), sorted: hashable, for caches


@dataclass(frozen=True)
class Reviewed:
    """One clue as the operator decides it: 立案 when it is a real violation found first (TP), 不立案
    for a false clue or a second clue of one violation."""

    zone: str
    category: str
    filed: bool


@dataclass(frozen=True)
class Episode:
    clues: tuple[Reviewed, ...]
    found: int
    violations: int


@dataclass(frozen=True)
class Noise:
    """The seeded day-to-day variation of an episode: each recorded box is missed with `drop` and its
    score moves by a normal `score_sd` (light, weather, people in front). The draws per box do not
    depend on the gating level, so today's and the gated run of one seed see the same boxes."""

    score_sd: float = 0.05
    drop: float = 0.1

    def apply(self, detections: Sequence[Detection], rng: random.Random) -> list[Detection]:
        out = []
        for d in detections:
            missed, shift = rng.random() < self.drop, rng.gauss(0.0, self.score_sd)
            if not missed:
                out.append(replace(d, score=min(1.0, max(0.0, d.score + shift))))
        return out


Replay = Callable[[str, Levels, int], Episode]  # camera, its levels, seed -> the episode


@dataclass
class Counts:
    clues: int = 0
    filed: int = 0
    found: int = 0
    violations: int = 0

    def add(self, e: Episode) -> None:
        self.clues += len(e.clues)
        self.filed += sum(c.filed for c in e.clues)
        self.found += e.found
        self.violations += e.violations

    def __iadd__(self, o: Counts) -> Counts:
        self.clues, self.filed = self.clues + o.clues, self.filed + o.filed
        self.found, self.violations = self.found + o.found, self.violations + o.violations
        return self

    @property
    def rate(self) -> float | None:
        """立案率: filed / reviewed."""
        return self.filed / self.clues if self.clues else None

    @property
    def recall(self) -> float | None:
        return self.found / self.violations if self.violations else None


@dataclass
class Day:
    day: int  # 1-based
    today: Counts = field(default_factory=Counts)
    gated: Counts = field(default_factory=Counts)
    raised: int = 0  # groups above level 0 at the end of the day
    # With a retrained model from some day on (before it: today's and the gated system themselves).
    retrained: Counts = field(default_factory=Counts)
    both: Counts = field(default_factory=Counts)  # gated and retrained


Change = tuple[int, str, str, str, int, int, int, int]  # day, camera, zone, category, old, new, n, filed


@dataclass
class Month:
    days: list[Day]
    changes: list[Change]
    levels: dict[str, dict[Group, int]]  # camera -> group -> level at the end
    changes_both: list[Change] = field(default_factory=list)  # the gated+retrained system's, from its first day
    levels_both: dict[str, dict[Group, int]] = field(default_factory=dict)


def adjustments(levels: Levels, p: GatingSettings) -> list[Adjustment]:
    """The camera's levels as the review service hands them to its worker (gating_store.adjustments)."""
    return [
        Adjustment(zone=z, category=c, level=lv, score_delta=p.score_delta(lv), dwell_factor=p.dwell_factor(lv))
        for z, c, lv in levels
    ]


def episode_seed(seed: int, camera: str, day: int, n: int) -> int:
    """The seed of one episode, the same for today's and the gated run (a paired comparison)."""
    return random.Random(f"{seed}:{camera}:{day}:{n}").getrandbits(32)


@dataclass
class _Gating:
    """One gated system's state, as the review service keeps it: levels, and the standing decisions of
    each group since its last change (oldest first)."""

    level: dict[str, dict[Group, int]]
    since: dict[str, dict[Group, list[bool]]]

    def levels(self, cam: str) -> Levels:
        return tuple(sorted((z, c, lv) for (z, c), lv in self.level[cam].items() if lv > 0))

    def review(self, cam: str, e: Episode, day: int, p: GatingSettings, changes: list[Change]) -> None:
        """The episode's decisions stored, then the camera's groups refreshed (one step at most each)."""
        for r in e.clues:
            self.since[cam].setdefault((r.zone, r.category), []).append(r.filed)
        for g, decided in sorted(self.since[cam].items()):
            old = self.level[cam].get(g, 0)
            change = next_level(old, decided[::-1][: p.window], p)
            if change is not None:
                self.level[cam][g], self.since[cam][g] = change.new, []
                changes.append((day, cam, *g, change.old, change.new, change.reviewed, change.accepted))

    def copy(self) -> _Gating:
        return _Gating(
            {c: dict(g) for c, g in self.level.items()},
            {c: {k: list(v) for k, v in g.items()} for c, g in self.since.items()},
        )


def simulate(
    episodes_per_day: Mapping[str, int],
    replay: Replay,
    *,
    days: int,
    p: GatingSettings,
    seed: int,
    retrained: Replay | None = None,
    from_day: int = 1,
) -> Month:
    """`days` days of every camera's episodes; gating decided from the gated system's reviews.

    With `retrained` (the replays of a retrained model), from `from_day` on two more systems run on the
    same seeds: *retrained* (no gating) and *gated+retrained*, whose gating starts from the gated
    system's state that morning (promoting a model keeps the zones' levels) and then follows its own
    reviews. Before `from_day` they are today's and the gated system."""
    gated = _Gating({cam: {} for cam in episodes_per_day}, {cam: {} for cam in episodes_per_day})
    both: _Gating | None = None
    out = Month([], [], gated.level)
    for d in range(1, days + 1):
        day = Day(d)
        if retrained is not None and d == from_day:
            both = gated.copy()
            out.levels_both = both.level
        for cam in sorted(episodes_per_day):
            for n in range(episodes_per_day[cam]):
                s = episode_seed(seed, cam, d, n)
                now = gated.levels(cam)
                today = replay(cam, (), s)
                g = replay(cam, now, s) if now else today
                day.today.add(today)
                day.gated.add(g)
                gated.review(cam, g, d, p, out.changes)
                if both is None or retrained is None:
                    day.retrained.add(today)
                    day.both.add(g)
                    continue
                new = retrained(cam, (), s)
                now_both = both.levels(cam)
                b = retrained(cam, now_both, s) if now_both else new
                day.retrained.add(new)
                day.both.add(b)
                both.review(cam, b, d, p, out.changes_both)
        day.raised = sum(lv > 0 for groups in gated.level.values() for lv in groups.values())
        out.days.append(day)
    return out


@dataclass
class Week:
    label: str
    days: int
    today: Counts
    gated: Counts
    raised: int
    retrained: Counts = field(default_factory=Counts)
    both: Counts = field(default_factory=Counts)


def weeks(days: Sequence[Day], length: int = 7, first: int = 1) -> list[Week]:
    """Days pooled per week from day `first` (the last week may be shorter), then the whole run from it."""
    days = [d for d in days if d.day >= first]
    out = []
    for i in range(0, len(days), length):
        chunk = days[i : i + length]
        out.append(_pool(f"{chunk[0].day}-{chunk[-1].day}", chunk))
    return [*out, _pool("all" if first == 1 else f"{first}-{days[-1].day}", days)] if days else []


def _pool(label: str, days: Sequence[Day]) -> Week:
    w = Week(label, len(days), Counts(), Counts(), days[-1].raised)
    for d in days:
        w.today += d.today
        w.gated += d.gated
        w.retrained += d.retrained
        w.both += d.both
    return w


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def table(ws: Sequence[Week]) -> str:
    """Markdown: per week, 立案率, recall and clues per day, today's beside the gated system's."""
    head = (
        "| days | 立案率 today | 立案率 gated | recall today | recall gated | clues/day today (all cameras) "
        "| clues/day gated | filed today | filed gated | groups raised (end) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for w in ws:
        t, g = w.today, w.gated
        lines.append(
            f"| {w.label} | {_f(t.rate)} | {_f(g.rate)} | {_f(t.recall)} | {_f(g.recall)} "
            f"| {t.clues / w.days:.1f} | {g.clues / w.days:.1f} | {t.filed} | {g.filed} | {w.raised} |"
        )
    return "\n".join(lines)


SYSTEMS = (("today", "today"), ("gated", "gated"), ("retrained", "retrained"), ("both", "gated+retrained"))


def table4(ws: Sequence[Week]) -> str:
    """Markdown: per week, each of the four systems' 立案率, recall, clues per day and rejected clues."""
    names = [label for _, label in SYSTEMS]
    head = (
        "| days | "
        + " | ".join(f"立案率 {n}" for n in names)
        + " | "
        + " | ".join(f"recall {n}" for n in names)
        + " | "
        + " | ".join(f"clues/day {n}" for n in names)
        + " | "
        + " | ".join(f"rejected {n}" for n in names)
        + " |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for w in ws:
        cs = [getattr(w, attr) for attr, _ in SYSTEMS]
        cells = [
            *(_f(c.rate) for c in cs),
            *(_f(c.recall) for c in cs),
            *(f"{c.clues / w.days:.1f}" for c in cs),
            *(str(c.clues - c.filed) for c in cs),
        ]
        lines.append(f"| {w.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
