"""Views derived from the shared footage for the view-check tests and benchmark: shifted, re-lit, re-encoded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def frames(src: Path, step: int = 1) -> Iterator[np.ndarray]:
    """Every `step`-th decoded frame of a video, BGR."""
    with av.open(str(src)) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i % step == 0:
                yield f.to_ndarray(format="bgr24")


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The picture moved by (dx, dy) fractions of its size, as a camera turned a little would see it."""
    h, w = image.shape[:2]
    m = np.float32([[1, 0, dx * w], [0, 1, dy * h]])
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def lit(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def ramp(i: int, n: int, low: float = 0.45, high: float = 1.5) -> float:
    """Gain of frame i of n: dusk to noon and back, a full lighting ramp in one clip."""
    return low + (high - low) * (1 - abs(2 * i / max(1, n - 1) - 1))


def write_clip(src: Path, dst: Path, edit: Callable[[int, int, np.ndarray], np.ndarray], step: int = 3) -> Path:
    """Re-encode every `step`-th frame of `src` (same duration) after `edit(i, n, image)`."""
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        rate = Fraction(s.average_rate) / step
        n = (s.frames or 0) // step or 1
        w, h = s.codec_context.width, s.codec_context.height
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        stream.width, stream.height = w, h
        for i, image in enumerate(frames(src, step)):
            image = edit(i, n, image)
            for p in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return dst
