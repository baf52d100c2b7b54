"""Camera feeds: the one-frame slot drops the oldest sample, a broken source stops only its own feed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from xuncha.streams.errors import StreamError
from xuncha.streams.feed import Feed, LatestFrame, paced
from xuncha.types import Frame


def frame(ts: float, offset: float | None = None) -> Frame:
    return Frame("cam", ts, np.zeros((4, 4, 3), np.uint8), offset)


def test_slot_keeps_only_the_newest_and_counts_drops() -> None:
    slot = LatestFrame()
    assert slot.take() is None and len(slot) == 0
    for ts in (1.0, 2.0, 3.0):
        slot.put(frame(ts))
    assert len(slot) == 1 and slot.dropped == 2
    taken = slot.take()
    assert taken is not None and taken.ts == 3.0
    assert slot.take() is None


def test_feed_delivers_frames_and_a_failing_source_reports_without_raising() -> None:
    def good(stop: threading.Event) -> Iterator[Frame]:
        yield frame(1.0)

    def broken(stop: threading.Event) -> Iterator[Frame]:
        yield frame(1.0)
        raise StreamError("camera cam: rtsp://admin:pw@10.0.0.1/x went away")

    ok = Feed("cam", good).start()
    bad = Feed("cam", broken).start()
    assert ok.ended.wait(5) and bad.ended.wait(5)
    assert ok.error is None and ok.slot.take() is not None
    assert bad.error is not None and "pw" not in bad.error and "admin:***@" in bad.error


def test_paced_plays_a_file_by_its_offsets_and_stops_at_once() -> None:
    now = [100.0]
    stop = threading.Event()
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(round(timeout or 0.0, 3))
            now[0] += timeout or 0.0
            return stop.is_set()

    frames = [frame(0, 0.0), frame(0, 2.0), frame(0, 5.0)]
    got = list(paced(iter(frames), Stop(), clock=lambda: now[0]))
    assert len(got) == 3 and waits == [0.0, 2.0, 3.0]
    stop.set()
    assert list(paced(iter(frames), Stop(), clock=lambda: now[0])) == []
