"""Evidence images: pure rendering (scene with zone and box, crop) and a directory store of JPEGs.

>>> import numpy as np
>>> img = np.zeros((480, 720, 3), np.uint8)
>>> render_crop(img, (100, 100, 140, 180), pad=0.25, min_size=64).shape
(120, 64, 3)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from xuncha.clues.contracts import check_relative_path
from xuncha.fileio import write_atomic

ZONE_COLOR = (255, 200, 0)  # BGR: cyan-ish, distinct from the red box
BOX_COLOR = (0, 0, 255)
JPEG_QUALITY = 85

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got shape {image.shape} dtype {image.dtype}")


# CJK fonts for labels such as "暴露垃圾 0.91" (Debian fonts-wqy-microhei, fonts-noto-cjk, fonts-droid-fallback).
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


@cache
def cjk_font() -> cv2.FontFace | None:
    """The first CJK font installed (OpenCV 5 renders TrueType text), or None."""
    path = next((p for p in CJK_FONTS if os.path.isfile(p)), None)
    return cv2.FontFace(path) if path else None


def _ascii(text: str) -> str:
    # cv2.putText's Hershey fonts are ASCII only; anything else would render as '?' boxes anyway.
    return text.encode("ascii", "replace").decode("ascii")


def _put_label(img: np.ndarray, text: str, org: tuple[int, int], scale: float, thick: int) -> None:
    """Text with a dark background box, `org` is the bottom-left corner, kept inside the image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    h, w = img.shape[:2]
    x = min(max(0, org[0]), max(0, w - tw - 4))
    y = min(max(th + 4, org[1]), h - base - 2)
    cv2.rectangle(img, (x, y - th - 4), (x + tw + 4, y + base + 2), (0, 0, 0), cv2.FILLED)
    cv2.putText(img, text, (x + 2, y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)


def _put_text(img: np.ndarray, text: str, org: tuple[int, int], font: cv2.FontFace, size: int) -> None:
    """Like _put_label, with a TrueType font (any script)."""
    h, w = img.shape[:2]
    _, _, tw, th = cv2.getTextSize((w, h), text, (0, 0), font, size)
    x = min(max(0, org[0]), max(0, w - tw - 6))
    y = min(max(th + 4, org[1]), h - 4)
    cv2.rectangle(img, (x, y - th - 4), (x + tw + 6, y + 4), (0, 0, 0), cv2.FILLED)
    cv2.putText(img, text, (x + 3, y), (255, 255, 255), font, size)


def render_scene(
    image: np.ndarray,
    box: Sequence[float],
    polygon_px: np.ndarray | Sequence[Sequence[float]],
    label_text: str,
    when: datetime,
) -> np.ndarray:
    """The full frame with the zone (translucent fill + outline), the box, its label and the time."""
    _check_image(image)
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 240))
    scale = max(0.4, min(h, w) / 900)

    poly = np.asarray(polygon_px, dtype=np.float64).reshape(-1, 2)
    if len(poly) >= 3:
        pts = np.round(poly).astype(np.int32).reshape(-1, 1, 2)
        fill = out.copy()
        cv2.fillPoly(fill, [pts], ZONE_COLOR)
        cv2.addWeighted(fill, 0.25, out, 0.75, 0, dst=out)
        cv2.polylines(out, [pts], True, ZONE_COLOR, thick, cv2.LINE_AA)

    x1, y1, x2, y2 = (round(v) for v in box)
    cv2.rectangle(out, (x1, y1), (x2, y2), BOX_COLOR, thick + 1)
    if label_text:
        font = cjk_font()
        if font is not None and not label_text.isascii():
            _put_text(out, label_text, (x1, y1 - 4), font, max(14, round(32 * scale)))
        else:
            _put_label(out, _ascii(label_text), (x1, y1 - 4), scale, thick)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S %z").strip()
    _put_label(out, stamp, (4, h - 6), scale, thick)
    return out


def render_crop(image: np.ndarray, box: Sequence[float], pad: float = 0.25, min_size: int = 64) -> np.ndarray:
    """The box plus `pad` of its size on every side, at least `min_size` px wide and high, clipped."""
    _check_image(image)
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w = max((x2 - x1) * (1 + 2 * pad), min_size) / 2
    half_h = max((y2 - y1) * (1 + 2 * pad), min_size) / 2
    left, top = max(0, round(cx - half_w)), max(0, round(cy - half_h))
    right, bottom = min(w, round(cx + half_w)), min(h, round(cy + half_h))
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(box)} lies outside the {w}x{h} image")
    return image[top:bottom, left:right].copy()


class EvidenceStore:
    """JPEGs under root/<yyyy-mm-dd>/<clue_id>/<name>.jpg, referenced by their path relative to root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, clue_id: str, name: str, image: np.ndarray, *, day: date | None = None) -> str:
        """Write `image` as a JPEG atomically; return its relative path (for Evidence*.path).

        `day` picks the date folder (pass the clue's first_seen date to keep a clue in one folder);
        the local date today by default.
        """
        _check_image(image)
        stem = name.removesuffix(".jpg")
        for what, value in (("clue_id", clue_id), ("name", stem)):
            if not _SEGMENT.fullmatch(value):
                raise ValueError(f"evidence {what} {value!r} must match {_SEGMENT.pattern}")
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ValueError(f"could not encode evidence {clue_id}/{stem} as JPEG")
        rel = f"{(day or date.today()).isoformat()}/{clue_id}/{stem}.jpg"
        write_atomic(self.root / rel, buf.tobytes())
        return rel

    def resolve(self, rel: str) -> Path:
        """Absolute path of a stored file; ValueError for any path that would leave the root."""
        check_relative_path(rel)
        root = self.root.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root):  # e.g. a symlink inside the store pointing out of it
            raise ValueError(f"evidence path escapes the store: {rel[:200]!r}")
        return path
