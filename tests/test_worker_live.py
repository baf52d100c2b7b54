"""`xuncha worker` as a process in live mode: real-time files, health/metrics port, config reload, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from conftest import shared_file

from xuncha.clues.broker import collect_events, embedded_broker_url

WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
PERSON_RULE = {"category": "0508", "labels": ["person"], "dwell_s": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def camera(cam_id: str, source: Path) -> dict:
    return {
        "id": cam_id,
        "source": str(source),
        "sample_interval_s": 0.5,
        "zones": [
            {
                "id": "z",
                "name": "全画面",
                "polygon": WHOLE,
                "rules": [{"category": "0508", "labels": ["person"], "dwell_s": 0}],
            }
        ],
    }


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(predicate, timeout: float = 30.0, every: float = 0.2):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_live_worker_serves_metrics_reloads_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/indoor_people_standing.mp4")  # 139 s: still playing when we stop it
    port = free_port()
    config = tmp_path / "worker.yaml"
    base = {"data_dir": str(tmp_path / "var"), "detectors": {"models": ["yolox_nano_coco"], "stationary": False}}
    config.write_text(yaml.safe_dump({**base, "cameras": [camera("cam-a", video)]}, allow_unicode=True))
    proc = subprocess.Popen(
        [sys.executable, "-m", "xuncha.cli", "worker", "--config", str(config), "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for(lambda: get(f"http://127.0.0.1:{port}/health")[1] if _up(port) else None)
        assert json.loads(health)["cameras"].keys() == {"cam-a"}
        wait_for(lambda: 'xuncha_samples_total{camera="cam-a"}' in get(f"http://127.0.0.1:{port}/metrics")[1].decode())

        # A camera added to the file reaches the running worker without a restart.
        time.sleep(1.1)  # mtime granularity
        config.write_text(
            yaml.safe_dump({**base, "cameras": [camera("cam-a", video), camera("cam-b", video)]}, allow_unicode=True)
        )
        wait_for(lambda: "cam-b" in json.loads(get(f"http://127.0.0.1:{port}/health")[1])["cameras"])
        wait_for(lambda: 'xuncha_samples_total{camera="cam-b"}' in get(f"http://127.0.0.1:{port}/metrics")[1].decode())
        # The first person walks in ~6 s into the clip.
        wait_for(
            lambda: 'xuncha_clue_events_total{kind="opened"}' in get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        )
        # An admin edits cam-a's zone (renames it, raises its score): the camera restarts with the new
        # zones and its open clues continue under their ids instead of being reported again.
        edited = camera("cam-a", video)
        edited["zones"][0] |= {"name": "全画面（已改）", "rules": [PERSON_RULE | {"min_score": 0.3}]}
        time.sleep(1.1)
        config.write_text(yaml.safe_dump({**base, "cameras": [edited, camera("cam-b", video)]}, allow_unicode=True))
        time.sleep(4)  # the next reconcile (every 2 s) applies it
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "done:" in out
    events = collect_events(embedded_broker_url(tmp_path / "var" / "broker.sqlite"), limit=1000, timeout=2)
    opened_a = [e.clue_id for e in events if e.kind == "opened" and e.camera.id == "cam-a"]
    assert opened_a
    assert len({e.event_id for e in events}) == len(events)
    continued = [cid for cid in opened_a if f"camera cam-a: continuing open clue {cid}" in out]
    assert continued, out[-3000:]


def _up(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
