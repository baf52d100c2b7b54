"""Apply a camera's zone set to one frame's detections: which detection is a candidate, for what, where.

Pure: detections and a time in, candidates out (one per object and zone, its category resolved as
`categorize.py` documents). Confirmation over time happens later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from shapely.geometry import Polygon

from xuncha.categorize import Candidate, SamePlace, exclusive_first, is_generic, one_per_object, rank
from xuncha.types import Detection, same_place
from xuncha.zones.geometry import (
    Size,
    boxes_fraction_inside,
    coverage_matrix,
    in_hours,
    parse_hours,
    pixel_polygon,
    pixel_polygon_int,
    points_inside,
)
from xuncha.zones.model import Rule, Zone, ZoneSet


def zone_polygon_px(zone: Zone, frame_size: Size) -> np.ndarray:
    """The zone's vertices in pixels of a (w, h) frame as (N, 2) int32, for cv2.polylines."""
    return pixel_polygon_int(tuple(zone.polygon), frame_size)


def _windows(rule: Rule) -> list[tuple[int, int]]:
    return [parse_hours(s) for s in rule.active_hours]


@dataclass(frozen=True)
class _CompiledRule:
    rule: Rule
    index: int  # position in the zone's rules (ties between named objects)
    labels: frozenset[str]
    exclude: frozenset[str]
    beside: frozenset[str]
    windows: list[tuple[int, int]]


class ZoneMatcher:
    """A zone set bound to one frame size; build once per camera (and again if the stream size changes)."""

    def __init__(self, zone_set: ZoneSet, frame_size: Size, same_place: SamePlace = same_place) -> None:
        w, h = frame_size
        if w <= 0 or h <= 0:
            raise ValueError(f"frame size must be positive, got {frame_size}")
        self.zone_set = zone_set
        self.frame_size = (int(w), int(h))
        self._frame_area = float(w * h)
        self._same_place = same_place  # the confirmer's own test, so one object here is one track there
        self._zones: list[tuple[Zone, Polygon, list[_CompiledRule]]] = [
            (
                z,
                pixel_polygon(tuple(z.polygon), self.frame_size),
                [
                    _CompiledRule(
                        r, i, frozenset(r.labels), frozenset(r.exclude_labels), frozenset(r.with_labels), _windows(r)
                    )
                    for i, r in enumerate(z.all_rules)
                ],
            )
            for z in zone_set.zones
            if z.enabled
        ]
        self._masks = [pixel_polygon(tuple(m.polygon), self.frame_size) for m in zone_set.masks]
        self._exclusive = frozenset(z.id for z, _, _ in self._zones if z.claims)

    def active(self, zone_id: str, category: str, when: datetime) -> bool:
        """Does a rule of enabled zone `zone_id` report `category` at `when` (its active hours)?"""
        t = when.time()
        return any(
            cr.rule.category == category and in_hours(cr.windows, t)
            for zone, _, rules in self._zones
            if zone.id == zone_id
            for cr in rules
        )

    def match(self, detections: Sequence[Detection], when: datetime) -> list[Candidate]:
        """Candidates for every enabled zone and every rule active at `when`.

        Active hours use `when`'s own wall-clock time: pass an aware datetime in the camera's time zone
        (or a naive local time). A detection may be a candidate in several zones (unless an exclusive zone
        claims it); each zone gives one candidate per object.
        """
        t = when.time()
        frame = _FrameDetections(detections, self._frame_area)
        masked = frame.masked(self._masks)
        out: list[Candidate] = []
        seen: set[tuple[str, str, int]] = set()
        for zone, poly, rules in self._zones:
            anchors = _ZoneAnchors(poly, frame)
            for cr in rules:
                if not in_hours(cr.windows, t):
                    continue
                for i, det in enumerate(detections):
                    key = (zone.id, cr.rule.category, i)
                    if key not in seen and not masked[i] and _accepts(cr, frame, anchors, i):
                        seen.add(key)
                        out.append(Candidate(zone.id, cr.rule.category, det, rank(cr.index, is_generic(det.label))))
        if self._exclusive:
            out = exclusive_first(out, self._exclusive)
        return one_per_object(out, self._same_place)


