"""The text stage's pure core: when to read a zone, which text is new, and the detections it gives.

OCR costs ten times a detector pass, so each text zone is read on a schedule: at the first sample
(the reference, unless a reference picture is given), at least every `every_s` seconds of video (the
safety net for whatever the change detection misses), and when the zone's settled picture changed.
The safety-net read is skipped (and tried again at the next sample) while every pixel of the zone that
kept its value for the last three samples has the value a read last saw it with (`seen`: each read
takes the pixels still at that sample; a mover in front keeps the value read before). A read now would
then see pictures already read wherever nothing moves, and a mover where something does, so it could
find no new poster (only print on a mover, which is not a small ad). A poster up since the last read
is therefore still read within `every_s` of going up once it is in view for three samples; one never in
view that long (a crowd always in front) waits until it is. For the same reason the safety-net read
reads only the rectangle around the pixels that differ (with a margin for the rest of a poster), at the
scale a read of the whole zone would use: the text detector's cost grows with the pixels it is given.
The settled picture takes a pixel only once it has kept its value for three samples (two when they are
`settle_s` or more apart): a poster put up enters it, a passer-by does not. A read that lost text of the
read before, or that a change triggered and found nothing new, is repeated once `min_gap_s` seconds of
video later: a passer-by standing in front at the wrong moment costs a few samples, not the poster.
Between reads, a block of text found by the last read is
reported again as long as its pixels still look as they did then; a passer-by in front of it or a poster
torn down makes it miss samples (confirmation tolerates a few) and the change schedules a new read.
"As they were" is judged on the whole block and on its ink alone: white paper on a white wall differs from
the bare wall by less than `diff_threshold`, so a torn-down poster changes mainly its ink's pixels.

Text at a reference place (read in the reference picture) is never reported, unless it now carries a
phone number the reference text there did not have (a small ad pasted over a notice). A read that
finds only part of a block read before, inside its box (a passer-by in front), keeps the fuller one.

>>> frame = np.zeros((480, 720, 3), np.uint8)
>>> reads = iter([[], [OcrLine("开锁 13812345678", 0.9, (20, 20, 80, 32))]])
>>> stage = TextStage([("wall", (0, 0, 720, 480))], lambda img, min_side=None: next(reads), TextParams(every_s=1))
>>> stage.update(frame, 0.0)  # the reference read: nothing there
[]
>>> [(d.label, d.text) for d in stage.update(frame, 1.0)]
[('phone_number', '开锁 13812345678'), ('text', '开锁 13812345678')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from xuncha.textpatterns import BANNER, PHONE_NUMBER, TEXT, phone_numbers
from xuncha.types import BoxXYXY, Detection, iou, overlap_fraction
from xuncha.zones.geometry import pixel_polygon
from xuncha.zones.model import ZoneSet

OCR_MODEL = "rapidocr-ppocrv6"  # the model name text detections carry


@dataclass(frozen=True)
class OcrLine:
    """One line of text read by OCR; `box` in the pixels of the image given to the OCR."""

    text: str
    score: float
    box: BoxXYXY

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class Ocr(Protocol):
    """Reads a BGR image; `min_side`: scale its shorter side up to this for text detection (None: the
    engine's own setting), so that a part of a zone is read at the scale of the whole zone."""

    def __call__(self, image: np.ndarray, min_side: int | None = None) -> list[OcrLine]: ...


NET_MARGIN_PX = 48  # around the changed pixels a safety-net read reads: the rest of a poster of ~20 px text

Area = tuple[int, int, int, int]  # x1, y1, x2, y2 in the zone's half-resolution grey picture


@dataclass(frozen=True)
class TextParams:
    """Tuning of the text stage.

    Reads on change find new posters; the periodic read is the safety net, bounded in seconds of video so
    that it does not stretch with the sample interval. `every_s` 50: a poster the change detection misses
    is read at most 50 s after it went up, so its clue opens within the dwell plus one minute (a few
    samples of settling and confirmation fit in the other 10 s; a read costs ~15 detector passes, the CPU
    per camera-minute is in bench/README.md); `min_gap_s` 10: a busy street re-triggers reads on change
    (and a read is repeated) at most every 10 s of video, at any sample interval (it was 5 samples, 25 s
    at 5 s samples). `ocr_min_side` 480: crops with a shorter side are scaled up to it for text detection
    (RapidOCR's 736 doubles the cost and reads 10 px text no better, measured in the bench).
    """

    every_s: float = 50.0
    net_skip: bool = True  # skip the safety-net read while the zone's still pixels look as at the last read
    min_gap_s: float = 10.0
    # Two samples of the same value this far apart settle a pixel (else three): three would take 10 s at 5 s
    # samples, time for a passer-by to step in front of a new poster before its first read (bench/README.md).
    settle_s: float = 4.0
    diff_threshold: int = 25  # grey-level difference that counts as a changed pixel
    change_fraction: float = 0.004  # settled changed pixels (fraction of the zone) that schedule a read
    hold_change: float = 0.3  # a block is not reported while more of its pixels than this changed
    min_height_px: float = 6.0  # lines lower than this are noise at CCTV resolution
    min_score: float = 0.5
    banner_aspect: float = 5.0  # a banner is one line at least this many times as wide as high
    banner_min_height: float = 0.03  # ... with characters at least this fraction of the frame height
    ocr_min_side: int = 480

    def __post_init__(self) -> None:
        finite = 0 < self.every_s < float("inf") and 0 <= self.min_gap_s < float("inf") and self.settle_s > 0
        if not finite or self.ocr_min_side < 32:
            raise ValueError(
                f"text params: every_s and settle_s must be > 0, min_gap_s >= 0 (seconds of video) and "
                f"ocr_min_side >= 32, got {self.every_s}, {self.settle_s}, {self.min_gap_s}, {self.ocr_min_side}"
            )
        for name in ("change_fraction", "hold_change", "min_score", "banner_min_height"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"text params: {name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class TextBlock:
    """Lines of text that belong together (one poster, one banner, one sign), in frame pixels."""

    text: str
    score: float
    box: BoxXYXY
    line_height: float
    lines: int
    phones: tuple[str, ...]

    def labels(self, frame_height: int, p: TextParams) -> list[str]:
        """Most specific first: where one rule takes several, the clue carries the most specific label."""
        out = []
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        if self.lines == 1 and w >= p.banner_aspect * h and self.line_height >= p.banner_min_height * frame_height:
            out.append(BANNER)
        if self.phones:
            out.append(PHONE_NUMBER)
        return [*out, TEXT]


def group_lines(lines: Sequence[OcrLine]) -> list[TextBlock]:
    """Join lines of similar height stacked close together (a poster's lines) into blocks."""
    order = sorted(range(len(lines)), key=lambda i: (lines[i].box[1], lines[i].box[0]))
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(lines)):
        for b in range(a + 1, len(lines)):
            if _together(lines[a], lines[b]):
                parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in order:
        groups.setdefault(root(i), []).append(i)
    blocks = []
    for members in groups.values():
        ls = [lines[i] for i in members]
        text = " / ".join(line.text for line in ls)  # "/" keeps digits of two lines from joining
        box = (
            min(line.box[0] for line in ls),
            min(line.box[1] for line in ls),
            max(line.box[2] for line in ls),
            max(line.box[3] for line in ls),
        )
        score = sum(line.score for line in ls) / len(ls)
        height = float(np.median([line.height for line in ls]))
        blocks.append(TextBlock(text, round(score, 4), box, height, len(ls), tuple(phone_numbers(text))))
    return blocks


def _together(a: OcrLine, b: OcrLine) -> bool:
    ha, hb = a.height, b.height
    if min(ha, hb) <= 0 or max(ha, hb) > 2.5 * min(ha, hb):
        return False
    h = min(ha, hb)
    gap_x = max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])  # < 0: the lines overlap horizontally
    gap_y = max(a.box[1], b.box[1]) - min(a.box[3], b.box[3])
    stacked = gap_x < 0 and gap_y <= 0.8 * h  # the lines of one poster
    same_row = gap_y < -0.5 * h and gap_x <= 0.3 * h  # one line read in pieces; not two posters side by side
    return stacked or same_row


