"""A folder of timestamped pictures as a camera: many city cameras publish stills, not streams.

Each still's time comes from its file name (`image_2020-09-10T07-58-06.167747-00-00.jpg`,
`2018-03-20T19-25-26-0000.png`, `cam_20200910_075806.jpg`, ...); a name without a zone is local time
in the worker's `timezone`. Only when NO picture in the folder has a time in its name are the files'
modification times used instead (a folder copied by hand); a folder that mixes the two is an error,
because name times and copy times are different clocks and would interleave the pictures wrongly.

Samples are in time order; `offset` is seconds since the first still, so `--once` interleaves still
folders and video files by time since each one's start (as it does files), and the live loop replays a folder
at the pace it was taken.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from xuncha.streams.errors import StreamError
from xuncha.types import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# date, time (separated by -, :, _ or nothing), optional fraction, optional zone (Z, +08:00, -0000, -00-00).
_TIME = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_ -]?(\d{2})[-:_.]?(\d{2})[-:_.]?(\d{2})(?!\d)"
    r"(?:[.,](\d{1,9}))?"
    r"(?:(Z)|([+-])(\d{2})[-:]?(\d{2}))?(?!\d)"
)


class StillsError(StreamError):
    """A still folder that cannot be a camera (missing, empty, names without usable times)."""


@dataclass(frozen=True, slots=True)
class Still:
    name: str
    ts: float  # epoch seconds


def parse_still_time(name: str, tz: tzinfo) -> datetime | None:
    """The time in a still's file name, or None; names without a zone are in `tz`.

    >>> parse_still_time("image_2020-09-10T07-58-06.167747-00-00.jpg", UTC).isoformat()
    '2020-09-10T07:58:06.167747+00:00'
    >>> parse_still_time("2018-03-20T19-25-26-0000.png", UTC).isoformat()
    '2018-03-20T19:25:26+00:00'
    >>> parse_still_time("cam3_20200910_075806.jpg", timezone(timedelta(hours=8))).isoformat()
    '2020-09-10T07:58:06+08:00'
    >>> parse_still_time("shot0001.png", UTC) is None
    True
    """
    for m in _TIME.finditer(Path(name).stem):
        year, month, day, hour, minute, second, frac, zulu, sign, zh, zm = m.groups()
        zone = tz
        if zulu:
            zone = UTC
        elif sign:
            delta = timedelta(hours=int(zh), minutes=int(zm))
            zone = timezone(-delta if sign == "-" else delta)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        try:
            return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
        except ValueError:  # digits that look like a time but are not one (month 13): try further on
            continue
    return None


def order_stills(camera_id: str, folder: str, entries: Iterable[tuple[str, float]], tz: tzinfo) -> list[Still]:
    """Pictures `(file name, mtime)` in time order, timed by name, or all by mtime when no name has a time.

    >>> [s.name for s in order_stills("c", "f", [("b_2020-01-01T00-00-02Z.jpg", 0), ("a_2020-01-01T00-00-01Z.jpg", 9)],
    ...  UTC)]
    ['a_2020-01-01T00-00-01Z.jpg', 'b_2020-01-01T00-00-02Z.jpg']
    """
    entries = sorted(entries)
    if not entries:
        raise StillsError(
            f"camera {camera_id}: still folder {folder} has no pictures ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    timed = [(name, parse_still_time(name, tz)) for name, _ in entries]
    untimed = [name for name, t in timed if t is None]
    if len(untimed) == len(entries):
        log.info("camera %s: no times in the names in %s, using file modification times", camera_id, folder)
        stills = [Still(name, mtime) for name, mtime in entries]
    elif untimed:
        shown = ", ".join(untimed[:3]) + (f" and {len(untimed) - 3} more" if len(untimed) > 3 else "")
        raise StillsError(
            f"camera {camera_id}: still folder {folder}: no time in the file name of {shown} "
            f"(expected e.g. image_2020-09-10T07-58-06-00-00.jpg); rename or remove them"
        )
    else:
        stills = [Still(name, t.timestamp()) for name, t in timed if t is not None]
    return sorted(stills, key=lambda s: (s.ts, s.name))


def thin(stills: list[Still], interval_s: float) -> list[Still]:
    """At most one still per `interval_s` (the camera's sample interval), the first of each.

    >>> [s.ts for s in thin([Still("a", 0.0), Still("b", 0.5), Still("c", 1.0), Still("d", 3.5)], 1.0)]
    [0.0, 1.0, 3.5]
    """
    kept: list[Still] = []
    for s in stills:
        if not kept or s.ts - kept[-1].ts >= interval_s - 1e-6:
            kept.append(s)
    return kept


class StillsSource:
    """Yield one Frame per picture of a folder, stamped with the picture's time (see the module doc)."""

    def __init__(self, camera_id: str, path: str | Path, interval_s: float, tz: str | tzinfo = "UTC") -> None:
        if interval_s <= 0:
            raise ValueError(f"camera {camera_id}: sample interval must be > 0, got {interval_s}")
        self.camera_id = camera_id
        self.path = Path(path)
        self.interval_s = interval_s
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.duration_s: float | None = None
        self.position_s = 0.0

    def stills(self) -> list[Still]:
        if not self.path.is_dir():
            raise StillsError(f"camera {self.camera_id}: still folder not found: {self.path}")
        entries = [
            (p.name, p.stat().st_mtime)
            for p in self.path.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        ]
        stills = thin(order_stills(self.camera_id, str(self.path), entries, self.tz), self.interval_s)
        self.duration_s = stills[-1].ts - stills[0].ts
        return stills

    def frames(self) -> Iterator[Frame]:
        stills = self.stills()
        first = stills[0].ts
        count = 0
        for still in stills:
            self.position_s = still.ts - first
            image: np.ndarray | None = cv2.imread(str(self.path / still.name), cv2.IMREAD_COLOR)
            if image is None:  # a half-written or broken picture costs one sample, not the camera
                log.warning("camera %s: cannot read picture %s, skipped", self.camera_id, self.path / still.name)
                continue
            count += 1
            yield Frame(self.camera_id, still.ts, image, offset=self.position_s)
        if count == 0:
            raise StillsError(f"camera {self.camera_id}: no readable picture in {self.path}")
