"""Recorded files as fast as possible (`xuncha worker --once`): every sample in video-time order."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from xuncha.config.worker import CameraConfig
from xuncha.streams.errors import StreamError
from xuncha.streams.file import FileSource
from xuncha.streams.stills import StillsSource
from xuncha.types import Frame
from xuncha.worker.state import Camera, Emit, Host, RunSummary

log = logging.getLogger("xuncha.worker")

PROGRESS_EVERY_S = 10.0


def file_source(cam: CameraConfig, run_start: float, tz: ZoneInfo) -> FileSource | StillsSource:
    """A recorded file starting at the camera's `start_time` (else `run_start`), or a folder of stills,
    whose pictures carry their own times."""
    if Path(cam.source).is_dir():
        return StillsSource(cam.id, cam.source, cam.sample_interval_s, tz)
    start = cam.start_time.timestamp() if cam.start_time else run_start
    return FileSource(cam.id, cam.source, cam.sample_interval_s, start)


def run_files(host: Host, stop: threading.Event, summary: RunSummary, emit: Emit) -> None:
    """The enabled cameras' files to their ends; a stream camera, or one whose file fails, is skipped."""
    run_start = time.time()
    cams: dict[str, tuple[Camera, FileSource | StillsSource, Iterator[Frame]]] = {}
    for cfg in host.cfg.cameras:
        if not cfg.enabled:
            continue
        if not cfg.is_file:
            summary.failed_cameras[cfg.id] = f"camera {cfg.id}: --once needs a recorded file, not a stream"
            log.error("%s; skipping this camera", summary.failed_cameras[cfg.id])
            continue
        source = host.file_source(cfg, run_start)
        cams[cfg.id] = (host.camera(cfg), source, source.frames())
    host.rechecks.take_now(cams.keys())
    pending: dict[str, Frame] = {}
    last_progress = time.monotonic()
    while cams and not stop.is_set():
        for cid, (_, source, frames) in list(cams.items()):
            if cid in pending:
                continue
            try:
                pending[cid] = next(frames)
            except StopIteration:
                # The end of observation is not the end of the violation: open clues stay open.
                log.info("camera %s: end of %s", cid, source.path.name)
                del cams[cid]
            except StreamError as e:
                log.error("%s; skipping this camera", e)
                summary.failed_cameras[cid] = str(e)
                del cams[cid]
        if not pending:
            break
        due = min(f.offset or 0.0 for f in pending.values())
        batch = [(cams[cid][0], f) for cid, f in pending.items() if (f.offset or 0.0) <= due + 1e-6]
        host.process(batch, emit)
        summary.samples += len(batch)
        for cam, _ in batch:
            del pending[cam.cfg.id]
        if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            last_progress = time.monotonic()
            for cid, (_, source, _) in cams.items():
                total = source.duration_s
                pct = f"{100 * source.position_s / total:.0f}%" if total else "?"
                log.info("camera %s: %s (%.0f s of video)", cid, pct, source.position_s)
