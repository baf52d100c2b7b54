"""What simpler systems would report from the very same per-sample zone candidates (pure).

- `Naive`: every sample with an in-zone candidate makes a clue (simple vendor systems).
- `TrackerDwell`: an IoU tracker with a loitering time (NVR style): a track that stays for the
  zone's dwell makes one clue; a track missed for more than `max_misses` samples is dropped, and
  the object's next sighting starts a new track, hence a new clue. No place memory, no cooldown.

Both count the candidates of one sample at one place once (two models or labels seeing one bag),
as xuncha's confirmation does.

Both have `step(ts, candidates) -> list[Opened]`, like `XunchaConfirm`, the adapter of `Confirmer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xuncha.categorize import Candidate
from xuncha.confirm import Confirmer, ConfirmParams
from xuncha.types import BoxXYXY, iou

SamePlace = Callable[[BoxXYXY, BoxXYXY], bool]
_SAME_PLACE: SamePlace = ConfirmParams().same_place


@dataclass(frozen=True)
class Opened:
    """A clue as it opens: place, category, and times (ts seconds) of opening and first sighting."""

    zone_id: str
    category: str
    box: BoxXYXY
    open_ts: float
    first_ts: float
    text: str = ""  # what the text stage read (text clues)


def one_per_place(candidates: Sequence[Candidate], same_place: SamePlace = _SAME_PLACE) -> list[Candidate]:
    """The best-scoring candidate of each place (zone, category, overlapping box) of one sample."""
    kept: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: -c.detection.score):
        if not any(
            (k.zone_id, k.category) == (c.zone_id, c.category) and same_place(k.detection.box, c.detection.box)
            for k in kept
        ):
            kept.append(c)
    return kept


class Naive:
    name = "naive"

    def step(self, ts: float, candidates: Sequence[Candidate]) -> list[Opened]:
        return [
            Opened(c.zone_id, c.category, c.detection.box, ts, ts, c.detection.text) for c in one_per_place(candidates)
        ]


@dataclass(eq=False)
class _Track:
    zone_id: str
    category: str
    box: BoxXYXY  # follows the latest sighting, as a tracker's does
    first_ts: float
    text: str = ""
    misses: int = 0
    fired: bool = False


class TrackerDwell:
    name = "tracker+dwell"

    def __init__(self, dwell_for: Callable[[str, str], float], min_iou: float = 0.3, max_misses: int = 1) -> None:
        self._dwell_for = dwell_for
        self.min_iou = min_iou
        self.max_misses = max_misses
        self._tracks: list[_Track] = []

    def step(self, ts: float, candidates: Sequence[Candidate]) -> list[Opened]:
        candidates = one_per_place(candidates)
        pairs = sorted(
            (
                (iou(t.box, c.detection.box), ti, ci)
                for ti, t in enumerate(self._tracks)
                for ci, c in enumerate(candidates)
                if (t.zone_id, t.category) == (c.zone_id, c.category)
            ),
            reverse=True,
        )
        assigned: dict[int, int] = {}
        taken: set[int] = set()
        for v, ti, ci in pairs:
            if v >= self.min_iou and ti not in assigned and ci not in taken:
                assigned[ti] = ci
                taken.add(ci)
        out: list[Opened] = []
        live: list[_Track] = []
        for ti, t in enumerate(self._tracks):
            if ti in assigned:
                d = candidates[assigned[ti]].detection
                t.box, t.text, t.misses = d.box, d.text, 0
                if not t.fired and ts - t.first_ts >= self._dwell_for(t.zone_id, t.category):
                    t.fired = True
                    out.append(Opened(t.zone_id, t.category, t.box, ts, t.first_ts, t.text))
                live.append(t)
            elif t.misses < self.max_misses:
                t.misses += 1
                live.append(t)
        for ci, c in enumerate(candidates):
            if ci not in taken:
                live.append(_Track(c.zone_id, c.category, c.detection.box, ts, text=c.detection.text))
        self._tracks = live
        return out


class XunchaConfirm:
    """xuncha's own confirmation (the worker's `Confirmer`), as a system of the comparison."""

    name = "xuncha"

    def __init__(self, confirmer: Confirmer) -> None:
        self.confirmer = confirmer

    def step(self, ts: float, candidates: Sequence[Candidate]) -> list[Opened]:
        return [
            Opened(v.zone_id, v.category, v.best.detection.box, ts, v.first.ts, v.best.detection.text)
            for t in self.confirmer.step(ts, candidates)
            if t.kind == "opened" and (v := t.violation)
        ]
