"""A synthetic street clip for `xuncha demo`: a walkway where a bag is dumped and stays while
people-like shapes keep passing (some in front of it). Deterministic from a seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

W, H, FPS = 640, 360, 10


@dataclass(frozen=True)
class DemoTruth:
    """Where and when the dumped object is, in pixels and video seconds."""

    box: tuple[int, int, int, int]
    appears_s: float
    walkway: tuple[tuple[float, float], ...]  # normalised polygon of the walkway


def _background(rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = (70, 75, 78)  # road
    cv2.rectangle(img, (0, 0), (W, 120), (120, 140, 150), -1)  # shop fronts
    for x in range(20, W, 110):
        cv2.rectangle(img, (x, 20), (x + 80, 110), (60 + x % 90, 90, 140), -1)
        cv2.rectangle(img, (x + 10, 60), (x + 35, 110), (40, 40, 40), -1)
    cv2.rectangle(img, (0, 120), (W, 250), (150, 155, 160), -1)  # walkway
    for x in range(0, W, 40):
        cv2.line(img, (x, 120), (x - 30, 250), (135, 140, 145), 1)
    cv2.line(img, (0, 250), (W, 250), (200, 200, 200), 3)  # kerb
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _person(img: np.ndarray, x: int, y_feet: int, scale: float, colour: tuple[int, int, int]) -> None:
    h = int(70 * scale)
    w = int(22 * scale)
    cv2.rectangle(img, (x - w // 2, y_feet - h + w), (x + w // 2, y_feet), colour, -1)
    cv2.circle(img, (x, y_feet - h + w // 2), max(3, w // 2), (90, 120, 170), -1)


def render_demo_clip(path: Path, seconds: float = 40.0, seed: int = 7) -> DemoTruth:
    """Write the clip to `path` (MPEG-4) and return where the dumped bag is."""
    rng = np.random.default_rng(seed)
    bg = _background(rng)
    bag = (300, 190, 352, 232)
    appears = 8.0
    walkers = [
        # (start time s, speed px/s (+ right, - left), feet y, colour)
        (
            float(t),
            float(rng.choice([-1, 1]) * rng.uniform(50, 90)),
            int(rng.uniform(150, 245)),
            tuple(int(c) for c in rng.integers(20, 200, 3)),
        )
        for t in np.arange(0, seconds, 2.5)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    # A few noise planes cycled: sensor noise without generating a fresh one per frame.
    noises = [rng.normal(0, 2, bg.shape).astype(np.int16) for _ in range(7)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write demo clip {path}: OpenCV has no MPEG-4 encoder")
    try:
        for i in range(int(seconds * FPS)):
            t = i / FPS
            img = bg.copy()
            if t >= appears:
                cv2.rectangle(img, bag[:2], bag[2:], (30, 35, 40), -1)
                cv2.rectangle(img, (bag[0] + 8, bag[1] - 8), (bag[0] + 20, bag[1]), (30, 35, 40), 2)
            for start, speed, y, colour in walkers:
                x = int((0 if speed > 0 else W) + speed * (t - start))
                if t >= start and -40 < x < W + 40:
                    _person(img, x, y, 0.6 + (y - 120) / 200, colour)
            writer.write(np.clip(img + noises[i % len(noises)], 0, 255).astype(np.uint8))
    finally:
        writer.release()
    walkway = ((0.0, 0.33), (1.0, 0.33), (1.0, 0.70), (0.0, 0.70))
    return DemoTruth(box=bag, appears_s=appears, walkway=walkway)
