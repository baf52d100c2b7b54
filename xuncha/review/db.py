"""Database: SQLAlchemy 2 models, engine creation, and migrations (Alembic) applied at startup.

Times are stored in UTC; SQLite forgets the zone, so `UTCDateTime` puts it back on read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from xuncha.clues import limits

MIGRATIONS = Path(__file__).with_name("migrations")

# Clue statuses; a pending clue whose violation disappeared before review has `gone` set (已消失).
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
ROLES = ("operator", "admin")
TOKEN_ROLES = ("dispatch", "worker")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Clue(Base):
    """The latest state of a clue as the worker reported it, plus its review status. Column sizes are
    the contract's limits (`xuncha/clues/limits.py`): every event the schema accepts fits."""

    __tablename__ = "clues"
    id: Mapped[str] = mapped_column(String(limits.CLUE_ID_CHARS), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_reason: Mapped[str | None] = mapped_column(String(limits.CLOSED_REASON_CHARS))
    last_seq: Mapped[int] = mapped_column(Integer)
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), index=True)
    camera_name: Mapped[str] = mapped_column(String(limits.NAME_CHARS))
    preset: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    zone_id: Mapped[str] = mapped_column(String(limits.ID_CHARS))
    zone_name: Mapped[str] = mapped_column(String(limits.NAME_CHARS))
    category_code: Mapped[str] = mapped_column(String(limits.CATEGORY_CODE_CHARS), index=True)
    category_name: Mapped[str] = mapped_column(String(limits.CATEGORY_NAME_CHARS))
    region_code: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    region_name: Mapped[str | None] = mapped_column(String(limits.NAME_CHARS))
    community_code: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    community_name: Mapped[str | None] = mapped_column(String(limits.NAME_CHARS))
    grid_code: Mapped[str | None] = mapped_column(String(limits.ID_CHARS))
    grid_name: Mapped[str | None] = mapped_column(String(limits.NAME_CHARS))
    model_name: Mapped[str] = mapped_column(String(limits.MODEL_NAME_CHARS))
    label: Mapped[str] = mapped_column(String(limits.MODEL_NAME_CHARS))
    score: Mapped[float] = mapped_column(Float)
    box: Mapped[list[Any]] = mapped_column(JSON)
    frame_w: Mapped[int] = mapped_column(Integer)
    frame_h: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    dwell_s: Mapped[float] = mapped_column(Float)
    occurrences: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)  # what the text stage read (text rules only)
    phone_numbers: Mapped[list[Any] | None] = mapped_column(JSON)
    phones: Mapped[list[CluePhone]] = relationship(cascade="all, delete-orphan")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CluePhone(Base):
    """A phone number read in a clue: searched by operators, counted across cameras (one advertiser)."""

    __tablename__ = "clue_phones"
    clue_id: Mapped[str] = mapped_column(
        String(limits.CLUE_ID_CHARS), ForeignKey("clues.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(limits.PHONE_CHARS), primary_key=True, index=True)
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS))


class ClueEventRow(Base):
    """Every event applied, by event_id: the record that makes intake idempotent."""

    __tablename__ = "clue_events"
    event_id: Mapped[str] = mapped_column(String(limits.EVENT_ID_CHARS), primary_key=True)
    clue_id: Mapped[str] = mapped_column(String(limits.CLUE_ID_CHARS), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(limits.KIND_CHARS))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_token: Mapped[int | None] = mapped_column(Integer, doc="The sender's camera lease token (fencing.py)")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginSession(Base):
    """A browser login; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "login_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for a service (dispatch, worker); only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(Base):
    """An operator's accept or reject; an undone decision stays, with undone_at set, out of the stats."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clue_id: Mapped[str] = mapped_column(ForeignKey("clues.id"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean)
    category_code: Mapped[str] = mapped_column(String(16), doc="Filed category (the operator may correct it)")
    reason_code: Mapped[str | None] = mapped_column(String(32))
    reason_text: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    undone_at: Mapped[datetime | None]


class Correction(Base):
    """An operator's correction of a clue's box and/or category for the training export (框选更正 /
    分类更正). Kept per clue beside its decisions, so an undo or a new decision keeps it; saving again
    replaces it."""

    __tablename__ = "corrections"
    clue_id: Mapped[str] = mapped_column(ForeignKey("clues.id"), primary_key=True)
    box: Mapped[list[Any] | None] = mapped_column(JSON, doc="x1, y1, x2, y2 in frame pixels, as clues.box")
    category_code: Mapped[str | None] = mapped_column(String(limits.CATEGORY_CODE_CHARS), doc="A taxonomy code")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    corrected_at: Mapped[datetime]


