"""A clue's evidence pictures: the scene with its zone and box, the crop, the start of its dwell, and the
scene's frame as the camera gave it (the export trains and replays on pictures with nothing drawn)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from xuncha.clues.contracts import Evidence, EvidenceImage
from xuncha.clues.evidence import EvidenceStore, render_crop, render_scene
from xuncha.confirm import Violation
from xuncha.taxonomy import Taxonomy
from xuncha.types import Detection, Frame
from xuncha.zones.match import zone_polygon_px
from xuncha.zones.model import Zone


def render_evidence(
    store: EvidenceStore, zone: Zone, v: Violation, taxonomy: Taxonomy, tz: ZoneInfo, known: Evidence | None
) -> Evidence | None:
    """Scene and crop of the best sighting; the start picture is rendered once (`known` keeps it).
    None for a violation adopted from another worker: its sightings carry no frames."""
    best, first = v.best.ref, v.first.ref
    if not isinstance(best, Frame) or not isinstance(first, Frame):
        return None
    day = datetime.fromtimestamp(v.first.ts, tz).date()
    polygon = zone_polygon_px(zone, best.size)
    label = f"{taxonomy.get(v.category).name} {v.best.detection.score:.2f}"  # 暴露垃圾 0.91

    def image(name: str, frame: Frame, det: Detection, crop: bool = False) -> EvidenceImage:
        when = datetime.fromtimestamp(frame.ts, tz)
        pic = render_crop(frame.image, det.box) if crop else render_scene(frame.image, det.box, polygon, label, when)
        return EvidenceImage(path=store.put(v.id, name, pic, day=day), taken_at=when)

    start = known.start if known is not None else image("start", first, v.first.detection)
    return Evidence(
        scene=image("scene", best, v.best.detection),
        crop=image("crop", best, v.best.detection, crop=True),
        start=start,
        frame=EvidenceImage(
            path=store.put(v.id, "frame", best.image, day=day), taken_at=datetime.fromtimestamp(best.ts, tz)
        ),
    )
