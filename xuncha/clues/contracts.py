"""Message contracts between the worker, the review service and dispatch (JSON Schema in `schema/`).

A clue is one confirmed violation; every change to it is a `ClueEvent` (opened, updated, closed)
with a per-clue sequence number. `event_id` = f"{clue_id}:{seq}", so a consumer that sees the same
event twice (redelivery, spool replay) can ignore the copy. A `LeaseNotice` travels the same queue:
a worker took a camera's lease, so intake fences the camera before the new holder has a clue to send.

Regenerate the exported schemas (these and the dispatch contracts in `dispatch.py`) after changing
a contract: `python -m xuncha.clues` (`--check` exits 1 when a committed file is stale).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from xuncha.clues.limits import (
    CATEGORY_CODE_CHARS,
    CATEGORY_NAME_CHARS,
    CHECKSUM_CHARS,
    CLOSED_REASON_CHARS,
    CLUE_ID_CHARS,
    EVENT_ID_CHARS,
    EVIDENCE_PATH_CHARS,
    ID_CHARS,
    MAX_CHECKSUMS,
    MAX_INT,
    MAX_PHONES,
    MODEL_NAME_CHARS,
    NAME_CHARS,
    PHONE_CHARS,
    TEXT_CHARS,
)

SCHEMA_VERSION = 1

# Clue ids name a directory in the evidence store and appear in URLs: keep them path-safe.
CLUE_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{CLUE_ID_CHARS - 1}}}$"
# PostgreSQL text cannot hold NUL; the lengths are those of the review database's columns.
_NO_NUL = r"^[^\x00]*$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_CHARS, pattern=_NO_NUL)]
Name = Annotated[str, StringConstraints(max_length=NAME_CHARS, pattern=_NO_NUL)]
CategoryCode = Annotated[str, StringConstraints(min_length=1, max_length=CATEGORY_CODE_CHARS, pattern=_NO_NUL)]
CategoryName = Annotated[str, StringConstraints(max_length=CATEGORY_NAME_CHARS, pattern=_NO_NUL)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=MODEL_NAME_CHARS, pattern=_NO_NUL)]
Count = Annotated[int, Field(le=MAX_INT)]
# The camera lease's generation (leases.py): bumped on each acquisition, so a newer holder has a bigger one.
LeaseToken = Annotated[int, Field(ge=0, le=MAX_INT)]

EventKind = Literal["opened", "updated", "closed"]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class GeoPoint(_Contract):
    """A WGS-84 position."""

    lon: float = Field(ge=-180, le=180, description="Longitude in degrees (WGS-84)")
    lat: float = Field(ge=-90, le=90, description="Latitude in degrees (WGS-84)")


class CameraRef(_Contract):
    """The camera that saw the violation."""

    id: Id = Field(description="Camera id from the worker configuration")
    name: Name = Field(description="Camera name shown to operators")
    preset: Id | None = Field(None, description="PTZ preset the zone belongs to; null for fixed cameras")
    location: GeoPoint | None = Field(None, description="Where the camera (or the zone) is; null if unknown")


class ZoneRef(_Contract):
    """The zone (drawn on the camera's reference picture) the violation is in."""

    id: Id = Field(description="Zone id, unique within the camera")
    name: Name = Field(description="Zone name shown to operators")


class CategoryRef(_Contract):
    """The event category (taxonomy entry) the violation was reported as."""

    code: CategoryCode = Field(description="Category code from the taxonomy, e.g. 0507")
    name: CategoryName = Field(description="Category name, e.g. 乱堆物堆料")
    liuluan: CategoryName | None = Field(None, description="六乱 report group, if the category rolls up into one")


class RegionRef(_Contract):
    """An area the violation belongs to ("事件先属地"): a 镇街, 社区 or 网格."""

    code: Id = Field(description="Area code")
    name: Name = Field(description="Area name, e.g. a 镇街")


class ModelChecksum(_Contract):
    """One model involved in a detection and the checksum of exactly what ran."""

    name: ModelName = Field(description="Model name, e.g. yolov8n_coco_int8 or static_object")
    checksum: Annotated[str, StringConstraints(max_length=CHECKSUM_CHARS)] | None = Field(
        description="Checksum of the weights file (e.g. 'sha256:...'); null for models without weights"
    )


class ModelRef(_Contract):
    """Which model(s) produced the clue; precision is counted per `name`."""

    name: ModelName = Field(description="Model whose detection confirmed the clue")
    checksums: list[ModelChecksum] = Field(
        min_length=1,
        max_length=MAX_CHECKSUMS,
        description="Every model involved (including `name`), with its checksum",
    )

    @model_validator(mode="after")
    def _name_listed(self) -> ModelRef:
        if self.name not in {m.name for m in self.checksums}:
            raise ValueError(f"model {self.name!r} is missing from checksums")
        return self


class EvidenceImage(_Contract):
    """One JPEG in the evidence store."""

    path: str = Field(
        max_length=EVIDENCE_PATH_CHARS,
        description="POSIX path relative to the evidence store root, e.g. 2024-05-01/<clue_id>/scene.jpg",
    )
    taken_at: AwareDatetime = Field(description="When the pictured frame was captured")

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        check_relative_path(v)
        return v


class Evidence(_Contract):
    """Proof of the violation: the scene, a close-up, and a frame from the start of the dwell."""

    scene: EvidenceImage = Field(description="Full frame with the zone and the box drawn, timestamped")
    crop: EvidenceImage = Field(description="Close-up of the box with some context")
    start: EvidenceImage = Field(description="Frame from the start of the dwell (proof of persistence)")
    frame: EvidenceImage | None = Field(
        None, description="The scene's frame as the camera gave it, nothing drawn (what training data is made of)"
    )


class ClueEvent(_Contract):
    """One change to a clue: opened when confirmed, updated by later sightings, closed when gone."""

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Version of this contract")
    event_id: str = Field(
        max_length=EVENT_ID_CHARS,
        description="f'{clue_id}:{seq}'; the same event published twice has the same id (deduplicate on it)",
    )
    kind: EventKind = Field(description="opened (confirmed), updated (seen again), closed (gone)")
    seq: Count = Field(ge=0, description="Per-clue event number: 0 for opened, +1 for each later event")
    clue_id: str = Field(pattern=CLUE_ID_PATTERN, description="Stable id of the violation, the same in all its events")
    emitted_at: AwareDatetime = Field(description="When the worker emitted this event")
    camera: CameraRef = Field(description="Camera that saw the violation")
    zone: ZoneRef = Field(description="Zone the violation is in")
    category: CategoryRef = Field(description="Category the zone rule reports it as")
    region: RegionRef | None = Field(None, description="Sub-district (镇街) it belongs to; null if unknown")
    community: RegionRef | None = Field(
        None, description="Community (社区) it belongs to; null if the region file has none"
    )
    grid: RegionRef | None = Field(None, description="Grid (网格) it belongs to; null if none is known")
    model: ModelRef = Field(description="Model(s) that produced it")
    label: ModelName = Field(description="Model label of the detection, e.g. suitcase, static_object")
    score: float = Field(ge=0, le=1, description="Detection score of the best sighting")
    box: tuple[float, float, float, float] = Field(
        description="Box of the best sighting: x1, y1, x2, y2 in pixels of a frame of `frame_size`"
    )
    frame_size: tuple[Count, Count] = Field(description="Width and height in pixels of the frame `box` refers to")
    first_seen: AwareDatetime = Field(description="First sighting (start of the dwell)")
    last_seen: AwareDatetime = Field(description="Latest sighting")
    dwell_s: float = Field(ge=0, description="Seconds the violation has stayed, as confirmation measured it")
    occurrences: Count = Field(ge=1, description="Number of samples in which the violation was seen")
    text: Annotated[str, StringConstraints(max_length=TEXT_CHARS, pattern=_NO_NUL)] | None = Field(
        None, description="Text rules only: the text read at the best sighting; null otherwise"
    )
    phone_numbers: list[Annotated[str, StringConstraints(pattern=rf"^\d{{7,{PHONE_CHARS}}}$")]] = Field(
        default_factory=list, max_length=MAX_PHONES, description="Phone numbers (digits only) found in `text`"
    )
    evidence: Evidence | None = Field(None, description="Evidence images; null when this event adds none")
    reason: Annotated[str, StringConstraints(max_length=CLOSED_REASON_CHARS, pattern=_NO_NUL)] | None = Field(
        None, description="Only for closed events: why, e.g. 'gone' or 'end_of_stream'"
    )
    lease_token: LeaseToken | None = Field(
        None,
        description="Fencing token of the camera lease the worker held when it emitted this event; intake"
        " refuses an event whose token is older than the newest it saw for the camera. Null without leases",
    )

    @model_validator(mode="before")
    @classmethod
    def _derive_event_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "event_id" not in data and {"clue_id", "seq"} <= data.keys():
            data = {**data, "event_id": f"{data['clue_id']}:{data['seq']}"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ClueEvent:
        if self.event_id != f"{self.clue_id}:{self.seq}":
            raise ValueError(f"event_id must be '{self.clue_id}:{self.seq}', got {self.event_id!r}")
        if (self.kind == "opened") != (self.seq == 0):
            raise ValueError(f"seq 0 is the opened event and only it (kind={self.kind}, seq={self.seq})")
        if self.reason is not None and self.kind != "closed":
            raise ValueError("reason is only allowed on closed events")
        x1, y1, x2, y2 = self.box
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"box {self.box} is not x1 < x2, y1 < y2")
        if min(self.frame_size) <= 0:
            raise ValueError(f"frame_size {self.frame_size} must be positive")
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        return self

    @property
    def routing_key(self) -> str:
        """Broker routing key: clue.<kind>.<category code>."""
        return f"clue.{self.kind}.{self.category.code}"


class LeaseNotice(_Contract):
    """A worker took a camera's lease. Sent on the clue queue before the camera's first sample, so that
    intake raises the camera's fence to this token at once: events a worker that lost the camera sends
    later under an older token are refused, even before the new holder has any clue to report."""

    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Version of this contract")
    kind: Literal["lease"] = Field(description="Always 'lease' (what tells it from a clue event)")
    camera_id: Id = Field(description="Camera whose lease was taken")
    lease_token: LeaseToken = Field(description="Fencing token of the new lease (bigger than every earlier one)")
    worker_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_NO_NUL)] = Field(
        description="The worker that took the lease"
    )
    acquired_at: AwareDatetime = Field(description="When the worker took the lease")

    @property
    def event_id(self) -> str:
        """The broker's message id: the same notice sent twice (spool replay) has the same one."""
        return f"lease:{self.camera_id}:{self.lease_token}"

    @property
    def routing_key(self) -> str:
        """Broker routing key: clue.lease (the review queue's binding clue.# takes it)."""
        return "clue.lease"


class ClueMessage:
    """What the review queue carries, for `consume(contract=...)`: a ClueEvent, or a LeaseNotice.

    A clue event is tried first (nearly every message is one), so its validation errors read as before.
    """

    @staticmethod
    def model_validate_json(data: str | bytes) -> ClueEvent | LeaseNotice:
        try:
            return ClueEvent.model_validate_json(data)
        except ValidationError:
            if _kind(data) != "lease":
                raise
        return LeaseNotice.model_validate_json(data)


def _kind(data: str | bytes) -> object:
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc.get("kind") if isinstance(doc, dict) else None


def check_relative_path(rel: str) -> PurePosixPath:
    """Parse an evidence path; ValueError unless it is relative and stays inside its root."""
    if not rel or "\\" in rel or "\x00" in rel:
        raise ValueError(f"invalid evidence path {rel[:200]!r}")
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise ValueError(f"evidence path must be relative, without '.', '..' or empty parts: {rel[:200]!r}")
    return PurePosixPath(rel)
