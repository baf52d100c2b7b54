"""Shared fixtures: paths to ../shared/data (tests skip, never pass, when it is absent)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SHARED_DATA = Path(os.environ.get("XUNCHA_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(rel: str) -> Path:
    """Path of a file in ../shared/data; skips the calling test with the reason when it is missing."""
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"shared data file missing: {path} (tests need ../shared/data beside the checkout)")
    return path


@pytest.fixture
def models_dir() -> Path:
    return shared_file("models")


@pytest.fixture
def footage_dir() -> Path:
    return shared_file("footage")


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """12 street_trashbags photos (symlinked) with their polygon labels, in Roboflow's layout."""
    src = shared_file("datasets/street_trashbags")
    out = tmp_path / "tiny"
    (out / "train" / "images").mkdir(parents=True)
    (out / "train" / "labels").mkdir(parents=True)
    shutil.copy(src / "data.yaml", out / "data.yaml")
    for img in sorted((src / "train" / "images").iterdir())[::50][:12]:
        (out / "train" / "images" / img.name).symlink_to(img)
        shutil.copy(src / "train" / "labels" / f"{img.stem}.txt", out / "train" / "labels")
    return out


@contextmanager
def pg_schema_url(prefix: str = "t") -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards; skips without a server."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as e:  # noqa: BLE001 - any connection failure means "no server here"
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_URL} unavailable: {type(e).__name__}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def amqp_vhost() -> Iterator[str]:
    """URL of a fresh RabbitMQ vhost (made with rabbitmqctl, deleted afterwards): services that use
    the default exchange and queue names can run beside the other users of the server."""
    if not listening(5672):
        pytest.skip("RabbitMQ is not listening on 127.0.0.1:5672")
    vhost = f"xuncha-test-{uuid.uuid4().hex[:8]}"
    ctl = ["rabbitmqctl", "-q"]
    try:
        subprocess.run([*ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot create a RabbitMQ vhost with rabbitmqctl: {e}")
    subprocess.run([*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, timeout=60)
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run([*ctl, "delete_vhost", vhost], check=False, timeout=60)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """With XUNCHA_NO_SKIP=1 (set by .ci/run, where data, servers and browser are all provided), a test
    that would skip fails instead: a missing service must not pass CI as a skip."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("XUNCHA_NO_SKIP") == "1" and report.skipped and not isinstance(item, DoctestItem):
        if not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"skipped, but XUNCHA_NO_SKIP=1 requires it to run: {report.longrepr}"
