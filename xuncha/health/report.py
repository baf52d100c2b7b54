"""The worker's camera health, pushed to the review service's health page; admin view confirmations come back."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from xuncha.config.worker import CameraConfig
from xuncha.health.monitor import CameraHealth
from xuncha.view.guard import ViewGuard
from xuncha.zones.regions import Region

log = logging.getLogger("xuncha.health")

REPORT_EVERY_S = 10.0  # the service marks a camera "未知" after 60 s without a report
PROBLEMS = ("down", "frozen", "view_changed")


def camera_entry(
    cfg: CameraConfig,
    town: Region | None,
    stream: CameraHealth | None,
    ended: bool,
    last_ts: float,
    dropped: int,
    view: ViewGuard | None,
) -> dict[str, Any]:
    """One camera's /health entry: its stream's health (a live stream) or whether its file still plays."""
    if stream is not None:
        entry: dict[str, Any] = {
            "state": stream.state,
            "down_since": stream.down_since,
            "last_frame_ts": stream.last_frame_ts,
            "reconnects": stream.reconnects,
            "decode_errors": stream.decode_errors,
            "last_error": stream.last_error,
        }
    else:
        entry = {"state": "ended" if ended else "up", "last_frame_ts": last_ts}
    entry |= {"dropped_samples": dropped, "name": cfg.name, "preset": cfg.preset, "zones_version": cfg.zones.version}
    entry |= {"region_code": town and town.code, "region_name": town and town.name}
    if view is not None:
        entry["view"] = view.report()
        if view.status.paused and entry["state"] == "up":
            entry["state"] = "view_changed"
    return entry


class HealthReporter:
    """POSTs `health()["cameras"]` to `<review_url>/api/worker/health` with the worker token.

    The answer's `accept_view` lists cameras whose current view an admin accepted; each goes to
    `on_accept`. An unreachable service costs a log line per round, never the sampling loop.
    """

    def __init__(
        self,
        review_url: str,
        token: str,
        health: Callable[[], dict],
        on_accept: Callable[[str], None],
        every_s: float | None = None,
    ) -> None:
        self.url = f"{review_url.rstrip('/')}/api/worker/health"
        self.token = token
        self.health = health
        self.on_accept = on_accept
        self.every_s = every_s or REPORT_EVERY_S

    def report(self) -> list[str]:
        body = json.dumps({"cameras": self.health()["cameras"]}, ensure_ascii=False).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            return [str(c) for c in json.load(r).get("accept_view", [])]

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every_s):
            try:
                accepted = self.report()
            except (OSError, ValueError) as e:
                log.warning("health not reported to %s: %s", self.url, e)
                continue
            except Exception:  # this thread must live to report the next round
                log.exception("health report to %s failed", self.url)
                continue
            for camera_id in accepted:
                self.on_accept(camera_id)
