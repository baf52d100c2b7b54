"""The second look: a detector run again on a crop around a stationary object it did not name (pure core).

Why: a whole frame is shrunk to the model's input, so on a wide street camera (800x600 to 320) a 20 px
bag becomes 8 px, below what the stride-8 grid resolves, while the stationary model still finds it as an
object that stays. The same detector on a square crop a few times the object's size sees it at 3-8x
the scale. Measured on the held-out street suite's bags (12-51 px, bench/README.md, *Second look*):
the garbage model scored them 0.00-0.22 on the whole frame and 0.73-0.88 on 96 px crops.

Only at the places of objects already found, and only for the models whose card asks for it
(`second_look`): a stationary object no named box won this sample, and the place of each of the
camera's tracks (pending or open) where the model has no box this sample. So the crop answers "what is
this object" and "is it still there", never "is there an object": a track is started only by the whole
frame's boxes or the stationary model, and a small bag the stationary model sees only now and then is
still seen every sample once its track exists. A box of the crop counts only at the place (the
confirmer's `same_place`), so what else the crop shows (a fixture seen large) never becomes a
candidate. At most `max_objects` crops per sample, largest places first, so a camera full of parked
objects costs a bounded number of extra inferences.

>>> from xuncha.types import Detection
>>> blob = (400, 480, 420, 504)
>>> regions([blob, (401, 481, 420, 504)], (800, 600), LookParams())
[((400, 480, 420, 504), (362, 444, 458, 540))]
>>> found = [Detection("garbage", 0.86, (39, 37, 58, 60), "garbage"), Detection("garbage", 0.8, (0, 0, 30, 30))]
>>> placed(found, blob, (362, 444, 458, 540))
[Detection(label='garbage', score=0.86, box=(401, 481, 420, 504), model='garbage', text='')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from xuncha.types import BoxXYXY, Detection, same_place

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 of a crop, integer pixels inside the frame


@dataclass(frozen=True)
class LookParams:
    context: float = 4.0  # crop side = this x the object's longer side (the ground around it stays in view)
    min_side: int = 96  # frame pixels: smaller crops are upscaled past anything the model was trained on
    min_gain: float = 1.5  # skip a crop that would magnify the object less than this over the whole frame
    max_objects: int = 3  # crops per sample and camera


def regions(places: Sequence[BoxXYXY], frame_size: tuple[int, int], params: LookParams) -> list[tuple[BoxXYXY, Region]]:
    """Square crops around object places, largest first, one per place."""
    w, h = frame_size
    out: list[tuple[BoxXYXY, Region]] = []
    for box in sorted(places, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if any(same_place(box, b) for b, _ in out):
            continue
        x1, y1, x2, y2 = box
        side = int(round(max(params.min_side, params.context * max(x2 - x1, y2 - y1))))
        if max(w, h) / side < params.min_gain or side > min(w, h):
            continue  # the whole frame already showed it nearly this large
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left = int(min(max(0, round(cx - side / 2)), w - side))
        top = int(min(max(0, round(cy - side / 2)), h - side))
        out.append((box, (left, top, left + side, top + side)))
        if len(out) == params.max_objects:
            break
    return out


def placed(found: Sequence[Detection], place: BoxXYXY, region: Region) -> list[Detection]:
    """The crop's boxes moved to frame pixels, those at the place only."""
    dx, dy = region[0], region[1]
    out = []
    for d in found:
        box: BoxXYXY = (d.box[0] + dx, d.box[1] + dy, d.box[2] + dx, d.box[3] + dy)
        if same_place(box, place):
            out.append(replace(d, box=box))
    return out
