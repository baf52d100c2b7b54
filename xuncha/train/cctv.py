"""CCTV-like images: train-split cut-outs pasted onto frames of our cameras, degraded like CCTV.

The street_trashbags photos are phone pictures at street level; our cameras look down from a pole
and see small, blurred, compressed bags. This module makes scenes of what the cameras see with the
scenario composer's own steps (perspective scale by the base point's row, brightness matched to the
ground around the spot, soft contact shadow, the clip's walking people pasted back in front), then
blur, sensor noise, a lighting change and JPEG compression.

Honest evaluation needs held-out footage: each camera has a training and a test segment, the
car-park camera is test only (unseen), and `sidewalk_bag_left.avi` gives backgrounds before 9 s
only (the man and his real bag after that are test material).

Two steps close the gap to the real bag (dark, small, seen from above) and to what garbage is not:
half the pasted bags are recoloured to dark tones (the real bag of `sidewalk_bag_left.avi` is grey
30-64 of 255 with saturation ~20 on ground of grey ~73, i.e. 0.4-0.9x the ground), and each camera
gives background-only frames (no labels) from a bag-free stretch as hard negatives, the car park's
first half included (its markings and cars were the old model's false detections; its second half
stays unseen).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from xuncha.train.composite import (
    BackgroundClip,
    CutoutLibrary,
    compose_frame,
    make_sprite,
    recolour_dark,
    visible_box,
)
from xuncha.train.suite import Background, ObjectSpec, Placement, ScenarioSpec, SizeRef
from xuncha.yamlfile import ConfigError

Use = Literal["train", "test"]
SAMPLE_FPS = 2.0  # background frames taken per second of a segment
MIN_VISIBLE = 0.5  # a box cut by the crop border keeps its label when at least this share remains


@dataclass(frozen=True)
class Camera:
    """A footage clip, its perspective (reference object height at two rows) and its segments by use."""

    clip: str
    near: SizeRef
    far: SizeRef
    segments: dict[Use, tuple[float, float]]
    negatives: tuple[float, float]  # bag-free stretch whose frames train as background-only images

    @property
    def background(self) -> Background:
        return Background(clip=self.clip, near=self.near, far=self.far)


# Perspective from the bench suites (bench/scenarios/*.yaml); the car park is seen from straight above.
CAMERAS: dict[str, Camera] = {
    "sidewalk": Camera(
        "sidewalk_bag_left.avi",
        SizeRef(y=0.9, height=0.12),
        SizeRef(y=0.3, height=0.05),
        {"train": (0.0, 7.0), "test": (7.0, 8.9)},
        (0.0, 7.0),
    ),
    "shopping": Camera(
        "shopping_street.mp4",
        SizeRef(y=0.95, height=0.09),
        SizeRef(y=0.3, height=0.035),
        {"train": (0.0, 3.0), "test": (3.0, 4.2)},
        (0.0, 3.0),
    ),
    "indoor": Camera(
        "indoor_people_standing.mp4",
        SizeRef(y=0.95, height=0.3),
        SizeRef(y=0.62, height=0.2),
        {"train": (0.0, 100.0), "test": (100.0, 139.0)},
        (0.0, 100.0),
    ),
    "carpark": Camera(
        "carpark_topdown.mp4",
        SizeRef(y=0.95, height=0.075),
        SizeRef(y=0.1, height=0.065),
        {"test": (0.0, 30.0)},
        (0.0, 15.0),
    ),
}


@dataclass(frozen=True)
class Scene:
    """One composed image and its objects' boxes (x1, y1, x2, y2 pixels)."""

    camera: str
    image: np.ndarray
    boxes: list[tuple[float, float, float, float]]


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera-like damage: defocus/motion blur, sensor noise, a gain/gamma change, JPEG at low quality."""
    out = image.astype(np.float32)
    if rng.random() < 0.7:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.3)))
    out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** float(rng.uniform(0.75, 1.35)) * float(rng.uniform(0.7, 1.25))
    out += rng.normal(0.0, rng.uniform(1.0, 6.0), out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 85))])
    return cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else out


def negatives(camera: str, footage_dir: Path, count: int, seed: int) -> Iterator[Scene]:
    """`count` background-only frames of `camera`'s bag-free stretch, degraded like the composites."""
    cam = CAMERAS[camera]
    clip = BackgroundClip(footage_dir / cam.clip, SAMPLE_FPS, cam.negatives)
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield Scene(camera, degrade(clip.frame(int(rng.integers(len(clip.frames)))), rng), [])


