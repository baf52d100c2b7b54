"""Embedded broker growth: file size and throughput as clue events go through it.

Rounds of --batch events: publish them (CluePublisher), then consume them (consume() with a no-op
handler, acking each), and record broker.sqlite's size, both rates and the median time of one
publish and of one consumed message (the gap between two handler calls: a burst of background load
moves the rate of a round more than its median). Baseline, in the same run: kombu's own SQLAlchemy
transport (acks never delete a row) to --baseline-events, against xuncha.clues.embedded (an ack
deletes the row; SQLite reuses the freed pages) to --events. --other N first puts N messages in
another queue of the file that nobody consumes (cases while the dispatch service is down). Rounds
are printed as they end; then the ratios of the final sizes and of the last round's median consume
time to the first's. CPU ms per message (this process's CPU time over the round) is a cost that
background load moves less; SQLite VM steps per message (counted by a progress handler on the
transport's connections while it consumes) one that it does not move at all.

--publish-sample N publishes only the first N events of each round through CluePublisher (the
publish figures are theirs) and writes the rest as kombu writes them, one SQL transaction per 1,000
rows (same payload, queue and columns), so that a 100,000-event run takes minutes, not hours; every
event is still consumed through consume().

    .venv/bin/xuncha bench broker-growth [--events 20000] [--batch 2000] [--baseline-events N] [--other N]
        [--publish-sample N]
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kombu import transport as kombu_transport
from kombu.transport import sqlalchemy as sqla
from sqlalchemy import event

from xuncha.clues import embedded
from xuncha.clues.broker import CluePublisher, Topology, consume, embedded_broker_url
from xuncha.clues.contracts import ClueEvent

KOMBU = "kombu.transport.sqlalchemy:Transport"
OTHER = Topology(exchange_name="xuncha.cases", queue_name="xuncha.cases.dispatch", binding_key="clue.#")
HEADER = (
    "| events through | broker.sqlite | publish/s | consume/s | ms per publish | ms per consumed"
    " | CPU ms per consumed | SQLite steps per consumed |\n|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _event(template: ClueEvent, i: int) -> ClueEvent:
    return template.model_copy(update={"clue_id": f"clue-{i:06d}", "event_id": f"clue-{i:06d}:0"})


def _bulk_put(broker: Path, events: list[ClueEvent]) -> None:
    """Write `events` as kombu's `_put` does (the row of the last published message as the model)."""
    with sqlite3.connect(broker) as db:
        model, queue_id = db.execute("SELECT payload, queue_id FROM kombu_message ORDER BY id DESC LIMIT 1").fetchone()
        model = json.loads(model)
        for start in range(0, len(events), 1000):
            rows = []
            for e in events[start : start + 1000]:
                props = {**model["properties"], "message_id": e.event_id, "delivery_tag": str(uuid.uuid4())}
                props["delivery_info"] = {**props["delivery_info"], "routing_key": e.routing_key}
                body = base64.b64encode(e.model_dump_json().encode()).decode()
                rows.append((json.dumps({**model, "body": body, "properties": props}), queue_id))
            db.executemany(
                "INSERT INTO kombu_message (visible, timestamp, payload, version, queue_id) VALUES (1, NULL, ?, 1, ?)",
                rows,
            )
            db.commit()


class StepCounter:
    """SQLite virtual-machine steps run on an engine's connections, counted in units of STEP."""

    STEP = 10

    def __init__(self) -> None:
        self.steps = 0

    def _tick(self) -> int:
        self.steps += self.STEP
        return 0  # go on

    def install(self, conn: object, *_args: object) -> None:
        conn.connection.driver_connection.set_progress_handler(self._tick, self.STEP)  # type: ignore[attr-defined]


def _engine(broker: Path) -> object:
    """The transport's engine of `broker` (kombu caches one per URL, for every channel)."""
    return next(e for e, _ in sqla.Channel._engines.values() if e.url.database == str(broker))


