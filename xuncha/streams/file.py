"""Recorded video files as frame sources, sampled by video time.

Only the sampled frames are converted to arrays; the rest are decoded and dropped (a file
has no "live edge", and conversion, not decoding, is the larger cost at low sample rates).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from xuncha.streams.errors import StreamError
from xuncha.types import Frame

log = logging.getLogger(__name__)


class FileSource:
    """Yield one Frame per `interval_s` of video time from a recorded file.

    `start_ts` (epoch seconds) is the wall time of the file's first frame; frame `ts` is
    `start_ts` plus the video position.
    """

    def __init__(self, camera_id: str, path: str | Path, interval_s: float, start_ts: float) -> None:
        if interval_s <= 0:
            raise ValueError(f"camera {camera_id}: sample interval must be > 0, got {interval_s}")
        self.camera_id = camera_id
        self.path = Path(path)
        self.interval_s = interval_s
        self.start_ts = start_ts
        self.duration_s: float | None = None
        self.position_s = 0.0

    def _open(self) -> av.container.InputContainer:
        if not self.path.is_file():
            raise StreamError(f"camera {self.camera_id}: video file not found: {self.path}")
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as e:
            raise StreamError(f"camera {self.camera_id}: cannot open {self.path}: {e}") from None
        if not container.streams.video:
            container.close()
            raise StreamError(f"camera {self.camera_id}: {self.path} has no video stream")
        if container.duration:
            self.duration_s = container.duration / av.time_base
        return container

    def frames(self) -> Iterator[Frame]:
        container = self._open()
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        count = 0
        try:
            for vframe in container.decode(stream):
                t = vframe.time
                if t is None:
                    continue
                self.position_s = t
                if t + 1e-6 < next_t:
                    continue
                image: np.ndarray = vframe.to_ndarray(format="bgr24")
                count += 1
                yield Frame(self.camera_id, self.start_ts + t, image, offset=t)
                next_t = (int(t / self.interval_s + 1e-6) + 1) * self.interval_s
        except av.FFmpegError as e:
            raise StreamError(
                f"camera {self.camera_id}: decode error in {self.path} at {self.position_s:.1f}s: {e}"
            ) from None
        finally:
            container.close()
        if count == 0:
            raise StreamError(f"camera {self.camera_id}: no decodable video frames in {self.path}")
