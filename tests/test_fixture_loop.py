"""The precision loop end to end: a clue rejected as 固定设施 in the review service is not reported again.

Real worker on real footage, real review app served over HTTP, the worker fetching fixtures with its token.
"""

from __future__ import annotations

from pathlib import Path

from conftest import shared_file
from fastapi.testclient import TestClient
from review_support import LiveServer, add_users, login, review_config

from xuncha.clues.broker import collect_events, embedded_broker_url
from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.db.engine import open_database
from xuncha.review.app import create_app
from xuncha.review.config import FIXTURE_REASON
from xuncha.review.intake import ingest
from xuncha.taxonomy import load_taxonomy
from xuncha.worker import RunSummary, Worker

BOX_ZONE = [(0.55, 0.58), (1.0, 0.58), (1.0, 1.0), (0.55, 1.0)]


def run_worker(data_dir: Path, video: Path, **extra: object) -> RunSummary:
    rule = {
        "category": "0507",
        "labels": ["static_object"],
        "exclude_labels": ["person"],
        "min_area": 0.002,
        "max_area": 0.2,
        "anchor": "overlap",
        "dwell_s": 10,
    }
    cfg = WorkerConfig.model_validate(
        {
            "data_dir": str(data_dir),
            "detectors": {"models": ["yolox_nano_coco"]},
            "cameras": [
                {
                    "id": "sidewalk",
                    "source": str(video),
                    "sample_interval_s": 1.0,
                    "zones": [{"id": "box", "name": "配电箱旁", "polygon": BOX_ZONE, "rules": [rule]}],
                }
            ],
            **extra,
        }
    )
    cfg, taxonomy = resolve_config(cfg, data_dir, "test")
    return Worker(cfg, taxonomy).run(once=True)


def test_fixture_rejected_in_review_silences_the_spot(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/sidewalk_bag_left.avi")
    first = run_worker(tmp_path / "w1", video)
    assert [e.kind for e in first.events] == ["opened"]

    cfg = review_config(tmp_path / "review", evidence_dir=tmp_path / "w1" / "evidence")
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'review.sqlite'}")
    tokens = add_users(sessions)
    for event in collect_events(embedded_broker_url(tmp_path / "w1" / "broker.sqlite"), limit=10, timeout=2):
        ingest(sessions, event)
    app = create_app(cfg, load_taxonomy(), sessions)
    clue_id = first.events[0].clue_id
    with TestClient(app, base_url="https://testserver") as client:
        client.headers["X-CSRF-Token"] = login(client, "op1")
        r = client.post(f"/api/clues/{clue_id}/reject", json={"reason": FIXTURE_REASON})
        assert r.status_code == 200, r.text

    with LiveServer(app) as server:
        second = run_worker(tmp_path / "w2", video, review_url=server.url, review_token=tokens["worker"])
        # Without the fixture the same run reports the bag again (the control): only the fixture differs.
        control = run_worker(tmp_path / "w3", video)
    engine.dispose()
    assert [e.kind for e in control.events] == ["opened"]
    assert second.events == []
