"""`xuncha bench month`, the simulation (pure): a month of operator reviews fed to adaptive gating.

Each camera replays its scenarios a few times a day (`Episode`s: the clues one pass opens, each
filed or rejected by its ground truth, and the violations it found; the replays are
`month_replay.py`'s). Every episode is replayed twice with the same seed: *today* (every zone at its
rules' values) and *gated* (the camera's gating levels at that moment). Only the gated system's
decisions reach the gating core, as only they would exist; after each episode the camera's groups are
refreshed as the review service does on a worker's fetch (`xuncha/review/gating_store.refresh`:
standing decisions since the group's last change, newest first, at most one step per refresh), with
the real `next_level`.

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


@dataclass
class Month:
    days: list[Day]
    changes: list[tuple[int, str, str, str, int, int, int, int]]  # day, camera, zone, category, old, new, n, filed
    levels: dict[str, dict[Group, int]]  # camera -> group -> level at the end


def adjustments(levels: Levels, p: GatingSettings) -> list[Adjustment]:
    """The camera's levels as the review service hands them to its worker (gating_store.adjustments)."""
    return [
        Adjustment(zone=z, category=c, level=lv, score_delta=p.score_delta(lv), dwell_factor=p.dwell_factor(lv))
        for z, c, lv in levels
    ]


def episode_seed(seed: int, camera: str, day: int, n: int) -> int:
    """The seed of one episode, the same for today's and the gated run (a paired comparison)."""
    return random.Random(f"{seed}:{camera}:{day}:{n}").getrandbits(32)


def simulate(episodes_per_day: Mapping[str, int], replay: Replay, *, days: int, p: GatingSettings, seed: int) -> Month:
    """`days` days of every camera's episodes; gating decided from the gated system's reviews."""
    level: dict[str, dict[Group, int]] = {cam: {} for cam in episodes_per_day}
    since: dict[str, dict[Group, list[bool]]] = {cam: {} for cam in episodes_per_day}  # oldest first
    out = Month([], [], level)
    for d in range(1, days + 1):
        day = Day(d)
        for cam in sorted(episodes_per_day):
            for n in range(episodes_per_day[cam]):
                s = episode_seed(seed, cam, d, n)
                now: Levels = tuple(sorted((z, c, lv) for (z, c), lv in level[cam].items() if lv > 0))
                today = replay(cam, (), s)
                gated = replay(cam, now, s) if now else today
                day.today.add(today)
                day.gated.add(gated)
                for r in gated.clues:
                    since[cam].setdefault((r.zone, r.category), []).append(r.filed)
                for g, decided in sorted(since[cam].items()):
                    old = level[cam].get(g, 0)
                    change = next_level(old, decided[::-1][: p.window], p)
                    if change is not None:
                        level[cam][g], since[cam][g] = change.new, []
                        out.changes.append((d, cam, *g, change.old, change.new, change.reviewed, change.accepted))
        day.raised = sum(lv > 0 for groups in level.values() for lv in groups.values())
        out.days.append(day)
    return out


@dataclass
class Week:
    label: str
    days: int
    today: Counts
    gated: Counts
    raised: int


def weeks(days: Sequence[Day], length: int = 7) -> list[Week]:
    """Days pooled per week (the last one may be shorter), then the whole run."""
    out = []
    for i in range(0, len(days), length):
        chunk = days[i : i + length]
        out.append(_pool(f"{chunk[0].day}-{chunk[-1].day}", chunk))
    return [*out, _pool("all", days)] if days else []


def _pool(label: str, days: Sequence[Day]) -> Week:
    today, gated = Counts(), Counts()
    for d in days:
        today += d.today
        gated += d.gated
    return Week(label, len(days), today, gated, days[-1].raised)


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
