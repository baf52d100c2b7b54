"""Camera health as the workers report it: the latest report per camera, and the admins' view confirmations.

Workers push their `/health` camera entries every few seconds (POST /api/worker/health). The board
keeps the latest entry per camera with the time it arrived, in memory and in the database
(`health_store`): a restarted service shows each camera's last report and state changes at once.
The state shown is derived when the page is built, so a camera whose worker went silent reads
"未知" instead of keeping an old "正常".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SILENT_AFTER = timedelta(seconds=60)  # no report for this long: the camera's state is unknown
STATES = {  # state -> (Chinese name, severity: lower is worse)
    "down": ("离线", 0),
    "view_changed": ("视角变化", 1),
    "frozen": ("画面冻结", 2),
    "unknown": ("未知", 3),
    "connecting": ("连接中", 4),
    "up": ("正常", 5),
    "ended": ("已结束", 6),
}


@dataclass(frozen=True)
class Report:
    worker: str
    at: datetime
    camera: dict[str, Any]


@dataclass(frozen=True)
class CameraStatus:
    """One row of the health page."""

    camera_id: str
    name: str
    region_code: str | None
    region_name: str | None
    preset: str | None
    state: str
    since: datetime | None  # when the current problem started (down, frozen or view changed)
    last_frame: datetime | None
    reconnects: int | None
    dropped: int | None
    worker: str | None
    reported_at: datetime | None
    clues_today: int
    view: dict[str, Any] | None  # the worker's view check: verdict, matching features, suggested shift
    accept_pending: bool
    thumbnail: str | None = None  # URL of the camera's newest picture of its view
    changes: list[dict[str, Any]] = field(default_factory=list)  # state changes, newest first

    @property
    def state_zh(self) -> str:
        return STATES[self.state][0]


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value).astimezone() if isinstance(value, int | float) else None


class HealthBoard:
    """Thread-safe latest report per camera, and the admins' pending view confirmations.

    A confirmation is handed to the camera's worker with every report until the worker reports the
    view matching again on at least the zone set version the confirmation asked for: a camera that
    restarts for a new zone set version in between gets it again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[str, Report] = {}
        self._accept: dict[str, int] = {}  # camera id -> zone set version the confirmation waits for

    def report(self, worker: str, cameras: dict[str, dict[str, Any]], now: datetime) -> list[str]:
        """Store a worker's report; returns its cameras with a pending confirmation of their current view."""
        with self._lock:
            for cid, entry in cameras.items():
                self._reports[cid] = Report(worker, now, entry)
                settled = (entry.get("view") or {}).get("state") == "ok"
                if cid in self._accept and settled and entry.get("zones_version", 1) >= self._accept[cid]:
                    del self._accept[cid]
            return sorted(self._accept.keys() & cameras.keys())

    def load(self, reports: dict[str, Report]) -> None:
        """Start from stored reports (a restart); a report already received is newer and stays."""
        with self._lock:
            self._reports = reports | self._reports

    def request_accept(self, camera_id: str, zones_version: int = 1) -> None:
        with self._lock:
            self._accept[camera_id] = zones_version

    def latest(self) -> tuple[dict[str, Report], set[str]]:
        with self._lock:
            return dict(self._reports), set(self._accept)


def camera_rows(
    reports: dict[str, Report],
    accept_pending: set[str],
    registered: dict[str, dict[str, Any]],
    clues_today: dict[str, int],
    now: datetime,
    region: str | None = None,
    thumbnails: dict[str, str] | None = None,
    changes: dict[str, list[dict[str, Any]]] | None = None,
) -> list[CameraStatus]:
    """Rows for every registered or reporting camera, worst state first (pure).

    `registered`: camera id -> {name, region_code, region_name, preset, worker} from the registry;
    a camera only a worker knows (a YAML-configured worker) is shown with what the worker reported.
    """
    rows = []
    for cid in sorted(registered.keys() | reports.keys()):
        reg, rep = registered.get(cid, {}), reports.get(cid)
        entry = rep.camera if rep else {}
        silent = rep is None or now - rep.at > SILENT_AFTER
        state = "unknown" if silent else str(entry.get("state", "unknown"))
        if state not in STATES:
            state = "unknown"
        view = entry.get("view")
        since = {"down": entry.get("down_since"), "view_changed": (view or {}).get("since")}.get(state)
        row = CameraStatus(
            camera_id=cid,
            name=reg.get("name") or entry.get("name") or cid,
            region_code=reg.get("region_code") or entry.get("region_code"),
            region_name=reg.get("region_name") or entry.get("region_name"),
            preset=reg.get("preset") or entry.get("preset"),
            state=state,
            since=_ts(since),
            last_frame=_ts(entry.get("last_frame_ts")),
            reconnects=entry.get("reconnects"),
            dropped=entry.get("dropped_samples"),
            worker=rep.worker if rep else reg.get("worker"),
            reported_at=rep.at if rep else None,
            clues_today=clues_today.get(cid, 0),
            view=view,
            accept_pending=cid in accept_pending,
            thumbnail=(thumbnails or {}).get(cid),
            changes=(changes or {}).get(cid, []),
        )
        if region and region not in (row.region_code, row.region_name):
            continue
        rows.append(row)
    rows.sort(key=lambda r: (STATES[r.state][1], r.camera_id))
    return rows
