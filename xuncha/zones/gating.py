"""Adaptive gating on the worker's side: a zone's rules for one category with a raised score threshold
and a longer dwell, as the review service decided from the zone's 立案率 (xuncha/review/gating.py).

Pure: a zone set and the adjustments in, the zone set the matcher and confirmer run with out. The
camera's configured zone set is never changed (a changed config restarts the camera), and an
adjustment can only tighten a rule: level 0, or no adjustment, is the scene's own values.

>>> from xuncha.taxonomy import load_taxonomy
>>> zs = ZoneSet.model_validate({"zones": [{"id": "z", "name": "路口", "polygon": [(0, 0), (1, 0), (1, 1)],
...     "rules": [{"category": "0507", "labels": ["bag"], "min_score": 0.3, "dwell_s": 10}]}]})
>>> rule = gated_zones(zs, [Adjustment(zone="z", category="0507", level=1, score_delta=0.05,
...     dwell_factor=1.5)], load_taxonomy()).get("z").all_rules[0]
>>> (rule.min_score, rule.dwell_s)
(0.35, 15.0)
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from xuncha.taxonomy import Taxonomy
from xuncha.zones.model import Rule, Zone, ZoneSet

MAX_SCORE = 0.95  # a raised threshold stops here: above it a detector reports almost nothing


class Adjustment(BaseModel):
    """One (zone, category) of a camera that runs tighter than its rules say."""

    model_config = ConfigDict(extra="ignore")
    zone: str
    category: str
    level: int = Field(ge=0, description="Steps raised; 0 = the scene's defaults")
    score_delta: float = Field(ge=0, description="Added to the rules' min_score (capped at 0.95)")
    dwell_factor: float = Field(ge=1, description="The rules' dwell is multiplied by this")
    note: str = Field("", description="Why, in Chinese, for logs and pages")


def raised_score(base: float, delta: float) -> float:
    """`base + delta`, capped at MAX_SCORE but never below `base`.

    >>> raised_score(0.25, 0.05), raised_score(0.9, 0.2), raised_score(0.97, 0.05)
    (0.3, 0.95, 0.97)
    """
    return max(base, min(MAX_SCORE, round(base + delta, 6)))


def _tightened(rule: Rule, adj: Adjustment, taxonomy: Taxonomy) -> Rule:
    dwell = rule.dwell(taxonomy) * adj.dwell_factor
    return rule.model_copy(update={"min_score": raised_score(rule.min_score, adj.score_delta), "dwell_s": dwell})


def _gated_zone(zone: Zone, by_category: dict[str, Adjustment], taxonomy: Taxonomy) -> Zone:
    # The scenes' rules are written out as the zone's own (named_rules already carries the zone's dwell_s
    # and scene order), so each can be tightened on its own.
    rules = [
        _tightened(r, by_category[r.category], taxonomy) if r.category in by_category else r for r in zone.all_rules
    ]
    data = zone.model_dump(exclude={"scene", "rules", "dwell_s", "exclusive"})
    return Zone.model_validate(
        {**data, "scene": [], "exclusive": zone.claims, "rules": [r.model_dump() for r in rules]}
    )


def gated_zones(zone_set: ZoneSet, adjustments: Sequence[Adjustment], taxonomy: Taxonomy) -> ZoneSet:
    """`zone_set` with each adjustment (level > 0) applied to its zone's rules of its category."""
    wanted: dict[str, dict[str, Adjustment]] = {}
    for a in adjustments:
        if a.level > 0:
            wanted.setdefault(a.zone, {})[a.category] = a
    if not wanted:
        return zone_set
    zones = [_gated_zone(z, wanted[z.id], taxonomy) if z.id in wanted else z for z in zone_set.zones]
    return zone_set.model_copy(update={"zones": zones})
