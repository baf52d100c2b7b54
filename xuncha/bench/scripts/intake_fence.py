"""Lease fencing benchmark: what the fence costs intake per clue event on PostgreSQL.

`--events` `updated` events of one camera are ingested one transaction each (as intake does), once
without a lease token (no fence: the old path) and once with one (the camera's fence row is raised
and locked in each event's transaction), alternating, in a fresh schema per run. Medians over
`--repeat` runs, in ms per event.

    .venv/bin/xuncha bench intake-fence [--events 400] [--repeat 3] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from xuncha.clues.contracts import CameraRef, CategoryRef, ClueEvent, ModelChecksum, ModelRef, ZoneRef
from xuncha.db.engine import open_database
from xuncha.review.intake import ingest

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def event(i: int, token: int | None) -> ClueEvent:
    seq = 1 + i // 100  # 100 clues of one camera, each updated in turn
    return ClueEvent(
        kind="updated",  # an unknown clue's update creates it, as after a spool replay
        seq=seq,
        clue_id=f"clue-{i % 100:03d}",
        emitted_at=T0 + timedelta(seconds=i),
        camera=CameraRef(id="cam-1", name="江南西路口"),
        zone=ZoneRef(id="box", name="配电箱旁"),
        category=CategoryRef(code="0507", name="乱堆物堆料"),
        model=ModelRef(name="yolov8n_coco_int8", checksums=[ModelChecksum(name="yolov8n_coco_int8", checksum=None)]),
        label="suitcase",
        score=0.6,
        box=(72.0, 48.0, 144.0, 144.0),
        frame_size=(720, 480),
        first_seen=T0,
        last_seen=T0 + timedelta(seconds=i),
        dwell_s=float(i),
        occurrences=1 + i,
        lease_token=token,
    )


def run_once(pg: str, events: int, token: int | None) -> float:
    schema = f"bench_fence_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    engine, sessions = open_database(f"{pg}?options=-csearch_path%3D{schema}")
    try:
        batch = [event(i, token) for i in range(events)]
        t = time.perf_counter()
        for e in batch:
            ingest(sessions, e)
        return (time.perf_counter() - t) / events * 1000
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    times: dict[str, list[float]] = {"no token (no fence)": [], "lease token (fenced)": []}
    for _ in range(args.repeat):
        for name, token in zip(times, (None, 1), strict=True):
            times[name].append(run_once(args.pg, args.events, token))
    for name, ms in times.items():
        print(f"{name:22s} median {statistics.median(ms):.2f} ms per event ({', '.join(f'{m:.2f}' for m in ms)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
