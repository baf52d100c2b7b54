"""Embedded broker growth: file size and throughput as clue events go through it.

Rounds of --batch events: publish them (CluePublisher), then consume them (consume() with a no-op
handler, acking each), and record broker.sqlite's size and both rates. Baseline, in the same run:
kombu's own SQLAlchemy transport (acks never delete a row), against xuncha.clues.embedded (an ack
deletes the row; SQLite reuses the freed pages). Prints one table per transport and the ratios of
the final size and of the last round's consume rate to the first's.

    .venv/bin/xuncha bench broker-growth [--events 20000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kombu import transport as kombu_transport

from xuncha.clues import embedded
from xuncha.clues.broker import CluePublisher, consume, embedded_broker_url
from xuncha.clues.contracts import ClueEvent

KOMBU = "kombu.transport.sqlalchemy:Transport"


def _event(template: ClueEvent, i: int) -> ClueEvent:
    return template.model_copy(update={"clue_id": f"clue-{i:06d}", "event_id": f"clue-{i:06d}:0"})


def run(folder: Path, events: int, batch: int, template: ClueEvent) -> list[tuple[int, int, float, float]]:
    url = embedded_broker_url(folder / "broker.sqlite")
    rows = []
    with CluePublisher(url) as pub:
        for start in range(0, events, batch):
            t = time.perf_counter()
            for i in range(start, start + batch):
                pub.publish(_event(template, i))
            pub_rate = batch / (time.perf_counter() - t)
            t = time.perf_counter()
            got = consume(url, lambda _e: None, limit=batch, timeout=5, poll_interval=0.01)
            assert got == batch, f"consumed {got} of {batch}"
            rows.append(
                (start + batch, (folder / "broker.sqlite").stat().st_size, pub_rate, batch / (time.perf_counter() - t))
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=2_000)
    args = ap.parse_args()
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
    from review_support import make_event

    template = make_event(1, evidence=False)
    finals = {}
    for name, target in (("kombu (baseline)", KOMBU), ("xuncha.clues.embedded", f"{embedded.__name__}:Transport")):
        for alias in ("sqla", "sqlalchemy"):
            kombu_transport.TRANSPORT_ALIASES[alias] = target
            getattr(kombu_transport, "_transport_cache", {}).pop(alias, None)
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(Path(tmp), args.events, args.batch, template)
        print(f"\n{name}\n| events through | broker.sqlite | publish/s | consume/s |\n|---:|---:|---:|---:|")
        for n, size, pub_rate, con_rate in rows:
            print(f"| {n:,} | {size / 1e6:.2f} MB | {pub_rate:,.0f} | {con_rate:,.0f} |")
        finals[name] = rows
    embedded.register()
    (_, old), (_, new) = finals.items()
    print(
        f"\nfinal size: baseline {old[-1][1] / 1e6:.2f} MB, embedded {new[-1][1] / 1e6:.2f} MB "
        f"({old[-1][1] / new[-1][1]:.0f}x smaller)"
    )
    for name, rows in finals.items():
        print(f"{name}: consume rate last/first round {rows[-1][3] / rows[0][3]:.2f}")


if __name__ == "__main__":
    main()
