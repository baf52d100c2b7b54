"""The worker's re-check desk: requests in from the broker, progress kept in a database, results out.

A background thread takes requests from the durable queue of each camera this worker owns (so a
request waits in the broker, never lost, while no worker owns the camera or the broker is down),
writes each to the `pending_rechecks` table, then acks it; it also publishes finished results,
which stay in the table until the broker accepted them. The sampling loop calls `sync` on each
lease round (picks up the owned cameras' requests, including ones a previous owner left half done,
and ends the overdue ones as 无法核查) and `observe` with each sample's zone candidates: a re-check
reuses the sample the camera takes anyway (no extra decoding or inference), and only the camera
being checked does any work. The table lives in the leases database (shared by the workers, so a
camera that moves takes its re-checks along) or, for a single worker, in `data_dir`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime

import numpy as np
from kombu import Connection, Producer
from pydantic import ValidationError
from sqlalchemy import String, Text, create_engine, delete, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from xuncha.categorize import Candidate
from xuncha.clues.contracts import EvidenceImage
from xuncha.clues.dispatch import (
    CASES_EXCHANGE,
    VERDICT_NAMES,
    RecheckRequest,
    RecheckResult,
    cases_exchange,
    recheck_queue,
    results_queue,
)
from xuncha.clues.evidence import EvidenceStore, render_scene
from xuncha.recheck.core import Outcome, RecheckParams, RecheckState, decide, due, observe
from xuncha.redact import mask_url
from xuncha.types import BoxXYXY, Frame
from xuncha.zones.match import ZoneMatcher

log = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


class PendingRecheck(_Base):
    __tablename__ = "pending_rechecks"
    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    request: Mapped[str] = mapped_column(Text)  # RecheckRequest JSON
    state: Mapped[str] = mapped_column(Text)  # RecheckState JSON
    result: Mapped[str | None] = mapped_column(Text)  # RecheckResult JSON, waiting to be published


def _create_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # several workers may start at once (see leases.py)
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('xuncha.rechecks.schema'))"))
        _Base.metadata.create_all(conn)


def _state_json(s: RecheckState) -> str:
    return json.dumps(asdict(s))


def _state(data: str) -> RecheckState:
    d = json.loads(data)
    return RecheckState(
        request_id=d["request_id"],
        box=tuple(d["box"]),
        handled_ts=d["handled_ts"],
        taken=tuple((ts, present) for ts, present in d["taken"]),
        seen_ts=d["seen_ts"],
        inactive=d["inactive"],
    )


def _scale_box(box: BoxXYXY, src: tuple[int, int], dst: tuple[int, int]) -> BoxXYXY:
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


class RecheckDesk:
    """Re-checks for the cameras of one worker. `sync`/`observe` from the sampling loop's thread only."""

    def __init__(
        self,
        store_url: str,
        broker_url: str,
        worker_id: str,
        evidence: EvidenceStore,
        params: RecheckParams,
        *,
        exchange: str = CASES_EXCHANGE,
        poll_s: float = 2.0,
    ) -> None:
        self.engine = create_engine(store_url, pool_pre_ping=True)
        _create_schema(self.engine)
        self.broker_url = broker_url
        self.worker_id = worker_id
        self.evidence = evidence
        self.params = params
        self.exchange = exchange
        self.poll_s = poll_s
        self._owned: frozenset[str] = frozenset()
        self._tokens: dict[str, int] = {}  # camera id -> lease fencing token (none without leases)
        self._active: dict[str, tuple[RecheckRequest, RecheckState]] = {}  # request id -> request, progress
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the broker connection: the desk's thread and take_now
        self._conn: Connection | None = None
        self._declared: set[str] = set()  # cameras whose queue this connection declared

    # -- the sampling loop's side ----------------------------------------------------------------

    def take_now(self, owned: Iterable[str]) -> None:
        """Take the requests already queued for `owned` and load them (runs over recorded files, whose
        video time is not the wall clock: nothing is ended as overdue)."""
        self._owned = frozenset(owned)
        self.exchange_once()
        self.sync(self._owned, None)

    def sync(self, owned: Iterable[str], now_ts: float | None, tokens: Mapping[str, int] | None = None) -> None:
        """Follow the owned cameras: load their waiting re-checks, forget others', and end the ones
        overdue at `now_ts` (None: none). `tokens`: the cameras' lease fencing tokens, sent with results."""
        self._owned = frozenset(owned)
        self._tokens = dict(tokens or {})
        try:
            with Session(self.engine) as s:
                rows = s.scalars(
                    select(PendingRecheck).where(
                        PendingRecheck.camera_id.in_(self._owned), PendingRecheck.result.is_(None)
                    )
                ).all()
                fresh = {r.request_id: (RecheckRequest.model_validate_json(r.request), _state(r.state)) for r in rows}
        except SQLAlchemyError as e:  # the re-checks in hand go on; the others wait for the database
            log.error("re-checks not refreshed: %s", mask_url(str(e).splitlines()[0]))
            return
        for rid in fresh.keys() - self._active.keys():
            log.info("camera %s: re-checking %s", fresh[rid][0].camera.id, rid)
        self._active = {rid: self._active.get(rid, fresh[rid]) for rid in fresh}
        for req, state in list(self._active.values()):
            outcome = decide(state, self.params, now_ts if now_ts is not None else state.handled_ts)
            if outcome is not None:
                self._finish(req, state, outcome, None, None)

    def cameras(self) -> frozenset[str]:
        """Cameras with a re-check in progress."""
        return frozenset(req.camera.id for req, _ in self._active.values())

    def observe(
        self,
        frame: Frame,
        when: datetime,
        candidates: Sequence[Candidate],
        matcher: ZoneMatcher,
        same_place: Callable[[BoxXYXY, BoxXYXY], bool],
        polygon: Callable[[str], np.ndarray],
    ) -> None:
        """One sample of a camera (its zone candidates, already computed) for that camera's re-checks."""
        for rid, (req, state) in list(self._active.items()):
            if req.camera.id != frame.camera_id:
                continue
            box = _scale_box(req.box, req.frame_size, frame.size)
            active = present = False  # a sample that does not count only shows the camera is alive
            if due(state, self.params, frame.ts):
                active = matcher.active(req.zone.id, req.category.code, when)
                present = any(
                    c.zone_id == req.zone.id and c.category == req.category.code and same_place(c.detection.box, box)
                    for c in candidates
                )
            new = observe(state, self.params, frame.ts, active=active, present=present)
            self._active[rid] = (req, new)
            if new.taken == state.taken:
                continue
            outcome = decide(new, self.params, frame.ts)
            if outcome is None:
                with Session(self.engine) as s, s.begin():
                    s.execute(
                        update(PendingRecheck).where(PendingRecheck.request_id == rid).values(state=_state_json(new))
                    )
            else:
                self._finish(req, new, outcome, frame, (box, polygon(req.zone.id), when))

    def _finish(
        self,
        req: RecheckRequest,
        state: RecheckState,
        outcome: Outcome,
        frame: Frame | None,
        drawing: tuple[BoxXYXY, np.ndarray, datetime] | None,
    ) -> None:
        after = None
        if frame is not None and drawing is not None:
            box, poly, when = drawing
            label = f"{outcome.verdict} {outcome.present}/{outcome.samples}"
            picture = render_scene(frame.image, box, poly, label, when)
            name = f"recheck-{req.request_id.rsplit(':', 1)[-1]}"
            after = EvidenceImage(path=self.evidence.put(req.clue_id, name, picture, day=when.date()), taken_at=when)
        tz = req.handled_at.tzinfo
        result = RecheckResult(
            result_id=req.request_id,
            request_id=req.request_id,
            case_id=req.case_id,
            verdict=outcome.verdict,
            verdict_name=VERDICT_NAMES[outcome.verdict],
            reason=outcome.reason,
            samples=outcome.samples,
            present=outcome.present,
            checked_from=datetime.fromtimestamp(state.taken[0][0], tz) if state.taken else None,
            checked_to=datetime.fromtimestamp(state.taken[-1][0], tz) if state.taken else None,
            after=after,
            worker=self.worker_id,
            emitted_at=datetime.now(UTC),
            lease_token=self._tokens.get(req.camera.id),  # the lease the verdict was made under
        )
        with Session(self.engine) as s, s.begin():
            s.execute(
                update(PendingRecheck)
                .where(PendingRecheck.request_id == req.request_id)
                .values(state=_state_json(state), result=result.model_dump_json())
            )
        del self._active[req.request_id]
        log.info(
            "case %s: %s (%d/%d samples present)", req.case_id, result.verdict_name, outcome.present, outcome.samples
        )

    # -- the broker side (its own thread) ----------------------------------------------------------

    def start(self) -> RecheckDesk:
        self._thread = threading.Thread(target=self._run, name="recheck-desk", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.exchange_once()  # results finished at the very end still go out if the broker is up
        with self._lock:
            self._release()
        self.engine.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.exchange_once()

    def exchange_once(self) -> None:
        """Take the owned cameras' new requests and publish finished results; errors wait for next time."""
        with self._lock:
            try:
                if self._conn is None:
                    amqp = self.broker_url.split("://", 1)[0].lower() in ("amqp", "amqps", "pyamqp")
                    options = {"confirm_publish": True} if amqp else {}  # a publish returns once RabbitMQ has it
                    self._conn = Connection(self.broker_url, connect_timeout=5, transport_options=options)
                    self._declared = set()
                self._take_requests(self._conn)
                self._publish_results(self._conn)
            except Exception as e:  # broker or database down: requests stay queued, results stay stored
                log.warning("re-check desk: %s: %s", type(e).__name__, mask_url(str(e)))
                self._release()

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.release()
        self._conn = None

    def _take_requests(self, conn: Connection) -> None:
        channel = conn.default_channel
        for cid in sorted(self._owned):
            queue = recheck_queue(cid, self.exchange)(channel)
            if cid not in self._declared:  # once per connection: the queue then outlives us
                queue.declare()
                self._declared.add(cid)
            while (msg := queue.get(no_ack=False)) is not None:
                try:
                    req = RecheckRequest.model_validate_json(msg.body)
                except ValidationError as e:
                    log.error("camera %s: invalid re-check request dropped: %s; body: %r", cid, e, msg.body[:2000])
                    msg.reject(requeue=False)
                    continue
                with Session(self.engine) as s, s.begin():
                    if s.get(PendingRecheck, req.request_id) is None:  # a redelivery changes nothing
                        state = RecheckState(req.request_id, req.box, req.handled_at.timestamp())
                        s.add(
                            PendingRecheck(
                                request_id=req.request_id,
                                camera_id=req.camera.id,
                                request=req.model_dump_json(),
                                state=_state_json(state),
                            )
                        )
                msg.ack()

    def _publish_results(self, conn: Connection) -> None:
        with Session(self.engine) as s:
            done = s.execute(
                select(PendingRecheck.request_id, PendingRecheck.result).where(
                    PendingRecheck.result.is_not(None), PendingRecheck.camera_id.in_(self._owned)
                )
            ).all()
        if not done:
            return
        producer = Producer(conn, auto_declare=False)
        for rid, body in done:
            result = RecheckResult.model_validate_json(body)
            producer.publish(
                body,
                exchange=cases_exchange(self.exchange),
                routing_key=result.routing_key,
                declare=[results_queue(self.exchange)],
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
                message_id=result.result_id,
            )
            with Session(self.engine) as s, s.begin():
                s.execute(delete(PendingRecheck).where(PendingRecheck.request_id == rid))
            log.info("published re-check result %s (%s)", rid, result.verdict)
