"""Scenario composer: real footage + real cut-out garbage bags -> a video with exact ground truth.

The suite (`xuncha/train/suite.py`) says what goes where and when; this module renders it. The
composer writes `<id>.mp4`, the ground truth `<id>.truth.json` and a worker config `<id>.yaml`.

Compositing, in order, per output frame: the background frame (the clip's segment, looped back
and forth to the scenario's length) -> a soft contact shadow -> the object (scaled by the
perspective at its base, brightness matched to the ground around it, feathered edges) -> the
clip's own moving people pasted back where they stand in front of the object (foreground mask
against the clip's median) -> global lighting gain -> camera shake. Everything random comes from
the scenario's seed, so a scenario is the same video on every machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from xuncha.taxonomy import Taxonomy, load_taxonomy
from xuncha.train.split import STREET_TRASHBAGS_SPLIT, Split, split_photos
from xuncha.train.suite import (
    Background,
    Lighting,
    ObjectSpec,
    Placement,
    ScenarioSpec,
    Suite,
    classify,
    truth_doc,
    worker_doc,
)
from xuncha.yamlfile import ConfigError

FG_THRESHOLD = 25  # grey levels from the clip's median that make a pixel foreground (a person)


# -- cut-outs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutout:
    """One garbage bag cut out of a photo: BGR crop, alpha 0-1, and the photo's brightness around it."""

    ref: str
    bgr: np.ndarray
    alpha: np.ndarray
    ring_mean: float


class CutoutLibrary:
    """Instances of the street_trashbags data set usable as cut-outs (whole, clear of the border).

    Only photos of one split are used: evaluation scenes take the test photos, which no model trained
    with `xuncha train` on the same split file has seen; training composites take the train photos.
    """

    MIN_SIDE_PX = 60
    MIN_POINTS = 8

    def __init__(self, dataset_dir: Path, split: Split = "test", split_file: Path = STREET_TRASHBAGS_SPLIT) -> None:
        self.dataset_dir = dataset_dir
        if not dataset_dir.is_dir():
            raise ConfigError(f"cut-out data set not found: {dataset_dir}")
        self.split = split
        self.photos = {p.stem for p in split_photos(dataset_dir, split, split_file)}

    @cached_property
    def refs(self) -> list[str]:
        """Usable instances as '<stem>#<line>', sorted (the order the seed picks from)."""
        out = []
        for lab in sorted(self.dataset_dir.glob("*/labels/*.txt")):
            if lab.stem not in self.photos:
                continue
            for n, line in enumerate(lab.read_text().splitlines()):
                pts = _polygon(line)
                if pts is None or len(pts) < self.MIN_POINTS:
                    continue
                x1, y1 = pts.min(axis=0)
                x2, y2 = pts.max(axis=0)
                inside = x1 > 0.01 and y1 > 0.01 and x2 < 0.99 and y2 < 0.99
                side = min(x2 - x1, y2 - y1) * 640
                if inside and side >= self.MIN_SIDE_PX and 0.5 <= (y2 - y1) / (x2 - x1) <= 2.0:
                    out.append(f"{lab.stem}#{n}")
        if not out:
            raise ConfigError(f"no usable cut-outs in the {self.split} photos of {self.dataset_dir}")
        return out

    def get(self, ref: str) -> Cutout:
        stem, _, line = ref.partition("#")
        if stem not in self.photos:
            raise ConfigError(f"cut-out {ref!r}: not one of the {self.split} photos of the split file")
        labels = list(self.dataset_dir.glob(f"*/labels/{stem}.txt"))
        if not labels or not line.isdigit():
            raise ConfigError(f"cut-out {ref!r}: no label file {stem}.txt in {self.dataset_dir}")
        rows = labels[0].read_text().splitlines()
        pts = _polygon(rows[int(line)]) if int(line) < len(rows) else None
        image = cv2.imread(str(labels[0].parent.parent / "images" / f"{stem}.jpg"))
        if pts is None or image is None:
            raise ConfigError(f"cut-out {ref!r}: unreadable polygon or image")
        h, w = image.shape[:2]
        poly = np.round(pts * (w, h)).astype(np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 255)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # drop the fringe of pavement the polygon includes
        x, y, bw, bh = cv2.boundingRect(poly)
        ring = (cv2.dilate(mask, np.ones((25, 25), np.uint8)) > 0) & (mask == 0)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        ring &= grey < 250  # letterbox white is not the photo's ground
        ring_mean = float(grey[ring].mean()) if ring.any() else float(grey[mask > 0].mean())
        crop = (slice(y, y + bh), slice(x, x + bw))
        return Cutout(ref, image[crop].copy(), mask[crop].astype(np.float32) / 255.0, ring_mean)


