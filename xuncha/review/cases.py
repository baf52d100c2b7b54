"""Cases for the dispatch service: the message contract, the outbox, and the relay that publishes it.

An accepted clue becomes a `CaseMessage` written to the outbox in the decision's transaction. The
relay publishes due messages (after the undo window) to the durable topic exchange `xuncha.cases`
(queue `xuncha.cases.dispatch`, routing key `case.filed.<category code>`), persistent, with
`message_id` = case_id, and marks them published once the broker confirmed. Re-check requests
(`handling.py`) go through the same outbox to their camera's queue. A broker outage only
delays them. Each try is counted before it is made and sent as header `attempt`: a message with
attempt > 1 may repeat one the broker already had (the relay died between sending and recording),
so dispatch deduplicates on case_id. Run one relay per database.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from kombu import Connection, Producer, Queue
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from xuncha.clues.broker import Topology
from xuncha.clues.contracts import CameraRef, CategoryRef, GeoPoint, RegionRef, ZoneRef
from xuncha.clues.dispatch import CaseMessage, EvidenceLinks, recheck_queue
from xuncha.db.base import utcnow
from xuncha.db.cases import Case, OutboxMessage
from xuncha.db.clues import Clue, Decision
from xuncha.redact import mask_url
from xuncha.review.config import DispatchSettings

log = logging.getLogger(__name__)

# The dispatch side's exchange and queue; same shape as the clue topology.
CASE_TOPOLOGY = Topology(exchange_name="xuncha.cases", queue_name="xuncha.cases.dispatch", binding_key="case.#")


def case_topology(s: DispatchSettings) -> Topology:
    return Topology(exchange_name=s.exchange, queue_name=s.queue, binding_key=CASE_TOPOLOGY.binding_key)


def case_id_for(clue_id: str) -> str:
    return f"case-{clue_id}"


def _fmt_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}小时{minutes % 60}分钟" if minutes >= 60 else f"{max(minutes, 1)}分钟"


def _area(code: str | None, name: str | None) -> RegionRef | None:
    return RegionRef(code=code, name=name or "") if code else None


def build_case(
    clue: Clue,
    decision: Decision,
    category_name: str,
    reviewer: str,
    recurrence: int,
    settings: DispatchSettings,
    public_url: str,
    escalation: str | None = None,
) -> CaseMessage:
    """The case message for an accepted clue (pure)."""
    ev = clue.evidence
    links = (
        EvidenceLinks(**{k: f"{public_url}/evidence/{ev[k]['path']}" for k in ("scene", "crop", "start")})
        if ev
        else None
    )
    district = RegionRef(code=settings.district_code, name=settings.district_name) if settings.district_code else None
    place = f"{clue.region_name or ''}{clue.camera_name}（{clue.zone_name}）"
    return CaseMessage(
        case_id=case_id_for(clue.id),
        clue_id=clue.id,
        category=CategoryRef(code=decision.category_code, name=category_name),
        reported_category=CategoryRef(code=clue.category_code, name=clue.category_name),
        description=f"{place}发现{category_name}，持续约{_fmt_duration(clue.dwell_s)}，视频识别{clue.occurrences}次。"
        + (f"识别文字：{clue.text}。" if clue.text else "")
        + (f"电话号码：{'、'.join(clue.phone_numbers)}。" if clue.phone_numbers else ""),
        found_at=clue.first_seen,
        last_seen=clue.last_seen,
        filed_at=decision.decided_at,
        camera=CameraRef(id=clue.camera_id, name=clue.camera_name, preset=clue.preset),
        zone=ZoneRef(id=clue.zone_id, name=clue.zone_name),
        location=GeoPoint(lon=clue.lon, lat=clue.lat) if clue.lon is not None and clue.lat is not None else None,
        district=district,
        region=_area(clue.region_code, clue.region_name),
        community=_area(clue.community_code, clue.community_name),
        grid=_area(clue.grid_code, clue.grid_name),
        dwell_s=clue.dwell_s,
        occurrences=clue.occurrences,
        recurrence=recurrence,
        recurrence_days=settings.recurrence_days,
        escalation=escalation,
        evidence=links,
        model=clue.model_name,
        label=clue.label,
        score=clue.score,
        text=clue.text,
        phone_numbers=list(clue.phone_numbers or []),
        reviewer=reviewer,
        suggested_department=settings.departments.get(decision.category_code, settings.default_department),
        deadline=decision.decided_at + timedelta(hours=settings.deadline_for(decision.category_code)),
    )


def count_recurrence(session: Session, clue: Clue, category_code: str, since: datetime) -> int:
    """Cases filed since `since` at the same camera, zone and category (excluding this clue)."""
    q = (
        select(func.count())
        .select_from(Decision)
        .join(Clue, Clue.id == Decision.clue_id)
        .where(
            Decision.accepted.is_(True),
            Decision.undone_at.is_(None),
            Decision.decided_at >= since,
            Decision.category_code == category_code,
            Clue.camera_id == clue.camera_id,
            Clue.zone_id == clue.zone_id,
            Clue.id != clue.id,
        )
    )
    return int(session.scalar(q) or 0)


def file_case(session: Session, case: CaseMessage, decision_id: int, not_before: datetime) -> None:
    """Store the case and its outbox message in the caller's transaction."""
    body = case.model_dump(mode="json")
    session.add(
        Case(
            id=case.case_id,
            clue_id=case.clue_id,
            decision_id=decision_id,
            payload=body,
            filed_at=case.filed_at,
            deadline=case.deadline,
            escalation=case.escalation,
        )
    )
    session.add(
        OutboxMessage(
            message_id=case.case_id,
            routing_key=f"case.filed.{case.category.code}",
            body=body,
            not_before=not_before,
        )
    )


