"""What the detectors saw per camera: the zone editor's overlay of boxes, with the zones each counted in."""

from __future__ import annotations

import threading
from collections import deque

from pydantic import BaseModel, ConfigDict, Field

SIGHTINGS_KEPT_S = 3600.0  # the editor shows the last hour of what the detectors saw


class SightedBox(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(max_length=100)
    score: float = Field(ge=0, le=1)
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 as fractions of the frame")
    zones: list[str] = Field(default_factory=list, max_length=100, description="Zones it counted in (a candidate)")


class Sighting(BaseModel):
    """One sample's detections as a worker saw them (for the editor's overlay)."""

    model_config = ConfigDict(extra="forbid")
    ts: float
    boxes: list[SightedBox] = Field(max_length=100)


class RecentSightings:
    """The last hour's sightings per camera, in memory; the routes keep a copy in the database
    (`CameraSightings`) and `load` a camera's from there the first time it is asked for after a start."""

    def __init__(self, per_camera: int = 500) -> None:
        self._by_camera: dict[str, deque[Sighting]] = {}
        self._per_camera = per_camera
        self._lock = threading.Lock()

    def add(self, camera_id: str, items: list[Sighting]) -> None:
        with self._lock:
            self._by_camera.setdefault(camera_id, deque(maxlen=self._per_camera)).extend(items)

    def loaded(self, camera_id: str) -> bool:
        with self._lock:
            return camera_id in self._by_camera

    def load(self, camera_id: str, items: list[Sighting]) -> None:
        """Stored sightings go before any that arrived since the start."""
        with self._lock:
            newer = self._by_camera.get(camera_id, ())
            self._by_camera[camera_id] = deque([*items, *newer], maxlen=self._per_camera)

    def kept(self, camera_id: str) -> list[Sighting]:
        with self._lock:
            return list(self._by_camera.get(camera_id, ()))

    def recent(self, camera_id: str, now_ts: float) -> list[Sighting]:
        with self._lock:
            return [x for x in self._by_camera.get(camera_id, ()) if now_ts - x.ts <= SIGHTINGS_KEPT_S]
