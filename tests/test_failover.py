"""Several worker processes share cameras through leases on real PostgreSQL and publish to real RabbitMQ.

One worker is SIGKILLed: its cameras are owned again by the others within the lease time, no camera is
run by two workers at once, and every clue's events stay one unbroken sequence under one id.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import pg_schema_url, shared_file

from xuncha.clues.broker import collect_events
from xuncha.types import iou

TTL = 6.0
CAMS = [f"cam-{i}" for i in range(4)]
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with pg_schema_url("failover") as url:
        yield url


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())
    except OSError:
        return None


def _opened(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        return 'xuncha_clue_events_total{kind="opened"}' in r.read().decode()


def test_killed_workers_cameras_are_taken_over(tmp_path: Path, pg_schema: str, amqp_vhost: str) -> None:
    shared_file("models/yolox_nano_coco.onnx")
    video = shared_file("footage/indoor_people_standing.mp4")
    rule = {"category": "0508", "labels": ["person"], "min_score": 0.4, "dwell_s": 3}
    ports = [_free_port() for _ in range(3)]
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    for i, port in enumerate(ports):
        name = f"w{i}"
        cfg = {
            "data_dir": str(tmp_path / name),
            "broker_url": amqp_vhost,
            "leases_url": pg_schema,
            "worker_id": name,
            "lease_ttl_s": TTL,
            "metrics_port": port,
            "detectors": {"models": ["yolox_nano_coco"], "stationary": False, "threads": 1},
            "cameras": [
                {
                    "id": cid,
                    "source": str(video),
                    "sample_interval_s": 1.0,
                    "zones": [{"id": "floor", "name": "地面", "polygon": WHOLE, "rules": [rule]}],
                }
                for cid in CAMS
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
    port_of = dict(zip(procs, ports, strict=True))

    def owners() -> dict[str, list[str]]:
        seen: dict[str, list[str]] = defaultdict(list)
        for name, port in port_of.items():
            h = _health(port) if procs[name].poll() is None else None
            for cid, state in (h or {}).get("cameras", {}).items():
                if state["state"] != "ended":
                    seen[cid].append(name)
        return seen

    overlaps: list[dict] = []
    previous: dict[str, list[str]] = {}

    def poll() -> dict[str, list[str]]:
        nonlocal previous
        now = owners()
        # Polls of different workers are not simultaneous: count an overlap only when it persists.
        both = {c: w for c, w in now.items() if len(w) > 1 and len(previous.get(c, [])) > 1}
        if both:
            overlaps.append(both)
        previous = now
        return now

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and set(poll()) != set(CAMS):
            time.sleep(0.5)
        spread = poll()
        assert set(spread) == set(CAMS), spread
        counts = defaultdict(list)
        for cid, ws in spread.items():
            counts[ws[0]].append(cid)
        victim = max(counts, key=lambda w: len(counts[w]))
        orphans = set(counts[victim])
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not _opened(port_of[victim]):  # kill it with a clue open
            poll()
            time.sleep(0.5)
        assert _opened(port_of[victim]), "the victim opened no clue"
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(10)
        killed_at = time.monotonic()

        taken_over = None
        while time.monotonic() - killed_at < TTL + 15:
            now = poll()
            if all(cid in now and victim not in now[cid] for cid in orphans):
                taken_over = time.monotonic() - killed_at
                break
            time.sleep(0.5)
        assert taken_over is not None, f"{orphans} of {victim} not taken over: {poll()}"
        assert taken_over <= TTL + 2 * (TTL / 3) + 3, taken_over
        for _ in range(10):  # survivors keep processing (and continue adopted clues)
            poll()
            time.sleep(0.5)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            p.wait(30)
    assert overlaps == [], overlaps
    for name, p in procs.items():
        if name != victim:
            assert p.returncode == 0, logs[name].read_text()[-3000:]

    events = collect_events(amqp_vhost, limit=100000, timeout=3)
    assert any(e.kind == "opened" for e in events)
    by_clue: dict[str, set[int]] = defaultdict(set)
    for e in events:
        by_clue[e.clue_id].add(e.seq)
    for clue_id, seqs in by_clue.items():
        assert seqs == set(range(max(seqs) + 1)), f"clue {clue_id}: events lost, seqs {sorted(seqs)}"
    # Nor reported again under a new id: while a clue is open, no other clue of the same camera, zone
    # and category opens at its place (its latest box then), whichever worker emitted either.
    for b in (e for e in events if e.kind == "opened"):
        for clue_id in by_clue.keys() - {b.clue_id}:
            mine = sorted((e for e in events if e.clue_id == clue_id), key=lambda e: e.seq)
            if (mine[0].camera.id, mine[0].zone.id, mine[0].category.code) != (
                b.camera.id,
                b.zone.id,
                b.category.code,
            ):
                continue
            before = [e for e in mine if e.emitted_at < b.emitted_at]
            if before and before[-1].kind != "closed" and mine[0].kind == "opened":
                assert iou(before[-1].box, b.box) <= 0.7, f"{b.clue_id} re-reports open clue {clue_id} at {b.box}"
    survivors_log = "".join(logs[n].read_text() for n in procs if n != victim)
    adopted = [cid for cid in by_clue if f"continuing open clue {cid}" in survivors_log]
    assert adopted, "no open clue of the killed worker was continued by the survivors"
