"""Camera ownership across workers: leases in the database, claimed with expiry and renewed by heartbeat,
and the open clues that move with a camera.

Every worker calls `LeaseStore.heartbeat()` every few seconds. It renews the worker's own leases,
takes free or expired ones up to its fair share (cameras / live workers, rounded up) and gives back
what exceeds that share, so cameras spread out when workers join and are taken over within the
lease time when one dies. Rows are locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two
workers never claim the same camera in one round; SQLite (one node) serialises writers anyway.
Each acquisition bumps `generation`: the fencing token carried by every clue event and re-check result
of the camera, so the review service can refuse those of a worker that lost the lease without knowing
it (paused, partitioned) once it has seen the newer holder's.

The worker that owns a camera records its open violations (`save_open` / `drop_open`); the next owner
adopts them (`load_open`), so a takeover continues the same clue ids instead of reporting the same
violation again under a new one.

Clock: expiry uses the workers' wall clocks (NTP-synchronised hosts); keep `ttl_s` well above
the heartbeat interval plus the expected skew.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, Text, create_engine, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from xuncha.confirm import Sighting, Violation
from xuncha.types import Detection

log = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


class CameraLease(_Base):
    __tablename__ = "camera_leases"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class WorkerBeat(_Base):
    __tablename__ = "worker_heartbeats"
    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)


class OpenClue(_Base):
    """An open violation of a camera, enough to continue it elsewhere (frames are not kept)."""

    __tablename__ = "open_clues"
    clue_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[str] = mapped_column(Text)  # JSON of the Violation without frames
    next_seq: Mapped[int] = mapped_column(Integer)


def _sighting_json(s: Sighting) -> dict:
    d = s.detection
    return {"ts": s.ts, "label": d.label, "score": d.score, "box": list(d.box), "model": d.model, "text": d.text}


def _sighting(d: dict) -> Sighting:
    return Sighting(d["ts"], Detection(d["label"], d["score"], tuple(d["box"]), d["model"], d.get("text", "")))


def violation_json(v: Violation) -> str:
    return json.dumps(
        {
            "id": v.id,
            "camera_id": v.camera_id,
            "zone_id": v.zone_id,
            "category": v.category,
            "box": list(v.box),
            "first": _sighting_json(v.first),
            "best": _sighting_json(v.best),
            "last": _sighting_json(v.last),
            "occurrences": v.occurrences,
        }
    )


def violation_from_json(text: str) -> Violation:
    d = json.loads(text)
    return Violation(
        d["id"],
        d["camera_id"],
        d["zone_id"],
        d["category"],
        tuple(d["box"]),
        _sighting(d["first"]),
        _sighting(d["best"]),
        _sighting(d["last"]),
        d["occurrences"],
    )


@dataclass(frozen=True)
class Held:
    """What a heartbeat left this worker holding, and what changed."""

    cameras: frozenset[str]  # to run
    gained: frozenset[str]
    lost: frozenset[str]  # taken by another worker (ours expired)
    excess: frozenset[str]  # above the fair share: stop them, then `release` them
    tokens: Mapping[str, int]  # fencing token (generation) of each leased camera, `cameras` and `excess`


def fair_share(n_cameras: int, n_workers: int) -> int:
    return math.ceil(n_cameras / max(1, n_workers))


def add_missing(s: Session, camera_ids: Sequence[str]) -> None:
    """Lease rows (no owner) for cameras that have none yet. INSERT ... ON CONFLICT DO NOTHING: workers
    starting together all see the rows missing, and a select-then-merge would overwrite a row another
    worker has just created and claimed (owner and generation reset, so two workers held the camera
    until the next heartbeat; seen when three workers started at once)."""
    if not camera_ids:
        return
    dialect = s.get_bind().dialect.name
    insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}.get(dialect)
    if insert is None:
        raise ValueError(f"leases: database {dialect!r} not supported (PostgreSQL or SQLite)")
    rows = [{"camera_id": c, "owner": None, "expires_at": 0.0, "generation": 0} for c in camera_ids]
    s.execute(insert(CameraLease).values(rows).on_conflict_do_nothing(index_elements=["camera_id"]))


def _create_schema(engine: Engine) -> None:
    """Create the lease tables once, even when several workers start at the same moment."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Concurrent CREATE TABLE races on PostgreSQL's catalog; DDL is transactional there,
            # so a transaction-scoped advisory lock makes the existence check and create atomic.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('xuncha.leases.schema'))"))
        _Base.metadata.create_all(conn)


