"""View check: does a camera still look at the picture its zones were drawn on? (pure core)

A PTZ camera left on another preset, or a fixed camera knocked a few degrees, makes every drawn
zone cover the wrong ground (DOMAIN complaint 4). Each checked sample is matched to the reference
picture with ORB features and a RANSAC similarity transform (shift, scale, rotation) on a small
grey copy. Features with CLAHE are robust to lighting ramps and people walking through; a real
move shows as a consistent transform. Several checks in a row that find the view moved change the
state to "changed": the camera's zones pause until an admin accepts the new view or redraws them;
a small consistent move is offered as a suggested shift of the polygons. A view that matches the
reference again (the PTZ went back to its preset) resumes by itself. A sample that matches nothing
(a bus in front of the camera, another preset) is weaker evidence than a consistent move, so it
takes `lost_after` such checks in a row.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

Verdict = Literal["same", "moved", "lost", "blank"]
SUGGEST_OVER = 15  # the suggested shift is the median move of up to this many recent checks
Affine = tuple[tuple[float, float, float], tuple[float, float, float]]  # 2x3, normalised 0-1 coordinates


@dataclass(frozen=True)
class ViewParams:
    width: int = 320  # the check runs on a copy this many pixels wide
    features: int = 500
    min_inliers: int = 30  # fewer RANSAC inliers: the reference scene is not in the picture ("lost")
    min_keypoints: int = 60  # fewer features in the sample: dark, covered or blurred ("blank", no verdict)
    tolerance: float = 0.01  # shift as a fraction of the frame still counted as the same view
    max_scale_change: float = 0.02
    max_rotation_deg: float = 1.0
    changed_after: int = 3  # checks in a row that find the view moved before the alarm
    lost_after: int = 10  # checks in a row not matching at all (a bus in front, another preset) before the alarm
    every: int = 1  # check one sample in this many
    suggest_max_shift: float = 0.15  # larger moves are not offered as a polygon correction

    def __post_init__(self) -> None:
        bad = [f"{k}={v}" for k, v in vars(self).items() if v <= 0]
        if bad:
            raise ValueError(f"view check settings must be positive: {', '.join(bad)}")


FRACTIONS = ("tolerance", "max_scale_change", "max_rotation_deg", "suggest_max_shift")  # the other fields count


@dataclass(frozen=True)
class ViewMatch:
    """One sample against the reference. `transform` maps reference to sample coordinates (0-1)."""

    verdict: Verdict
    inliers: int
    transform: Affine | None

    @property
    def shift(self) -> tuple[float, float]:
        t = self.transform
        return (0.0, 0.0) if t is None else (t[0][2], t[1][2])


def _grey(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)  # evens out lighting ramps


def _similarity_parts(a: np.ndarray) -> tuple[float, float]:
    """Scale and rotation (degrees) of a 2x3 similarity transform."""
    return math.hypot(a[0, 0], a[1, 0]), math.degrees(math.atan2(a[1, 0], a[0, 0]))


class Reference:
    """ORB features of a reference picture, matched against samples."""

    def __init__(self, image: np.ndarray, params: ViewParams = ViewParams()) -> None:
        self.params = params
        self._orb = cv2.ORB_create(nfeatures=params.features, fastThreshold=10)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        grey = _grey(image, params.width)
        self.size = (grey.shape[1], grey.shape[0])
        self._points, self._desc = self._orb.detectAndCompute(grey, None)
        if self._desc is None or len(self._points) < params.min_keypoints:
            raise ValueError(f"reference picture has too little texture ({len(self._points)} features)")

    def match(self, image: np.ndarray) -> ViewMatch:
        p = self.params
        points, desc = self._orb.detectAndCompute(_grey(image, p.width), None)
        if desc is None or len(points) < p.min_keypoints:
            return ViewMatch("blank", 0, None)
        pairs = self._matcher.knnMatch(desc, self._desc, k=2)
        good = [m for m, n in (q for q in pairs if len(q) == 2) if m.distance < 0.8 * n.distance]
        if len(good) < p.min_inliers:
            return ViewMatch("lost", len(good), None)
        ref = np.float32([self._points[m.trainIdx].pt for m in good])
        cur = np.float32([points[m.queryIdx].pt for m in good])
        a, mask = cv2.estimateAffinePartial2D(ref, cur, method=cv2.RANSAC, ransacReprojThreshold=3.0)
        inliers = int(mask.sum()) if mask is not None else 0
        if a is None or inliers < p.min_inliers:
            return ViewMatch("lost", inliers, None)
        # Pixel transform of the small copies -> transform of normalised 0-1 coordinates.
        w, h = self.size
        n = np.diag([1 / w, 1 / h, 1.0])
        a_n = (n @ np.vstack([a, [0, 0, 1]]) @ np.linalg.inv(n))[:2]
        scale, rotation = _similarity_parts(a)
        same = (
            math.hypot(a_n[0, 2], a_n[1, 2]) <= p.tolerance
            and abs(scale - 1) <= p.max_scale_change
            and abs(rotation) <= p.max_rotation_deg
        )
        transform: Affine = (
            (float(a_n[0, 0]), float(a_n[0, 1]), float(a_n[0, 2])),
            (float(a_n[1, 0]), float(a_n[1, 1]), float(a_n[1, 2])),
        )
        return ViewMatch("same" if same else "moved", inliers, transform)


def apply_affine(t: Affine, polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A zone polygon (0-1) moved by `t`, clipped to the picture.

    >>> apply_affine(((1, 0, 0.05), (0, 1, -0.02)), [(0.1, 0.1), (0.5, 0.1), (0.5, 0.5)])
    [(0.15, 0.08), (0.55, 0.08), (0.55, 0.48)]
    """
    return [
        (
            round(min(1.0, max(0.0, t[0][0] * x + t[0][1] * y + t[0][2])), 4),
            round(min(1.0, max(0.0, t[1][0] * x + t[1][1] * y + t[1][2])), 4),
        )
        for x, y in polygon
    ]


