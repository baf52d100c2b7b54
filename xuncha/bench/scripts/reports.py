"""Report pages over a month of cases: seconds per page (HTML and xlsx) on SQLite and PostgreSQL.

Seeds `--cases` cases (twice as many reviewed clues, handling reports and re-checks for 80 % of
the cases) over 31 days into a fresh SQLite file and a fresh PostgreSQL schema, then times each report
page through the app (login session, full HTML or xlsx response), `--repeat` times, and prints the
median wall time, and the CPU time of this process (the app and SQLite; PostgreSQL's own work is in
its server process) with the machine's load average, since a shared machine inflates wall times. The
baseline, measured in the same run on the same database, is the existing 立案率 page
(`/stats?days=31`), which loads every reviewed clue into Python and aggregates there.

    .venv/bin/xuncha bench reports [--cases 100000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
from review_support import Clock, add_users, login, review_config  # noqa: E402 - test helpers: users, login

from xuncha.bench.cases import generate, seed  # noqa: E402
from xuncha.db.engine import open_database  # noqa: E402
from xuncha.db.users import User  # noqa: E402
from xuncha.review.app import create_app  # noqa: E402
from xuncha.taxonomy import load_taxonomy  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
MAY = datetime(2026, 5, 1, tzinfo=TZ)
PAGES = {
    "日报 day (HTML)": "/reports/daily?date=2026-05-20&period=day",
    "日报 week (HTML)": "/reports/daily?date=2026-05-20&period=week",
    "周报 week (HTML)": "/reports/weekly?date=2026-05-20&period=week",
    "周报 day (HTML)": "/reports/weekly?date=2026-05-20&period=day",
    "日报 week (xlsx)": "/reports/daily.xlsx?date=2026-05-20&period=week",
    "周报 week (xlsx)": "/reports/weekly.xlsx?date=2026-05-20&period=week",
    "baseline: 立案率 /stats?days=31": "/stats?days=31",
}


def run(url: str, cases: int, repeat: int, tmp: Path) -> dict[str, float]:
    engine, sessions = open_database(url)
    try:
        with engine.connect() as c:
            have = c.execute(text("SELECT count(*) FROM cases")).scalar()
        if have:  # a kept PostgreSQL schema (--pg-schema) from an earlier run
            print(f"  reusing {have} cases", flush=True)
        else:
            records = generate(cases * 2, MAY, days=31, accept_rate=0.5)
            t0 = time.perf_counter()
            seed(sessions, records)
            n_cases = sum(r.accepted for r in records)
            print(f"  seeded {len(records)} clues, {n_cases} cases in {time.perf_counter() - t0:.0f} s", flush=True)
        if url.startswith("postgresql"):
            with engine.connect() as c:
                c.execute(text("ANALYZE"))
                c.commit()
        with sessions() as s:
            if s.scalar(select(User.id).where(User.username == "op1")) is None:
                add_users(sessions)
        cfg = review_config(tmp)
        app = create_app(cfg, load_taxonomy(), sessions, clock=Clock(datetime(2026, 6, 1, 9, tzinfo=TZ)))
        out = {}
        with TestClient(app, base_url="https://testserver") as client:
            login(client, "op1")
            for name, path in PAGES.items():
                times, cpu = [], []
                for _ in range(repeat):
                    t, c = time.perf_counter(), time.process_time()
                    r = client.get(path)
                    times.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
                    assert r.status_code == 200, (path, r.status_code, r.text[:200])
                out[name] = statistics.median(times)
                print(
                    f"  {name:34s} median {out[name]:.3f} s (max {max(times):.3f}),"
                    f" this process's CPU {statistics.median(cpu):.3f} s, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        return out
    finally:
        engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--pg-schema", help="keep the seeded PostgreSQL data in this schema (reused when it has cases)")
    ap.add_argument("--skip-sqlite", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_sqlite:
            print(f"SQLite, {args.cases} cases:")
            run(f"sqlite:///{tmp / 'reports.sqlite'}", args.cases, args.repeat, tmp)
        schema = args.pg_schema or f"bench_reports_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        try:
            print(f"PostgreSQL, {args.cases} cases:")
            run(f"{args.pg}?options=-csearch_path%3D{schema}", args.cases, args.repeat, tmp)
        finally:
            if not args.pg_schema:
                with admin.connect() as c:
                    c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
