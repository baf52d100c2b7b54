"""`xuncha bench month --export-reviews DIR`: the simulated month's first days as a review export.

The clues today's system (no gating) opens on days 1..N of the month, each decided by its ground
truth, become the rows `xuncha review export-dataset` reads from the review database
(`export_plan.Reviewed`), and `export.write_export` writes them: the same folder, labels, split by
camera and day, data.yaml and manifest. The picture of a clue is the frame of the scenario video at
its opening (what the worker stores as the clean frame), kept in an evidence store beside the export.

Simulated, and said in the manifest: the simulated day d is MONTH_START + d - 1 (UTC), the reviewer is
`bench-month`, a rejected false clue has the reason misdetection (误报). Two things differ from a raw
export on purpose: a second clue of one violation ("dup", 重复) is left out (its box is a real bag, and
the export would make it a background image), and identical clues (the same scenario, opening time,
box and decision: a replay whose noise did not change the clue) are exported once, as identical images
would only weigh more, not add anything.

>>> from dataclasses import replace
>>> o = Opened("z", "0102", (1.0, 2.0, 3.0, 4.0), open_ts=100.0, first_ts=85.0)
>>> a, b = Seen(1, "cam", "sc", o, "fp", 0.0, (640, 360)), Seen(2, "cam", "sc", o, "fp", 0.0, (640, 360))
>>> [s.day for s in distinct([a, b, replace(b, outcome="dup")])]
[1]
>>> r, = reviewed_rows([a], {("sc", 100.0): "2026-11-01/x/frame.jpg"})
>>> r.accepted, r.reason_code, r.first_seen.isoformat()
(False, 'misdetection', '2026-11-01T00:01:25+00:00')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from xuncha.bench.baselines import Opened
from xuncha.bench.month import Noise, episode_seed
from xuncha.bench.month_replay import Recording, cameras, decided, passes_per_day
from xuncha.clues.evidence import EvidenceStore
from xuncha.review.export import Exported, write_export
from xuncha.review.export_plan import Reviewed
from xuncha.review.gating import GatingSettings
from xuncha.streams.file import FileSource

MONTH_START = date(2026, 11, 1)  # simulated day 1
REVIEWER = "bench-month"


@dataclass(frozen=True)
class Seen:
    """One clue of today's system in the simulated month, with its outcome by the ground truth."""

    day: int
    camera: str
    scenario: str
    opened: Opened
    outcome: str  # "tp" (filed), "dup" or "fp" (rejected)
    start_ts: float  # the scenario video's time 0 in the clue's clock (the camera's start_time)
    frame_size: tuple[int, int]


def distinct(seen: Sequence[Seen]) -> list[Seen]:
    """The clues an export takes: no second clue of one violation, each identical clue once (the first)."""
    out, keys = [], set()
    for s in seen:
        key = (s.scenario, s.opened.open_ts, s.opened.box, s.outcome)
        if s.outcome != "dup" and key not in keys:
            keys.add(key)
            out.append(s)
    return out


def _at(s: Seen, ts: float) -> datetime:
    return datetime.combine(MONTH_START + timedelta(days=s.day - 1), datetime.min.time(), UTC) + timedelta(
        seconds=ts - s.start_ts
    )


def reviewed_rows(seen: Sequence[Seen], pictures: Mapping[tuple[str, float], str]) -> list[Reviewed]:
    """The review database's rows for `seen`; `pictures` maps (scenario, opening ts) to its evidence path."""
    rows = []
    for n, s in enumerate(seen, 1):
        o = s.opened
        rows.append(
            Reviewed(
                clue_id=f"m{s.day:02d}-{n:05d}",
                camera_id=s.camera,
                category_code=o.category,
                accepted=s.outcome == "tp",
                reason_code=None if s.outcome == "tp" else "misdetection",
                reason_text=None,
                reviewer=REVIEWER,
                decided_at=_at(s, o.open_ts),
                decision_id=n,
                first_seen=_at(s, o.first_ts),
                last_seen=_at(s, o.open_ts),  # seen until at least its opening, the picture's moment
                box=o.box,
                frame_size=s.frame_size,
                picture=pictures[(s.scenario, o.open_ts)],
            )
        )
    return rows


def today_clues(
    recordings: Sequence[Recording],
    *,
    by: str,
    days: int,
    clues_per_day: int,
    seed: int,
    p: GatingSettings,
    noise: Noise,
) -> list[Seen]:
    """Today's clues of days 1..`days`, the same episodes (seeds) as `run_month`'s today column."""
    cams = cameras(recordings, by)
    per_day = passes_per_day(cams, clues_per_day)
    out = []
    for d in range(1, days + 1):
        for cam in sorted(cams):
            for n in range(per_day[cam]):
                s = episode_seed(seed, cam, d, n)
                for i, rec in enumerate(cams[cam]):
                    opened, outcomes, _ = decided(rec, (), s + i, p, noise)
                    start, size = _start(rec), rec.samples[0].size
                    out.extend(
                        Seen(d, cam, rec.scenario, o, k, start, size) for o, k in zip(opened, outcomes, strict=True)
                    )
    return out


def write_month_export(recordings: Sequence[Recording], seen: Sequence[Seen], out: Path) -> Exported:
    """The export of `seen` in `out` (empty or new); the frames go to the evidence store `out`.evidence."""
    store = EvidenceStore(out.with_name(out.name + ".evidence"))
    wanted: dict[str, set[float]] = {}
    for s in seen:
        wanted.setdefault(s.scenario, set()).add(s.opened.open_ts)
    pictures = {}
    for rec in recordings:
        ts = wanted.get(rec.scenario)
        if not ts:
            continue
        # The sampled frames exactly as the worker reads them: the clue's ts is a sample's.
        for frame in FileSource(rec.cam.id, rec.cam.source, rec.cam.sample_interval_s, _start(rec)).frames():
            if frame.ts in ts:
                name = f"{rec.scenario}-{frame.ts - _start(rec):.1f}".replace(".", "_")
                pictures[(rec.scenario, frame.ts)] = store.put(name, "frame", frame.image, day=MONTH_START)
    return write_export(reviewed_rows(seen, pictures), store, out, ZoneInfo("UTC"))


def _start(rec: Recording) -> float:
    return rec.cam.start_time.timestamp()  # type: ignore[union-attr]  # record() requires start_time
