"""A confirmation transition as the clue event the review service receives (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from xuncha.clues.contracts import (
    CameraRef,
    CategoryRef,
    ClueEvent,
    Evidence,
    ModelChecksum,
    ModelRef,
    RegionRef,
    ZoneRef,
)
from xuncha.config.worker import CameraConfig
from xuncha.confirm import Transition
from xuncha.taxonomy import Taxonomy
from xuncha.textpatterns import phone_numbers
from xuncha.zones.model import Zone
from xuncha.zones.regions import Place, Region


def _ref(area: Region | None) -> RegionRef | None:
    return RegionRef(code=area.code, name=area.name) if area else None


def build_event(
    t: Transition,
    cam: CameraConfig,
    zone: Zone,
    taxonomy: Taxonomy,
    place: Place,
    models: list[ModelChecksum],
    frame_size: tuple[int, int],
    evidence: Evidence | None,
    tz: ZoneInfo,
    emitted_at: datetime,
    lease_token: int | None = None,
) -> ClueEvent:
    """The contract for one confirmation transition (pure); `lease_token` is the camera lease's fencing token."""
    v = t.violation
    category = taxonomy.get(v.category)
    best = v.best.detection
    return ClueEvent(
        kind=t.kind,
        seq=t.seq,
        clue_id=v.id,
        emitted_at=emitted_at,
        camera=CameraRef(id=cam.id, name=cam.name, preset=cam.preset, location=cam.location),
        zone=ZoneRef(id=zone.id, name=zone.name),
        category=CategoryRef(code=category.code, name=category.name, liuluan=category.liuluan),
        region=_ref(place.town),
        community=_ref(place.community),
        grid=_ref(place.grid),
        model=ModelRef(name=best.model, checksums=models),
        label=best.label,
        score=round(min(1.0, max(0.0, best.score)), 4),
        box=tuple(round(c, 1) for c in best.box),
        frame_size=frame_size,
        first_seen=datetime.fromtimestamp(v.first.ts, tz),
        last_seen=datetime.fromtimestamp(v.last.ts, tz),
        dwell_s=round(v.dwell_s, 2),
        occurrences=v.occurrences,
        text=best.text or None,
        phone_numbers=phone_numbers(best.text),
        evidence=evidence,
        reason="gone" if t.kind == "closed" else None,
        lease_token=lease_token,
    )
