"""Message contracts with the dispatch service: filed cases out, re-check requests and results.

- `CaseMessage`: a filed case (review -> dispatch), routing key `case.filed.<category code>`.
- `RecheckRequest`: dispatch reported the case handled, so the worker owning the camera re-inspects
  the place (review -> worker). Routing key `recheck.<camera id>`; each camera has its own durable
  queue (`recheck_queue`), so a request waits there for whichever worker owns the camera.
- `RecheckResult`: 已整改 / 未整改 / 无法核查 with the after picture (worker -> dispatch and review),
  routing key `case.rechecked.<verdict>`.

Ids are idempotent: `case_id` per clue, `request_id` per handled report, `result_id` = request_id.
"""

from __future__ import annotations

from typing import Literal

from kombu import Exchange, Queue
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from xuncha.clues.contracts import CameraRef, CategoryRef, EvidenceImage, GeoPoint, LeaseToken, RegionRef, ZoneRef

CASE_SCHEMA_VERSION = 1
SOURCE = "视频AI"
CASES_EXCHANGE = "xuncha.cases"

Verdict = Literal["rectified", "not_rectified", "unverifiable"]
VERDICT_NAMES: dict[str, str] = {"rectified": "已整改", "not_rectified": "未整改", "unverifiable": "无法核查"}
Escalation = Literal["交办", "督办", "重点督办"]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceLinks(_Contract):
    scene: str = Field(description="URL of the scene with the zone and the box drawn")
    crop: str = Field(description="URL of the close-up")
    start: str = Field(description="URL of a frame from the start of the dwell")


class CaseMessage(_Contract):
    """One filed case, as the dispatch service receives it."""

    schema_version: Literal[1] = CASE_SCHEMA_VERSION
    case_id: str = Field(description="Idempotent case id: one per clue; deduplicate on it")
    clue_id: str
    source: str = Field(SOURCE, description="Where the case comes from")
    category: CategoryRef = Field(description="Filed category (the operator may have corrected it)")
    reported_category: CategoryRef = Field(description="Category the worker reported")
    description: str
    found_at: AwareDatetime = Field(description="First sighting")
    last_seen: AwareDatetime
    filed_at: AwareDatetime = Field(description="When the operator accepted the clue")
    camera: CameraRef
    zone: ZoneRef
    location: GeoPoint | None
    district: RegionRef | None = Field(description="区, from the service configuration")
    region: RegionRef | None = Field(description="镇街 the spot belongs to")
    community: RegionRef | None = Field(None, description="社区 the spot belongs to (nested region files)")
    grid: RegionRef | None = Field(None, description="网格 the spot belongs to (nested region files)")
    dwell_s: float = Field(description="Seconds the violation lasted when it was reported")
    occurrences: int = Field(description="Samples in which it was seen")
    recurrence: int = Field(description="Earlier cases at the same camera, zone and category in the window")
    recurrence_days: int
    escalation: Escalation | None = Field(
        None, description="交办 / 督办 / 重点督办 when the place's repeats reached a threshold; null below it"
    )
    evidence: EvidenceLinks | None
    model: str
    label: str
    score: float
    text: str | None = Field(None, description="Text rules only: what was read (small ads, banners)")
    phone_numbers: list[str] = Field(default_factory=list, description="Phone numbers read (for 停机)")
    reviewer: str
    suggested_department: str
    deadline: AwareDatetime = Field(description="Filing time plus the category's deadline")


class RecheckRequest(_Contract):
    """Re-inspect a handled case's place with the camera that found it."""

    schema_version: Literal[1] = 1
    request_id: str = Field(description="f'{case_id}:r{n}' for the n-th handled report; deduplicate on it")
    case_id: str
    clue_id: str
    camera: CameraRef
    zone: ZoneRef
    category: CategoryRef = Field(description="Category the zone rule reports (what the worker looks for)")
    box: tuple[float, float, float, float] = Field(description="The violation's place: x1, y1, x2, y2 in pixels")
    frame_size: tuple[int, int] = Field(description="Width and height of the frame `box` refers to")
    found_at: AwareDatetime = Field(description="First sighting of the violation")
    handled_at: AwareDatetime = Field(description="When dispatch reported it handled: samples count from then")


class RecheckResult(_Contract):
    """The camera's verdict on a handled case."""

    schema_version: Literal[1] = 1
    result_id: str = Field(description="Equal to the request_id: one result per request")
    request_id: str
    case_id: str
    verdict: Verdict = Field(description="rectified (已整改), not_rectified (未整改), unverifiable (无法核查)")
    verdict_name: str = Field(description="Chinese name of the verdict")
    reason: str | None = Field(None, description="Why the place could not be checked (无法核查 only)")
    samples: int = Field(ge=0, description="Samples taken inside the zone's active hours")
    present: int = Field(ge=0, description="Samples in which the violation was still at its place")
    checked_from: AwareDatetime | None = Field(None, description="First sample; null when none was taken")
    checked_to: AwareDatetime | None = Field(None, description="Last sample")
    after: EvidenceImage | None = Field(None, description="After picture (the place drawn), beside the scene")
    scene: EvidenceImage | None = Field(None, description="The case's original scene, for side-by-side viewing")
    worker: str = Field(description="Worker that checked")
    emitted_at: AwareDatetime
    lease_token: LeaseToken | None = Field(
        None, description="Fencing token of the camera lease the verdict was made under (as in clue events)"
    )

    @property
    def routing_key(self) -> str:
        return f"case.rechecked.{self.verdict}"


def cases_exchange(name: str = CASES_EXCHANGE) -> Exchange:
    return Exchange(name, type="topic", durable=True)


def recheck_queue(camera_id: str, exchange: str = CASES_EXCHANGE) -> Queue:
    """The camera's durable request queue: it outlives any worker, so a moved camera finds its requests."""
    return Queue(
        f"{exchange}.recheck.{camera_id}", cases_exchange(exchange), routing_key=f"recheck.{camera_id}", durable=True
    )


def results_queue(exchange: str = CASES_EXCHANGE) -> Queue:
    """The review service's queue of re-check results (dispatch gets them on its own `case.#` queue)."""
    return Queue(f"{exchange}.review", cases_exchange(exchange), routing_key="case.rechecked.#", durable=True)
