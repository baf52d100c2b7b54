"""The case loop end to end on RabbitMQ: a worker files a clue, an operator accepts it, dispatch reports it
handled, the same cameras re-check the place and the verdicts reach dispatch and the review service."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
from conftest import shared_file
from fastapi.testclient import TestClient
from kombu import Connection
from review_support import Clock, add_users, login, review_config
from sqlalchemy import select

from xuncha.clues.broker import consume
from xuncha.clues.dispatch import CaseMessage, RecheckResult
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.db.cases import Case, Recheck
from xuncha.db.engine import open_database
from xuncha.review.app import create_app
from xuncha.review.cases import CASE_TOPOLOGY, CaseRelay
from xuncha.review.handling import run_results_intake
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy
from xuncha.worker import Worker

FOUND = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)  # wall time of the first frame when the clue is found
HANDLED = datetime(2026, 5, 1, 15, 0, tzinfo=UTC)
HANDLED_AT_S = 30.0  # where in the re-check clips dispatch's report falls
# sidewalk_bag_left.avi: the man sets the bag down at ~12 s; before 9 s the sidewalk is empty.
FOUND_CLIP = [(0, 9), (13, 39)]  # the bag is set down and left: the clue (35 s)
STAYS = [(0, 9), (13, 39), (20, 39)]  # the bag stays to the end (54 s)
REMOVED = [(0, 9), (13, 30), (0, 9), (0, 9)]  # the bag is there from ~9 s, gone from 26 s (44 s)


def compose(folder: Path, clips: dict[str, list[tuple[float, float]]]) -> dict[str, Path]:
    """Cut and join segments of sidewalk_bag_left.avi into one file per clip (read once)."""
    cap = cv2.VideoCapture(str(shared_file("footage/sidewalk_bag_left.avi")))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    h, w = frames[0].shape[:2]
    out = {}
    for name, segments in clips.items():
        out[name] = folder / f"{name}.mp4"
        writer = cv2.VideoWriter(str(out[name]), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for a, b in segments:
            for f in frames[round(a * fps) : round(b * fps)]:
                writer.write(f)
        writer.release()
    return out


def worker_run(tmp_path: Path, url: str, clips: dict[str, Path], start: datetime) -> None:
    no_dumping = {
        "category": "0507",
        "labels": ["static_object", "suitcase", "backpack", "handbag"],
        "exclude_labels": ["person"],
        "min_area": 0.002,
        "max_area": 0.2,
        "anchor": "overlap",
        "dwell_s": 5,
    }
    cameras = [
        {
            "id": cid,
            "name": cid,
            "source": str(path),
            "sample_interval_s": 2.0,
            "start_time": start.isoformat(),
            "region": {"code": "440105001", "name": "江南中街"},
            "zones": [
                {
                    "id": "box",
                    "name": "配电箱旁",
                    "polygon": [[0.55, 0.58], [1, 0.58], [1, 1], [0.55, 1]],
                    "rules": [no_dumping],
                }
            ],
        }
        for cid, path in clips.items()
    ]
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(tmp_path / "worker"),
            "evidence_dir": str(tmp_path / "evidence"),
            "broker_url": url,
            "detectors": {"models": ["yolox_nano_coco"]},
            "recheck": {"samples": 3, "span_s": 8, "within_h": 2},
            "cameras": cameras,
        }
    )
    Worker(*resolve_config(cfg, tmp_path, "test")).run(once=True)


def drain(url: str, queue_name: str) -> list[dict]:
    with Connection(url) as conn:
        q = CASE_TOPOLOGY.queue(conn.default_channel) if queue_name == CASE_TOPOLOGY.queue_name else None
        out = []
        while (msg := q.get(no_ack=True)) is not None:
            out.append({"key": msg.delivery_info["routing_key"], "body": json.loads(msg.body)})
        return out


@pytest.mark.rabbitmq
def test_handled_cases_are_rechecked_by_their_cameras(tmp_path: Path, amqp_vhost: str) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    videos = compose(tmp_path, {"found": FOUND_CLIP, "cam-removed": REMOVED, "cam-stays": STAYS})
    found = videos.pop("found")
    clips = videos
    url = amqp_vhost
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'review.sqlite'}")
    tokens = add_users(sessions)
    cfg = review_config(tmp_path, broker_url=url, undo_window_s=0, evidence_dir=tmp_path / "evidence")
    clock = Clock(FOUND + timedelta(minutes=30))
    app = create_app(cfg, load_taxonomy(), sessions, clock=clock)
    stop = threading.Event()
    results = threading.Thread(
        target=run_results_intake, args=(sessions, url, stop), kwargs={"exchange": "xuncha.cases"}
    )
    try:
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["X-CSRF-Token"] = login(client, "op1")
            # 1. The worker finds the bag on both cameras; the clues reach the review service over RabbitMQ.
            worker_run(tmp_path, url, dict.fromkeys(clips, found), FOUND)
            consume(url, lambda e: ingest(sessions, e), timeout=3)
            pending = client.get("/api/clues").json()["items"]
            assert sorted(c["camera"]["id"] for c in pending) == ["cam-removed", "cam-stays"], pending
            # 2. An operator files both; the relay sends the cases to dispatch.
            for c in pending:
                assert client.post(f"/api/clues/{c['id']}/accept").status_code == 200
            relay = CaseRelay(sessions, url)
            assert relay.run_once(clock.now) == 2
            cases = {
                CaseMessage.model_validate(m["body"]).camera.id: m["body"]["case_id"]
                for m in drain(url, CASE_TOPOLOGY.queue_name)
            }
            assert cases.keys() == {"cam-removed", "cam-stays"}
            # 3. Dispatch reports both handled; the re-check requests go to each camera's durable queue.
            clock.now = HANDLED
            dispatch = TestClient(
                app, base_url="https://testserver", headers={"Authorization": f"Bearer {tokens['dispatch']}"}
            )
            for case_id in cases.values():
                assert (
                    dispatch.post(f"/api/cases/{case_id}/handled", data={"unit": "江南中街城管中队"}).status_code == 200
                )
            assert relay.run_once(clock.now) == 2
            relay.close()
            # 4. The cameras' later footage: the report falls at HANDLED_AT_S into each clip.
            results.start()
            t0 = time.monotonic()
            worker_run(tmp_path, url, clips, HANDLED - timedelta(seconds=HANDLED_AT_S))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with sessions() as s:
                    done = {r.case_id: r for r in s.scalars(select(Recheck)) if r.verdict}
                if len(done) == 2:
                    break
                time.sleep(0.2)
            print(f"re-check run and results: {time.monotonic() - t0:.1f} s")
            assert {cid: done[case_id].verdict for cid, case_id in cases.items()} == {
                "cam-removed": "rectified",
                "cam-stays": "not_rectified",
            }
            stays, removed = done[cases["cam-stays"]], done[cases["cam-removed"]]
            assert (stays.samples, stays.present) == (3, 3) and removed.present <= 1
            for r in (stays, removed):
                assert (tmp_path / "evidence" / r.after_picture).stat().st_size > 1000
                assert r.checked_to >= HANDLED
            with sessions() as s:
                assert s.get(Case, cases["cam-removed"]).closed_at is not None  # 已整改 closes the case
                assert s.get(Case, cases["cam-stays"]).closed_at is None
            # 5. Dispatch got both verdicts on its queue, beside the cases.
            back = [RecheckResult.model_validate(m["body"]) for m in drain(url, CASE_TOPOLOGY.queue_name)]
            assert sorted((r.case_id, r.verdict_name) for r in back) == sorted(
                [(cases["cam-removed"], "已整改"), (cases["cam-stays"], "未整改")]
            )
            page = client.get("/cases").text
            assert "已整改" in page and "未整改" in page and "改判为已整改" in page
    finally:
        stop.set()
        if results.is_alive():
            results.join(10)
        engine.dispose()