def withdraw_case(session: Session, clue_id: str) -> bool:
    """Undo a case the relay has not picked up yet; False once a send began (it may be on the wire).

    The delete's condition is the guard: the relay commits `attempts += 1` before it sends, so a
    delete racing with it either removes the message first (the relay then finds nothing) or
    matches no row (PostgreSQL re-checks the condition after the relay's commit).
    """
    case_id = case_id_for(clue_id)
    gone = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.message_id == case_id, OutboxMessage.attempts == 0, OutboxMessage.published_at.is_(None)
        )
    )
    if gone.rowcount == 0 and session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == case_id)):
        return False
    case = session.get(Case, case_id)
    if case is not None:
        session.delete(case)
    return True


def outbox_depth(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(OutboxMessage.published_at.is_(None))) or 0)


class CaseRelay:
    """Publishes due outbox messages in order; one instance per process, used from one thread."""

    def __init__(
        self,
        sessions: sessionmaker,
        broker_url: str,
        *,
        topology: Topology | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.url = broker_url
        self.topology = topology or CASE_TOPOLOGY
        self._connect_timeout = connect_timeout
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self.last_error: str | None = None  # of the latest run_once; None when it sent all it could

    def close(self) -> None:
        if self._conn is not None:
            self._conn.release()
        self._conn = self._producer = None

    def _queue_for(self, routing_key: str) -> Queue:
        """The queue a message must not miss: a camera's re-check queue, else the dispatch queue."""
        if routing_key.startswith("recheck."):
            return recheck_queue(routing_key.removeprefix("recheck."), self.topology.exchange_name)
        return self.topology.queue

    def _publish(self, msg: OutboxMessage, attempt: int) -> None:
        if self._producer is None:
            amqp = self.url.split("://", 1)[0].lower() in ("amqp", "amqps", "pyamqp")
            options = {"confirm_publish": True} if amqp else {}
            self._conn = Connection(self.url, connect_timeout=self._connect_timeout, transport_options=options)
            self._producer = Producer(self._conn, auto_declare=False)
        self._producer.publish(
            msg.body,
            serializer="json",
            exchange=self.topology.exchange,
            routing_key=msg.routing_key,
            declare=[self._queue_for(msg.routing_key)],
            delivery_mode=2,
            message_id=msg.message_id,
            headers={"attempt": attempt},
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        )

    def run_once(self, now: datetime | None = None, limit: int = 100) -> int:
        """Publish due messages in id order until one fails; returns how many were published."""
        now = now or utcnow()
        with self.sessions() as s:
            due = list(
                s.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.published_at.is_(None), OutboxMessage.not_before <= now)
                    .order_by(OutboxMessage.id)
                    .limit(limit)
                )
            )
        sent = 0
        self.last_error = None
        for row_id in due:
            with self.sessions.begin() as s:
                msg = s.get(OutboxMessage, row_id)
                if msg is None or msg.published_at is not None:  # withdrawn or sent meanwhile
                    continue
                msg.attempts += 1  # committed before sending: a repeat always says attempt > 1
                attempt = msg.attempts
            try:
                self._publish(msg, attempt)
            except Exception as e:  # anything the transport raises means "not confirmed": keep it
                self.close()
                err = self.last_error = f"{type(e).__name__}: {mask_url(str(e))}"
                with self.sessions.begin() as s:
                    row = s.get(OutboxMessage, row_id)
                    if row is not None:
                        row.last_error = err[:2000]
                log.warning(
                    "case %s not published to %s (attempt %d): %s", msg.message_id, mask_url(self.url), attempt, err
                )
                break
            with self.sessions.begin() as s:
                row = s.get(OutboxMessage, row_id)
                if row is not None:
                    row.published_at = utcnow()
                    row.last_error = None
            sent += 1
            log.info("published %s (attempt %d)", msg.message_id, attempt)
        return sent

    def run(self, stop: threading.Event, interval_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
        """Relay until `stop` is set, backing off while the broker or database is down."""
        delay = interval_s
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                    failed = self.last_error is not None
                except Exception as e:  # database down: retry later
                    log.warning("case relay: %s: %s", type(e).__name__, mask_url(str(e)))
                    failed = True
                delay = min(delay * 2, max_backoff_s) if failed else interval_s
                stop.wait(delay)
        finally:
            self.close()