class LeaseStore:
    def __init__(self, url: str, worker_id: str, ttl_s: float = 15.0, engine: Engine | None = None) -> None:
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.engine = engine or create_engine(url, pool_pre_ping=True)
        _create_schema(self.engine)
        self._held: frozenset[str] = frozenset()

    def heartbeat(self, camera_ids: Iterable[str], now: float | None = None) -> Held:
        """Renew, claim up to the fair share, release the excess; returns the cameras now held."""
        now = time.time() if now is None else now
        wanted = sorted(set(camera_ids))
        with Session(self.engine) as s, s.begin():
            self._beat(s, now)
            add_missing(s, wanted)
            live = s.scalar(select(func.count()).select_from(WorkerBeat).where(WorkerBeat.expires_at > now))
            share = fair_share(len(wanted), int(live or 1))
            rows = s.scalars(
                select(CameraLease)
                .where(CameraLease.camera_id.in_(wanted))
                .where((CameraLease.owner == self.worker_id) | (CameraLease.expires_at <= now))
                .order_by(CameraLease.camera_id)
                .with_for_update(skip_locked=True)
            ).all()
            mine = [r for r in rows if r.owner == self.worker_id and r.expires_at > now]
            free = [r for r in rows if r not in mine]
            keep, give_back = mine[:share], mine[share:]
            take = free[: max(0, share - len(keep))]
            for r in keep + give_back:  # the excess stays ours until `release`: its feed must stop first
                r.expires_at = now + self.ttl_s
            for r in take:
                r.generation += 1
                r.owner, r.expires_at = self.worker_id, now + self.ttl_s
            held = frozenset(r.camera_id for r in keep + take)
            excess = frozenset(r.camera_id for r in give_back)
            tokens = {r.camera_id: r.generation for r in keep + take + give_back}
        result = Held(held, held - self._held, self._held - held - excess, excess, tokens)
        self._held = held
        for cid in sorted(result.gained):
            log.info("worker %s: took camera %s", self.worker_id, cid)
        for cid in sorted(result.lost):
            log.warning("worker %s: lost camera %s (lease expired)", self.worker_id, cid)
        return result

    def release(self, camera_ids: Iterable[str]) -> None:
        """Give leases back (after their cameras stopped) so another worker can take them at once."""
        ids = list(camera_ids)
        if not ids:
            return
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(CameraLease)
                .where(CameraLease.owner == self.worker_id, CameraLease.camera_id.in_(ids))
                .values(owner=None, expires_at=0.0)
            )
        self._held = self._held - set(ids)
        log.info("worker %s: handed over %s", self.worker_id, ", ".join(sorted(ids)))

    def _beat(self, s: Session, now: float) -> None:
        row = s.get(WorkerBeat, self.worker_id)
        if row is None:
            s.add(WorkerBeat(worker_id=self.worker_id, expires_at=now + self.ttl_s))
        else:
            row.expires_at = now + self.ttl_s

    def save_open(self, v: Violation, next_seq: int) -> None:
        with Session(self.engine) as s, s.begin():
            s.merge(OpenClue(clue_id=v.id, camera_id=v.camera_id, data=violation_json(v), next_seq=next_seq))

    def drop_open(self, clue_id: str) -> None:
        with Session(self.engine) as s, s.begin():
            s.execute(delete(OpenClue).where(OpenClue.clue_id == clue_id))

    def load_open(self, camera_id: str) -> list[tuple[Violation, int]]:
        """The camera's open violations with the seq their next event takes."""
        with Session(self.engine) as s:
            rows = s.scalars(select(OpenClue).where(OpenClue.camera_id == camera_id).order_by(OpenClue.clue_id))
            return [(violation_from_json(r.data), r.next_seq) for r in rows]

    def release_all(self) -> None:
        """Give every lease back at once (clean shutdown), so others need not wait for expiry."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(CameraLease).where(CameraLease.owner == self.worker_id).values(owner=None, expires_at=0.0))
            s.execute(delete(WorkerBeat).where(WorkerBeat.worker_id == self.worker_id))
        self._held = frozenset()
