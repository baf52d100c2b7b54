"""CVAT 1.1 "interpolation" XML (per-frame boxes of tracks) as benchmark truth: which vehicles are parked.

The jamcam clips (`footage/street/jamcam_annotated/xml_files/*.xml`) label every vehicle `vehicle` with the
attributes `parked`, `stopped` (waiting in traffic) and `type` (car, truck, bus, motorbike, undefined).
A track is a parked vehicle when most of its visible boxes say `parked`; everything else is traffic.
Pure: text in, dataclasses out.
"""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from xuncha.types import BoxXYXY


@dataclass(frozen=True, slots=True)
class TrackBox:
    frame: int
    box: BoxXYXY
    parked: bool
    stopped: bool


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    label: str
    type: str
    boxes: tuple[TrackBox, ...]  # visible boxes only (CVAT's `outside="1"` ends a track), by frame

    @property
    def parked(self) -> bool:
        return sum(b.parked for b in self.boxes) * 2 > len(self.boxes)

    def at(self, frame: int) -> TrackBox | None:
        return next((b for b in self.boxes if b.frame == frame), None)

    def median_box(self) -> BoxXYXY:
        return tuple(statistics.median(b.box[i] for b in self.boxes) for i in range(4))  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class CvatVideo:
    name: str
    size: tuple[int, int]  # width, height
    frames: int
    tracks: tuple[Track, ...]

    def parked(self) -> list[Track]:
        return [t for t in self.tracks if t.parked]

    def boxes_at(self, frame: int) -> list[tuple[Track, TrackBox]]:
        return [(t, b) for t in self.tracks if (b := t.at(frame)) is not None]


def _attr(box: ET.Element, name: str) -> str:
    el = box.find(f"attribute[@name='{name}']")
    return "" if el is None or el.text is None else el.text.strip()


def parse_cvat(text: str | bytes) -> CvatVideo:
    """One CVAT video task: its size, frame count and tracks (boxes with `outside="1"` dropped)."""
    root = ET.fromstring(text)
    task = root.find("meta/task")
    if task is None:
        raise ValueError("not a CVAT task dump: no meta/task")
    size = task.find("original_size")
    if size is None:
        raise ValueError("CVAT task without original_size")
    tracks = []
    for tr in root.findall("track"):
        boxes = tuple(
            sorted(
                (
                    TrackBox(
                        int(b.get("frame", "0")),
                        tuple(float(b.get(k, "0")) for k in ("xtl", "ytl", "xbr", "ybr")),  # type: ignore[arg-type]
                        _attr(b, "parked") == "true",
                        _attr(b, "stopped") == "true",
                    )
                    for b in tr.findall("box")
                    if b.get("outside") != "1"
                ),
                key=lambda b: b.frame,
            )
        )
        if boxes:
            types = {_attr(b, "type") for b in tr.findall("box")} - {""}
            tracks.append(Track(tr.get("id", ""), tr.get("label", ""), "/".join(sorted(types)), boxes))
    return CvatVideo(
        task.findtext("name", ""),
        (int(size.findtext("width", "0")), int(size.findtext("height", "0"))),
        int(task.findtext("size", "0")),
        tuple(tracks),
    )


def clip_truth(video: CvatVideo, clip: str, fps: float, interval_s: float) -> dict:
    """The truth a bench reads: the parked vehicles (median box, seconds seen) and, at each sample time
    (`interval_s` apart from frame 0), every other vehicle's box, the negatives."""
    r = lambda box: [round(v, 1) for v in box]  # noqa: E731
    parked = [
        {
            "id": f"t{t.id}",
            "type": t.type,
            "box": r(t.median_box()),
            "start_s": round(t.boxes[0].frame / fps, 2),
            "end_s": round(t.boxes[-1].frame / fps, 2),
        }
        for t in video.parked()
    ]
    samples = []
    step = max(1, round(interval_s * fps))
    for frame in range(0, video.frames, step):
        traffic = [
            {"id": f"t{t.id}", "type": t.type, "stopped": b.stopped, "box": r(b.box)}
            for t, b in video.boxes_at(frame)
            if not t.parked
        ]
        samples.append({"t": round(frame / fps, 2), "traffic": traffic})
    return {
        "clip": clip,
        "size": list(video.size),
        "fps": fps,
        "frames": video.frames,
        "parked": parked,
        "samples": samples,
    }
