"""A worker's cameras and zones from the review service (`cameras_from_service: true`), with a copy on disk.

The worker asks `POST /api/worker/cameras` with its token every few seconds; a changed answer is
applied through the same reload path as an edited config file (cameras restart, open clues continue
under their ids). Every good answer is written to `data_dir/service_cameras.json`; while the
service cannot be reached the worker keeps running on what it has, and a worker started then runs
on that copy. A camera the worker's models refuse is skipped with its error; the others run.

The service also says which cameras should send a fresh reference picture (asked for by an admin,
or older than a day): `frame()` uploads one sample of such a camera on a background thread. And
`matched()` keeps what the detectors saw (one sample per camera every SIGHTING_EVERY_S), sent with
the next fetch, so the zone editor can show what each rule would catch.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import cv2

from xuncha.categorize import Candidate
from xuncha.config.worker import CameraConfig, FixtureSetting, WorkerConfig
from xuncha.fileio import write_atomic
from xuncha.redact import mask_url
from xuncha.taxonomy import Taxonomy
from xuncha.types import Detection, Frame
from xuncha.yamlfile import ConfigError, validate
from xuncha.zones.gating import Adjustment
from xuncha.zones.model import check_zone_set

log = logging.getLogger("xuncha.service_cameras")

REFRESH_EVERY_S = 5.0
TIMEOUT_S = 5.0
CACHE_NAME = "service_cameras.json"
SIGHTING_EVERY_S = 30.0  # one sample's detections per camera this often (video time): ~120 an hour
MAX_SIGHTINGS = 500  # per camera, waiting to be sent
MAX_BOXES = 30  # per sample


class SampleObserver(Protocol):
    """What the worker shows each sample to (besides its own stages)."""

    def frame(self, cam: CameraConfig, frame: Frame) -> None: ...

    def matched(
        self, cam: CameraConfig, frame: Frame, detections: Sequence[Detection], candidates: Sequence[Candidate]
    ) -> None: ...


def sighting(frame: Frame, detections: Sequence[Detection], candidates: Sequence[Candidate]) -> dict[str, Any]:
    """One sample's detections for the editor: boxes as 0-1 fractions, and the zones each one counted in.

    >>> f = Frame("c", 10.0, __import__("numpy").zeros((100, 200, 3), "uint8"))
    >>> d = Detection("suitcase", 0.8, (20.0, 50.0, 60.0, 100.0), "m")
    >>> sighting(f, [d], [Candidate("z1", "0507", d)])["boxes"]
    [{'label': 'suitcase', 'score': 0.8, 'box': [0.1, 0.5, 0.3, 1.0], 'zones': ['z1']}]
    """
    w, h = frame.size
    zones: dict[int, list[str]] = {}
    for c in candidates:
        zones.setdefault(id(c.detection), []).append(c.zone_id)
    top = sorted(detections, key=lambda d: -d.score)[:MAX_BOXES]
    return {
        "ts": frame.ts,
        "boxes": [
            {
                "label": d.label,
                "score": round(d.score, 3),
                "box": [round(d.box[0] / w, 4), round(d.box[1] / h, 4), round(d.box[2] / w, 4), round(d.box[3] / h, 4)],
                "zones": sorted(set(zones.get(id(d), []))),
            }
            for d in top
        ],
    }


def _post_json(url: str, token: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as r:
        return json.load(r)


def upload_reference(review_url: str, token: str, camera_id: str, preset: str, jpeg: bytes) -> None:
    """POST one JPEG as the camera's reference picture (multipart form: picture, preset)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="preset"\r\n\r\n{preset}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="picture"; filename="reference.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode(),
        jpeg,
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    request = urllib.request.Request(
        f"{review_url.rstrip('/')}/api/cameras/{quote(camera_id)}/reference",
        data=b"".join(parts),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S * 2):
        pass


