"""Adaptive gating (自适应门槛), the decision: from a (camera, zone, category)'s recent 立案率 to its level.

A level is how many steps tighter than its rules the zone runs for that category: min_score +
level × score_step (capped at 0.95 by the worker) and dwell × (1 + level × dwell_step). Level 0 is
the scene's defaults, and nothing goes below it. Rules:

- only standing decisions made after the group's last change count (hysteresis: at most one change
  per `window` reviews, and an admin's undo holds for a window too);
- with at least `window` of them, the newest `window` decide: 立案率 below `floor` raises one step
  (up to `max_level`), above `ceiling` lowers one step (never below 0).

The service decides (it has the decisions); the worker only applies the steps it is given
(xuncha/zones/gating.py), so it needs no gating config. Pure: decisions in, a change or None out.

>>> p = GatingSettings(window=4)
>>> next_level(0, [False, False, True, False], p)
Change(old=0, new=1, reviewed=4, accepted=1)
>>> next_level(0, [True] * 4, p) is None  # already the scene's defaults
True
>>> next_level(2, [True] * 3, p) is None  # too few reviews since the last change
True
>>> describe(0, 1, 50, 11, GatingSettings())
'自动提高门槛：分数 +0.05，停留 ×1.5（近50条立案率 0.22）'

A clue's details say which level its group ran at when it was first seen, read from the group's log:
>>> from datetime import UTC
>>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
>>> log = [(t, 1), (t + timedelta(hours=1), 0)]  # raised at 8:00, undone at 9:00
>>> [level_at(log, t + timedelta(minutes=m)) for m in (-1, 0, 30, 60)]
[0, 1, 1, 0]
>>> clue_text(1, 0, True, GatingSettings())
'首次发现时：第1级（分数 +0.05，停留 ×1.5）；现在：场景默认值'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

AUTO = "auto"  # `by` of a change the service made itself
# Workers fetch their gating this often (the live loop's fixture refresh): a change reaches them this late at most.
WORKER_REFRESH = timedelta(seconds=30)


class GatingSettings(BaseModel):
    """The review config's `gating:` section."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Raise/lower zones' thresholds from their 立案率; off = workers get none")
    floor: float = Field(0.3, ge=0, le=1, description="立案率 below this over `window` reviews raises one step")
    ceiling: float = Field(0.9, ge=0, le=1, description="立案率 above this over `window` reviews lowers one step")
    window: int = Field(50, ge=1, description="Reviews (since the last change) a change is decided on")
    score_step: float = Field(0.05, ge=0, le=1, description="min_score added per level")
    dwell_step: float = Field(0.5, ge=0, description="Dwell grows by this fraction per level (×1.5, ×2, ...)")
    max_level: int = Field(4, ge=1, description="Steps a zone can be raised at most")

    @model_validator(mode="after")
    def _order(self) -> GatingSettings:
        if self.floor >= self.ceiling:
            raise ValueError(f"gating: floor {self.floor} must be below ceiling {self.ceiling}")
        return self

    def score_delta(self, level: int) -> float:
        return round(level * self.score_step, 4)

    def dwell_factor(self, level: int) -> float:
        return round(1 + level * self.dwell_step, 4)


@dataclass(frozen=True)
class Change:
    old: int
    new: int
    reviewed: int
    accepted: int

    @property
    def rate(self) -> float:
        return self.accepted / self.reviewed if self.reviewed else 0.0


def next_level(level: int, accepted: Sequence[bool], p: GatingSettings) -> Change | None:
    """The change due for a group at `level`, given its standing decisions since its last change,
    newest first (True = 立案); None when none is due."""
    if len(accepted) < p.window:
        return None
    recent = accepted[: p.window]
    filed = sum(recent)
    rate = filed / p.window
    if rate < p.floor and level < p.max_level:
        return Change(level, level + 1, p.window, filed)
    if rate > p.ceiling and level > 0:
        return Change(level, level - 1, p.window, filed)
    return None


def level_text(level: int, p: GatingSettings) -> str:
    """'分数 +0.05，停留 ×1.5' for level 1 with the default steps."""
    return f"分数 +{p.score_delta(level):.2f}，停留 ×{p.dwell_factor(level):g}"


def describe(old: int, new: int, reviewed: int | None, accepted: int | None, p: GatingSettings) -> str:
    """A change in Chinese, with the numbers that caused it (none for an admin's undo)."""
    verb = "提高门槛" if new > old else "降低门槛"
    if new == 0:
        verb = "恢复场景默认值"
    why = f"（近{reviewed}条立案率 {accepted / reviewed:.2f}）" if reviewed and accepted is not None else ""
    return f"自动{verb}：{level_text(new, p)}{why}"


def level_at(log: Sequence[tuple[datetime, int]], when: datetime) -> int:
    """A group's level at `when`, from its log of (time, new level) in the order made: the level of the
    last change made by then (an undo is a change too), the scene's defaults (0) before any."""
    level = 0
    for at, new in log:
        if at > when:
            break
        level = new
    return level


def level_name(level: int, p: GatingSettings) -> str:
    return "场景默认值" if level == 0 else f"第{level}级（{level_text(level, p)}）"


def clue_text(raised: int, now: int | None, settled: bool, p: GatingSettings) -> str:
    """What a clue's details say: the level when it was first seen (`settled`: the last change before that
    was at least WORKER_REFRESH earlier, so the worker ran at it for sure) and now (None: gating is off)."""
    then = level_name(raised, p) + ("" if settled else "（调整后30秒内发现，worker 可能仍按上一级）")
    return f"首次发现时：{then}；现在：{'自适应门槛已关闭' if now is None else level_name(now, p)}"
