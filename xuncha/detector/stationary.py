"""Stationary-object model: finds things that appeared in the scene and stayed (no weights).

Dual background on the sampled frames of one camera, on a downscaled image in three channels:
log brightness and two log colour-opponent channels (red-green, blue-yellow), so a blue bag on
grey paving of the same brightness stands out, while a shadow (darker, same hue) changes only
the first. Pixel-sized constants are given for a 320 px working width and scale with it.

- the long-term background L adapts slowly and is frozen wherever static evidence exists,
  so an object that stays is never absorbed and is reported for as long as it stays (hours
  included: "adapt slowly enough" would absorb a pile left all day, and when it is cleared
  away the stale background would leave a ghost);
- the short-term background S adapts within seconds, everywhere.

A pixel that differs from L but matches S is static foreground (it changed and then stopped
changing); one that differs from S is moving (a passer-by). Static pixels gain evidence in
seconds of video time; pixels where L shows again, steadily, lose it quickly; moving pixels
lose it slowly, so a bag stays reported while people walk in front of it. Connected blobs whose
evidence reached `min_static_s` are reported.

Lighting: brightness is compared as log (relative contrast), and a global gain (median
log ratio of frame to L) shifts both backgrounds each sample, so a whole-scene drift costs
nothing; if a large fraction of the frame still differs, the scene changed (lights
switched, camera moved) and the model re-initialises. A blob is reported only if it has a
sharp outline (the difference to L steps across it; smooth local light changes do not) and
that outline is the frame's rather than L's (a ghost: something in L at start-up has left);
blobs failing either test are absorbed into L.

>>> import numpy as np
>>> model = StationaryObjectModel(StationaryParams(min_static_s=2.0))
>>> floor = np.full((180, 320, 3), 120, np.uint8)
>>> with_box = floor.copy(); with_box[80:120, 100:160] = 30
>>> [model.update(im, t) for t, im in enumerate([floor, floor, with_box])][-1]
[]
>>> [d.box for d in [model.update(with_box, t) for t in range(3, 8)][-1]]
[(99.0, 79.0, 161.0, 121.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np

from xuncha.types import Detection

LABEL = "static_object"
MODEL_NAME = "stationary"


@dataclass(frozen=True)
class StationaryParams:
    """Tuning of the stationary-object model; times are seconds of video time, not samples."""

    width: int = 320
    """Working width in pixels: frames are downscaled to it (never upscaled). Pixel-sized
    constants below (blur, shake tolerance, kernels, outline slope) are for 320 px and scale."""
    blur_sigma: float = 1.0
    """Gaussian blur at 320 px, against sensor noise and compression artefacts."""
    long_tau_s: float = 120.0
    """Time constant of the long-term background where nothing static lies."""
    short_tau_s: float = 1.5
    """Time constant of the short-term background: how fast "stopped changing" is noticed."""
    diff_threshold: float = 15.0
    """Brightness change that counts as changed, in percent (100 x log ratio, gain compensated)."""
    colour_threshold: float = 15.0
    """Colour change that counts as changed: 100 x change of a log colour-opponent ratio."""
    jitter_px: int = 1
    """Pixels at 320 px a frame may shift (camera shake) without counting as change."""
    min_static_s: float = 4.0
    """Seconds of static evidence a blob needs before it is reported."""
    evidence_cap_s: float = 10.0
    """Evidence saturates here; with `clear_rate` it bounds how long a removed object lingers."""
    clear_rate: float = 4.0
    """Evidence seconds lost per second where the long-term background shows again."""
    occluded_decay: float = 0.25
    """Evidence seconds lost per second while something moving covers the pixel."""
    min_area_frac: float = 0.0008
    """Smallest reported blob as a fraction of the frame area."""
    global_change_frac: float = 0.5
    """Fraction of changed pixels that means the whole scene changed: re-initialise."""
    min_outline: float = 4.0
    """RMS slope (percent per pixel at 320 px) of frame minus L across a blob's outline; below
    it the change has no edge (light, not an object) and is absorbed."""
    ghost_edge_ratio: float = 0.8
    """Gradient energy along a blob's outline in the frame must reach this times L's; below it
    the outline is L's (a ghost: something in the background has left) and is absorbed."""
    max_dt_s: float = 5.0
    """Longest time step credited to one sample (a stream gap is not evidence)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0 and f.name != "jitter_px":
                raise ValueError(f"StationaryParams.{f.name} must be > 0, got {value!r}")
        if self.jitter_px < 0:
            raise ValueError(f"StationaryParams.jitter_px must be >= 0, got {self.jitter_px!r}")
        if self.global_change_frac > 1 or self.min_area_frac > 1:
            raise ValueError("StationaryParams.global_change_frac and min_area_frac must be <= 1")
        if self.evidence_cap_s < self.min_static_s:
            raise ValueError("StationaryParams.evidence_cap_s must be >= min_static_s")


class StationaryObjectModel:
    """One instance per camera; feed it every sampled frame in time order."""

    label = LABEL

    def __init__(self, params: StationaryParams = StationaryParams()) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        """Forget the scene; the next frame becomes the background."""
        self._long: np.ndarray | None = None
        self._short: np.ndarray | None = None
        self._evidence: np.ndarray | None = None
        self._was_static: np.ndarray | None = None
        self._source_hw: tuple[int, int] | None = None
        self._ts = 0.0
        self._scale = _Scale.at(self.params, self.params.width)

    def update(self, image: np.ndarray, ts: float) -> list[Detection]:
        """Take one sampled BGR uint8 frame at `ts` seconds; return the static objects seen."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"stationary model needs an HxWx3 uint8 BGR image, got {image.shape} {image.dtype}")
        grey = self._prepare(image)
        if self._long is None or self._source_hw != image.shape[:2]:
            self._start(grey, image.shape[:2], ts)
            return []
        if ts < self._ts:
            raise ValueError(f"stationary model: timestamps must not go backwards ({ts} after {self._ts})")
        dt = min(ts - self._ts, self.params.max_dt_s)
        self._ts = ts
        return self._step(grey, dt)

    # -- internals -------------------------------------------------------------------------

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        scale = min(1.0, self.params.width / w)
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if self._scale.width != image.shape[1]:
            self._scale = _Scale.at(self.params, image.shape[1])
        bgr = cv2.GaussianBlur(image.astype(np.float32), (0, 0), self._scale.blur_sigma)
        # Log in percent: a gain change becomes an offset in brightness and cancels in the colour
        # ratios, and a dark bag on dark paving differs as much as a grey one on white.
        logs = cv2.log(bgr + _DARK_OFFSET)
        b, g, r = cv2.split(logs)
        grey = cv2.log(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) + _DARK_OFFSET)
        # Colour-opponent channels, scaled so that colour_threshold reads in brightness's units.
        k = self.params.diff_threshold / self.params.colour_threshold
        return cv2.merge([100.0 * grey, 100.0 * k * (r - g), 100.0 * k * (b - 0.5 * (r + g))])

    def _start(self, grey: np.ndarray, source_hw: tuple[int, int], ts: float) -> None:
        self._long = grey.copy()
        self._short = grey.copy()
        self._evidence = np.zeros(grey.shape[:2], np.float32)
        self._was_static = np.zeros(grey.shape[:2], bool)
        self._source_hw = source_hw
        self._ts = ts

    def _step(self, grey: np.ndarray, dt: float) -> list[Detection]:
        p = self.params
        long, short, evidence, was_static = self._long, self._short, self._evidence, self._was_static
        assert long is not None and short is not None and evidence is not None and was_static is not None
        assert self._source_hw is not None

        gain = _global_gain(grey[..., 0], long[..., 0], evidence == 0)
        long[..., 0] += gain
        short[..., 0] += gain

        d_long = _shift_tolerant_diff(grey, long, self._scale.jitter_px)
        changed = d_long > p.diff_threshold
        if changed.mean() > p.global_change_frac:
            self._start(grey, self._source_hw, self._ts)
            return []
        # No shift tolerance against S: it would let a patterned passer-by match a blurred S.
        settled = _channel_max(cv2.absdiff(grey, short)) <= p.diff_threshold
        static = changed & settled
        moving = ~settled

        # Credit only pixels static in two samples running: a single match is too often chance
        # (a patterned passer-by briefly matching S).
        evidence[static & was_static] += dt
        self._was_static = static
        evidence[settled & ~changed] -= p.clear_rate * dt  # the background shows, steadily
        # Something moving covers the pixel: evidence is mostly kept (occlusion is not absence),
        # but slowly lost so that chance matches inside a passing crowd do not pile up.
        evidence[moving] -= p.occluded_decay * dt
        np.clip(evidence, 0.0, p.evidence_cap_s, out=evidence)

        cv2.accumulateWeighted(grey, short, 1.0 - math.exp(-dt / p.short_tau_s))
        free = ((evidence == 0) & ~static).astype(np.uint8)
        cv2.accumulateWeighted(grey, long, 1.0 - math.exp(-dt / p.long_tau_s), mask=free)

        return self._blobs(grey, d_long, settled & ~changed, moving)

    def _blobs(self, grey: np.ndarray, d_long: np.ndarray, bare: np.ndarray, moving: np.ndarray) -> list[Detection]:
        p = self.params
        long, evidence, source_hw = self._long, self._evidence, self._source_hw
        assert long is not None and evidence is not None and source_hw is not None
        if not (evidence >= p.min_static_s).any():
            return []
        # An object is judged by the outline of all its pixels with evidence, not only the ripe
        # ones: while it ripens unevenly, the ripe part's edge runs through its plain interior. Only
        # pixels that differ from L now, though: where people stood in front of an object and have
        # left, L shows again and that stretch (clearing) must not join the object's blob and make
        # the outline L's.
        sc = self._scale
        support = _clean((evidence > 0) & (d_long > p.diff_threshold), sc)
        # Reported: ripe pixels, except where L shows steadily again (the object has gone)
        ripe_all = _clean((evidence >= p.min_static_s) & ~bare, sc) & support
        n, labels, stats, _ = cv2.connectedComponentsWithStats(support.astype(np.uint8), connectivity=8)
        h, w = grey.shape[:2]
        min_area = p.min_area_frac * h * w
        sy, sx = source_hw[0] / h, source_hw[1] / w
        grads = (*_gradient(grey), *_gradient(long))
        found: list[tuple[_Box, float]] = []
        for i in range(1, n):
            x, y, bw, bh, _ = (int(v) for v in stats[i])
            m = sc.margin
            win = (slice(max(0, y - m), y + bh + m), slice(max(0, x - m), x + bw + m))
            blob = labels[win] == i
            ripe = blob & ripe_all[win]
            if ripe.sum() < min_area:
                continue
            blob8 = blob.astype(np.uint8)
            rim = cv2.dilate(blob8, sc.small) > cv2.erode(blob8, sc.small)
            visible = rim & ~moving[win]  # where a passer-by covers the outline it cannot be judged
            if visible.sum() >= 0.5 * rim.sum() and not self._has_own_outline(visible, win, grads):
                # No sharp outline (a light change) or the outline is L's, not the frame's (a ghost
                # of something that has left): L is what is stale here. Absorb.
                inside = cv2.dilate(blob8, sc.small).astype(bool)
                long[win][inside] = grey[win][inside]
                evidence[win][inside] = 0.0
                continue
            age = float(evidence[win][ripe].mean()) / p.evidence_cap_s
            contrast = min(1.0, float(d_long[win][ripe].mean()) / (3 * p.diff_threshold))
            rows, cols = np.nonzero(ripe)
            x1, y1 = win[1].start + int(cols.min()), win[0].start + int(rows.min())
            x2, y2 = win[1].start + int(cols.max()) + 1, win[0].start + int(rows.max()) + 1
            found.append(((x1, y1, x2, y2), round(0.5 * age + 0.5 * contrast, 3)))
        return [
            Detection(
                LABEL, score, (x1 * sx, y1 * sy, min(x2 * sx, source_hw[1]), min(y2 * sy, source_hw[0])), MODEL_NAME
            )
            for (x1, y1, x2, y2), score in merge_touching(found)
        ]

    def _has_own_outline(self, rim: np.ndarray, win: tuple[slice, slice], grads: tuple[np.ndarray, ...]) -> bool:
        """Whether the frame shows a sharp edge along `rim` that L does not have."""
        gxn, gyn, gxl, gyl = (g[win][rim] for g in grads)  # (pixels, channels)
        energy_now = float(np.mean(np.sum(gxn * gxn + gyn * gyn, axis=1)))
        energy_long = float(np.mean(np.sum(gxl * gxl + gyl * gyl, axis=1)))
        # texture shared by frame and L cancels in the difference; what is left is the new edge
        outline = math.sqrt(float(np.mean(np.sum((gxn - gxl) ** 2 + (gyn - gyl) ** 2, axis=1))))
        return outline >= self._scale.min_outline and energy_now >= self.params.ghost_edge_ratio * energy_long


