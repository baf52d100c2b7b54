"""Value types that flow through every stage: a sampled frame and a detection.

>>> d = Detection("person", 0.9, (10.0, 20.0, 50.0, 120.0))
>>> d.area, d.bottom_center
(4000.0, (30.0, 120.0))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BoxXYXY = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame; `box` is x1, y1, x2, y2 in source-image pixels; `text` what the
    text stage read there (empty for other models)."""

    label: str
    score: float
    box: BoxXYXY
    model: str = ""
    text: str = ""

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    @property
    def bottom_center(self) -> tuple[float, float]:
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2, y2)


@dataclass(frozen=True, slots=True)
class Frame:
    """One sampled picture of one camera.

    `ts` is epoch seconds (receive time for live streams; the file's start time plus the
    video position for recorded files). `offset` is the position in a recorded file.
    """

    camera_id: str
    ts: float
    image: np.ndarray = field(repr=False)  # H x W x 3, BGR, uint8
    offset: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        h, w = self.image.shape[:2]
        return (w, h)


def iou(a: BoxXYXY, b: BoxXYXY) -> float:
    """Intersection over union of two xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def overlap_fraction(a: BoxXYXY, b: BoxXYXY) -> float:
    """Intersection over the smaller box's area: 1.0 when one box lies inside the other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min(max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]), max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


# Two boxes of one sample or of two samples show the same object at these (confirm.ConfirmParams' defaults).
SAME_PLACE_IOU = 0.3
SAME_PLACE_OVERLAP = 0.6


def same_place(
    a: BoxXYXY, b: BoxXYXY, min_iou: float = SAME_PLACE_IOU, min_overlap: float = SAME_PLACE_OVERLAP
) -> bool:
    return iou(a, b) >= min_iou or overlap_fraction(a, b) >= min_overlap
