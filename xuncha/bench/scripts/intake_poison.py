"""Poison-message benchmark: what one garbage message costs the review service's intake.

1. URL masking (every log line goes through it) on runs of letters: the pattern xuncha used
   before (baseline, quadratic: it backtracked over the run from every position) against
   `xuncha.redact.mask_url` (linear). Medians over --repeat runs, and the ratio.
2. A 5 MB body that is not JSON on the clue queue: wall time from consume() start (connect,
   fetch, size check, dead-letter record with a bounded log line) until the dead letter is stored,
   on the embedded SQLite broker and, with --rabbit URL, on RabbitMQ (SQLite database). Median
   over --repeat runs. The old intake logged the whole body through the baseline masking: its
   cost on 5 MB is extrapolated from the measured baseline (n^2), not run (hours).

    .venv/bin/xuncha bench intake-poison [--repeat 5] [--rabbit amqp://guest:guest@127.0.0.1:5672//]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from kombu import Connection, Producer

from xuncha.clues.broker import Topology, consume, embedded_broker_url
from xuncha.db.engine import open_database
from xuncha.redact import mask_url
from xuncha.review import deadletter

BASELINE_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s;'\"<>]+)")  # xuncha/redact.py before b298484
GARBAGE_BYTES = 5 * 1024 * 1024


def _timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def masking(repeat: int) -> float:
    """Prints the table; returns the baseline's seconds per letter^2 (for the extrapolation)."""
    print("| letters | baseline pattern | mask_url | ratio |\n|---:|---:|---:|---:|")
    coef = 0.0
    for n in (10_000, 20_000, 40_000):
        text = "a" * n
        old = _timed(lambda text=text: BASELINE_URL.sub(lambda m: m.group(0), text), repeat)
        new = _timed(lambda text=text: mask_url(text), repeat)
        coef = old / n**2
        print(f"| {n:,} | {old * 1000:.0f} ms | {new * 1000:.3f} ms | {old / new:,.0f}x |")
    new = _timed(lambda: mask_url("a" * GARBAGE_BYTES), repeat)
    print(f"| {GARBAGE_BYTES:,} | ~{coef * GARBAGE_BYTES**2 / 3600:.0f} h (extrapolated n^2) | {new * 1000:.1f} ms | |")
    return coef


def poison_cost(url: str, repeat: int) -> float:
    garbage = (b"not json " + b"abcdefghijklmnopqrstuvwxyz" * 210_000)[:GARBAGE_BYTES]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        engine, sessions = open_database(f"sqlite:///{Path(tmp) / 'review.sqlite'}")
        for _ in range(repeat):
            suffix = uuid.uuid4().hex[:8]
            topo = Topology(exchange_name=f"bench.clues.{suffix}", queue_name=f"bench.review.{suffix}")
            with Connection(url) as conn:
                Producer(conn).publish(
                    garbage, exchange=topo.exchange, routing_key="clue.x", declare=[topo.queue], delivery_mode=2
                )
            done: list[float] = []
            t = time.perf_counter()
            consume(
                url,
                lambda e: None,
                topology=topo,
                timeout=0.5,
                dead_letter=lambda bad, done=done: (deadletter.record(sessions, bad), done.append(time.perf_counter())),
            )
            runs.append(done[0] - t)
            if url.startswith("amqp"):  # the embedded broker lives in the temporary folder
                with Connection(url) as conn:
                    topo.queue(conn.channel()).delete()
                    topo.exchange(conn.channel()).delete()
        engine.dispose()
    return statistics.median(runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rabbit", help="also measure on this RabbitMQ URL")
    p.add_argument("--skip-masking", action="store_true", help="only the 5 MB message (the baseline takes a minute)")
    args = p.parse_args()
    if not args.skip_masking:
        masking(max(1, args.repeat // 2))
    with tempfile.TemporaryDirectory() as tmp:
        cost = poison_cost(embedded_broker_url(Path(tmp) / "broker.sqlite"), args.repeat)
    print(f"\n5 MB garbage message, embedded SQLite broker: {cost * 1000:.0f} ms (median of {args.repeat})")
    if args.rabbit:
        cost = poison_cost(args.rabbit, args.repeat)
        print(f"5 MB garbage message, RabbitMQ: {cost * 1000:.0f} ms (median of {args.repeat})")


if __name__ == "__main__":
    main()
