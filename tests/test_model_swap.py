"""A worker picks up the model an admin promotes (模型管理) over real HTTP, without a restart; 回退 too."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from review_support import LiveServer, add_users, database, login, review_config

from xuncha.config.worker import WorkerConfig, resolve_config
from xuncha.detector.cards import find_card, resolve_file
from xuncha.review.app import create_app
from xuncha.taxonomy import load_taxonomy
from xuncha.worker import Worker

FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "footage" / "sidewalk_bag_left.avi"


def _report(new: str, new_sum: str, old: str, old_sum: str) -> dict[str, object]:
    row = {"camera_id": "合计", "category": "", "filed": 0, "rejected": 0, "rate": None, "models": {}}
    return {
        "kind": "xuncha.shadow",
        "models": {
            "model": {"name": "yolov8n_coco_int8", "ref": new, "file": new, "checksum": new_sum},
            "against": {"name": "yolox_nano_coco", "ref": "yolox_nano_coco", "file": old, "checksum": old_sum},
        },
        "rows": [row],
    }


def test_a_running_worker_swaps_to_the_promoted_model_and_back(tmp_path: Path) -> None:
    cards = {n: find_card(n) for n in ("yolox_nano_coco", "yolov8n_coco_int8")}
    files = {n: str(resolve_file(c)) for n, c in cards.items()}
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        app = create_app(review_config(tmp_path), load_taxonomy(), sessions)
        admin = TestClient(app, base_url="https://testserver")
        admin.headers["X-CSRF-Token"] = login(admin, "admin")
        with LiveServer(app) as server:
            zone = {"id": "z", "name": "区", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
            zone["rules"] = [{"category": "0507", "labels": ["suitcase"]}]
            cfg = WorkerConfig.model_validate(
                {
                    "data_dir": str(tmp_path / "w"),
                    "detectors": {"models": ["yolox_nano_coco"], "stationary": False, "threads": 1},
                    "review_url": server.url,
                    "review_token": tokens["worker"],
                    "cameras": [{"id": "cam", "source": str(FOOTAGE), "zones": [zone]}],
                }
            )
            worker = Worker(*resolve_config(cfg, tmp_path, "test"))
            before = worker.detectors[0]
            worker.refresh_models()  # nothing promoted: the config's model stays
            assert worker.detectors[0] is before and before.checksum == cards["yolox_nano_coco"].checksum

            new = (files["yolov8n_coco_int8"], cards["yolov8n_coco_int8"].checksum)
            old = (files["yolox_nano_coco"], cards["yolox_nano_coco"].checksum)
            bad = admin.post("/api/models/reports", json=_report(str(tmp_path / "gone.onnx"), "sha256:x", *old))
            assert admin.post("/api/models/promote", json={"report_id": bad.json()["id"]}).status_code == 200
            worker.refresh_models()  # a promoted file that cannot be loaded: detection goes on with the old one
            assert worker.detectors[0] is before

            assert admin.post("/api/models/rollback", json={"model_name": "yolox_nano_coco"}).status_code == 200
            report = admin.post("/api/models/reports", json=_report(*new, *old)).json()["id"]
            assert admin.post("/api/models/promote", json={"report_id": report}).status_code == 200
            worker.refresh_models()
            assert worker.detectors[0].checksum == new[1] and worker.detectors[0].labels[:1] == ["person"]
            assert [(m.name, m.checksum) for m in worker.models] == [("yolov8n_coco_int8", new[1])]  # in clue events

            assert admin.post("/api/models/rollback", json={"model_name": "yolox_nano_coco"}).status_code == 200
            worker.refresh_models()  # 回退: the previous model again, still under the config's name
            assert worker.detectors[0].checksum == old[1]
            worker.refresh_models()
            assert worker.detectors[0].checksum == old[1]
