"""A stale holder's event that reaches intake before the camera's new holder has anything to report is
refused: the new holder announces its lease on the clue queue when it takes the camera.

A real worker process takes the camera over from a lease that expired (worker A's, taken by this test
with a LeaseStore of its own, as a paused worker would have held it) and runs it, but its rule cannot
confirm a clue during the test. Then A publishes an event under its lost lease. The lease table and
the review database are separate SQLite files, the broker is the embedded one, the intake is the real
`run_intake`. Before lease notices, intake knew no newer token for the camera and applied A's event.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from conftest import shared_file
from review_support import database, make_event
from sqlalchemy import create_engine, func, select

from xuncha.clues.broker import CluePublisher, ClueSpool, embedded_broker_url
from xuncha.clues.contracts import LeaseNotice
from xuncha.db.cameras import CameraFence
from xuncha.db.clues import ClueEventRow
from xuncha.leases import CameraLease, LeaseStore
from xuncha.review.deadletter import DeadLetter
from xuncha.review.intake import run_intake

TTL = 2.0
CAM = "cam-n"
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_stale_event_before_any_of_the_new_holder_is_refused(tmp_path: Path) -> None:
    shared_file("models/yolov8n_coco_int8.onnx")
    video = shared_file("footage/indoor_people_standing.mp4")
    leases_url = f"sqlite:///{tmp_path / 'leases.sqlite'}"
    broker_url = embedded_broker_url(tmp_path / "broker.sqlite")
    a = LeaseStore(leases_url, "w-a", TTL)
    old_token = a.heartbeat([CAM]).tokens[CAM]  # A holds the camera; then A stops beating (paused)
    cfg = {
        "data_dir": str(tmp_path / "w-b"),
        "broker_url": broker_url,
        "leases_url": leases_url,
        "worker_id": "w-b",
        "lease_ttl_s": TTL,
        "detectors": {"models": ["yolov8n_coco_int8"], "stationary": False, "threads": 1, "parallel": 1},
        "cameras": [
            {
                "id": CAM,
                "source": str(video),
                "sample_interval_s": 0.5,
                # A person is in view, but no clue can be confirmed within the test: B has nothing to send.
                "zones": [
                    {
                        "id": "floor",
                        "name": "地面",
                        "polygon": WHOLE,
                        "rules": [{"category": "0508", "labels": ["person"], "min_score": 0.3, "dwell_s": 3600}],
                    }
                ],
            }
        ],
    }
    config = tmp_path / "w-b.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    log = tmp_path / "w-b.log"
    b = subprocess.Popen(
        [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(config)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    with database("sqlite", tmp_path) as (_url, sessions):
        intake = threading.Thread(target=run_intake, args=(sessions, broker_url, stop), daemon=True)
        try:
            wait_until(lambda: f"camera {CAM}: started" in log.read_text(), 90, "w-b to take and start the camera")
            new_token = _token(leases_url)
            assert new_token > old_token
            stale = make_event(1, camera=CAM, evidence=False).model_copy(update={"lease_token": old_token})
            with CluePublisher(broker_url) as pub:  # A, resumed, sends what it had in hand
                pub.publish(stale)
            intake.start()

            def settled() -> bool:
                with sessions() as s:
                    return bool(s.get(ClueEventRow, stale.event_id) or s.scalar(select(func.count(DeadLetter.id))))

            wait_until(settled, 30, "intake to apply or refuse A's event")
            with sessions() as s:
                assert s.get(ClueEventRow, stale.event_id) is None, "the event under the lost lease was applied"
                [dead] = s.scalars(select(DeadLetter)).all()
                fence = s.get(CameraFence, CAM)
            assert f"token {old_token}, older" in dead.reason and f"current token {new_token}" in dead.reason
            assert fence is not None and fence.lease_token == new_token
            with sessions() as s:
                assert s.scalar(select(func.count(ClueEventRow.event_id))) == 0  # B had nothing to send
        finally:
            b.send_signal(signal.SIGTERM)
            b.wait(30)
            stop.set()
            if intake.is_alive():
                intake.join(30)
            a.engine.dispose()
    assert b.returncode == 0, log.read_text()[-3000:]
    assert f"camera {CAM}: lease token {new_token} announced" in log.read_text()


def _token(leases_url: str) -> int:
    """The camera's current lease token in the lease table."""
    engine = create_engine(leases_url)
    with engine.connect() as c:
        token = c.scalar(select(CameraLease.generation).where(CameraLease.camera_id == CAM))
    engine.dispose()
    return int(token or 0)


def test_a_spooled_notice_keeps_its_place_and_a_late_one_changes_nothing(tmp_path: Path) -> None:
    """A notice spooled while the broker was away is published in order with the events around it;
    a notice older than the camera's fence (an earlier holder's, late) is applied as a no-op."""
    broker_url = embedded_broker_url(tmp_path / "broker.sqlite")
    spool = ClueSpool(tmp_path / "spool.jsonl")
    first = make_event(1, camera=CAM, evidence=False).model_copy(update={"lease_token": 3})
    notice = LeaseNotice(kind="lease", camera_id=CAM, lease_token=4, worker_id="w-b", acquired_at=first.emitted_at)
    late = notice.model_copy(update={"lease_token": 2, "worker_id": "w-old"})
    stale = make_event(2, camera=CAM, evidence=False).model_copy(update={"lease_token": 3})
    for message in (first, notice, late, stale):
        spool.add(message)
    with CluePublisher(broker_url) as pub:
        assert spool.drain(pub) == 4 and len(spool) == 0
    stop = threading.Event()
    with database("sqlite", tmp_path) as (_url, sessions):
        intake = threading.Thread(target=run_intake, args=(sessions, broker_url, stop), daemon=True)
        intake.start()
        try:

            def dead() -> list[DeadLetter]:
                with sessions() as s:
                    return list(s.scalars(select(DeadLetter)))

            wait_until(dead, 30, "intake to refuse the event after the notice")
            time.sleep(0.5)  # nothing else may follow
            with sessions() as s:
                applied = set(s.scalars(select(ClueEventRow.event_id)))
                fence = s.get(CameraFence, CAM)
        finally:
            stop.set()
            intake.join(30)
    assert applied == {first.event_id}
    [refused] = dead()
    assert refused.message_id == stale.event_id and "current token 4" in refused.reason, refused.reason
    assert fence is not None and fence.lease_token == 4