_DARK_OFFSET = 16.0  # grey levels added before the log so that sensor noise in the dark stays small
_LOG_SATURATED = 100.0 * math.log(250.0 + _DARK_OFFSET)
REFERENCE_WIDTH = 320  # the working width the pixel-sized constants are given for


def _odd(v: float) -> int:
    return max(3, 2 * round((v - 1) / 2) + 1)


@dataclass(frozen=True)
class _Scale:
    """The pixel-sized constants at one working width."""

    width: int
    blur_sigma: float
    jitter_px: int
    min_outline: float  # slope per pixel: smaller at a larger width (the same edge spans more pixels)
    margin: int
    small: np.ndarray  # speck / rim kernel (3x3 at 320 px)
    join: np.ndarray  # fragment-joining kernel (5x5 ellipse at 320 px)

    @classmethod
    def at(cls, p: StationaryParams, width: int) -> _Scale:
        f = width / REFERENCE_WIDTH
        return cls(
            width,
            p.blur_sigma * f,
            round(p.jitter_px * f),
            p.min_outline / f,
            max(2, round(2 * f)),
            np.ones((_odd(3 * f), _odd(3 * f)), np.uint8),
            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(5 * f), _odd(5 * f))),
        )


_Box = tuple[int, int, int, int]


def merge_touching(blobs: list[tuple[_Box, float]]) -> list[tuple[_Box, float]]:
    """Join blobs whose boxes overlap or touch into their union (keeping the best score).

    One object often splits into blobs (its top and its contact shadow, a bright and a dark part)
    whose boxes are too different for confirmation to call them one place: reported apart, they
    open two clues for one violation.

    >>> merge_touching([((0, 0, 10, 10), 0.5), ((10, 4, 20, 30), 0.9), ((40, 40, 50, 50), 0.7)])
    [((0, 0, 20, 30), 0.9), ((40, 40, 50, 50), 0.7)]
    """
    merged = list(blobs)
    joined = True
    while joined:  # a union can reach a third box: repeat until nothing touches
        joined = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                (a, sa), (b, sb) = merged[i], merged[j]
                if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
                    union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    merged[i] = (union, max(sa, sb))
                    del merged[j]
                    joined = True
                    break
            if joined:
                break
    return merged


