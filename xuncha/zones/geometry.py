"""Pure geometry and schedule helpers for zones: pixel polygons, anchor tests, active hours.

Polygons are stored normalised (0-1 of the reference picture) and turned into pixel polygons
once per frame size; the per-detection tests then run on prepared shapely geometry.

>>> poly = pixel_polygon(((0, 0), (0.5, 0), (0.5, 1), (0, 1)), (200, 100))
>>> points_inside(poly, [(50, 100), (150, 50)]).tolist()
[True, False]
>>> boxes_fraction_inside(poly, [(50, 0, 150, 100)]).tolist()
[0.5]
"""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import Polygon

Points = tuple[tuple[float, float], ...]
Size = tuple[int, int]  # (width, height) in pixels

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
DAY = 24 * 3600


@lru_cache(maxsize=512)
def pixel_polygon(points: Points, frame_size: Size) -> Polygon:
    """The normalised polygon scaled to a frame of `frame_size` = (w, h), prepared for fast tests.

    Cached: the same zone on the same frame size is built once per process.
    """
    w, h = frame_size
    poly = Polygon([(x * w, y * h) for x, y in points])
    shapely.prepare(poly)
    return poly


def pixel_polygon_int(points: Points, frame_size: Size) -> np.ndarray:
    """Pixel vertices as an (N, 2) int32 array for cv2 drawing, clipped to the frame."""
    w, h = frame_size
    xy = np.rint(np.asarray(points, dtype=float) * (w, h))
    # x = 1.0 maps to column w, one past the last pixel; clip so the edge line stays visible.
    xy = np.clip(xy, 0, (w - 1, h - 1))
    return xy.astype(np.int32)


def points_inside(poly: Polygon, xy: np.ndarray) -> np.ndarray:
    """For (N, 2) points: inside the polygon or on its edge (a zone drawn to the frame edge includes it)?"""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return shapely.intersects_xy(poly, xy[:, 0], xy[:, 1])


def boxes_fraction_inside(poly: Polygon, boxes: np.ndarray) -> np.ndarray:
    """For (N, 4) xyxy boxes: the fraction of each box's area inside the polygon (0 for empty boxes)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    out = np.zeros(len(boxes))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    # Exact intersections only for boxes that touch the polygon's bounding box: most do not.
    px1, py1, px2, py2 = poly.bounds
    near = (area > 0) & (boxes[:, 0] < px2) & (boxes[:, 2] > px1) & (boxes[:, 1] < py2) & (boxes[:, 3] > py1)
    for i in np.flatnonzero(near):
        # Rectangle clipping is ~2x faster than a general intersection and exact for a valid polygon.
        out[i] = shapely.clip_by_rect(poly, *boxes[i]).area / area[i]
    return out


def coverage_matrix(boxes: np.ndarray) -> np.ndarray:
    """For (N, 4) xyxy boxes: m[i, j] = area of (i ∩ j) / area of i, with the diagonal set to 0.

    >>> coverage_matrix(np.array([[0, 0, 10, 10], [5, 0, 100, 100]])).round(4).tolist()
    [[0.0, 0.5], [0.0053, 0.0]]
    """
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    iw = np.clip(np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1), 0, None)
    ih = np.clip(np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1), 0, None)
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(area[:, None] > 0, iw * ih / area[:, None], 0.0)
    np.fill_diagonal(m, 0.0)
    return m


def parse_hours(spec: str) -> tuple[int, int]:
    """ "HH:MM-HH:MM" -> (start, end) in seconds of the day; end < start wraps past midnight.

    >>> parse_hours("22:00-06:30")
    (79200, 23400)
    """
    m = _HOURS.match(spec.strip())
    if not m:
        raise ValueError(f"active hours {spec!r} must look like 'HH:MM-HH:MM' (e.g. '08:00-20:00')")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if end > DAY:
        raise ValueError(f"active hours {spec!r}: end is after 24:00")
    if start == end:
        raise ValueError(f"active hours {spec!r}: start equals end; leave active_hours empty for always")
    return start, end


def in_hours(windows: list[tuple[int, int]], t: time) -> bool:
    """Is wall-clock time `t` in any [start, end) window? An empty list means always."""
    if not windows:
        return True
    s = t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
    for start, end in windows:
        if (start <= s < end) if start < end else (s >= start or s < end):
            return True
    return False
