"""Confirmation: per-sample zone candidates in, confirmed violations (opened / updated / closed) out.

A pure state machine, one `Confirmer` per camera. A violation is a *place* (zone, box), not a
tracker id: tracker ids switch and reset dwell timers (DOMAIN.md complaint 9), a place does not. A
candidate is at a track's place when its box has IoU >= `match_iou` with the place box, or when the smaller
of the two boxes lies mostly (>= `match_overlap`) inside the other, which keeps a partly occluded or a
growing pile at the same place. The place box is the box the dwell started with and does not follow later
boxes, so a walking person cannot drag a track along and accumulate dwell; the places of one zone never
match each other, so one object is never two violations:

- a candidate joins the best-matching track of its zone, whatever category the sample gave it (the track's
  category is resolved from all its sightings by `categorize.resolve_category`, fixed when it opens); a
  candidate at no track's place starts a pending track (unless a fixture or a cooldown covers that spot);
  one that lost its track to a better candidate of the same sample is dropped (one sighting per place per
  sample);
- a pending track opens once its sightings span the zone's dwell and it was seen in >= `min_hit_ratio` of
  the samples since its first sighting; missed samples are tolerated, but a pending track missed for longer
  than `max_gap_s` is dropped. When the span is reached with too few hits, the dwell restarts at the current
  sighting (the early sightings were something else), so `first` is close to when the object arrived;
- an open violation's sightings update it (last, occurrences, best); `updated` is rate-limited;
- an open violation missed by the samples for longer than `close_after_s` closes and leaves a cooldown on
  its place, so a static object that flickers away and back is one clue, not many (DOMAIN.md complaint 1).

>>> from xuncha.types import Detection
>>> from xuncha.categorize import Candidate
>>> c = Confirmer("cam1", dwell_for=lambda zone, category: 10.0)
>>> bag = Candidate("walkway", "0507", Detection("static_object", 0.8, (100, 100, 140, 150)))
>>> [t.kind for ts in range(0, 12, 2) for t in c.step(float(ts), [bag])]
['opened']
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from xuncha.categorize import resolve_category
from xuncha.textpatterns import phone_numbers
from xuncha.types import SAME_PLACE_IOU, SAME_PLACE_OVERLAP, BoxXYXY, Detection, iou, overlap_fraction, same_place

if TYPE_CHECKING:
    from xuncha.categorize import Candidate

# Fixed namespace: a clue id must come out the same on every machine and on every replay of a file.
CLUE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xuncha:clue")


def _evidence_rank(d: Detection) -> tuple[int, float]:
    """Which sighting a clue shows: a read with more phone numbers beats a better-scored one with fewer (OCR
    can be surest of a half-hidden poster's fragment, and the clue must carry the number whole); then the score."""
    return len(phone_numbers(d.text)), d.score


def _area(b: BoxXYXY) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


@dataclass(frozen=True)
class ConfirmParams:
    """Tuning of confirmation. Defaults fit a sample every 1-5 s and dwells of 10 s to 10 min.

    `max_gap_s` 20 s: passers-by and detector flicker hide a static object for a few samples; 20 s is 4
    missed samples at 5 s (20 at 1 s), while a gap that long still cannot fake a dwell because the hit
    ratio must hold too. `close_after_s` 120 s: a van parked in front of a stall for a minute or two must
    not close the clue and, with the cooldown, produce a second clue for the same stall. `cooldown_s`
    600 s: an object that goes away and comes back within ten minutes is the same problem, not a new clue.
    For slower sampling use `for_interval`.
    """

    match_iou: float = SAME_PLACE_IOU
    match_overlap: float = SAME_PLACE_OVERLAP
    max_gap_s: float = 20.0
    close_after_s: float = 120.0
    cooldown_s: float = 600.0
    update_every_s: float = 60.0
    # An `updated` event also goes out at once when the best score has risen this much since the last event
    # (better evidence for a clue still waiting for review); bounded to a few events per violation.
    update_score_gain: float = 0.1
    min_hit_ratio: float = 0.5
    fixture_iou: float = 0.5
    # A place's category is the best-ranked one seen in at least this share of its sightings (a garbage
    # detector that names the bag in a third of the samples outranks the stationary model's every sample).
    min_category_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("match_iou", "match_overlap", "min_hit_ratio", "fixture_iou", "min_category_share"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"confirm params: {name} must be in (0, 1], got {v}")
        for name in ("max_gap_s", "close_after_s", "cooldown_s", "update_every_s"):
            v = getattr(self, name)
            if v < 0:
                raise ValueError(f"confirm params: {name} must be >= 0, got {v}")
        if self.update_score_gain <= 0:
            raise ValueError(f"confirm params: update_score_gain must be > 0, got {self.update_score_gain}")
        if self.close_after_s < self.max_gap_s:
            raise ValueError(
                f"confirm params: close_after_s {self.close_after_s} must be >= max_gap_s {self.max_gap_s}"
            )

    @classmethod
    def for_interval(cls, sample_interval_s: float, **overrides: float) -> ConfirmParams:
        """Defaults scaled to a camera's sample interval: tolerate >= 4 missed samples, close after 3 gaps."""
        if sample_interval_s <= 0:
            raise ValueError(f"confirm params: sample interval must be > 0, got {sample_interval_s}")
        max_gap = max(cls.max_gap_s, 4 * sample_interval_s)
        defaults = {"max_gap_s": max_gap, "close_after_s": max(cls.close_after_s, 3 * max_gap)}
        return cls(**(defaults | overrides))

    def same_place(self, a: BoxXYXY, b: BoxXYXY) -> bool:
        return same_place(a, b, self.match_iou, self.match_overlap)


@dataclass(frozen=True)
class Fixture:
    """A permanent object an operator marked not-a-violation; None for zone/category means any."""

    zone_id: str | None
    category: str | None
    box: BoxXYXY


@dataclass(frozen=True)
class Sighting:
    """One sample in which a violation was seen; `ref` is the caller's payload (e.g. the Frame)."""

    ts: float
    detection: Detection
    ref: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Violation:
    """State of one confirmed violation: what a clue event is built from.

    `box` is the place (first sighting's box); `first.ref` and `best.ref` hold the caller's payloads for
    evidence, `last.ref` is always None so that no more than two frames per violation are kept alive.
    """

    id: str
    camera_id: str
    zone_id: str
    category: str
    box: BoxXYXY
    first: Sighting
    best: Sighting
    last: Sighting
    occurrences: int

    @property
    def dwell_s(self) -> float:
        return self.last.ts - self.first.ts


@dataclass(frozen=True)
class Transition:
    """One event: `seq` counts 0, 1, 2, ... per violation; `ts` is the step that produced it."""

    kind: Literal["opened", "updated", "closed"]
    violation: Violation
    seq: int
    ts: float


@dataclass(eq=False)
class _Track:
    zone_id: str
    category: str  # resolved from `votes` while pending, fixed once opened
    box: BoxXYXY
    first: Sighting
    best: Sighting
    last: Sighting
    votes: dict[str, tuple[int, int]]  # category -> (sightings, best rank)
    hits: int = 1
    samples: int = 1  # steps since `first`, including it
    id: str | None = None  # set when opened
    seq: int = 0  # next transition's seq
    emitted_ts: float = 0.0
    emitted_score: float = 0.0

    def restart(self, s: Sighting, category: str, rank: int) -> None:
        self.first = self.best = s
        self.last = replace(s, ref=None)
        self.hits = self.samples = 1
        self.category, self.votes = category, {category: (1, rank)}

    def vote(self, category: str, rank: int, min_share: float) -> None:
        n, r = self.votes.get(category, (0, rank))
        self.votes[category] = (n + 1, min(r, rank))
        if self.id is None:
            self.category = resolve_category(self.votes, self.hits, min_share)


@dataclass(frozen=True)
class _Cooldown:
    zone_id: str
    box: BoxXYXY
    until: float


class Confirmer:
    """Confirmation state of one camera; feed it every sample, in time order, with `step`."""

    def __init__(
        self,
        camera_id: str,
        dwell_for: Callable[[str, str], float],
        params: ConfirmParams | None = None,
        fixtures: Sequence[Fixture] = (),
    ) -> None:
        self.camera_id = camera_id
        self.params = params or ConfirmParams()
        self._dwell_for = dwell_for
        self._fixtures = tuple(fixtures)
        self._tracks: list[_Track] = []  # creation order keeps output deterministic
        self._cooldowns: list[_Cooldown] = []
        self._ts: float | None = None

    @property
    def open_violations(self) -> list[Violation]:
        return [self._violation(t) for t in self._tracks if t.id is not None]

    def open_states(self) -> list[tuple[Violation, int]]:
        """The open violations with the seq their next event takes: what `adopt` needs to continue them."""
        return [(self._violation(t), t.seq) for t in self._tracks if t.id is not None]

    def places(self) -> list[tuple[str, str, BoxXYXY]]:
        """Zone, category and box of every track, pending or open: where an object is expected next."""
        return [(t.zone_id, t.category, t.box) for t in self._tracks]

    def set_fixtures(self, fixtures: Sequence[Fixture]) -> None:
        """Replace the fixtures; an open violation on a new fixture gets no more sightings and closes."""
        self._fixtures = tuple(fixtures)

    def step(self, ts: float, candidates: Sequence[Candidate], ref: object = None) -> list[Transition]:
        """Process one sample; returns its transitions: closed, then opened, then updated."""
        self._advance(ts)
        p = self.params
        self._cooldowns = [c for c in self._cooldowns if c.until > ts]
        for t in self._tracks:
            t.samples += 1

        kept = self._dedup([c for c in candidates if _area(c.detection.box) > 0 and not self._on_fixture(c)])
        pairs = [
            (iou(t.box, c.detection.box), overlap_fraction(t.box, c.detection.box), ci, ti)
            for ci, c in enumerate(kept)
            for ti, t in enumerate(self._tracks)
            if t.zone_id == c.zone_id and p.same_place(t.box, c.detection.box)
        ]
        # An open violation's place comes first: an object put back where it was continues its violation
        # even when a pending track (a part of it seen while it was away) matches the box better.
        pairs.sort(key=lambda x: (self._tracks[x[3]].id is None, -x[0], -x[1], -kept[x[2]].detection.score, x[2], x[3]))
        assigned: dict[int, int] = {}  # track index -> candidate index
        taken: set[int] = set()
        for _, _, ci, ti in pairs:
            if ti not in assigned and ci not in taken:
                assigned[ti] = ci
                taken.add(ci)

        opened: list[Transition] = []
        updated: list[Transition] = []
        for ti, ci in assigned.items():
            t, c = self._tracks[ti], kept[ci]
            s = Sighting(ts, c.detection, ref)
            if t.id is None:
                if self._sight_pending(t, s, c):
                    opened.append(self._emit(t, "opened", ts))
            elif self._sight_open(t, s, c):
                updated.append(self._emit(t, "updated", ts))

        closed: list[Transition] = []
        live: list[_Track] = []
        for ti, t in enumerate(self._tracks):
            if ti in assigned:
                live.append(t)
            elif t.id is None:
                if ts - t.last.ts <= p.max_gap_s:
                    live.append(t)  # a pending track beyond the gap is dropped silently
            elif ts - t.last.ts > p.close_after_s:
                closed.append(self._close(t, ts))
            else:
                live.append(t)
        self._tracks = live

        for ci, c in enumerate(kept):
            # New places only: not at a live track's place (such a candidate lost it to a better one; checked
            # against the places as they are now, a restart may have moved one) and not cooling down.
            box = c.detection.box
            if ci in taken or self._occupied(c.zone_id, box, [*self._tracks, *self._cooldowns]):
                continue
            s = Sighting(ts, c.detection, ref)
            t = _Track(c.zone_id, c.category, box, s, s, replace(s, ref=None), {c.category: (1, c.rank)})
            self._tracks.append(t)
            if self._dwell(t) <= 0:
                opened.append(self._emit(t, "opened", ts))
        return closed + opened + updated

    def adopt(self, v: Violation, next_seq: int) -> bool:
        """Continue a violation another worker (or an earlier run) opened for this camera, under its id;
        False if it is open here already.

        Sightings from another worker carry no frames, so evidence stays what was published when it
        opened until a better sighting arrives.
        """
        if v.camera_id != self.camera_id:
            raise ValueError(f"camera {self.camera_id}: cannot adopt violation {v.id} of camera {v.camera_id}")
        if any(t.id == v.id for t in self._tracks):
            return False
        votes = {v.category: (v.occurrences, 0)}
        t = _Track(v.zone_id, v.category, v.box, v.first, v.best, v.last, votes, v.occurrences, v.occurrences)
        t.id, t.seq, t.emitted_ts, t.emitted_score = v.id, next_seq, v.last.ts, v.best.detection.score
        self._tracks.append(t)
        return True

    def close_all(self, ts: float) -> list[Transition]:
        """Close every open violation (e.g. at the end of a file) and forget pending tracks."""
        self._advance(ts)
        out = [self._close(t, ts) for t in self._tracks if t.id is not None]
        self._tracks = []
        return out

    # -- internals --------------------------------------------------------------------------------------

    def _advance(self, ts: float) -> None:
        if self._ts is not None and ts < self._ts:
            raise ValueError(f"camera {self.camera_id}: sample ts {ts} precedes the previous one, {self._ts}")
        self._ts = ts

    def _dwell(self, t: _Track) -> float:
        d = self._dwell_for(t.zone_id, t.category)
        if d < 0:
            raise ValueError(f"camera {self.camera_id} zone {t.zone_id} category {t.category}: dwell {d} < 0")
        return d

    def _on_fixture(self, c: Candidate) -> bool:
        return any(
            f.zone_id in (None, c.zone_id)
            and f.category in (None, c.category)
            and iou(f.box, c.detection.box) >= self.params.fixture_iou
            for f in self._fixtures
        )

    def _occupied(self, zone: str, box: BoxXYXY, places: Iterable[_Track | _Cooldown]) -> bool:
        """Whether `box` is at one of `places` of the same zone."""
        same = self.params.same_place
        return any(o.zone_id == zone and same(o.box, box) for o in places)

    def _dedup(self, cands: list[Candidate]) -> list[Candidate]:
        """Keep one candidate per place: the best-ranked, then best-scoring (two models seeing one object)."""
        kept: list[Candidate] = []
        for c in sorted(cands, key=lambda c: (c.rank, -c.detection.score)):  # stable: ties keep input order
            if not any(
                k.zone_id == c.zone_id and self.params.same_place(k.detection.box, c.detection.box) for k in kept
            ):
                kept.append(c)
        return kept

    def _sight_pending(self, t: _Track, s: Sighting, c: Candidate) -> bool:
        """Add a sighting to a pending track; True when it is confirmed now."""
        if s.ts - t.last.ts > self.params.max_gap_s:
            self._restart(t, s, c)  # no samples vouch for the gap (e.g. a stream outage)
        else:
            self._add(t, s, c)
            if t.last.ts - t.first.ts >= self._dwell(t) and t.hits / t.samples < self.params.min_hit_ratio:
                self._restart(t, s, c)  # long enough, seen too rarely: the early sightings were something else
        # dwell > 0 needs a second sighting, so a single detection never opens a clue.
        return t.last.ts - t.first.ts >= self._dwell(t)

    def _restart(self, t: _Track, s: Sighting, c: Candidate) -> None:
        """Start the dwell again at `s`, and the place with it unless it would match another track's place."""
        t.restart(s, c.category, c.rank)
        others = (o for o in self._tracks if o is not t)
        if not self._occupied(t.zone_id, s.detection.box, others):
            t.box = s.detection.box

    def _sight_open(self, t: _Track, s: Sighting, c: Candidate) -> bool:
        """Add a sighting to an open violation; True when an `updated` event is due."""
        self._add(t, s, c)
        gain = t.best.detection.score - t.emitted_score
        return s.ts - t.emitted_ts >= self.params.update_every_s or gain >= self.params.update_score_gain

    def _add(self, t: _Track, s: Sighting, c: Candidate) -> None:
        t.hits += 1
        t.vote(c.category, c.rank, self.params.min_category_share)
        t.last = replace(s, ref=None)
        if _evidence_rank(s.detection) > _evidence_rank(t.best.detection):
            t.best = s

    def _emit(self, t: _Track, kind: Literal["opened", "updated", "closed"], ts: float) -> Transition:
        if t.id is None:
            t.id = self._make_id(t)
        tr = Transition(kind, self._violation(t), t.seq, ts)
        t.seq += 1
        t.emitted_ts, t.emitted_score = ts, t.best.detection.score
        return tr

    def _close(self, t: _Track, ts: float) -> Transition:
        self._cooldowns.append(_Cooldown(t.zone_id, t.box, ts + self.params.cooldown_s))
        return self._emit(t, "closed", ts)

    def _make_id(self, t: _Track) -> str:
        box = ",".join(str(round(v)) for v in t.box)
        key = f"{self.camera_id}|{t.zone_id}|{t.category}|{t.first.ts:.3f}|{box}"
        return str(uuid.uuid5(CLUE_ID_NAMESPACE, key))

    def _violation(self, t: _Track) -> Violation:
        assert t.id is not None
        return Violation(t.id, self.camera_id, t.zone_id, t.category, t.box, t.first, t.best, t.last, t.hits)


__all__ = [
    "CLUE_ID_NAMESPACE",
    "ConfirmParams",
    "Confirmer",
    "Fixture",
    "Sighting",
    "Transition",
    "Violation",
]
