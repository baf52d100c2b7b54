"""Live RTSP cameras as frame sources (PyAV over TCP) that survive the ways cameras fail.

Sampling modes:
- "keyframes": decode only keyframes (`skip_frame = "NONKEY"`), several times cheaper than full
  decoding. Cameras whose GOP is longer than `sparse_gop_factor * interval_s` are switched, once
  and for the source's lifetime, to "interval".
- "interval": decode every frame (P-frames need their references), convert one per interval.
- "patrol": connect, grab one keyframe, disconnect, every interval; for platforms that limit
  concurrent pulls.

Samples are stamped with the receive time (RTSP timestamps can be missing) and are at most one
per interval. A stream that ends, times out, stops decoding or delivers nothing for
`stale_after_s` is a disconnect: `frames()` reconnects with capped exponential backoff and never
ends until `stop` is set. It keeps no queue: run it in its own thread and consume promptly,
otherwise the receive time drifts from the capture time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Literal

import av
import av.container

from xuncha.health.monitor import CameraHealth, HealthMonitor
from xuncha.redact import mask_url
from xuncha.streams.backoff import Backoff
from xuncha.streams.errors import StreamError
from xuncha.types import Frame

log = logging.getLogger(__name__)

Mode = Literal["keyframes", "interval", "patrol"]
MODES: tuple[str, ...] = ("keyframes", "interval", "patrol")
# arrival jitter: a sample may come this fraction of an interval before it is due
_SLACK = 0.1
# TCP: UDP loses packets through NATs and firewalls. Minimal probing: the SDP carries the codec
# parameters, and default probing holds the open for 2-3 s of live video.
_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}
# patrol: longest wait for a keyframe on a fresh connection (GOPs of 10 s and more exist)
_PATROL_GRAB_S = 20.0
# this many undecodable packets in a row means the stream is broken, not one bad packet
_MAX_CONSECUTIVE_DECODE_ERRORS = 50


class RtspSource:
    """Samples of one live camera; `health` may be read from any thread."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        interval_s: float,
        mode: Mode = "keyframes",
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 3.0,
        backoff: Backoff | None = None,
        frozen_after_s: float = 60.0,
        stale_after_s: float | None = None,
        sparse_gop_factor: float = 2.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"camera {camera_id}: sample interval must be > 0, got {interval_s}")
        if mode not in MODES:
            raise ValueError(f"camera {camera_id}: mode must be one of {MODES}, got {mode!r}")
        if open_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError(f"camera {camera_id}: timeouts must be > 0")
        self.camera_id = camera_id
        self.url = url
        self.safe_url = mask_url(url)
        self.interval_s = interval_s
        self.mode = mode
        self.timeout = (open_timeout_s, read_timeout_s)
        self.backoff = backoff or Backoff()
        self.sparse_gop_s = sparse_gop_factor * interval_s
        if stale_after_s is None:
            # silence is caught by the read timeout; this is for bytes that never decode. A fresh
            # connection (or a switch to "interval") may wait a whole long GOP for its first keyframe.
            stale_after_s = max(30.0, 3 * interval_s) if mode == "patrol" else max(30.0, 2 * self.sparse_gop_s)
        self.clock = clock
        self._monitor = HealthMonitor(camera_id, frozen_after_s=frozen_after_s, stale_after_s=stale_after_s)
        self._monitor.sampling = mode
        self._due = float("-inf")  # when the next sample is due

    @property
    def health(self) -> CameraHealth:
        return self._monitor.snapshot(self.clock())

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Samples until `stop` is set; failures only reconnect (see the module docstring).

        Returns within about one read timeout (one open timeout while connecting) of `stop`.
        """
        attempt = 0
        while not stop.is_set():
            start = self.clock()
            try:
                if self.mode == "patrol":
                    frame = self._grab(stop)
                    if frame is None:
                        return
                    attempt = 0
                    yield frame
                    stop.wait(max(0.0, start + self.interval_s - self.clock()))
                    continue
                for frame in self._stream(stop):
                    attempt = 0
                    yield frame
                if stop.is_set():
                    return
                raise StreamError(f"camera {self.camera_id}: stream ended")
            except (av.FFmpegError, OSError, StreamError) as e:
                error = mask_url(str(e))
                if not error.startswith(f"camera {self.camera_id}"):
                    error = f"camera {self.camera_id}: {error}"
                self._monitor.failed(self.clock(), error)
                delay = self.backoff.delay(attempt)
                attempt += 1
                log.warning("%s; reconnecting to %s in %.1fs", error, self.safe_url, delay)
                stop.wait(delay)

    def _open(self) -> tuple[av.container.InputContainer, av.VideoStream]:
        self._monitor.connecting()
        container = av.open(self.url, options=_OPTIONS, timeout=self.timeout)
        if not container.streams.video:
            container.close()
            raise StreamError(f"camera {self.camera_id}: {self.safe_url} has no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # many cameras per core: one decoder thread each
        log.info("camera %s: connected to %s (%s)", self.camera_id, self.safe_url, self._monitor.sampling)
        return container, stream

    def _stream(self, stop: threading.Event) -> Iterator[Frame]:
        container, stream = self._open()
        ctx = stream.codec_context
        keyframes = self._monitor.sampling == "keyframes"
        ctx.skip_frame = "NONKEY" if keyframes else "DEFAULT"
        connected = self.clock()
        key_t: float | None = None  # stream time of the last keyframe (or of the first packet)
        need_key = True  # pictures before the first keyframe reference frames we never decoded
        bad_in_row = 0
        try:
            for packet in container.demux(stream):
                if stop.is_set():
                    return
                now = self.clock()
                # the GOP is measured in stream time: after a stall, buffered packets arrive late
                t = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None
                if t is not None and (packet.is_keyframe or key_t is None):
                    key_t = t
                elif keyframes and t is not None and key_t is not None and t - key_t > self.sparse_gop_s:
                    keyframes = False
                    ctx.skip_frame = "DEFAULT"
                    need_key = True
                    self._monitor.sampling = "interval"
                    log.info(
                        "camera %s: no keyframe for %.1fs of video, sampling one decoded frame every %gs instead",
                        self.camera_id,
                        t - key_t,
                        self.interval_s,
                    )
                try:
                    decoded = self._decode(ctx, packet, keyframes)
                except av.InvalidDataError as e:
                    bad_in_row += 1
                    self._monitor.decode_error(f"camera {self.camera_id}: decode error: {mask_url(str(e))}")
                    if bad_in_row >= _MAX_CONSECUTIVE_DECODE_ERRORS:
                        error = f"camera {self.camera_id}: {bad_in_row} undecodable packets in a row"
                        raise StreamError(error) from None
                    continue
                bad_in_row = 0
                for vframe in decoded:
                    if need_key and not vframe.key_frame:
                        continue
                    need_key = False
                    self._monitor.frame(now)
                    if now >= self._due - _SLACK * self.interval_s:
                        yield self._sample(vframe, now)
                if self._monitor.is_stale(now, connected):
                    raise StreamError(f"camera {self.camera_id}: no frame decoded for {self._monitor.stale_after_s:g}s")
        finally:
            container.close()

    def _grab(self, stop: threading.Event) -> Frame | None:
        """One keyframe from a fresh connection (patrol mode); None when stopped meanwhile."""
        container, stream = self._open()
        stream.codec_context.skip_frame = "NONKEY"
        connected = self.clock()
        try:
            for packet in container.demux(stream):
                if stop.is_set():
                    return None
                now = self.clock()
                for vframe in self._decode(stream.codec_context, packet, True):
                    self._monitor.frame(now)
                    return self._sample(vframe, now)
                if now - connected > _PATROL_GRAB_S:
                    raise StreamError(f"camera {self.camera_id}: no keyframe within {_PATROL_GRAB_S:g}s")
            raise StreamError(f"camera {self.camera_id}: stream ended before a keyframe")
        finally:
            container.close()

    @staticmethod
    def _decode(ctx: av.VideoCodecContext, packet: av.Packet, keyframes_only: bool) -> list[av.VideoFrame]:
        frames = ctx.decode(packet)
        if keyframes_only and packet.is_keyframe:
            # a decoder with B-frame reordering holds a picture back until later ones push it
            # out, i.e. for GOPs when only keyframes are decoded: drain it, then reset for the next
            frames += ctx.decode(None)
            ctx.flush_buffers()
        return frames

    def _sample(self, vframe: av.VideoFrame, now: float) -> Frame:
        image = vframe.to_ndarray(format="bgr24")
        self._monitor.sample(now, image)
        # Due times advance on a fixed grid: a sample taken late (the next keyframe came after the due
        # time) does not push the grid back, so keyframe cameras average one sample per interval; early
        # ones (within the slack) do not raise the rate. Only a whole interval behind restarts the grid.
        due = self._due + self.interval_s
        self._due = due if due > now else now + self.interval_s
        return Frame(self.camera_id, now, image)
