"""Clues: message contracts (worker -> review -> dispatch), broker topology and the evidence store.

Submodules: `contracts` (pydantic models), `dispatch` (case and re-check messages), `schemas` (their
JSON Schema export), `evidence` (rendering, JPEG store), `broker` (kombu publisher, spool, consumer),
`embedded` (the SQLite broker's transport, registered by `broker`).
"""

from xuncha.clues.broker import (
    DEFAULT_BROKER_URL,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TOPOLOGY,
    CluePublisher,
    ClueSpool,
    PublishError,
    Topology,
    collect_events,
    consume,
    embedded_broker_url,
)
from xuncha.clues.contracts import (
    SCHEMA_VERSION,
    CameraRef,
    CategoryRef,
    ClueEvent,
    Evidence,
    EvidenceImage,
    GeoPoint,
    ModelChecksum,
    ModelRef,
    RegionRef,
    ZoneRef,
)
from xuncha.clues.evidence import EvidenceStore, render_crop, render_scene

__all__ = [
    "DEFAULT_BROKER_URL",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_TOPOLOGY",
    "SCHEMA_VERSION",
    "CameraRef",
    "CategoryRef",
    "ClueEvent",
    "ClueSpool",
    "CluePublisher",
    "Evidence",
    "EvidenceImage",
    "EvidenceStore",
    "GeoPoint",
    "ModelChecksum",
    "ModelRef",
    "PublishError",
    "RegionRef",
    "Topology",
    "ZoneRef",
    "collect_events",
    "consume",
    "embedded_broker_url",
    "render_crop",
    "render_scene",
]
