"""The pure core of `xuncha review export-dataset`: which reviewed clues, which split, which label.

A filed clue (立案) becomes an image labelled with its box and the class of its filed category (an
operator's correction, 框选更正 / 分类更正, replaces either, and the manifest keeps both); a rejected
clue (不立案) becomes a background image (empty label file) whose box is a hard negative in the manifest.
A filed clue of the same camera in view all through the rejected clue's sightings is labelled in its
image (the object stays at its box: that is what made it a clue); one in view for part of them only may
or may not be in the picture, so that image is skipped. Unlabelled, a real bag in a background image
would teach a model that it is background.
The split is a hash of camera id + local day of the sighting, never random: frames of one camera on
one day are near-duplicates, and one side each keeps them from leaking into val.

>>> split_of("cam-1", date(2024, 5, 1), 0.2) == split_of("cam-1", date(2024, 5, 1), 0.2)
True
>>> yolo_box((72, 48, 144, 144), (720, 480))
(0.15, 0.2, 0.1, 0.2)
>>> pixel_box((0.15, 0.2, 0.1, 0.2), (360, 240))
(36.0, 24.0, 72.0, 72.0)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

Split = Literal["train", "val"]
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class Corrected:
    """An operator's correction of the clue (框选更正 / 分类更正): what the export labels it with."""

    box: tuple[float, float, float, float] | None  # pixels of the clue's frame, like Reviewed.box
    category_code: str | None
    by: str
    at: datetime
    reported_category: str  # what the worker reported: the original the manifest names


@dataclass(frozen=True)
class Reviewed:
    """One reviewed clue with its standing decision, as read from the review database."""

    clue_id: str
    camera_id: str
    category_code: str  # the decided category (an operator may correct it when filing)
    accepted: bool
    reason_code: str | None
    reason_text: str | None
    reviewer: str
    decided_at: datetime
    decision_id: int
    first_seen: datetime
    box: tuple[float, float, float, float]  # pixels of the frame the worker saw
    frame_size: tuple[int, int]  # (width, height) of that frame
    # Evidence store path of the picture exported: the clean frame (nothing drawn) when the worker stored
    # one, else the scene picture with its zone, box and label drawn; None without evidence.
    picture: str | None
    correction: Corrected | None = None
    last_seen: datetime | None = None  # the clue's last sighting (None: only first_seen is known)

    @property
    def seen(self) -> tuple[datetime, datetime]:
        """The span the object was in view, first to last sighting."""
        return self.first_seen, self.last_seen or self.first_seen

    @property
    def label_category(self) -> str:
        """The category the export uses: the corrected one, else the decided one."""
        return (self.correction and self.correction.category_code) or self.category_code

    @property
    def label_box(self) -> tuple[float, float, float, float]:
        """The box the export uses (frame pixels): the corrected one, else the worker's."""
        return (self.correction and self.correction.box) or self.box


@dataclass(frozen=True)
class Item:
    """A reviewed clue placed in the export: its split, class (None for a background image), box 0-1."""

    clue: Reviewed
    split: Split
    cls: int | None
    box: tuple[float, float, float, float] | None  # normalised centre-x, centre-y, width, height
    problem: str | None = None  # why the clue cannot be exported (a box outside its frame)
    # A rejected clue's image: the filed clues in view all the while, (clue id, class, normalised box).
    also: tuple[tuple[str, int, tuple[float, float, float, float]], ...] = ()


def since_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in the local zone (--since DATE counts decisions from then)."""
    return datetime.combine(day, time(0), tz)


def split_of(camera_id: str, day: date, val_fraction: float = VAL_FRACTION) -> Split:
    """train or val by a hash of camera + day: the same answer on every machine and every export."""
    digest = hashlib.sha256(f"{camera_id}\n{day.isoformat()}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def yolo_box(box: Sequence[float], frame_size: Sequence[int]) -> tuple[float, float, float, float]:
    """A pixel box (x1, y1, x2, y2) in a frame of `frame_size` (w, h) as YOLO's normalised
    (cx, cy, w, h), clipped to the frame; ValueError for a box with nothing inside the frame."""
    fw, fh = frame_size
    if fw <= 0 or fh <= 0:
        raise ValueError(f"frame size {fw}x{fh} is not positive")
    x1, y1 = max(0.0, box[0] / fw), max(0.0, box[1] / fh)
    x2, y2 = min(1.0, box[2] / fw), min(1.0, box[3] / fh)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"box {tuple(box)} lies outside the {fw}x{fh} frame")
    return (round((x1 + x2) / 2, 6), round((y1 + y2) / 2, 6), round(x2 - x1, 6), round(y2 - y1, 6))


def pixel_box(norm: Sequence[float], image_size: Sequence[int]) -> tuple[float, float, float, float]:
    """A normalised (cx, cy, w, h) as (x1, y1, x2, y2) pixels of an image of `image_size` (w, h):
    the scene picture may be stored at another size than the frame the box was measured in."""
    cx, cy, w, h = norm
    iw, ih = image_size
    return tuple(round(v, 1) for v in ((cx - w / 2) * iw, (cy - h / 2) * ih, (cx + w / 2) * iw, (cy + h / 2) * ih))  # type: ignore[return-value]


def standing(rows: Iterable[Reviewed]) -> list[Reviewed]:
    """The latest decision of each clue (a clue decided, undone and decided again has one), by clue id."""
    latest: dict[str, Reviewed] = {}
    for r in rows:
        if r.clue_id not in latest or r.decision_id > latest[r.clue_id].decision_id:
            latest[r.clue_id] = r
    return [latest[k] for k in sorted(latest)]


def class_names(rows: Iterable[Reviewed]) -> list[str]:
    """The classes of the export: the filed (or corrected) categories' codes, sorted (stable across exports)."""
    return sorted({r.label_category for r in rows if r.accepted})


