"""A camera's frames on a background thread, handed over through a one-frame slot.

Decoding runs off the inference path; when inference falls behind, the slot keeps only the newest
sample of each camera (a sample more than one interval old is useless), so memory stays bounded
whatever a camera or a burst does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from xuncha.redact import mask_url
from xuncha.streams.errors import StreamError
from xuncha.types import Frame

log = logging.getLogger(__name__)


class LatestFrame:
    """Holds at most one frame: `put` replaces an untaken frame (counted in `dropped`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._lock:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame

    def take(self) -> Frame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            return frame

    def __len__(self) -> int:
        return 0 if self._frame is None else 1


class Feed:
    """Runs `frames(stop)` on a daemon thread into a LatestFrame slot until stopped or the source ends."""

    def __init__(self, camera_id: str, frames: Callable[[threading.Event], Iterator[Frame]]) -> None:
        self.camera_id = camera_id
        self.slot = LatestFrame()
        self.stop = threading.Event()
        self.error: str | None = None
        self.ended = threading.Event()
        self._frames = frames
        self._thread = threading.Thread(target=self._run, name=f"feed-{camera_id}", daemon=True)

    def start(self) -> Feed:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for frame in self._frames(self.stop):
                self.slot.put(frame)
                if self.stop.is_set():
                    break
        except StreamError as e:
            self.error = mask_url(str(e))
            log.error("%s; this camera stops, the others go on", self.error)
        except Exception as e:  # a bug in one camera's decoding must not take the worker down
            self.error = mask_url(f"camera {self.camera_id}: {type(e).__name__}: {e}")
            log.exception("%s", self.error)
        finally:
            self.ended.set()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)


def paced(frames: Iterator[Frame], stop: threading.Event, clock: Callable[[], float] = time.time) -> Iterator[Frame]:
    """Play a recorded file's samples in real time (by their video offset), like a camera would."""
    start = clock()
    for frame in frames:
        if stop.wait(max(0.0, start + (frame.offset or 0.0) - clock())):
            return
        yield frame