class _FrameDetections:
    """One frame's detections as arrays; the pairwise coverage matrix is computed on first use."""

    def __init__(self, detections: Sequence[Detection], frame_area: float) -> None:
        self.detections = detections
        self.labels = [d.label for d in detections]
        self.boxes = np.array([d.box for d in detections], dtype=float).reshape(-1, 4)
        self.areas = np.array([d.area for d in detections], dtype=float)
        self.area_fraction = [d.area / frame_area for d in detections]
        self._cover: np.ndarray | None = None
        self._masks: dict[frozenset[str], np.ndarray] = {}

    def bottom_centers(self) -> np.ndarray:
        b = self.boxes
        return np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=1)

    def masked(self, masks: list[Polygon]) -> np.ndarray:
        """Per detection: does its bottom-centre lie in one of the masks (areas that never count)?"""
        out = np.zeros(len(self.detections), dtype=bool)
        for m in masks:
            out |= points_inside(m, self.bottom_centers())
        return out

    def _mask(self, labels: frozenset[str]) -> np.ndarray:
        mask = self._masks.get(labels)
        if mask is None:
            mask = self._masks[labels] = np.array([lab in labels for lab in self.labels], dtype=bool)
        return mask

    def covered(self, i: int, by_labels: frozenset[str], threshold: float, max_ratio: float | None = None) -> bool:
        """Is detection i covered >= threshold by another detection with one of `by_labels` (whose box is at
        most `max_ratio` times i's)?"""
        if self._cover is None:
            self._cover = coverage_matrix(self.boxes)
        hit = self._mask(by_labels) & (self._cover[i] >= threshold)
        if max_ratio is not None:
            hit &= self.areas <= max_ratio * self.areas[i]
        return bool(np.any(hit))

    def beside(self, i: int, labels: frozenset[str], margin: float) -> bool:
        """Does another detection with one of `labels` touch detection i's box grown by `margin` of its size?"""
        x1, y1, x2, y2 = self.boxes[i]
        mx, my = margin * (x2 - x1), margin * (y2 - y1)
        b = self.boxes[self._mask(labels)]
        touch = (b[:, 0] <= x2 + mx) & (b[:, 2] >= x1 - mx) & (b[:, 1] <= y2 + my) & (b[:, 3] >= y1 - my)
        others = np.nonzero(self._mask(labels))[0][touch]
        return bool(np.any(others != i))


class _ZoneAnchors:
    """Anchor tests of all of a frame's detections against one zone, vectorised and computed on first use."""

    def __init__(self, poly: Polygon, frame: _FrameDetections) -> None:
        self._poly, self._frame = poly, frame
        self._bottom_inside: np.ndarray | None = None
        self._fraction: np.ndarray | None = None

    def bottom_center_inside(self, i: int) -> bool:
        if self._bottom_inside is None:
            self._bottom_inside = points_inside(self._poly, self._frame.bottom_centers())
        return bool(self._bottom_inside[i])

    def fraction_inside(self, i: int) -> float:
        if self._fraction is None:
            self._fraction = boxes_fraction_inside(self._poly, self._frame.boxes)
        return float(self._fraction[i])


def _accepts(cr: _CompiledRule, frame: _FrameDetections, anchors: _ZoneAnchors, i: int) -> bool:
    rule, det = cr.rule, frame.detections[i]
    # Cheapest tests first; the polygon tests run once per zone and frame, only if some detection gets there.
    if det.label not in cr.labels or det.score < rule.min_score:
        return False
    if rule.text is not None and not rule.text.matches(det.text):
        return False
    if not rule.min_area <= frame.area_fraction[i] <= rule.max_area:
        return False
    if cr.exclude and frame.covered(i, cr.exclude, rule.exclude_overlap, rule.exclude_max_ratio):
        return False
    if cr.beside and not frame.beside(i, cr.beside, rule.with_margin):
        return False
    if rule.anchor == "bottom_center":
        return anchors.bottom_center_inside(i)
    return anchors.fraction_inside(i) >= rule.min_overlap
