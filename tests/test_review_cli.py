"""`xuncha review`: config loading, create-user/create-token, and the running service (web + intake + relay)."""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from kombu import Connection
from review_support import RUN, make_event, write_evidence

from xuncha.clues.broker import CluePublisher, embedded_broker_url
from xuncha.review import cli
from xuncha.review.cases import CASE_TOPOLOGY
from xuncha.review.config import load_review_config
from xuncha.yamlfile import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "xuncha" / "configs" / "review.yaml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xuncha")
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


def _config(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump({"data_dir": "data", "cookie_secure": False, **extra}), encoding="utf-8")
    return path


def test_example_config_loads_and_resolves_paths() -> None:
    cfg, taxonomy = load_review_config(EXAMPLE)
    var = (REPO / "var" / "example").resolve()
    assert cfg.db_url == f"sqlite:///{var / 'review.sqlite'}"
    assert cfg.kombu_url == f"sqla+sqlite:///{var / 'broker.sqlite'}"  # the example worker's broker
    assert [r.code for r in cfg.reject_reasons][2] == "fixture" and "0102" in taxonomy


def test_bad_config_names_file_and_field(tmp_path: Path) -> None:
    path = _config(tmp_path, undo_window_s=-1, reject_reasons=[{"code": "x", "name": "a"}, {"code": "x", "name": "b"}])
    with pytest.raises(ConfigError) as e:
        load_review_config(path)
    assert str(path) in str(e.value) and "undo_window_s" in str(e.value)
    with pytest.raises(ConfigError, match="departments"):
        load_review_config(_config(tmp_path, dispatch={"departments": {"9999": "x"}}))


def test_create_user_and_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    path = _config(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("admin-pass-1\n"))
    args = _parser().parse_args(
        ["review", "--config", str(path), "create-user", "admin", "--role", "admin", "--password-stdin"]
    )
    assert args.func(args) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("admin-pass-1\n"))
    assert args.func(args) == 1  # exists already
    args = _parser().parse_args(["review", "--config", str(path), "create-token", "dispatch"])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "created admin admin" in out.out and re.search(r"^xct_\S{40,}$", out.out, re.M)
    assert "exists already" in out.err


def test_service_runs_intake_web_and_relay(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = _config(tmp_path, port=port, undo_window_s=0, public_url=f"http://127.0.0.1:{port}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(
        [sys.executable, "-c", RUN, "review", "--config", str(path), "create-user", "op", "--password-stdin"],
        input="op-password\n",
        text=True,
        check=True,
        env=env,
        capture_output=True,
    )
    broker = embedded_broker_url(tmp_path / "data" / "broker.sqlite")
    ev = make_event(1)
    write_evidence(tmp_path / "data" / "evidence", ev)
    with CluePublisher(broker) as pub:  # published before the service starts: waits in the queue
        pub.publish(ev)
        pub.publish(ev)
    log = open(tmp_path / "service.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "review", "--config", str(path)], stdout=log, stderr=log, env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "service.log").read_text()
                time.sleep(0.2)
            http.post("/login", data={"username": "op", "password": "op-password"})
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', http.get("/").text).group(1)
            deadline = time.monotonic() + 20
            while http.get("/api/clues").json()["total"] == 0:
                assert time.monotonic() < deadline, "intake did not deliver the clue"
                time.sleep(0.2)
            assert http.post("/api/clues/clue-001/accept", headers={"X-CSRF-Token": csrf}).status_code == 200
        with Connection(broker) as conn:
            got = []
            conn.transport.polling_interval = 0.1
            with conn.Consumer(CASE_TOPOLOGY.queue, callbacks=[lambda b, m: (got.append(b), m.ack())], accept=["json"]):
                deadline = time.monotonic() + 20
                while not got and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
        assert [b["case_id"] for b in got] == ["case-clue-001"]
        assert got[0]["evidence"]["scene"].startswith(f"http://127.0.0.1:{port}/evidence/")
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
