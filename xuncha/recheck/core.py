"""The re-check decision (pure): the violation's place, sampled after the case was handled.

A sample counts when it is at least `span_s / (samples - 1)` after the previous counted one, after
the handled time, and inside the active hours of a rule of the zone reporting the category: the same
zone, rules and detectors that found the violation. It is "present" when a candidate of that zone and
category is at the violation's place (the confirmation's `same_place`). After `samples` counted samples
the verdict is 未整改 if the violation was present in at least `min_present` of them, else 已整改. A
request that cannot gather its samples by `handled_at + within_h` is 无法核查, with the reason.

>>> p = RecheckParams(samples=3, span_s=20, within_h=1)
>>> s = RecheckState(request_id="c:r1", box=(0, 0, 10, 10), handled_ts=100.0)
>>> for ts, present in [(101, True), (105, True), (112, False), (122, False)]:
...     s = observe(s, p, ts, active=True, present=present)
>>> decide(s, p, now_ts=122).verdict
'rectified'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from xuncha.clues.dispatch import Verdict
from xuncha.types import BoxXYXY


@dataclass(frozen=True)
class RecheckParams:
    """How a place is re-checked; defaults: 3 samples over 10 minutes, within 24 hours of the report."""

    samples: int = 3
    span_s: float = 600.0
    within_h: float = 24.0
    min_present: int | None = None  # None: a majority of `samples`

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"recheck: samples must be >= 1, got {self.samples}")
        if self.span_s < 0 or self.within_h <= 0:
            raise ValueError(f"recheck: span_s must be >= 0 and within_h > 0, got {self.span_s}, {self.within_h}")
        if self.min_present is not None and not 1 <= self.min_present <= self.samples:
            raise ValueError(f"recheck: min_present must be in 1..{self.samples}, got {self.min_present}")

    @property
    def spacing_s(self) -> float:
        return self.span_s / (self.samples - 1) if self.samples > 1 else 0.0

    @property
    def needed_present(self) -> int:
        return self.min_present if self.min_present is not None else self.samples // 2 + 1


@dataclass(frozen=True)
class RecheckState:
    """Progress of one request (saved between samples and across workers)."""

    request_id: str
    box: BoxXYXY
    handled_ts: float
    taken: tuple[tuple[float, bool], ...] = ()  # counted samples: (ts, present)
    seen_ts: float | None = None  # latest sample of the camera at all (active hours or not)
    inactive: int = 0  # samples outside the zone's active hours

    @property
    def present(self) -> int:
        return sum(1 for _, p in self.taken if p)


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    samples: int
    present: int
    reason: str | None = None


def due(state: RecheckState, params: RecheckParams, ts: float) -> bool:
    """Would a sample at `ts` count (time-wise)? Lets the caller skip work for other samples."""
    if ts < state.handled_ts or len(state.taken) >= params.samples:
        return False
    return not state.taken or ts - state.taken[-1][0] >= params.spacing_s


def observe(state: RecheckState, params: RecheckParams, ts: float, *, active: bool, present: bool) -> RecheckState:
    """The state after one sample of the camera."""
    if ts < state.handled_ts:
        return state
    state = replace(state, seen_ts=ts)
    if not due(state, params, ts):
        return state
    if not active:
        return replace(state, inactive=state.inactive + 1)
    return replace(state, taken=(*state.taken, (ts, present)))


def decide(state: RecheckState, params: RecheckParams, now_ts: float) -> Outcome | None:
    """The verdict once the samples are in, 无法核查 past the deadline, else None (keep sampling)."""
    n, k = len(state.taken), state.present
    if n >= params.samples:
        verdict: Verdict = "not_rectified" if k >= params.needed_present else "rectified"
        return Outcome(verdict, n, k)
    if now_ts < state.handled_ts + params.within_h * 3600:
        return None
    if state.seen_ts is None:
        reason = f"{params.within_h:g} 小时内摄像机没有画面（离线或未被任何 worker 接管）"
    elif not state.taken and state.inactive:
        reason = f"{params.within_h:g} 小时内的画面都不在区域的生效时段"
    else:
        reason = f"{params.within_h:g} 小时内只取得 {n}/{params.samples} 次有效画面（摄像机时断时续）"
    return Outcome("unverifiable", n, k, reason)
