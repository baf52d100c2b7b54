"""The 立案率 page's numbers over 31 days: counted in SQL, against loading every reviewed clue into Python.

Counted in SQL: `stats.summarize`; the baseline, measured in the same run on the same data: `load_reviewed` +
`aggregate`, what /stats did before.

Seeds `--cases` cases (twice as many reviewed clues, xuncha.bench.cases) into a fresh PostgreSQL
schema (and, unless --skip-sqlite, a SQLite file); per database and method, the page's work
(the chosen dimension, the days, the total) `--repeat` times: median wall time and the ratio; the
two methods' tables must be equal.

    .venv/bin/xuncha bench stats-sql [--cases 100000] [--repeat 3] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from xuncha.bench.cases import generate, seed
from xuncha.db.engine import open_database
from xuncha.review import stats

TZ = ZoneInfo("Asia/Shanghai")
MAY = datetime(2026, 5, 1, tzinfo=TZ)
SINCE = datetime(2026, 6, 1, 9, tzinfo=TZ) - timedelta(days=31)


def _old(s, by: str) -> tuple[list, list, object]:
    rows = stats.load_reviewed(s, since=SINCE)
    table = stats.aggregate(rows, by, TZ)
    return table, stats.aggregate(rows, "day", TZ), stats.total_of(table)


def _new(s, by: str) -> tuple[list, list, object]:
    table = stats.summarize(s, by, TZ, since=SINCE)
    return table, stats.summarize(s, "day", TZ, since=SINCE), stats.total_of(table)


def run(url: str, cases: int, repeat: int, by: str) -> None:
    engine, sessions = open_database(url)
    try:
        t0 = time.perf_counter()
        seed(sessions, generate(cases * 2, MAY, days=31, accept_rate=0.5))
        print(f"  seeded {cases * 2} reviewed clues in {time.perf_counter() - t0:.0f} s", flush=True)
        if url.startswith("postgresql"):
            with engine.connect() as c:
                c.execute(text("ANALYZE"))
                c.commit()
        medians, results = {}, {}
        for name, fn in (("baseline: rows into Python", _old), ("SQL aggregates", _new)):
            times = []
            for _ in range(repeat):
                with sessions() as s:
                    t = time.perf_counter()
                    results[name] = fn(s, by)
                    times.append(time.perf_counter() - t)
            medians[name] = statistics.median(times)
            print(f"  {name:28s} median {medians[name]:.2f} s (max {max(times):.2f})", flush=True)
        (old, new) = results.values()
        same = [[vars(r) for r in part] for part in old[:2]] == [[vars(r) for r in part] for part in new[:2]]
        assert same and vars(old[2]) == vars(new[2]), "the two methods disagree"
        a, b = medians.values()
        print(f"  same tables; {a / b:.0f}x faster ({old[2].reviewed} decisions in the 31 days)")
    finally:
        engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--by", default="category", choices=list(stats.DIMENSIONS))
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    args = ap.parse_args()
    if not args.skip_pg:
        _pg(args)
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as d:
            print(f"SQLite, {args.cases} cases, by {args.by}:")
            run(f"sqlite:///{Path(d) / 'stats.sqlite'}", args.cases, args.repeat, args.by)
    return 0


def _pg(args: argparse.Namespace) -> None:
    schema = f"bench_stats_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        print(f"PostgreSQL, {args.cases} cases, by {args.by}:")
        run(f"{args.pg}?options=-csearch_path%3D{schema}", args.cases, args.repeat, args.by)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
