"""Per-camera health of a live source: what a command centre needs to see a camera silently die.

The monitor records events (connect attempts, failures, decoded frames, sampled pictures) with
their times; the state is derived when asked, so a camera whose reader is stuck still turns
"down" once its last frame is older than `stale_after_s`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np

State = Literal["connecting", "up", "down", "frozen"]


@dataclass(frozen=True)
class CameraHealth:
    """A snapshot. `down_since` is set while down; `last_error` never carries credentials."""

    camera_id: str
    state: State
    down_since: float | None
    last_frame_ts: float | None
    reconnects: int
    decode_errors: int
    last_error: str | None
    sampling: str
    samples: int


def _thumb(image: np.ndarray) -> np.ndarray:
    return image[::8, ::8].astype(np.int16)


class HealthMonitor:
    """Thread-safe event record of one camera; `snapshot(now)` gives its CameraHealth.

    A picture counts as still when the mean absolute difference of a subsampled copy to the
    previous sample is at most `still_tolerance` grey levels: a frozen encoder repeats the very
    same picture (difference 0), while even a static real scene differs by 1.5 or more from
    keyframe to keyframe (measured on the shared indoor footage). Still for over
    `frozen_after_s` is "frozen".
    """

    def __init__(
        self, camera_id: str, *, frozen_after_s: float, stale_after_s: float, still_tolerance: float = 0.5
    ) -> None:
        self.camera_id = camera_id
        self.frozen_after_s = frozen_after_s
        self.stale_after_s = stale_after_s
        self.still_tolerance = still_tolerance
        self.sampling = ""
        self._lock = threading.Lock()
        self._attempts = 0
        self._failed_since: float | None = None
        self._last_frame: float | None = None
        self._decode_errors = 0
        self._last_error: str | None = None
        self._samples = 0
        self._thumb: np.ndarray | None = None
        self._last_sample: float | None = None
        self._still_since: float | None = None

    def connecting(self) -> None:
        with self._lock:
            self._attempts += 1

    def failed(self, now: float, error: str) -> None:
        with self._lock:
            if self._failed_since is None:
                self._failed_since = now
            self._last_error = error

    def decode_error(self, error: str) -> None:
        with self._lock:
            self._decode_errors += 1
            self._last_error = error

    def frame(self, now: float) -> None:
        """A frame was decoded (sampled or not): the camera is alive."""
        with self._lock:
            self._last_frame = now
            self._failed_since = None

    def sample(self, now: float, image: np.ndarray) -> None:
        thumb = _thumb(image)
        with self._lock:
            self._samples += 1
            prev, self._thumb = self._thumb, thumb
            still = (
                prev is not None
                and prev.shape == thumb.shape
                and float(np.abs(prev - thumb).mean()) <= self.still_tolerance
            )
            if not still:
                self._still_since = None
            elif self._still_since is None:
                self._still_since = self._last_sample
            self._last_sample = now

    def is_stale(self, now: float, since: float) -> bool:
        """No frame decoded for over `stale_after_s`, counting from `since` (e.g. the connect time)."""
        with self._lock:
            return now - max(since, self._last_frame or since) > self.stale_after_s

    def snapshot(self, now: float) -> CameraHealth:
        with self._lock:
            down_since = self._failed_since
            if down_since is None and self._last_frame is not None and now - self._last_frame > self.stale_after_s:
                down_since = self._last_frame + self.stale_after_s
            if down_since is not None:
                state: State = "down"
            elif self._last_frame is None:
                state = "connecting"
            elif self._still_since is not None and now - self._still_since > self.frozen_after_s:
                state = "frozen"
            else:
                state = "up"
            return CameraHealth(
                camera_id=self.camera_id,
                state=state,
                down_since=down_since,
                last_frame_ts=self._last_frame,
                reconnects=max(0, self._attempts - 1),
                decode_errors=self._decode_errors,
                last_error=self._last_error,
                sampling=self.sampling,
                samples=self._samples,
            )