def fetch_fixtures(review_url: str, token: str, camera: CameraConfig) -> list[FixtureSetting] | None:
    """The camera's fixtures recorded by operators in the review service (固定设施 rejections); None
    (and a warning) when the service cannot tell."""
    query = f"?preset={quote(camera.preset)}" if camera.preset else ""
    url = f"{review_url.rstrip('/')}/api/cameras/{quote(camera.id)}/fixtures{query}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return [FixtureSetting.model_validate(f) for f in json.load(r)["fixtures"]]
    except (OSError, ValueError, KeyError) as e:
        log.warning("camera %s: fixtures not refreshed from the review service: %s", camera.id, e)
        return None


def fetch_gating(review_url: str, token: str, camera: CameraConfig) -> list[Adjustment] | None:
    """The camera's adaptive-gating adjustments (zones that run tighter after a low 立案率); None (and
    a warning) when the service cannot tell."""
    url = f"{review_url.rstrip('/')}/api/cameras/{quote(camera.id)}/gating"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return [Adjustment.model_validate(a) for a in json.load(r)["adjustments"]]
    except (OSError, ValueError, KeyError) as e:
        log.warning("camera %s: gating not refreshed from the review service: %s", camera.id, e)
        return None


def cameras_from(data: Any, taxonomy: Taxonomy, source: str) -> list[CameraConfig]:
    """The cameras of a service answer that this worker can run; each refused one is logged and left out."""
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        raise ConfigError(f"{source}: not a camera list (expected {{'cameras': [...]}})")
    out = []
    for i, item in enumerate(data["cameras"]):
        try:
            cam = validate(CameraConfig, item, f"{source}: cameras[{i}]")
            check_zone_set(cam.id, cam.zones, taxonomy)
        except ConfigError as e:
            log.error("camera skipped: %s", mask_url(str(e)))
            continue
        out.append(cam)
    return out