def shift_zone_set(data: dict[str, Any], t: Affine) -> dict[str, Any]:
    """A zone set (as stored: zones and masks with 0-1 polygons) with every polygon moved by `t`."""
    moved = {k: v for k, v in data.items() if k not in ("version", "reference_image")}
    for key in ("zones", "masks"):
        moved[key] = [{**item, "polygon": apply_affine(t, item["polygon"])} for item in data.get(key, [])]
    return moved


@dataclass(frozen=True)
class ViewStatus:
    """The camera's view state. `suggestion` is set when the move is a small consistent shift."""

    state: Literal["ok", "changed"]
    since: float | None  # when the view stopped matching
    last: ViewMatch | None
    suggestion: Affine | None

    @property
    def paused(self) -> bool:
        return self.state == "changed"


class ViewCheck:
    """Per-camera state machine over `Reference.match`; `update` per sample, `accept` from an admin.

    `accept` may come from another thread (the health reporter): it is only recorded here and
    takes effect at the next `update`, in the sampling thread.
    """

    def __init__(self, reference: np.ndarray, params: ViewParams = ViewParams()) -> None:
        self.params = params
        self.reference = Reference(reference, params)
        self._count = 0
        self._misses: list[ViewMatch] = []  # the mismatching checks in a row
        self._first_miss = 0.0
        self._hits = 0
        self.status = ViewStatus("ok", None, None, None)
        self._accept = threading.Event()

    def accept(self) -> None:
        """An admin confirmed the current view: the next sample becomes the reference."""
        self._accept.set()

    def update(self, ts: float, image: np.ndarray) -> ViewStatus:
        if self._accept.is_set():
            self._accept.clear()
            self.reference = Reference(image, self.params)
            self._misses, self._hits = [], 0
            self.status = ViewStatus("ok", None, None, None)
            return self.status
        self._count += 1
        if (self._count - 1) % self.params.every:
            return self.status
        m = self.reference.match(image)
        if m.verdict == "blank":  # no verdict either way
            return self.status
        if m.verdict == "same":
            self._misses = []
            self._hits += 1
            if self.status.paused and self._hits >= self.params.changed_after:
                self.status = ViewStatus("ok", None, m, None)  # back on its preset
            else:
                self.status = ViewStatus(self.status.state, self.status.since, m, self.status.suggestion)
            return self.status
        self._hits = 0
        if not self._misses:
            self._first_miss = ts
        self._misses = [*self._misses, m][-max(self.params.lost_after, SUGGEST_OVER) :]
        # A consistent move is strong evidence; a view that matches nothing may be a passing truck.
        recent = self._misses[-self.params.changed_after :]
        moved = len(recent) == self.params.changed_after and all(x.verdict == "moved" for x in recent)
        if moved or self.status.paused or len(self._misses) >= self.params.lost_after:
            since = self.status.since if self.status.paused else self._first_miss
            self.status = ViewStatus("changed", since, m, self._suggest(self._misses[-SUGGEST_OVER:]))
        else:
            self.status = ViewStatus("ok", None, m, None)
        return self.status

    def _suggest(self, misses: list[ViewMatch]) -> Affine | None:
        """The median move of the recent checks, when at least 2 in 3 of them agree on it within `tolerance`.

        None while the camera is still moving, when the view matches nothing, or for a large move or a zoom
        (redraw rather than stretch the polygons).
        """
        moves = [m.transform for m in misses if m.transform is not None]
        if len(moves) < self.params.changed_after:
            return None
        arr = np.array(moves)
        agree = np.abs(arr[:, :, 2] - np.median(arr, axis=0)[:, 2]).max(axis=1) <= self.params.tolerance
        if agree.sum() < max(self.params.changed_after, 2 * len(misses) / 3):
            return None
        med = np.median(arr[agree], axis=0)
        if math.hypot(med[0, 2], med[1, 2]) > self.params.suggest_max_shift:
            return None
        if abs(med[0, 0] - 1) > 0.1 or abs(med[1, 1] - 1) > 0.1:
            return None
        return ((*map(float, med[0]),), (*map(float, med[1]),))  # type: ignore[return-value]
