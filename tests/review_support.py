"""Shared helpers of the review tests: clue events, databases (SQLite and PostgreSQL), users."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from argon2 import PasswordHasher
from conftest import pg_schema_url
from fastapi.testclient import TestClient
from kombu import Connection
from sqlalchemy.orm import sessionmaker

from xuncha.clues.broker import Topology
from xuncha.clues.contracts import (
    CameraRef,
    CategoryRef,
    ClueEvent,
    Evidence,
    EvidenceImage,
    GeoPoint,
    ModelChecksum,
    ModelRef,
    RegionRef,
    ZoneRef,
)
from xuncha.clues.evidence import EvidenceStore
from xuncha.db.engine import open_database
from xuncha.review import auth
from xuncha.review.auth import create_token, create_user
from xuncha.review.config import ReviewConfig
from xuncha.review.intake import ingest

# Argon2 at its defaults costs ~0.5 s per hash on a busy CI machine; the tests need no strength.
auth.HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672//"
# `python -c RUN review ...`: the review command as `xuncha` would register it, without xuncha/cli.py.
RUN = (
    "import argparse, sys; from xuncha.review import cli; p = argparse.ArgumentParser(prog='xuncha');"
    " cli.register(p.add_subparsers(dest='command', required=True)); a = p.parse_args(sys.argv[1:]);"
    " sys.exit(a.func(a))"
)
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))

CATEGORIES = {"0507": ("乱堆物堆料", "乱堆放"), "0102": ("暴露垃圾", None), "0508": ("占道经营", "乱摆卖")}


def make_event(
    i: int,
    kind: str = "opened",
    seq: int = 0,
    *,
    category: str = "0507",
    camera: str | None = None,
    evidence: bool = True,
    occurrences: int | None = None,
) -> ClueEvent:
    clue_id = f"clue-{i:03d}"
    seen = T0 + timedelta(seconds=30 * i)
    name, liuluan = CATEGORIES[category]
    return ClueEvent(
        kind=kind,  # type: ignore[arg-type]
        seq=seq,
        clue_id=clue_id,
        emitted_at=seen + timedelta(seconds=20 + seq),
        camera=CameraRef(
            id=camera or f"cam-{i % 2}",
            name="江南西路口" if i % 2 == 0 else "宝岗大道",
            preset=None if i % 2 else "3",
            location=GeoPoint(lon=113.27, lat=23.09),
        ),
        zone=ZoneRef(id="box", name="配电箱旁"),
        category=CategoryRef(code=category, name=name, liuluan=liuluan),
        region=RegionRef(code="440105001", name="江南中街") if i % 3 else None,
        community=RegionRef(code="440105001001", name="南华西社区") if i % 3 else None,
        grid=RegionRef(code="G-17", name="第17网格") if i % 3 else None,
        model=ModelRef(name="yolov8n_coco_int8", checksums=[ModelChecksum(name="yolov8n_coco_int8", checksum="md5:1")]),
        label="suitcase",
        score=0.6,
        box=(72.0, 48.0, 144.0, 144.0),
        frame_size=(720, 480),
        first_seen=seen,
        last_seen=seen + timedelta(seconds=12 + 10 * seq),
        dwell_s=12.0 + 10 * seq,
        occurrences=occurrences or 5 + seq,
        evidence=Evidence(
            scene=EvidenceImage(path=f"2024-05-01/{clue_id}/scene.jpg", taken_at=seen),
            crop=EvidenceImage(path=f"2024-05-01/{clue_id}/crop.jpg", taken_at=seen),
            start=EvidenceImage(path=f"2024-05-01/{clue_id}/start.jpg", taken_at=seen),
        )
        if evidence
        else None,
        reason="gone" if kind == "closed" else None,
    )


def write_evidence(root: Path, event: ClueEvent) -> None:
    """Real JPEGs for an event's evidence paths (a coloured frame with the box drawn)."""
    store = EvidenceStore(root)
    img = np.full((480, 720, 3), (40 + 7 * int(event.clue_id[-3:]) % 200, 90, 140), np.uint8)
    x1, y1, x2, y2 = (int(v) for v in event.box)
    cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), 3)
    for name in ("scene", "crop", "start"):
        store.put(event.clue_id, name, img, day=event.first_seen.date())


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[tuple[str, sessionmaker]]:
    """A migrated database of `kind` ('sqlite' or 'postgresql'): (url, session factory)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'review.sqlite'}"
        engine, sessions = open_database(url)
        try:
            yield url, sessions
        finally:
            engine.dispose()
        return
    with pg_schema_url("t_review") as url:
        engine, sessions = open_database(url)
        try:
            yield url, sessions
        finally:
            engine.dispose()


class Clock:
    """A settable clock for the app (undo windows, case times)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def review_config(tmp_path: Path, **overrides: object) -> ReviewConfig:
    return ReviewConfig(data_dir=tmp_path, cookie_secure=True, public_url="https://review.example", **overrides)