def _polygon(line: str) -> np.ndarray | None:
    v = line.split()
    if len(v) < 7 or len(v) % 2 == 0:
        return None
    return np.array(v[1:], dtype=np.float64).reshape(-1, 2)


# -- background ----------------------------------------------------------------------------------


class BackgroundClip:
    """A clip's segment resampled to the output rate, looped back and forth (no jump at the seam)."""

    def __init__(self, path: Path, fps: float, segment: tuple[float, float] | None) -> None:
        if not path.is_file():
            raise ConfigError(f"background clip not found: {path}")
        start, end = segment or (0.0, float("inf"))
        frames: list[np.ndarray] = []
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                if f.time is None or f.time + 1e-6 < start + len(frames) / fps:
                    continue
                if f.time >= end:
                    break
                frames.append(f.to_ndarray(format="bgr24"))
        if len(frames) < 2:
            raise ConfigError(f"background clip {path}: segment {segment} has fewer than 2 frames")
        self.frames = frames
        h, w = frames[0].shape[:2]
        self.size = (w, h)

    def frame(self, i: int) -> np.ndarray:
        n = len(self.frames)
        p = i % (2 * n - 2)
        return self.frames[p if p < n else 2 * n - 2 - p]

    @cached_property
    def median(self) -> np.ndarray:
        step = max(1, len(self.frames) // 60)
        return np.median(np.stack(self.frames[::step]), axis=0).astype(np.uint8)

    @cached_property
    def median_grey(self) -> np.ndarray:
        return cv2.cvtColor(self.median, cv2.COLOR_BGR2GRAY)


# -- composing -----------------------------------------------------------------------------------


@dataclass
class Sprite:
    """An object ready to paste: premultiplied layers at its place in the frame."""

    placement: Placement
    region: tuple[slice, slice]
    bgr: np.ndarray  # float32, brightness matched
    alpha: np.ndarray  # float32 HxWx1
    shadow: np.ndarray | None  # float32 HxWx1 darkening 0-1 over the shadow region
    shadow_region: tuple[slice, slice] | None
    bottom: float
    height: float

    def present(self, t: float) -> bool:
        p = self.placement
        in_gap = any(a <= t < b for a, b in p.gaps)
        return p.start_s <= t and (p.end_s is None or t < p.end_s) and not in_gap


@dataclass(frozen=True)
class Composed:
    """What `compose` wrote, and the MD5 of every frame it composed (before encoding)."""

    video: Path
    truth: Path
    worker_config: Path
    placements: list[Placement]
    frame_md5: list[str]


def _height_px(bg: Background, y: float, frame_h: int) -> float:
    f = (y - bg.far.y) / (bg.near.y - bg.far.y)
    return (bg.far.height + f * (bg.near.height - bg.far.height)) * frame_h


# Dark bag tones as BGR gains around grey: black/grey, dark green, dark blue, dark brown.
DARK_TINTS = ((1.0, 1.0, 1.0), (0.85, 1.15, 0.95), (1.2, 1.0, 0.85), (0.8, 0.95, 1.2))
DARK_GROUND_RATIO = (0.35, 0.9)  # bag brightness / ground brightness (the real bag: 0.4-0.9)


def recolour_dark(bgr: np.ndarray, ground: float, rng: np.random.Generator) -> np.ndarray:
    """A bag recoloured to a dark plastic tone, keeping its folds (shading) at reduced contrast."""
    grey = bgr.mean(axis=2, keepdims=True)
    shading = np.clip(grey / max(float(grey.mean()), 1.0), 0.2, 2.5) ** float(rng.uniform(0.5, 0.9))
    level = ground * float(rng.uniform(*DARK_GROUND_RATIO))
    tint = np.array(DARK_TINTS[int(rng.integers(len(DARK_TINTS)))], np.float32)
    return np.clip(level * shading * tint, 0, 255).astype(np.float32)


def make_sprite(cut: Cutout, o: ObjectSpec, bg: Background, clip: BackgroundClip, placement: Placement) -> Sprite:
    w_frame, h_frame = clip.size
    h = max(6, round(_height_px(bg, o.at[1], h_frame) * o.scale))
    w = max(6, round(h * cut.bgr.shape[1] / cut.bgr.shape[0]))
    cx, by = o.at[0] * w_frame, o.at[1] * h_frame
    x1, y1 = round(cx - w / 2), round(by - h)
    if x1 < 0 or y1 < 0 or x1 + w > w_frame or y1 + h > h_frame:
        raise ConfigError(f"object at {o.at} of height {h} px does not fit in the {w_frame}x{h_frame} frame")
    bgr = cv2.resize(cut.bgr, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.resize(cut.alpha, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.7)  # soft edge, about one CCTV pixel
    # Match brightness to the ground around the spot in this clip (the photo was lit differently).
    pad_x, pad_y = w // 2 + 4, h // 2 + 4
    ry1, ry2 = max(0, y1 - pad_y), min(h_frame, y1 + h + pad_y)
    rx1, rx2 = max(0, x1 - pad_x), min(w_frame, x1 + w + pad_x)
    ring = np.ones((ry2 - ry1, rx2 - rx1), bool)
    ring[y1 - ry1 : y1 - ry1 + h, x1 - rx1 : x1 - rx1 + w] = False
    local = float(clip.median_grey[ry1:ry2, rx1:rx2][ring].mean())
    bgr *= float(np.clip(local / max(cut.ring_mean, 1.0), 0.4, 1.6))
    shadow = shadow_region = None
    if o.shadow:
        sh, sw = max(4, round(0.3 * h)), round(1.4 * w)
        sy1, sx1 = round(by - 0.55 * sh), round(cx - sw / 2)
        sy2, sx2 = min(h_frame, sy1 + sh), min(w_frame, sx1 + sw)
        sy1, sx1 = max(0, sy1), max(0, sx1)
        ell = np.zeros((sh, sw), np.float32)
        cv2.ellipse(ell, (sw // 2, sh // 2), (max(1, sw // 2 - 2), max(1, sh // 2 - 1)), 0, 0, 360, 1.0, -1)
        ell = cv2.GaussianBlur(ell, (0, 0), max(1.0, sh / 4)) * 0.45
        oy, ox = sy1 - round(by - 0.55 * sh), sx1 - round(cx - sw / 2)
        shadow = ell[oy : oy + sy2 - sy1, ox : ox + sx2 - sx1, None]
        shadow_region = (slice(sy1, sy2), slice(sx1, sx2))
    return Sprite(
        placement,
        (slice(y1, y1 + h), slice(x1, x1 + w)),
        bgr,
        alpha[:, :, None],
        shadow,
        shadow_region,
        by,
        float(h),
    )


def visible_box(alpha: np.ndarray, region: tuple[slice, slice]) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(alpha[:, :, 0] > 0.5)
    y0, x0 = region[0].start, region[1].start
    return (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1))


def _shake_path(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    if amplitude <= 0:
        return np.zeros((n, 2))
    raw = rng.normal(size=(n + 2, 2))
    smooth = (raw[:-2] + raw[1:-1] + raw[2:]) / 3
    return amplitude * smooth / max(np.abs(smooth).max(), 1e-9)


def _gain(light: Lighting | None, t: float) -> float:
    if light is None or t < light.at_s:
        return 1.0
    f = 1.0 if light.ramp_s == 0 else min(1.0, (t - light.at_s) / light.ramp_s)
    return 1.0 + f * (light.gain - 1.0)


def _people_in_front(bg: np.ndarray, clip: BackgroundClip, sprites: list[Sprite]) -> np.ndarray | None:
    """Soft mask (HxWx1) of the clip's moving people standing in front of (below) a present object."""
    fg = (cv2.absdiff(cv2.cvtColor(bg, cv2.COLOR_BGR2GRAY), clip.median_grey) > FG_THRESHOLD).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        for s in sprites:
            ys, xs = s.region
            overlaps = x < xs.stop and x + w > xs.start and y < ys.stop and y + h > ys.start
            if overlaps and y + h >= s.bottom - 0.1 * s.height:  # feet lower in the picture: nearer the camera
                keep[i] = True
    if not keep.any():
        return None
    mask = keep[labels].astype(np.float32)
    return cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)), (0, 0), 1.0)[:, :, None]


def compose(
    suite: Suite,
    scenario: ScenarioSpec,
    footage_dir: Path,
    cutouts: CutoutLibrary,
    out_dir: Path,
    taxonomy: Taxonomy | None = None,
) -> Composed:
    """Write `<id>.mp4`, `<id>.truth.json` and `<id>.yaml` (worker config) for one scenario into out_dir."""
    taxonomy = taxonomy or load_taxonomy(None)
    bg = suite.background
    clip = BackgroundClip(footage_dir / bg.clip, suite.fps, scenario.segment or bg.segment)
    duration = scenario.duration_s or suite.duration_s
    n = round(duration * suite.fps)
    rng = np.random.default_rng(scenario.seed)
    kinds = classify(suite, scenario, taxonomy)
    sprites: list[Sprite] = []
    for i, (o, (zone, category, violation, reason)) in enumerate(zip(scenario.objects, kinds, strict=True)):
        ref = o.cutout or cutouts.refs[int(rng.integers(len(cutouts.refs)))]
        cut = cutouts.get(ref)
        end = o.disappear_s if o.disappear_s is not None and o.disappear_s < duration else None
        placement = Placement(
            i, (0, 0, 0, 0), o.appear_s, end, tuple(o.gaps), zone, category, violation, f"{ref}: {reason}"
        )
        s = make_sprite(cut, o, bg, clip, placement)
        if o.dark:
            s.bgr = recolour_dark(s.bgr, float(clip.median_grey[s.region].mean()), rng)
        s.placement = replace(placement, box=visible_box(s.alpha, s.region))
        sprites.append(s)
    shake = _shake_path(rng, n, scenario.shake_px)

    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{scenario.id}.mp4"
    w, h = clip.size
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), suite.fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write {video} (OpenCV mp4v)")
    md5: list[str] = []
    try:
        for i in range(n):
            frame = compose_frame(clip, i, i / suite.fps, sprites, scenario, shake[i])
            md5.append(hashlib.md5(frame.tobytes()).hexdigest())
            writer.write(frame)
    finally:
        writer.release()

    placements = [s.placement for s in sprites]
    truth = out_dir / f"{scenario.id}.truth.json"
    truth.write_text(json.dumps(truth_doc(suite, scenario, clip.size, placements), indent=1, ensure_ascii=False))
    cfg = out_dir / f"{scenario.id}.yaml"
    cfg.write_text(yaml.safe_dump(worker_doc(suite, scenario, video.name), allow_unicode=True, sort_keys=False))
    return Composed(video, truth, cfg, placements, md5)


def compose_frame(
    clip: BackgroundClip, i: int, t: float, sprites: list[Sprite], sc: ScenarioSpec, shake: np.ndarray
) -> np.ndarray:
    """Output frame i (pure given the clip and the sprites)."""
    bg = clip.frame(i)
    present = [s for s in sprites if s.present(t)]
    out = bg.astype(np.float32)
    for s in present:
        if s.shadow is not None and s.shadow_region is not None:
            out[s.shadow_region] *= 1.0 - s.shadow
        region = out[s.region]
        out[s.region] = region * (1.0 - s.alpha) + s.bgr * s.alpha
    if present:
        front = _people_in_front(bg, clip, present)
        if front is not None:
            out = out * (1.0 - front) + bg.astype(np.float32) * front
    gain = _gain(sc.lighting, t)
    if gain != 1.0:
        out *= gain
    if shake.any():
        m = np.float32([[1, 0, shake[0]], [0, 1, shake[1]]])
        out = cv2.warpAffine(out, m, clip.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