class ServiceCameras:
    """The worker's camera list as the review service gives it, with the last good copy on disk."""

    def __init__(
        self,
        cfg: WorkerConfig,
        taxonomy: Taxonomy,
        token: str,
        *,
        every_s: float = REFRESH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not cfg.review_url:
            raise ConfigError("cameras_from_service needs review_url (the review service's base URL)")
        self.cfg, self.taxonomy, self.token = cfg, taxonomy, token
        self.url = f"{cfg.review_url.rstrip('/')}/api/worker/cameras"
        self.cache = Path(cfg.data_dir) / CACHE_NAME
        self.labels: list[str] = []  # this worker's model labels, sent so the editor can offer them
        self.every_s, self.clock = every_s, clock
        self._applied: str | None = None  # the camera list now running, as canonical JSON
        self._next = 0.0
        self._reachable = True
        self._wanted: set[str] = set()
        self._uploads: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue(maxsize=8)
        self._uploader: threading.Thread | None = None
        self._sightings: dict[str, deque[dict[str, Any]]] = {}  # camera id -> not yet sent
        self._last_sighting: dict[str, float] = {}
        self._lock = threading.Lock()  # the loop records sightings while a fetch sends them

    # -- the camera list ----------------------------------------------------------------------

    def _fetch(self) -> list[CameraConfig] | None:
        with self._lock:
            sending = {cid: list(q) for cid, q in self._sightings.items() if q}
        try:
            data = _post_json(self.url, self.token, {"labels": self.labels, "sightings": sending})
            cams = cameras_from(data, self.taxonomy, self.url)
        except (OSError, ValueError) as e:  # URLError/HTTPError/timeouts are OSErrors; bad JSON a ValueError
            if self._reachable:
                log.warning("review service not reachable, keeping the cameras we have: %s", mask_url(str(e)))
            self._reachable = False
            return None
        with self._lock:
            for cid, sent in sending.items():
                for _ in sent:
                    if self._sightings[cid]:
                        self._sightings[cid].popleft()
        if not self._reachable:
            log.info("review service reachable again")
        self._reachable = True
        self._wanted = set(data.get("reference_wanted") or [])
        cams = [self._absolute_reference(c) for c in cams]
        copy = {"cameras": [c.model_dump(mode="json") for c in cams]}
        write_atomic(self.cache, json.dumps(copy, ensure_ascii=False).encode("utf-8"))
        return cams

    def _absolute_reference(self, cam: CameraConfig) -> CameraConfig:
        """The service names the reference picture by its path: make it a URL of the service."""
        ref = cam.zones.reference_image
        if not ref or not ref.startswith("/api/"):
            return cam
        zones = cam.zones.model_copy(update={"reference_image": f"{(self.cfg.review_url or '').rstrip('/')}{ref}"})
        return cam.model_copy(update={"zones": zones})

    def _from_cache(self) -> list[CameraConfig]:
        try:
            data = json.loads(self.cache.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"review service {self.cfg.review_url} not reachable and no last good copy at {self.cache}"
            ) from None
        except (OSError, ValueError) as e:
            raise ConfigError(f"{self.cache}: last good copy unreadable: {e}") from None
        log.warning("starting on the last good copy of the cameras: %s", self.cache)
        return cameras_from(data, self.taxonomy, str(self.cache))

    def _config(self, cams: list[CameraConfig]) -> WorkerConfig:
        self._applied = json.dumps([c.model_dump(mode="json") for c in cams], sort_keys=True)
        return self.cfg.model_copy(update={"cameras": cams})

    def initial(self) -> WorkerConfig:
        """The config to start with: the service's cameras, or the last good copy when it cannot be reached."""
        cams = self._fetch()
        self._next = self.clock() + self.every_s
        return self._config(cams if cams is not None else self._from_cache())

    def reload(self) -> tuple[WorkerConfig, Taxonomy] | None:
        """For the live loop: the new config when the service's camera list changed, else None."""
        if self.clock() < self._next:
            return None
        self._next = self.clock() + self.every_s
        cams = self._fetch()
        if cams is None or json.dumps([c.model_dump(mode="json") for c in cams], sort_keys=True) == self._applied:
            return None
        log.info("cameras changed in the review service: applying %d camera(s)", len(cams))
        return self._config(cams), self.taxonomy

    # -- reference pictures -------------------------------------------------------------------

    def matched(
        self, cam: CameraConfig, frame: Frame, detections: Sequence[Detection], candidates: Sequence[Candidate]
    ) -> None:
        """Keep one sample's detections every SIGHTING_EVERY_S for the editor (sent with the next fetch)."""
        if frame.ts - self._last_sighting.get(cam.id, float("-inf")) < SIGHTING_EVERY_S or not detections:
            return
        self._last_sighting[cam.id] = frame.ts
        with self._lock:
            self._sightings.setdefault(cam.id, deque(maxlen=MAX_SIGHTINGS)).append(
                sighting(frame, detections, candidates)
            )

    def frame(self, cam: CameraConfig, frame: Frame) -> None:
        """A sample of `cam`: sent as its reference picture if the service asked for one."""
        if cam.id not in self._wanted:
            return
        self._wanted.discard(cam.id)
        ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            return
        if self._uploader is None:
            self._uploader = threading.Thread(target=self._upload_loop, name="reference-upload", daemon=True)
            self._uploader.start()
        try:
            self._uploads.put_nowait((cam.id, cam.preset or "", buf.tobytes()))
        except queue.Full:  # the service is slow: this one is asked for again on the next fetch
            pass

    def _upload_loop(self) -> None:
        while (item := self._uploads.get()) is not None:
            camera_id, preset, jpeg = item
            try:
                upload_reference(self.cfg.review_url or "", self.token, camera_id, preset, jpeg)
                log.info("camera %s: reference picture sent", camera_id)
            except (OSError, urllib.error.URLError) as e:
                log.warning("camera %s: reference picture not sent: %s", camera_id, mask_url(str(e)))

    def close(self) -> None:
        if self._uploader is not None:
            self._uploads.put(None)
            self._uploader.join(TIMEOUT_S * 2)