class ShadowReport(Base):
    """A report of `xuncha bench shadow` uploaded on the 模型管理 page (the JSON as written)."""

    __tablename__ = "shadow_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), doc="The new model's card name")
    against_name: Mapped[str] = mapped_column(String(128), doc="The current model's card name (the slot)")
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]


class ModelPromotion(Base):
    """One change of the model the workers run under `model_name` (推广 or 回退): the log, newest wins."""

    __tablename__ = "model_promotions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128), index=True, doc="The name in detectors.models")
    action: Mapped[str] = mapped_column(String(16), doc="promote or rollback")
    ref: Mapped[str] = mapped_column(String(1024), doc="The model now in use: an .onnx path or a card name")
    checksum: Mapped[str | None] = mapped_column(String(80))
    previous_ref: Mapped[str] = mapped_column(String(1024), doc="The model before: what 回退 goes back to")
    previous_checksum: Mapped[str | None] = mapped_column(String(80))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("shadow_reports.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]


class Case(Base):
    """A filed clue (立案) and what dispatch first reported back about it (every report: CaseReport)."""

    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    clue_id: Mapped[str] = mapped_column(ForeignKey("clues.id"), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    deadline: Mapped[datetime | None]
    escalation: Mapped[str | None] = mapped_column(String(16), doc="交办 / 督办 / 重点督办 at filing")
    closed_at: Mapped[datetime | None] = mapped_column(
        index=True, doc="结案: a re-check found it rectified, or an operator ruled so"
    )
    handled_at: Mapped[datetime | None]
    handled: Mapped[bool | None] = mapped_column(Boolean)
    handling_unit: Mapped[str | None] = mapped_column(String(200))
    handling_note: Mapped[str | None] = mapped_column(Text)
    after_picture: Mapped[str | None] = mapped_column(String(300), doc="Evidence store path")


class CaseReport(Base):
    """One handling report from dispatch; a later report never overwrites an earlier one."""

    __tablename__ = "case_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, doc="1 for the case's first report")
    reported_at: Mapped[datetime]
    handled: Mapped[bool] = mapped_column(Boolean)
    unit: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    picture: Mapped[str | None] = mapped_column(String(300), doc="Evidence store path of the after picture")
    picture_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    picture_taken_at: Mapped[datetime | None] = mapped_column(doc="When dispatch says the picture was taken")
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list, doc="Suspicious-picture flags (PICTURE_FLAGS)")


class Recheck(Base):
    """A re-inspection of a handled case's place by its camera, and the verdict."""

    __tablename__ = "rechecks"
    id: Mapped[str] = mapped_column(String(160), primary_key=True, doc="The request id")
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("case_reports.id"))
    requested_at: Mapped[datetime]
    verdict: Mapped[str | None] = mapped_column(String(16), index=True, doc="null while waiting for the worker")
    reason: Mapped[str | None] = mapped_column(Text)
    samples: Mapped[int | None] = mapped_column(Integer)
    present: Mapped[int | None] = mapped_column(Integer)
    checked_to: Mapped[datetime | None]
    after_picture: Mapped[str | None] = mapped_column(String(300))
    worker: Mapped[str | None] = mapped_column(String(128))
    result_at: Mapped[datetime | None] = mapped_column(index=True)
    overruled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), doc="Operator who ruled 未整改 wrong")
    overruled_at: Mapped[datetime | None]
    overrule_note: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A message to publish, written in the decision's transaction; the relay sends it after `not_before`."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(160), unique=True)
    routing_key: Mapped[str] = mapped_column(String(100))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(index=True)


