"""`xuncha worker` with `cameras_from_service: true` against a real review service (uvicorn, SQLite).

The worker runs the service's cameras, sends a reference picture, applies a new zone set version
without a restart, keeps running when the service goes away, and a worker started while it is
away runs on the last good copy.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import yaml
from conftest import shared_file
from review_support import LiveServer, add_users, database, review_config
from test_worker_live import free_port, get, wait_for

from xuncha.config.worker import WorkerConfig
from xuncha.db.base import utcnow
from xuncha.db.cameras import ReferencePicture
from xuncha.review.app import create_app
from xuncha.review.cameras import CameraFields, save_camera, save_zone_set
from xuncha.service_cameras import ServiceCameras
from xuncha.taxonomy import load_taxonomy
from xuncha.types import Detection, Frame
from xuncha.zones.match import Candidate

ZONE = {
    "id": "walk",
    "name": "人行道",
    "polygon": [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0.0, 1.0]],
    "rules": [{"category": "0507", "labels": ["static_object"], "dwell_s": 30}],
}


def start_worker(tmp_path: Path, name: str, review_url: str, token: str, port: int) -> tuple[subprocess.Popen, Path]:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "review_url": review_url,
                "review_token": token,
                "cameras_from_service": True,
                "detectors": {"models": [], "stationary": True},
            }
        )
    )
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(config), "--metrics-port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return proc, log


def samples(port: int) -> float:
    for line in get(f"http://127.0.0.1:{port}/metrics")[1].decode().splitlines():
        if line.startswith('xuncha_samples_total{camera="walk-01"}'):
            return float(line.split()[-1])
    return 0.0


def cameras_up(port: int) -> set[str]:
    try:
        return set(json.loads(get(f"http://127.0.0.1:{port}/health")[1])["cameras"])
    except OSError:
        return set()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_worker_runs_service_cameras_and_keeps_its_last_good_copy(tmp_path: Path) -> None:
    video = shared_file("footage/indoor_people_standing.mp4")  # 139 s in real time: still playing at the end
    taxonomy = load_taxonomy()
    with database("sqlite", tmp_path) as (_url, sessions):
        token = add_users(sessions)["worker"]
        with sessions.begin() as s:
            save_camera(
                s,
                CameraFields(id="walk-01", name="人行道", source=str(video), sample_interval_s=0.5),
                "admin",
                utcnow(),
                create=True,
            )
            save_zone_set(s, "walk-01", "", {"zones": [ZONE]}, "admin", utcnow(), taxonomy)
        server = LiveServer(create_app(review_config(tmp_path), taxonomy, sessions)).__enter__()
        port, port2 = free_port(), free_port()
        proc, log = start_worker(tmp_path, "w1", server.url, token, port)
        proc2 = None
        try:
            wait_for(lambda: cameras_up(port) == {"walk-01"}, timeout=60)
            wait_for(lambda: samples(port) > 0)
            # It sends the camera's reference picture (none yet) from a sample.
            wait_for(lambda: sessions().get(ReferencePicture, ("walk-01", "")) is not None)
            # The camera restarts once to check its view against that picture.
            wait_for(lambda: log.read_text().count("camera walk-01: started") == 2, timeout=30)

            # A new zone set version reaches the running worker without a restart.
            with sessions.begin() as s:
                save_zone_set(
                    s, "walk-01", "", {"zones": [{**ZONE, "name": "人行道（改）"}]}, "admin", utcnow(), taxonomy
                )
            wait_for(lambda: "cameras changed in the review service" in log.read_text(), timeout=30)
            wait_for(lambda: log.read_text().count("camera walk-01: started") == 3)
            copy = json.loads((tmp_path / "var" / "service_cameras.json").read_text())
            assert copy["cameras"][0]["zones"]["zones"][0]["name"] == "人行道（改）"
            assert copy["cameras"][0]["zones"]["version"] == 2

            # The service goes away: the worker goes on sampling its camera.
            server.__exit__(None, None, None)
            wait_for(lambda: "review service not reachable" in log.read_text(), timeout=30)
            before = samples(port)
            wait_for(lambda: samples(port) > before + 2)
            assert proc.poll() is None and cameras_up(port) == {"walk-01"}

            # A worker started while the service is away runs on the last good copy.
            proc2, log2 = start_worker(tmp_path, "w2", server.url, token, port2)
            wait_for(lambda: cameras_up(port2) == {"walk-01"}, timeout=60)
            assert "starting on the last good copy" in log2.read_text()
        finally:
            stop(proc)
            if proc2 is not None:
                stop(proc2)
            server.__exit__(None, None, None)
        assert proc.returncode == 0, log.read_text()[-3000:]


def test_sightings_reach_the_editor_api(tmp_path: Path) -> None:
    """What the detectors saw is sent with the next fetch; the editor reads the last hour of it."""

    taxonomy = load_taxonomy()
    with database("sqlite", tmp_path) as (_url, sessions):
        tokens = add_users(sessions)
        with sessions.begin() as s:
            for cid, worker in (("cam-a", None), ("cam-b", "someone-else")):
                fields = CameraFields(id=cid, source="rtsp://10.0.0.1/1", worker=worker)
                save_camera(s, fields, "admin", utcnow(), create=True)
        with LiveServer(
            create_app(review_config(tmp_path).model_copy(update={"cookie_secure": False}), taxonomy, sessions)
        ) as server:
            cfg = WorkerConfig(data_dir=tmp_path / "var", review_url=server.url, cameras_from_service=True)
            remote = ServiceCameras(cfg, taxonomy, tokens["worker"], every_s=0)
            cams = {c.id: c for c in remote.initial().cameras}
            assert set(cams) == {"cam-a"}
            image = np.zeros((480, 720, 3), np.uint8)
            bag = Detection("suitcase", 0.7, (72.0, 240.0, 144.0, 480.0), "m")
            now = time.time()
            remote.matched(cams["cam-a"], Frame("cam-a", now, image), [bag], [Candidate("z", "0507", bag)])
            remote.matched(cams["cam-a"], Frame("cam-a", now + 5, image), [bag], [])  # within 30 s: not kept
            assert remote.reload() is None  # nothing changed in the camera list; the sightings went along
            with httpx.Client(base_url=server.url) as c:
                c.post("/login", data={"username": "admin", "password": "admin-pass-1", "next": "/"})
                got = c.get("/api/cameras/cam-a/sightings").json()["sightings"]
            assert got == [
                {"ts": now, "boxes": [{"label": "suitcase", "score": 0.7, "box": [0.1, 0.5, 0.2, 1.0], "zones": ["z"]}]}
            ]
            assert remote.reload() is None  # sent once only
            with httpx.Client(base_url=server.url) as c:
                c.post("/login", data={"username": "admin", "password": "admin-pass-1", "next": "/"})
                assert len(c.get("/api/cameras/cam-a/sightings").json()["sightings"]) == 1
