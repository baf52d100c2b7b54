"""The view check at the worker's edge: reads the reference picture, logs and counts view changes.

`ViewGuard.allows(frame)` is the one call the sampling loop makes: False while the camera's view
no longer matches the picture its zones were drawn on, so no new clue starts from zones that cover
the wrong ground (open clues stay open: confirmation is not stepped while paused).
"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from prometheus_client import Gauge

from xuncha.redact import mask_url
from xuncha.types import Frame
from xuncha.view.check import ViewCheck, ViewParams, ViewStatus

log = logging.getLogger("xuncha.view")

FETCH_TIMEOUT_S = 5.0
MAX_PICTURE = 20 * 1024 * 1024


def load_reference(path: str | Path, token: str | None = None) -> Any:
    """The reference picture as BGR, from a file or a URL (the review service's, with the worker token).

    ValueError naming the picture when it cannot be read.
    """
    ref = str(path)
    if "://" in ref:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(ref, headers=headers), timeout=FETCH_TIMEOUT_S) as r:
                data = r.read(MAX_PICTURE)
        except OSError as e:
            raise ValueError(f"reference picture {mask_url(ref)}: {e}") from None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    else:
        image = cv2.imread(ref, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"reference picture {mask_url(ref)}: not found or not an image")
    return image


class ViewGuard:
    """One camera's ViewCheck with its log lines and its `xuncha_view_changed` gauge."""

    def __init__(self, camera_id: str, check: ViewCheck, gauge: Gauge) -> None:
        self.camera_id = camera_id
        self.check = check
        self._gauge = gauge.labels(camera_id)
        self._gauge.set(0)

    @classmethod
    def for_camera(
        cls, camera_id: str, reference: str | None, gauge: Gauge, params: ViewParams, token: str | None = None
    ) -> ViewGuard | None:
        """None (no check) without a reference picture or with an unreadable one: the camera runs on."""
        if not reference:
            return None
        try:
            return cls(camera_id, ViewCheck(load_reference(reference, token), params), gauge)
        except ValueError as e:
            log.error("camera %s: view check off: %s", camera_id, e)
            return None

    @property
    def status(self) -> ViewStatus:
        return self.check.status

    def allows(self, frame: Frame) -> bool:
        before = self.check.status.state
        status = self.check.update(frame.ts, frame.image)
        if status.state != before:
            self._gauge.set(1 if status.paused else 0)
            if status.paused:
                shift = status.suggestion and (status.suggestion[0][2], status.suggestion[1][2])
                log.warning(
                    "camera %s: VIEW CHANGED (%s, %d matching features): zones paused until an admin confirms%s",
                    self.camera_id,
                    status.last.verdict if status.last else "?",
                    status.last.inliers if status.last else 0,
                    f"; suggested shift of the zones {shift[0]:+.3f}, {shift[1]:+.3f}" if shift else "",
                )
            else:
                log.info("camera %s: view matches the reference again: zones resumed", self.camera_id)
        return not status.paused

    def accept(self) -> None:
        log.info("camera %s: an admin accepted the current view as the reference", self.camera_id)
        self.check.accept()

    def report(self) -> dict[str, Any]:
        """JSON for /health and the review service."""
        s = self.check.status
        return {
            "state": s.state,
            "since": s.since,
            "verdict": s.last.verdict if s.last else None,
            "inliers": s.last.inliers if s.last else None,
            "shift": list(s.last.shift) if s.last else None,
            "suggestion": [list(r) for r in s.suggestion] if s.suggestion else None,
        }