class FixtureRow(Base):
    """A permanent object (固定设施) an operator marked; the worker stops reporting it there."""

    __tablename__ = "fixtures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    preset: Mapped[str | None] = mapped_column(String(64))
    zone_id: Mapped[str | None] = mapped_column(String(64))
    category_code: Mapped[str | None] = mapped_column(String(16))
    box: Mapped[list[Any]] = mapped_column(JSON, doc="x1, y1, x2, y2 as fractions of the frame")
    clue_id: Mapped[str | None] = mapped_column(ForeignKey("clues.id"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraRow(Base):
    """A camera registered by an admin; workers fetch these with their token.

    `source` holds the full URL with its password: only workers get it back, pages see it masked.
    """

    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    sample_interval_s: Mapped[float] = mapped_column(Float, default=2.0)
    sampling: Mapped[str] = mapped_column(String(16), default="keyframes")
    preset: Mapped[str | None] = mapped_column(String(64), doc="Current PTZ preset; its zone set is applied")
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(String(64), index=True)
    region_name: Mapped[str | None] = mapped_column(String(200))
    worker: Mapped[str | None] = mapped_column(String(128), index=True, doc="Worker token name; empty = any worker")
    reference_wanted_at: Mapped[datetime | None] = mapped_column(doc="An admin asked for a fresh picture")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class ZoneSetVersion(Base):
    """One saved version of a camera's zone set for one PTZ preset ('' = no preset); never changed after."""

    __tablename__ = "zone_set_versions"
    __table_args__ = (UniqueConstraint("camera_id", "preset", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    preset: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, doc="The ZoneSet as the worker config reads it")
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(String(200), default="")


class ReferencePicture(Base):
    """The newest picture of a camera's view (per preset) that a worker uploaded; the file is in the evidence store."""

    __tablename__ = "reference_pictures"
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    preset: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    path: Mapped[str] = mapped_column(String(300), doc="Evidence store path of the JPEG")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime]
    worker: Mapped[str] = mapped_column(String(128))


class WorkerSeen(Base):
    """A worker that fetched its cameras: when, and which model labels it can detect (for the editor)."""

    __tablename__ = "workers_seen"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    labels: Mapped[list[Any]] = mapped_column(JSON)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraHealthRow(Base):
    """A camera's latest health report from its worker, kept so the health page survives a restart."""

    __tablename__ = "camera_health"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker: Mapped[str] = mapped_column(String(128))
    reported_at: Mapped[datetime]
    entry: Mapped[dict[str, Any]] = mapped_column(JSON, doc="The worker's /health entry")


class CameraStateChange(Base):
    """A reported state change of a camera; the newest `health_store.CHANGES_KEPT` per camera are kept."""

    __tablename__ = "camera_state_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    old_state: Mapped[str | None] = mapped_column(String(16))
    new_state: Mapped[str] = mapped_column(String(16))


class CameraSightings(Base):
    """The newest detections a worker sent for a camera (the zone editor's overlay), bounded per camera."""

    __tablename__ = "camera_sightings"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    items: Mapped[list[Any]] = mapped_column(JSON, doc="Sighting dicts, oldest first")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraFence(Base):
    """The newest camera lease token intake has seen for a camera: messages under an older one are refused."""

    __tablename__ = "camera_fences"
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), primary_key=True)
    lease_token: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, doc="When a message last passed the fence")


class GatingLevel(Base):
    """How many steps tighter than its rules a camera's zone runs for a category (adaptive gating)."""

    __tablename__ = "gating_levels"
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), primary_key=True)
    zone_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), primary_key=True)
    category_code: Mapped[str] = mapped_column(String(limits.CATEGORY_CODE_CHARS), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(doc="Decisions before this do not count for the next change")


class GatingChange(Base):
    """One change of a gating level, with the numbers that caused it; an undo is a change too."""

    __tablename__ = "gating_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(limits.ID_CHARS), index=True)
    zone_id: Mapped[str] = mapped_column(String(limits.ID_CHARS))
    category_code: Mapped[str] = mapped_column(String(limits.CATEGORY_CODE_CHARS))
    at: Mapped[datetime]
    old_level: Mapped[int] = mapped_column(Integer)
    new_level: Mapped[int] = mapped_column(Integer)
    reviewed: Mapped[int | None] = mapped_column(Integer, doc="Reviews the change was decided on (null: an undo)")
    accepted: Mapped[int | None] = mapped_column(Integer, doc="Of which filed (立案)")
    by: Mapped[str] = mapped_column(String(64), doc="'auto' or the admin who undid a change")
    undoes: Mapped[int | None] = mapped_column(ForeignKey("gating_changes.id"), doc="The change this one undid")
    undone_at: Mapped[datetime | None]


def make_engine(url: str) -> Engine:
    """Engine for `url`; SQLite files get WAL and a busy timeout so threads can share them."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent). A database already there is left alone
    without running Alembic's environment, so normal runs print no migration lines."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.begin() as conn:
        if inspect(conn).has_table("alembic_version"):
            if conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head:
                return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str) -> tuple[Engine, sessionmaker]:
    """Engine and session factory for `url`, migrated."""
    engine = make_engine(url)
    migrate(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)