def add_users(sessions: sessionmaker) -> dict[str, str]:
    """admin, op1, op2 with their passwords, plus a dispatch and a worker token."""
    with sessions.begin() as s:
        create_user(s, "admin", "admin-pass-1", "admin")
        create_user(s, "op1", "op1-pass-1", "operator")
        create_user(s, "op2", "op2-pass-1", "operator")
        return {"dispatch": create_token(s, "dispatch", "dispatch"), "worker": create_token(s, "worker-1", "worker")}


def login(client: TestClient, username: str) -> str:
    """Log `client` in as one of add_users' users; returns the CSRF token of the session."""
    form = {"username": username, "password": f"{username}-pass-1", "next": "/"}
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    page = client.get("/")
    m = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert m, page.text[:300]
    return m.group(1)


class LiveServer:
    """Serves an ASGI app with uvicorn in a thread on a free port (for the browser)."""

    def __init__(self, app: object) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("review server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chromium_page(artifacts: Path, timeout_ms: int = 10_000) -> Iterator[object]:
    """A page in headless Debian Chromium (Playwright), zh-CN in Shanghai time; screenshots go to `artifacts`."""
    from playwright.sync_api import sync_playwright

    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(
                viewport={"width": 1400, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
            )
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def seed(sessions: sessionmaker, evidence_root: Path, n: int) -> list[ClueEvent]:
    """n opened clues (mixed categories and cameras) with real evidence images."""
    cats = list(CATEGORIES)
    events = [make_event(i, category=cats[i % len(cats)]) for i in range(1, n + 1)]
    for ev in events:
        write_evidence(evidence_root, ev)
        ingest(sessions, ev)
    return events


def remaining(url: str, topo: Topology) -> list[bytes]:
    """Bodies still in the queue (taken off it)."""
    bodies: list[bytes] = []
    with Connection(url, connect_timeout=5) as conn:
        queue = topo.queue(conn.default_channel)
        queue.declare()
        while (msg := queue.get()) is not None:
            bodies.append(msg.body if isinstance(msg.body, bytes) else msg.body.encode())  # py-amqp decodes
            msg.ack()
    return bodies


@contextmanager
def isolated_queue(url: str) -> Iterator[Topology]:
    """A clue exchange and queue of their own on the broker at `url` (skips when it is unreachable);
    deleted afterwards on RabbitMQ (the embedded broker's file goes with the test's folder)."""
    suffix = uuid.uuid4().hex[:8]
    topo = Topology(exchange_name=f"t.clues.{suffix}", queue_name=f"t.review.{suffix}")
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as e:  # noqa: BLE001 - any failure means "no broker here"
        pytest.skip(f"broker {url.split('@')[-1]} unavailable: {e}")
    yield topo
    if url.startswith("amqp"):
        with Connection(url) as conn:
            topo.queue(conn.channel()).delete()
            topo.exchange(conn.channel()).delete()


def publish_raw(
    url: str, topo: Topology, messages: list[tuple[str, bytes]], routing_key: str = "clue.opened.0507"
) -> None:
    """What a foreign or broken producer sends: any bytes (message id, body), to `topo`'s exchange."""
    with Connection(url, connect_timeout=5) as conn:
        producer = conn.Producer()
        for message_id, body in messages:
            producer.publish(
                body,
                exchange=topo.exchange,
                routing_key=routing_key,
                declare=[topo.queue],
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
                message_id=message_id,
            )
