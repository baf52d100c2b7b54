"""Two real worker processes share one camera by lease (real PostgreSQL, real RabbitMQ) and the review
intake applies their events into a real PostgreSQL review database.

The camera's holder is paused (SIGSTOP) until its lease expires and the other worker has taken the
camera over and published under the new lease; then it is resumed (SIGCONT). A worker paused in the
middle of a sample finishes it before its next heartbeat tells it the camera is gone, so it publishes
under the lease it lost: those events are dead letters naming the camera and both tokens, and none
of them is stored after the new holder's. A pause that lands between samples lets the worker notice
first and publish nothing; then the roles swap and the other worker is paused, up to ROUNDS times.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import yaml
from conftest import pg_schema_url, shared_file
from review_support import database
from sqlalchemy import create_engine, func, select

from xuncha.clues.contracts import ClueEvent
from xuncha.db.clues import ClueEventRow
from xuncha.leases import CameraLease
from xuncha.review.deadletter import DeadLetter
from xuncha.review.intake import run_intake

TTL = 2.0
CAM = "cam-f"
ROUNDS = 6
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def eventually(check: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    assert eventually(check, timeout), f"timed out waiting for {what}"


def _clip(source: Path, out: Path, first: int = 960, last: int = 1175) -> Path:
    """The stretch where one person stands still from the first frame: each worker that takes the camera
    plays the file from its start, and sees (and reports) the person at once."""
    cap = cv2.VideoCapture(str(source))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS), size)
    for _ in range(last - first):
        ok, frame = cap.read()
        assert ok, f"{source} ends before frame {last}"
        writer.write(frame)
    writer.release()
    cap.release()
    return out


def test_a_paused_workers_events_under_its_lost_lease_are_refused(tmp_path: Path, amqp_vhost: str) -> None:
    shared_file("models/yolov8n_coco_int8.onnx")
    video = _clip(shared_file("footage/indoor_people_standing.mp4"), tmp_path / "standing.mp4")
    rule = {"category": "0508", "labels": ["person"], "min_score": 0.3, "dwell_s": 1}
    with pg_schema_url("fence") as leases_url, database("postgresql", tmp_path) as (_db_url, sessions):
        leases = create_engine(leases_url)
        CameraLease.metadata.create_all(leases)  # before the workers: polled from the start
        stop = threading.Event()
        intake = threading.Thread(target=run_intake, args=(sessions, amqp_vhost, stop), daemon=True)
        intake.start()
        procs: dict[str, subprocess.Popen] = {}
        logs: dict[str, Path] = {}
        for name in ("w-a", "w-b"):
            cfg = {
                "data_dir": str(tmp_path / name),
                "broker_url": amqp_vhost,
                "leases_url": leases_url,
                "worker_id": name,
                "lease_ttl_s": TTL,
                # Every sample of the open clue is an event, and samples come faster than one worker
                # processes them: the worker is nearly always inside a sample when it is paused.
                "confirm": {"update_every_s": 0.0},
                "detectors": {"models": ["yolov8n_coco_int8"], "stationary": False, "threads": 1, "parallel": 1},
                "cameras": [
                    {
                        "id": CAM,
                        "source": str(video),
                        "sample_interval_s": 0.1,
                        "zones": [{"id": "floor", "name": "地面", "polygon": WHOLE, "rules": [rule]}],
                    }
                ],
            }
            path = tmp_path / f"{name}.yaml"
            path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
            logs[name] = tmp_path / f"{name}.log"
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(path)],
                stdout=logs[name].open("w"),
                stderr=subprocess.STDOUT,
            )

        def lease() -> tuple[str | None, int]:
            with leases.connect() as c:
                row = c.execute(select(CameraLease.owner, CameraLease.generation).where(CameraLease.camera_id == CAM))
                got = row.first()
            return (got[0], got[1]) if got else (None, 0)

        def applied_since(t: datetime) -> int:
            with sessions() as s:
                return s.scalar(select(func.count()).where(ClueEventRow.received_at > t)) or 0

        def dead() -> list[DeadLetter]:
            with sessions() as s:
                return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))

        def pause(holder: str, other: str, since: datetime) -> tuple[datetime, int]:
            """Pause `holder` (the camera's holder since `since`) until `other` holds the camera and
            intake applied its events, resume it: (when `other` took the camera, how many events
            `holder` published after the resume before it saw the camera gone)."""
            wait_until(lambda: applied_since(since), 60, f"{holder}'s events at intake")
            procs[holder].send_signal(signal.SIGSTOP)
            paused_at = logs[holder].stat().st_size  # a stopped process writes nothing
            try:
                wait_until(lambda: lease()[0] == other, 4 * TTL + 5, f"{other} to take the camera")
                taken_at = datetime.now(UTC)  # the holder's own events were applied long before (>= TTL)
                # A holder paused inside its write of the open clue holds that row's lock, and the new
                # holder waits for it after its first event: such a round shows nothing, and is not counted.
                counts = eventually(lambda: applied_since(taken_at), 8)
            finally:
                procs[holder].send_signal(signal.SIGCONT)
            lost = f"lost camera {CAM}"
            wait_until(lambda: lost in logs[holder].read_text()[paused_at:], 15, f"{holder} to notice")
            after = logs[holder].read_text()[paused_at:]
            stale = len(re.findall(rf"clue \w+ \S+ camera={CAM} ", after[: after.index(lost)]))
            return taken_at, stale if counts else 0

        stale_published = 0
        try:
            since = datetime.now(UTC)
            wait_until(lambda: lease()[0] in procs, 60, "a worker to take the camera")
            holder, token = lease()
            for rounds in range(1, ROUNDS + 1):  # noqa: B007 - reported below
                other = next(n for n in procs if n != holder)
                since, stale_published = pause(holder, other, since)
                new_token = lease()[1]
                if stale_published:
                    break
                holder, token = other, new_token
            assert stale_published, f"no pause of {ROUNDS} landed inside a sample: nothing to refuse"
            # Intake may be behind: the new holder publishes a sample's event every ~0.1 s.
            t_resumed = time.monotonic()
            deadline = t_resumed + 30
            while not (refused := dead()) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert refused, f"{holder} published {stale_published} events under its lost lease: none was refused"
            lag = time.monotonic() - t_resumed
            time.sleep(1.0)  # the rest of them, if any
            refused = dead()
            for row in refused:
                e = ClueEvent.model_validate_json(row.body)
                assert (e.camera.id, e.lease_token) == (CAM, token), row.reason
                assert f"camera {CAM}" in row.reason and f"token {token}, older" in row.reason, row.reason
                assert f"current token {new_token}" in row.reason, row.reason
            assert len(refused) <= stale_published
            with sessions() as s:
                rows = list(s.scalars(select(ClueEventRow).where(ClueEventRow.lease_token.in_([token, new_token]))))
            newer = [r.received_at for r in rows if r.lease_token == new_token]
            older = [r.received_at for r in rows if r.lease_token == token]
            assert newer, f"no event of {other}, the camera's holder, was stored"
            assert not older or max(older) < min(newer), "an event under the lost lease was stored after the new one"
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGCONT)
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                p.wait(30)
            stop.set()
            intake.join(30)
            leases.dispose()
        for name, p in procs.items():
            assert p.returncode == 0, logs[name].read_text()[-3000:]
        print(
            f"{stale_published} events published under a lost lease, {len(refused)} dead letters"
            f" (the first {lag:.1f} s after the publisher saw its lease lost), round {rounds}"
        )
