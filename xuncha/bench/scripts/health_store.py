"""Camera health in the database: storage stays bounded and a worker's report costs the same as they pile up.

A worker pushes the /health entries of all its cameras every few seconds; the review service keeps each
camera's latest entry and its newest `health_store.CHANGES_KEPT` state changes (issue 21 item 6). This
replays `--reports` pushes of `--cameras` cameras through `health_store.save`, one transaction each as
the route does, with every camera flapping (a state change on each of its reports: the worst case for
the change log), and prints per block of reports the database size, the rows kept and the median ms per
push. The first block is the baseline the later ones are compared with, in the same run.

    .venv/bin/xuncha bench health-store [--cameras 100] [--reports 1000] [--block 200] [--pg URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from xuncha.db.cameras import CameraHealthRow, CameraStateChange
from xuncha.db.engine import open_database
from xuncha.review import health_store

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
STATES = ("ok", "degraded", "down")


def entry(report: int, cam: int) -> dict[str, object]:
    """A worker's /health entry as it sends it; the state cycles so that every report is a change."""
    return {
        "state": STATES[(report + cam) % len(STATES)],
        "name": f"摄像头 {cam:03d} 东门路口",
        "last_frame_ts": 1_780_000_000.0 + report * 5,
        "reconnects": report // 50,
        "frames": report * 25,
        "failures": report // 20,
        "last_error": "rtsp: connection refused" if (report + cam) % 3 == 2 else None,
    }


def run(
    url: str,
    cameras: int,
    reports: int,
    block: int,
    size: Callable[[], int],
    maintain: Callable[[], None] = lambda: None,
) -> None:
    """`maintain` runs after each block, before its size is taken (PostgreSQL: the vacuum autovacuum would run)."""
    _engine, sessions = open_database(url)
    ms: list[float] = []
    print("| reports | state changes kept | health rows | database | median ms per push | vs first block |")
    print("|---:|---:|---:|---:|---:|---:|")
    first: float | None = None
    for r in range(reports):
        push = {f"cam{c:03d}": entry(r, c) for c in range(cameras)}
        t = time.perf_counter()
        with sessions.begin() as s:
            health_store.save(s, "worker-1", push, T0 + timedelta(seconds=5 * r))
        ms.append((time.perf_counter() - t) * 1000)
        if (r + 1) % block == 0:
            maintain()
            with sessions() as s:
                kept = s.scalar(select(func.count()).select_from(CameraStateChange))
                rows = s.scalar(select(func.count()).select_from(CameraHealthRow))
            med = statistics.median(ms)
            first = first or med
            print(f"| {r + 1} | {kept} | {rows} | {size() / 1e6:.2f} MB | {med:.1f} | {med / first:.2f}x |", flush=True)
            ms = []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--reports", type=int, default=1000, help="pushes; each is a state change for every camera")
    ap.add_argument("--block", type=int, default=200, help="reports per printed row")
    ap.add_argument("--pg", help="also on PostgreSQL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    print(
        f"{args.cameras} cameras, {args.reports} pushes of all of them, every camera's state changing on every "
        f"push; {health_store.CHANGES_KEPT} changes kept per camera\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.sqlite"
        print("SQLite (the embedded default):\n")
        files = (db, db.with_name(db.name + "-wal"))  # the write-ahead log holds what is not checkpointed
        run(
            f"sqlite:///{db}",
            args.cameras,
            args.reports,
            args.block,
            lambda: sum(f.stat().st_size for f in files if f.exists()),
        )
    if args.pg:
        schema = f"bench_health_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))

        def pg_size() -> int:
            with admin.connect() as c:
                q = "SELECT sum(pg_total_relation_size(quote_ident(:s) || '.' || quote_ident(tablename))) "
                q += "FROM pg_tables WHERE schemaname = :s AND tablename LIKE 'camera_%'"
                return int(c.execute(text(q), {"s": schema}).scalar() or 0)

        with admin.connect() as c:
            autovacuum = c.execute(text("SHOW autovacuum")).scalar() == "on"

        def vacuum() -> None:  # what autovacuum (on by default) does; test servers often run without it
            if not autovacuum:
                with admin.connect() as c:
                    c.execute(text(f"VACUUM {schema}.camera_health, {schema}.camera_state_changes"))

        note = "autovacuum on" if autovacuum else "autovacuum is off on this server: VACUUM after each block"
        print(f"\nPostgreSQL (the camera_* tables; {note}):\n")
        try:
            run(f"{args.pg}?options=-csearch_path%3D{schema}", args.cameras, args.reports, args.block, pg_size, vacuum)
        finally:
            with admin.connect() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