def same_place(a: BoxXYXY, b: BoxXYXY) -> bool:
    """The confirmation's test of one place: a partly covered poster is still at its place."""
    return iou(a, b) >= 0.3 or overlap_fraction(a, b) >= 0.6


def is_reference(block: TextBlock, reference: Sequence[TextBlock]) -> bool:
    """Text at a reference place, with no phone number the reference text there lacked."""
    there = [r for r in reference if same_place(r.box, block.box)]
    known = {p for r in there for p in r.phones}
    return bool(there) and set(block.phones) <= known


def _inside(a: BoxXYXY, b: BoxXYXY) -> float:
    """The fraction of box a's area that lies inside box b."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    return ix * iy / area if area > 0 else 0.0


def carry(block: TextBlock, before: Sequence[TextBlock]) -> TextBlock:
    """The earlier reading of the same place when this one is partial (a passer-by covers part of the
    poster): it lies inside the earlier block's box and lost a phone number or most of the text. A poster
    partly covered is the same poster. Not a line larger than the block (OCR reads a bare wall as one
    zone-sized line of noise now and then): that would bring back a poster torn down."""
    for old in before:
        if _inside(block.box, old.box) >= 0.6 and (
            set(old.phones) > set(block.phones) or len(block.text) < 0.7 * len(old.text)
        ):
            return old
    return block


@dataclass
class _ZoneText:
    zone_id: str
    rect: tuple[int, int, int, int]  # x1, y1, x2, y2: the zone's bounding box in frame pixels
    reference: list[TextBlock] | None = None
    blocks: list[TextBlock] = field(default_factory=list)  # new text found by the last read
    snapshot: np.ndarray | None = None  # grey picture at the last read (half resolution)
    prev: np.ndarray | None = None  # grey picture at the previous sample
    prev_ts: float = 0.0
    prev_still: np.ndarray | None = None  # pixels that kept their value from the sample before it to `prev`
    still: np.ndarray | None = None  # pixels that kept their value for the last three samples
    seen: np.ndarray | None = None  # each pixel as a read last saw it while it was still
    area: Area | None = None  # what the safety-net read due reads (None: the whole zone)
    settled: np.ndarray | None = None  # pixels as they were when they last kept their value for 3 samples
    settled_at_read: np.ndarray | None = None
    since: int = 0  # samples since the last read
    read_ts: float = 0.0  # video time of the last read
    recheck: bool = False  # read again min_gap_s after the last read
    reads: int = 0


class TextStage:
    """Text of one camera's text zones, fed every sample of the camera in order with `update`.

    `zones` are (zone id, bounding box in frame pixels) of the zones with a text rule; `ocr` reads a BGR
    crop. `reference` is the picture the zones were drawn on (same size as the frames); without it the
    first sample is the reference.
    """

    def __init__(
        self,
        zones: Sequence[tuple[str, BoxXYXY]],
        ocr: Ocr,
        params: TextParams | None = None,
        reference: np.ndarray | None = None,
    ) -> None:
        self.params = params or TextParams()
        self._ocr = ocr
        self._found: list[tuple[str, TextBlock]] = []
        self._zones = [_ZoneText(zid, tuple(int(round(c)) for c in box)) for zid, box in zones]  # type: ignore[misc]
        if reference is not None:
            for z in self._zones:
                z.reference = self._read(z, reference)

    @classmethod
    def for_zones(
        cls,
        zone_set: ZoneSet,
        frame_size: tuple[int, int],
        ocr: Ocr,
        params: TextParams | None = None,
        reference: np.ndarray | None = None,
    ) -> TextStage | None:
        """The stage for a camera's enabled zones that have a text rule; None when there is none."""
        zones = [
            (z.id, pixel_polygon(tuple(z.polygon), frame_size).bounds)
            for z in zone_set.zones
            if z.enabled and any(r.is_text_rule for r in z.all_rules)
        ]
        return cls(zones, ocr, params, reference) if zones else None

    @property
    def found(self) -> list[tuple[str, TextBlock]]:
        """(zone id, block) of the text that the last `update`'s reads found and the zone did not hold before."""
        return self._found

    @property
    def reads(self) -> int:
        """OCR passes so far (all zones)."""
        return sum(z.reads for z in self._zones)

    def update(self, image: np.ndarray, ts: float) -> list[Detection]:
        """Detections (labels text / phone_number / banner, with the text) of new text in the sample taken
        at `ts` (seconds of video, increasing)."""
        out: list[Detection] = []
        self._found = []
        for z in self._zones:
            grey = self._grey(z, image)
            self._settle(z, grey, ts)
            due = self._due(z, ts, grey)
            if due is not None:
                area = z.area if due == "periodic" else None
                found = self._read(z, image, area)
                if z.reference is None:
                    z.reference = found
                new = [carry(b, z.blocks) for b in found if not is_reference(b, z.reference)]
                # Text of the last read not read again stays while its pixels are as they were (an OCR miss).
                unread = [b for b in z.blocks if not any(same_place(b.box, n.box) for n in new)]
                kept = [b for b in unread if self._unchanged(z, grey, b.box)]
                # Read again soon when text went (a passer-by in front?) or a change showed nothing new.
                z.recheck = due != "recheck" and (len(kept) < len(unread) or (due == "change" and not new))
                self._found += [(z.zone_id, b) for b in new if not any(b.text == o.text for o in z.blocks)]
                z.blocks = new + kept
                z.since, z.read_ts = 0, ts
                self._mark_read(z, grey, area)
            else:
                z.since += 1
            for b in z.blocks:
                if z.since == 0 or self._unchanged(z, grey, b.box):
                    labels = b.labels(image.shape[0], self.params)
                    out += [Detection(lab, b.score, b.box, OCR_MODEL, b.text) for lab in labels]
        return out

    def _read(self, z: _ZoneText, image: np.ndarray, area: Area | None = None) -> list[TextBlock]:
        x1, y1, x2, y2 = z.rect
        z.reads += 1
        p = self.params
        if area is None:
            raw = self._ocr(image[y1:y2, x1:x2])
        else:  # a part of the zone, scaled as the whole zone would be
            zx, zy = x1, y1
            x1, y1, x2, y2 = zx + 2 * area[0], zy + 2 * area[1], min(x2, zx + 2 * area[2]), min(y2, zy + 2 * area[3])
            scale = max(1.0, p.ocr_min_side / min(z.rect[2] - zx, z.rect[3] - zy))
            raw = self._ocr(image[y1:y2, x1:x2], min_side=max(1, round(min(x2 - x1, y2 - y1) * scale)))
        lines = [
            OcrLine(line.text, line.score, (line.box[0] + x1, line.box[1] + y1, line.box[2] + x1, line.box[3] + y1))
            for line in raw
            if line.score >= p.min_score and line.height >= p.min_height_px
        ]
        return group_lines(lines)

    @staticmethod
    def _mark_read(z: _ZoneText, grey: np.ndarray, area: Area | None) -> None:
        """The pictures a read leaves: what it saw (of `area` only, when it read only that)."""
        if area is None or z.snapshot is None or z.settled_at_read is None or z.seen is None:
            z.snapshot = grey
            z.settled_at_read = None if z.settled is None else z.settled.copy()
            z.seen = grey.copy() if z.seen is None or z.still is None else np.where(z.still, grey, z.seen)
            return
        a, b, c, d = area
        z.snapshot = z.snapshot.copy()
        z.snapshot[b:d, a:c] = grey[b:d, a:c]
        if z.settled is not None:
            z.settled_at_read[b:d, a:c] = z.settled[b:d, a:c]
        if z.still is not None:
            z.seen[b:d, a:c] = np.where(z.still[b:d, a:c], grey[b:d, a:c], z.seen[b:d, a:c])

    @staticmethod
    def _grey(z: _ZoneText, image: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = z.rect
        crop = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
        return cv2.resize(crop, ((x2 - x1 + 1) // 2, (y2 - y1 + 1) // 2), interpolation=cv2.INTER_AREA).astype(np.int16)

    def _settle(self, z: _ZoneText, grey: np.ndarray, ts: float) -> None:
        thr = self.params.diff_threshold
        if z.prev is None:
            z.settled = grey.copy()
        else:
            still = np.abs(grey - z.prev) <= thr
            if ts - z.prev_ts >= self.params.settle_s:  # slow sampling: one unchanged step is long enough
                z.still = still
            elif z.prev_still is not None:
                z.still = still & z.prev_still
            if z.still is not None:
                assert z.settled is not None
                z.settled[z.still] = grey[z.still]
            z.prev_still = still
        z.prev, z.prev_ts = grey, ts

    def _due(self, z: _ZoneText, ts: float, grey: np.ndarray) -> str | None:
        """Why the zone is read now (first, periodic, recheck, change), or None."""
        p = self.params
        if z.snapshot is None:
            return "first"
        if ts - z.read_ts >= p.every_s:
            z.area = self._net_area(z, grey) if p.net_skip else None
            if z.area is None or z.area[2] > z.area[0]:  # not the empty rectangle: something to read
                return "periodic"
        if ts - z.read_ts < p.min_gap_s - 1e-6 or z.settled_at_read is None or z.settled is None:
            return None
        if z.recheck:
            return "recheck"
        changed = float(np.mean(np.abs(z.settled - z.settled_at_read) > p.diff_threshold)) > p.change_fraction
        return "change" if changed else None

    def _net_area(self, z: _ZoneText, grey: np.ndarray) -> Area | None:
        """What the safety-net read reads (the module's note): the rectangle around the pixels that kept their
        value for the last three samples and differ from what a read last saw there, with a margin; None
        (the whole zone) when they spread over half of it or nothing is known yet; empty when there are none."""
        if z.still is None or z.seen is None:
            return None
        ys, xs = np.nonzero(z.still & (np.abs(grey - z.seen) > self.params.diff_threshold))
        if xs.size == 0:
            return (0, 0, 0, 0)
        h, w = grey.shape
        m = NET_MARGIN_PX // 2
        a, b = max(0, int(xs.min()) - m), max(0, int(ys.min()) - m)
        c, d = min(w, int(xs.max()) + 1 + m), min(h, int(ys.max()) + 1 + m)
        return None if (c - a) * (d - b) > 0.5 * w * h else (a, b, c, d)

    def _unchanged(self, z: _ZoneText, grey: np.ndarray, box: BoxXYXY) -> bool:
        assert z.snapshot is not None
        x0, y0 = z.rect[0], z.rect[1]
        a, b = int((box[0] - x0) // 2), int((box[1] - y0) // 2)
        c, d = int((box[2] - x0 + 1) // 2) + 1, int((box[3] - y0 + 1) // 2) + 1
        now, then = grey[b:d, a:c], z.snapshot[b:d, a:c]
        if now.size == 0:
            return False
        thr, most = self.params.diff_threshold, self.params.hold_change
        changed = np.abs(now - then) > thr
        ink = np.abs(then - np.median(then)) > thr  # the text's pixels: unlike the paper around them
        return float(changed.mean()) <= most and (not ink.any() or float(changed[ink].mean()) <= most)