def _clean(mask: np.ndarray, sc: _Scale) -> np.ndarray:
    """Drop specks, then join fragments of one object."""
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, sc.small)
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, sc.join).astype(bool)


def _global_gain(grey: np.ndarray, background: np.ndarray, usable: np.ndarray) -> float:
    """Median log-brightness offset frame - background over a subsample free of static objects."""
    g, b, u = grey[::4, ::4], background[::4, ::4], usable[::4, ::4]
    sel = u & (g < _LOG_SATURATED) & (b < _LOG_SATURATED)  # clipped whites do not follow the gain
    if sel.sum() < 16:
        return 0.0
    return float(np.median(g[sel] - b[sel]))


def _shift_tolerant_diff(grey: np.ndarray, background: np.ndarray, radius: int) -> np.ndarray:
    """How far each pixel lies outside the range of the background within `radius` pixels (the
    largest over the channels)."""
    if radius == 0:
        return _channel_max(cv2.absdiff(grey, background))
    k = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    above = cv2.subtract(grey, cv2.dilate(background, k))
    below = cv2.subtract(cv2.erode(background, k), grey)
    return np.maximum(_channel_max(cv2.max(above, below)), 0.0)


def _channel_max(image: np.ndarray) -> np.ndarray:
    """Per pixel, the largest of the channels (faster than a reduction over the last axis)."""
    a, b, c = cv2.split(image)
    return cv2.max(cv2.max(a, b), c)


def _gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y slope per pixel (Sobel scaled to units per pixel)."""
    return (
        cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3, scale=0.125),
        cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3, scale=0.125),
    )
