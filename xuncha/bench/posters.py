"""Posters and banners with known text, rendered in a CJK font and warped onto real footage.

Needs Pillow (comes with the `ocr` extra) and Debian's fonts-wqy-microhei.

>>> p = render_poster(["专业开锁", "13812345678"], char_px=12)
>>> p.shape[2], p.shape[0] > 24
(3, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
_RENDER_PX = 48  # characters are drawn this high, then scaled down (anti-aliased like a camera would)

Quad = Sequence[tuple[float, float]]  # top-left, top-right, bottom-right, bottom-left in frame pixels


def render_poster(
    lines: Sequence[str],
    char_px: float,
    paper: tuple[int, int, int] = (235, 235, 228),
    ink: tuple[int, int, int] = (25, 25, 25),
) -> np.ndarray:
    """A BGR picture of the lines on paper, characters `char_px` high."""
    from PIL import Image, ImageDraw, ImageFont

    if not FONT.is_file():
        raise FileNotFoundError(f"{FONT} missing: apt-get install fonts-wqy-microhei")
    font = ImageFont.truetype(str(FONT), _RENDER_PX)
    pad, gap = _RENDER_PX // 2, _RENDER_PX // 3
    widths = [int(font.getlength(line)) for line in lines]
    w = max(widths) + 2 * pad
    h = len(lines) * _RENDER_PX + (len(lines) - 1) * gap + 2 * pad
    img = Image.new("RGB", (w, h), paper[::-1])
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((pad, pad + i * (_RENDER_PX + gap)), line, font=font, fill=ink[::-1])
    scale = char_px / _RENDER_PX
    small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2BGR)


def poster_quad(
    x: float, y: float, size: tuple[int, int], skew: float = 0.0, tilt: float = 0.0
) -> list[tuple[float, float]]:
    """Corners of a poster whose top-left is at (x, y): `skew` shifts the right edge down (a wall seen at an
    angle, fraction of the height), `tilt` narrows the bottom (seen from above, fraction of the width)."""
    w, h = size
    dy, dx = skew * h, tilt * w / 2
    return [(x, y), (x + w, y + dy), (x + w - dx, y + h + dy), (x + dx, y + h)]


def paste(
    frame: np.ndarray, poster: np.ndarray, quad: Quad, blur: float = 0.0
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The frame with the poster warped onto `quad`, and the box it covers (x1, y1, x2, y2)."""
    h, w = poster.shape[:2]
    src = np.float32([(0, 0), (w, 0), (w, h), (0, h)])
    m = cv2.getPerspectiveTransform(src, np.float32(quad))
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpPerspective(poster, m, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, size, flags=cv2.INTER_LINEAR)
    if blur > 0:
        warped = cv2.GaussianBlur(warped, (0, 0), blur)
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    out = (frame.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a).astype(np.uint8)
    xs, ys = [p[0] for p in quad], [p[1] for p in quad]
    return out, (int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys))))