def scenes(
    camera: str,
    use: Use,
    footage_dir: Path,
    cutouts: CutoutLibrary,
    count: int,
    seed: int,
    max_objects: int = 4,
    dark_share: float = 0.0,
) -> Iterator[Scene]:
    """`count` scenes of `camera`'s `use` segment with 0..max_objects cut-outs each (deterministic per seed).

    `dark_share` of the cut-outs are recoloured to dark bag tones (`recolour_dark`)."""
    cam = CAMERAS[camera]
    if use not in cam.segments:
        raise ConfigError(f"camera {camera!r} ({cam.clip}) has no {use} segment")
    clip = BackgroundClip(footage_dir / cam.clip, SAMPLE_FPS, cam.segments[use])
    rng = np.random.default_rng(seed)
    spec = ScenarioSpec(id="cctv", kind="dumped")
    w, h = clip.size
    for _ in range(count):
        i = int(rng.integers(len(clip.frames)))
        sprites = []
        for k in range(int(rng.integers(0, max_objects + 1))):
            o = ObjectSpec(
                at=(float(rng.uniform(0.05, 0.95)), float(rng.uniform(cam.far.y, min(cam.near.y + 0.03, 0.99)))),
                appear_s=0,
                scale=float(rng.uniform(0.6, 1.5)),
                shadow=bool(rng.random() < 0.8),
            )
            cut = cutouts.get(cutouts.refs[int(rng.integers(len(cutouts.refs)))])
            placement = Placement(k, (0, 0, 0, 0), 0.0, None, (), None, None, False, cut.ref)
            try:
                sprite = make_sprite(cut, o, cam.background, clip, placement)
            except ConfigError:  # does not fit in the frame there
                continue
            if any(_overlap(sprite.region, s.region) for s in sprites):
                continue
            if rng.random() < dark_share:
                ground = float(clip.median_grey[sprite.region].mean())
                sprite.bgr = recolour_dark(sprite.bgr, ground, rng)
            sprites.append(sprite)
        image = compose_frame(clip, i, 0.0, sprites, spec, np.zeros(2))
        # A person pasted back in front can hide an object: keep the box only when enough stays visible.
        boxes = [visible_box(s.alpha, s.region) for s in sprites if _visible(image, clip.frame(i), s) >= MIN_VISIBLE]
        yield Scene(camera, degrade(image, rng), [_clip_box(b, w, h) for b in boxes])


def _overlap(a: tuple[slice, slice], b: tuple[slice, slice]) -> bool:
    return a[0].start < b[0].stop and b[0].start < a[0].stop and a[1].start < b[1].stop and b[1].start < a[1].stop


def _visible(image: np.ndarray, background: np.ndarray, sprite) -> float:
    """Share of the object's pixels that still differ from the background (not covered by a person)."""
    mask = sprite.alpha[:, :, 0] > 0.5
    diff = cv2.absdiff(image[sprite.region], background[sprite.region]).max(axis=2)
    return float((diff[mask] > 8).mean()) if mask.any() else 0.0


def _clip_box(b: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float]:
    return (max(0.0, b[0]), max(0.0, b[1]), min(float(w), b[2]), min(float(h), b[3]))


def crop(scene: Scene, rng: np.random.Generator, size: int) -> Scene:
    """A `size` x `size` window of the scene at its own resolution (around an object when it has one)."""
    h, w = scene.image.shape[:2]
    size = min(size, w, h)
    if scene.boxes:
        x1, y1, x2, y2 = scene.boxes[int(rng.integers(len(scene.boxes)))]
        cx, cy = (x1 + x2) / 2 + rng.uniform(-0.35, 0.35) * size, (y1 + y2) / 2 + rng.uniform(-0.35, 0.35) * size
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    left = int(np.clip(cx - size / 2, 0, w - size))
    top = int(np.clip(cy - size / 2, 0, h - size))
    kept = []
    for x1, y1, x2, y2 in scene.boxes:
        c = (max(x1, left), max(y1, top), min(x2, left + size), min(y2, top + size))
        if c[2] > c[0] and c[3] > c[1] and (c[2] - c[0]) * (c[3] - c[1]) >= MIN_VISIBLE * (x2 - x1) * (y2 - y1):
            kept.append((c[0] - left, c[1] - top, c[2] - left, c[3] - top))
    return Scene(scene.camera, scene.image[top : top + size, left : left + size].copy(), kept)


def write_yolo(scene: Scene, images_dir: Path, name: str) -> int:
    """Write the scene as ``images_dir/<name>.jpg`` and its class-0 boxes beside it in ``labels/``."""
    h, w = scene.image.shape[:2]
    labels_dir = images_dir.parent / "labels"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(images_dir / f"{name}.jpg"), scene.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    rows = [
        f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"
        for x1, y1, x2, y2 in scene.boxes
    ]
    (labels_dir / f"{name}.txt").write_text("".join(rows))
    return len(rows)