def plan(rows: Iterable[Reviewed], tz: ZoneInfo, val_fraction: float = VAL_FRACTION) -> tuple[list[Item], list[str]]:
    """Every reviewed clue placed: split by camera + local day of its first sighting, class by category."""
    clues = standing(rows)
    names = class_names(clues)
    by_camera: dict[str, list[Reviewed]] = defaultdict(list)
    for c in clues:
        if c.accepted:
            by_camera[c.camera_id].append(c)
    index = {code: i for i, code in enumerate(names)}
    items = []
    for r in clues:
        try:
            box, problem = yolo_box(r.label_box, r.frame_size), None
        except ValueError as e:
            box, problem = None, str(e)
        also: list[tuple[str, int, tuple[float, float, float, float]]] = []
        if problem is None and not r.accepted:
            for f in _filed_in_view(r, by_camera[r.camera_id]):
                if not (f.seen[0] <= r.seen[0] and r.seen[1] <= f.seen[1]):
                    problem = f"filed clue {f.clue_id} of camera {r.camera_id} was in view for part of it: skipped"
                    break
                try:
                    also.append((f.clue_id, index[f.label_category], yolo_box(f.label_box, f.frame_size)))
                except ValueError:
                    continue  # a filed box outside its frame: it is not in this picture either
        split = split_of(r.camera_id, r.first_seen.astimezone(tz).date(), val_fraction)
        cls = index[r.label_category] if r.accepted else None
        items.append(Item(r, split, cls, box, problem, () if problem else tuple(also)))
    return items, names


def _filed_in_view(rejected: Reviewed, filed: Sequence[Reviewed]) -> list[Reviewed]:
    """The camera's `filed` clues whose sightings overlap the rejected clue's in time."""
    start, end = rejected.seen
    return [c for c in filed if c.seen[0] <= end and start <= c.seen[1]]


def label_text(item: Item) -> str:
    """The YOLO label file: one line for a filed clue; for a rejected one, a line per filed clue in view."""
    lines = [(item.cls, item.box)] if item.cls is not None and item.box is not None else []
    lines += [(cls, box) for _id, cls, box in item.also]
    return "".join(f"{cls} " + " ".join(f"{v:.6f}" for v in box) + "\n" for cls, box in lines)


def manifest_record(
    item: Item, tz: ZoneInfo, image: str | None, image_size: tuple[int, int] | None, skipped: str | None
) -> dict[str, Any]:
    """One manifest line: where the image came from and who decided what, or why it was skipped."""
    c = item.clue
    box_px = pixel_box(item.box, image_size) if image_size and item.box else None
    return {
        "clue_id": c.clue_id,
        "camera_id": c.camera_id,
        "decision": "filed" if c.accepted else "rejected",
        "category": c.label_category,
        "class": item.cls,
        "reason": c.reason_code,
        "reason_text": c.reason_text,
        "reviewer": c.reviewer,
        "decided_at": c.decided_at.astimezone(tz).isoformat(),
        "first_seen": c.first_seen.astimezone(tz).isoformat(),
        "split": item.split,
        "image": image,
        "evidence": c.picture,
        "box": box_px if c.accepted else None,
        "hard_negative": None if c.accepted else box_px,
        "box_norm": list(item.box) if item.box else None,
        "labelled_from": [clue_id for clue_id, _cls, _box in item.also],  # filed clues in view (rejected clues)
        "skipped": skipped,
        "correction": _correction_record(c, tz),
    }


def _norm(box: Sequence[float], frame_size: Sequence[int]) -> list[float] | None:
    try:
        return list(yolo_box(box, frame_size))
    except ValueError:
        return None  # the worker's box outside its frame: the correction is what makes it usable


def _correction_record(c: Reviewed, tz: ZoneInfo) -> dict[str, Any] | None:
    """Original and corrected category and box (YOLO cx, cy, w, h like `box_norm`), who and when."""
    k = c.correction
    if k is None:
        return None
    return {
        "category": {"original": k.reported_category, "corrected": k.category_code} if k.category_code else None,
        "box_norm": {"original": _norm(c.box, c.frame_size), "corrected": _norm(k.box, c.frame_size)}
        if k.box
        else None,
        "by": k.by,
        "at": k.at.astimezone(tz).isoformat(),
    }
