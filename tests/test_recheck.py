"""Automatic rectification check: the pure decision, and the worker's desk against RabbitMQ and a shared store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import listening, pg_schema_url
from kombu import Connection, Producer, Queue

from xuncha.categorize import Candidate
from xuncha.clues.contracts import CameraRef, CategoryRef, ZoneRef
from xuncha.clues.dispatch import RecheckRequest, RecheckResult, cases_exchange, recheck_queue
from xuncha.clues.evidence import EvidenceStore
from xuncha.confirm import ConfirmParams
from xuncha.recheck.core import RecheckParams, RecheckState, decide, observe
from xuncha.recheck.desk import RecheckDesk
from xuncha.types import Detection, Frame
from xuncha.zones.match import ZoneMatcher
from xuncha.zones.model import ZoneSet

RABBIT = "amqp://guest:guest@127.0.0.1:5672//"
BOX = (450.0, 364.0, 503.0, 416.0)
HANDLED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


# -- the pure decision -------------------------------------------------------------------------------


def run(params: RecheckParams, samples: list[tuple[float, bool, bool]], now: float | None = None):
    state = RecheckState("c:r1", BOX, 1000.0)
    for ts, active, present in samples:
        state = observe(state, params, ts, active=active, present=present)
    return state, decide(state, params, now if now is not None else samples[-1][0] if samples else 1000.0)


def test_three_samples_spread_over_the_span_and_majority_decides() -> None:
    p = RecheckParams(samples=3, span_s=600, within_h=2)
    # Samples every 100 s: only those >= 300 s after the previous counted one count.
    samples = [(1000.0 + 100 * i, True, i < 4) for i in range(8)]
    state, outcome = run(p, samples)
    assert [ts for ts, _ in state.taken] == [1000.0, 1300.0, 1600.0]
    assert outcome is not None and (outcome.verdict, outcome.present, outcome.samples) == ("not_rectified", 2, 3)
    _, gone = run(p, [(1000.0 + 100 * i, True, i == 0) for i in range(8)])
    assert gone is not None and (gone.verdict, gone.present) == ("rectified", 1)
    # Not enough samples yet, before the deadline: keep going.
    assert run(p, samples[:4])[1] is None
    # Before the handled report nothing counts.
    early, _ = run(p, [(900.0, True, True)])
    assert early.taken == () and early.seen_ts is None


def test_outside_active_hours_nothing_counts_and_the_reasons_say_why() -> None:
    p = RecheckParams(samples=3, span_s=60, within_h=1)
    state, outcome = run(p, [(1000.0 + 30 * i, False, True) for i in range(5)], now=1000.0 + 3600)
    assert state.taken == () and outcome.verdict == "unverifiable" and "生效时段" in outcome.reason
    _, down = run(p, [], now=1000.0 + 3601)
    assert down.verdict == "unverifiable" and "没有画面" in down.reason
    _, flaky = run(p, [(1000.0, True, True)], now=1000.0 + 3601)
    assert flaky.verdict == "unverifiable" and "1/3" in flaky.reason
    assert RecheckParams(samples=4, min_present=1).needed_present == 1
    with pytest.raises(ValueError, match="min_present"):
        RecheckParams(samples=3, min_present=4)


# -- the desk: RabbitMQ queues and a store shared by the workers --------------------------------------

ZONES = ZoneSet.model_validate(
    {
        "zones": [
            {
                "id": "z",
                "name": "配电箱旁",
                "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
                "rules": [{"category": "0507", "labels": ["static_object"]}],
            }
        ]
    }
)


def request(case: str, camera: str) -> RecheckRequest:
    return RecheckRequest(
        request_id=f"{case}:r1",
        case_id=case,
        clue_id=case.removeprefix("case-"),
        camera=CameraRef(id=camera, name=camera),
        zone=ZoneRef(id="z", name="配电箱旁"),
        category=CategoryRef(code="0507", name="乱堆物堆料"),
        box=BOX,
        frame_size=(720, 480),
        found_at=HANDLED - timedelta(hours=3),
        handled_at=HANDLED,
    )


def send(url: str, exchange: str, req: RecheckRequest) -> None:
    with Connection(url) as conn:
        Producer(conn).publish(
            req.model_dump_json(),
            exchange=cases_exchange(exchange),
            routing_key=f"recheck.{req.camera.id}",
            declare=[recheck_queue(req.camera.id, exchange)],
            delivery_mode=2,
            message_id=req.request_id,
        )


def received(url: str, queue: Queue) -> list[RecheckResult]:
    out = []
    with Connection(url) as conn:
        q = queue(conn.default_channel)
        while (msg := q.get(no_ack=True)) is not None:
            out.append(RecheckResult.model_validate(json.loads(msg.body)))
    return out


def sample(desk: RecheckDesk, camera: str, ts: float, bag: bool) -> None:
    frame = Frame(camera, ts, np.full((480, 720, 3), 90, np.uint8))
    cands = [Candidate("z", "0507", Detection("static_object", 0.9, (452, 366, 500, 414), "static_object"))]
    when = datetime.fromtimestamp(ts, UTC)
    polygon = lambda _zone: np.array([[0, 0], [719, 0], [719, 479], [0, 479]], np.int32)  # noqa: E731
    matcher = ZoneMatcher(ZONES, (720, 480))
    desk.observe(frame, when, cands if bag else [], matcher, ConfirmParams().same_place, polygon)


@pytest.mark.rabbitmq
@pytest.mark.postgres
def test_a_moved_camera_takes_its_recheck_along_and_a_dead_one_ends_unverifiable(tmp_path: Path) -> None:
    if not listening(5672):
        pytest.skip("RabbitMQ is not listening on 127.0.0.1:5672")
    exchange = f"t-{uuid.uuid4().hex[:8]}.cases"
    dispatch = Queue(f"{exchange}.dispatch", cases_exchange(exchange), routing_key="case.#", durable=False)
    with Connection(RABBIT) as conn:
        dispatch(conn.default_channel).declare()
    params = RecheckParams(samples=3, span_s=20, within_h=1)
    store = EvidenceStore(tmp_path / "evidence")
    with pg_schema_url("recheck") as db:
        a = RecheckDesk(db, RABBIT, "worker-a", store, params, exchange=exchange)
        b = RecheckDesk(db, RABBIT, "worker-b", store, params, exchange=exchange)
        try:
            send(RABBIT, exchange, request("case-1", "cam-1"))
            send(RABBIT, exchange, request("case-2", "cam-2"))
            t0 = HANDLED.timestamp()
            a.take_now({"cam-1", "cam-2"})  # worker a owns both cameras and takes both requests
            assert a.cameras() == {"cam-1", "cam-2"}
            sample(a, "cam-1", t0 + 1, bag=True)  # one sample, then worker a dies
            # cam-1 moves to worker b, which continues the same re-check from the shared store.
            b.sync({"cam-1"}, t0 + 15)
            assert b.cameras() == {"cam-1"}
            for ts in (t0 + 12, t0 + 21, t0 + 30):
                sample(b, "cam-1", ts, bag=True)
            assert b.cameras() == set()
            # cam-2 never shows a frame: past the deadline it is 无法核查, with the reason.
            a.sync({"cam-2"}, t0 + 3601)
            a.exchange_once()
            b.exchange_once()
            got = {r.case_id: r for r in received(RABBIT, dispatch)}
        finally:
            a.close()
            b.close()
            with Connection(RABBIT) as conn:
                ch = conn.default_channel
                for q in (dispatch, recheck_queue("cam-1", exchange), recheck_queue("cam-2", exchange)):
                    q(ch).delete()
                cases_exchange(exchange)(ch).delete()
                Queue(f"{exchange}.review", cases_exchange(exchange))(ch).delete()
    moved, dead = got["case-1"], got["case-2"]
    assert (moved.verdict, moved.verdict_name, moved.present, moved.samples) == ("not_rectified", "未整改", 3, 3)
    assert moved.worker == "worker-b" and moved.result_id == "case-1:r1"
    assert moved.checked_from == datetime.fromtimestamp(t0 + 1, UTC)  # worker a's sample counted
    assert (tmp_path / "evidence" / moved.after.path).stat().st_size > 1000
    assert (dead.verdict, dead.verdict_name, dead.samples) == ("unverifiable", "无法核查", 0)
    assert "没有画面" in dead.reason and dead.after is None


def test_recheck_settings_errors_name_the_section(tmp_path: Path) -> None:
    from xuncha.config.worker import WorkerConfig, resolve_config
    from xuncha.yamlfile import ConfigError

    cam = {"id": "c", "source": "x.mp4", "zones": ZONES.model_dump(mode="json")}
    cfg = WorkerConfig.model_validate({"recheck": {"samples": 3, "min_present": 4}, "cameras": [cam]})
    with pytest.raises(ConfigError, match="recheck: recheck: min_present must be in 1..3"):
        resolve_config(cfg, tmp_path, "w.yaml")