def run(
    folder: Path, events: int, batch: int, other: int, sample: int, template: ClueEvent
) -> list[tuple[int, int, float, float, float, float]]:
    """Rows of (events through, file size, median s per publish, median s per consumed message, CPU s per
    consumed message, SQLite steps per consumed message)."""
    broker = folder / "broker.sqlite"
    url = embedded_broker_url(broker)
    with CluePublisher(url, topology=OTHER) as pub:
        for i in range(other):
            pub.publish(_event(template, -1 - i))
    rows = []
    counter = StepCounter()
    with CluePublisher(url) as pub:
        pub.publish(_event(template, -1 - other))  # opens the engine; consumed with the first round
        engine = _engine(broker)
        for start in range(0, events, batch):
            gaps: list[float] = []
            t0 = time.perf_counter()
            published = min(batch, sample)
            for i in range(start, start + published):
                t = time.perf_counter()
                pub.publish(_event(template, i))
                gaps.append(time.perf_counter() - t)
            pub_rate, pub_median = published / (time.perf_counter() - t0), statistics.median(gaps)
            _bulk_put(broker, [_event(template, i) for i in range(start + published, start + batch)])
            seen: list[float] = []
            limit = batch + (start == 0)
            event.listen(engine, "before_cursor_execute", counter.install)
            counter.steps = 0
            t0, cpu0 = time.perf_counter(), time.process_time()
            got = consume(
                url, lambda _e, seen=seen: seen.append(time.perf_counter()), limit=limit, timeout=5, poll_interval=0.01
            )
            con_rate, con_cpu = batch / (time.perf_counter() - t0), (time.process_time() - cpu0) / batch
            steps = counter.steps / limit
            event.remove(engine, "before_cursor_execute", counter.install)
            with engine.connect() as c:  # type: ignore[attr-defined]
                c.connection.driver_connection.set_progress_handler(None, 0)  # publishing is not counted
            assert got == limit, f"consumed {got} of {limit}"
            con_median = statistics.median(b - a for a, b in zip(seen, seen[1:], strict=False))
            size = broker.stat().st_size
            print(
                f"| {start + batch:,} | {size / 1e6:.2f} MB | {pub_rate:,.0f} | {con_rate:,.0f}"
                f" | {pub_median * 1e3:.2f} | {con_median * 1e3:.2f} | {con_cpu * 1e3:.2f} | {steps:,.0f} |",
                flush=True,
            )
            rows.append((start + batch, size, pub_median, con_median, con_cpu, steps))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--baseline-events", type=int, help="events through kombu's transport; default --events")
    ap.add_argument("--other", type=int, default=0, help="messages waiting in another queue of the file")
    ap.add_argument("--publish-sample", type=int, help="events of each round through CluePublisher; default all")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
    from review_support import make_event

    template = make_event(1, evidence=False)
    finals = {}
    runs = (
        ("kombu (baseline)", KOMBU, args.baseline_events or args.events),
        ("xuncha.clues.embedded", f"{embedded.__name__}:Transport", args.events),
    )
    for name, target, events in runs:
        for alias in ("sqla", "sqlalchemy"):
            kombu_transport.TRANSPORT_ALIASES[alias] = target
            getattr(kombu_transport, "_transport_cache", {}).pop(alias, None)
        sample = args.publish_sample or args.batch
        print(
            f"\n{name}, {events:,} events in rounds of {args.batch:,} ({min(sample, args.batch):,} of each through"
            f" CluePublisher), {args.other:,} waiting in another queue"
        )
        print(HEADER, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            finals[name] = run(Path(tmp), events, args.batch, args.other, sample, template)
    embedded.register()
    (_, old), (_, new) = finals.items()
    print(
        f"\nfinal size: baseline {old[-1][1] / 1e6:.2f} MB after {old[-1][0]:,} events,"
        f" embedded {new[-1][1] / 1e6:.2f} MB after {new[-1][0]:,}"
    )
    for name, rows in finals.items():
        print(
            f"{name}: median ms per consumed message, last/first round {rows[-1][3] * 1e3:.2f}/{rows[0][3] * 1e3:.2f}"
            f" = {rows[-1][3] / rows[0][3]:.2f}; CPU ms per consumed {rows[-1][4] * 1e3:.2f}/{rows[0][4] * 1e3:.2f}"
            f" = {rows[-1][4] / rows[0][4]:.2f}; SQLite steps {rows[-1][5]:,.0f}/{rows[0][5]:,.0f}"
            f" = {rows[-1][5] / rows[0][5]:.2f}; median per publish {rows[-1][2] / rows[0][2]:.2f}"
        )


if __name__ == "__main__":
    main()
