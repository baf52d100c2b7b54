"""Which category an object in a zone is: the one place where that is decided (pure).

Resolution order, for one sample:

1. **Rules filter.** A detection is a candidate of a rule when its label is one of the rule's labels
   and it passes the rule's score, size, exclude_labels, anchor and active-hours tests (`match.py`).
2. **Exclusive zones.** A detection that is a candidate of an `exclusive` zone (a litter bin's
   垃圾满溢 zone) is a candidate of no other zone: garbage around the bin is 垃圾满溢, not also
   暴露垃圾 of the pavement zone drawn over the same spot.
3. **One object, one category per zone.** A zone's candidates at one place (the confirmer's
   `same_place`: IoU or overlap of the smaller box) are one object. Its category is the best-ranked
   candidate's: a *named* object (a label an object detector gives: garbage, car, chair) beats the
   stationary model's generic `static_object`, so a stationary object that a garbage detection
   overlaps is 暴露垃圾 (or what the garbage rule says), not 乱堆物堆料; between named objects the
   zone's earlier rule wins (scenes first, in the order listed, then the zone's own rules). The
   place keeps the stationary model's box when it is one of them (steady from sample to sample);
   label and score are the winner's.
4. **Over samples** (`confirm.py`): a place is one track whatever category each sample gives it.
   When it opens, its category is the best-ranked one seen in at least `min_category_share` of its
   sightings (a garbage detector that names the object in every other sample still names it); the
   category is then fixed for the clue's life.

**The second look, where the garbage detector and the stationary model disagree**, is a minimum number
of agreeing samples, not a crop classifier: a score threshold alone cannot tell a flickering false
box from a bag, but persistence can. The old garbage model's false boxes on the car park's markings
came in 37 of 61 frames yet never at one place for a dwell; a real bag is there every sample.

- *A garbage box with no stationary blob* (a bag the stationary model has not yet learnt, or a false
  box on markings): it is a candidate on its own, scored against the card's best-F1 threshold (the
  `exposed_garbage` scene's `min_score`), and opens only when seen in >= `min_hit_ratio` (0.5) of the
  samples over the whole dwell (`confirm.py`).
- *A stationary blob with no garbage box* (a bag too small in the whole frame for the detector, a box,
  a pushchair): the garbage model looks again at a crop around it (`pipeline/look.py`, for models whose
  card sets `second_look`), where a small bag is seen at 3-8x the scale; a box of that crop at the
  blob's place is a garbage detection like any other. Without one the blob stays the generic
  `static_object`, i.e. 乱堆物堆料 where the zone has that scene and no clue where it has not; it
  becomes 暴露垃圾 only when a garbage box overlaps it in >= `min_category_share` (0.3) of its
  sightings. A track's place is looked at again too while the stationary model loses a small object
  now and then, so a track keeps its sightings; the look never starts a track on its own.

Measured on the held-out suites (bench/README.md, *Garbage detector* and *Second look*): 0 false clues
on the hard negatives with both models on; the second look took the street camera's category correct
from 0.00 to 1.00.

>>> from xuncha.types import Detection
>>> blob = Candidate("walk", "0507", Detection("static_object", 0.6, (100, 100, 140, 150), "stationary"), rank(1, True))
>>> bag = Candidate("walk", "0102", Detection("garbage", 0.91, (98, 102, 141, 149), "garbage"), rank(0, False))
>>> from xuncha.confirm import ConfirmParams
>>> merged = one_per_object([blob, bag], ConfirmParams().same_place)
>>> [(c.category, c.detection.label, c.detection.score, c.detection.box) for c in merged]
[('0102', 'garbage', 0.91, (100, 100, 140, 150))]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from xuncha.detector.stationary import LABEL as STATIC_LABEL
from xuncha.types import BoxXYXY, Detection

SamePlace = Callable[[BoxXYXY, BoxXYXY], bool]


@dataclass(frozen=True)
class Candidate:
    """A detection that satisfies one rule of one zone in one frame (not yet a confirmed violation)."""

    zone_id: str
    category: str
    detection: Detection
    rank: int = 0  # lower wins when candidates of one zone name one object (categorize.rank)


_GENERIC = 1000  # added to the rank of a static_object candidate: any named object beats it


def rank(rule_index: int, generic: bool) -> int:
    """Rank of a candidate (lower wins): named objects before static_object, then the rule order."""
    return rule_index + (_GENERIC if generic else 0)


def is_generic(label: str) -> bool:
    return label == STATIC_LABEL


def one_per_object(candidates: Sequence[Candidate], same_place: SamePlace) -> list[Candidate]:
    """Step 3: one candidate per object of each zone, with its category resolved (input order kept)."""
    out: list[Candidate] = []
    groups: list[list[Candidate]] = []
    for c in candidates:
        for g in groups:
            if g[0].zone_id == c.zone_id and any(same_place(o.detection.box, c.detection.box) for o in g):
                g.append(c)
                break
        else:
            groups.append([c])
    for g in groups:
        best = min(g, key=lambda c: (c.rank, -c.detection.score))
        place = next((c for c in g if is_generic(c.detection.label)), best)
        det = best.detection if place is best else replace(best.detection, box=place.detection.box)
        out.append(replace(best, detection=det))
    return out


def exclusive_first(candidates: Sequence[Candidate], exclusive_zones: frozenset[str]) -> list[Candidate]:
    """Step 2: drop a detection's candidates in other zones when an exclusive zone claims it.

    Candidates are compared by identity of their detection (the same object of the same sample).
    """
    claimed = {id(c.detection) for c in candidates if c.zone_id in exclusive_zones}
    return [c for c in candidates if c.zone_id in exclusive_zones or id(c.detection) not in claimed]


def resolve_category(votes: dict[str, tuple[int, int]], hits: int, min_share: float) -> str:
    """Step 4: `votes` maps category -> (sightings, best rank); the best-ranked category seen often enough.

    >>> resolve_category({"0507": (10, 1000), "0102": (4, 0)}, 10, 0.3)
    '0102'
    >>> resolve_category({"0507": (10, 1000), "0102": (2, 0)}, 10, 0.3)
    '0507'
    """
    enough = [(r, -n, cat) for cat, (n, r) in votes.items() if n >= min_share * hits]
    if not enough:  # cannot happen while the most frequent category has >= 1/len(votes) of the hits
        enough = [(r, -n, cat) for cat, (n, r) in votes.items()]
    return min(enough)[2]
