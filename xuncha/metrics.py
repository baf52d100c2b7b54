"""Worker health and Prometheus metrics, served on one port (`/metrics`, `/health`)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)


class WorkerMetrics:
    """The worker's instruments, in a registry of their own (several workers may share a process in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.samples = Counter("xuncha_samples", "Frames processed", ["camera"], registry=r)
        self.dropped = Gauge(
            "xuncha_samples_dropped", "Samples replaced before inference took them", ["camera"], registry=r
        )
        self.inference = Histogram(
            "xuncha_inference_seconds",
            "Wall time of one detection batch across cameras",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.batch = Histogram("xuncha_batch_size", "Frames per batch", buckets=(1, 2, 4, 8, 16, 32), registry=r)
        self.queue = Gauge("xuncha_queue_depth", "Samples waiting for inference", registry=r)
        self.camera_up = Gauge("xuncha_camera_up", "1 when the camera delivers frames", ["camera"], registry=r)
        self.view_changed = Gauge(
            "xuncha_view_changed",
            "1 while the camera's view no longer matches its reference picture",
            ["camera"],
            registry=r,
        )
        self.cameras_owned = Gauge("xuncha_cameras_owned", "Cameras this worker holds the lease of", registry=r)
        self.sample_errors = Counter(
            "xuncha_sample_errors", "Samples skipped because processing them failed", ["camera"], registry=r
        )
        self.clue_events = Counter("xuncha_clue_events", "Clue events emitted", ["kind"], registry=r)
        self.spooled = Gauge("xuncha_spooled_events", "Clue events waiting in the local spool", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StatusServer:
    """`GET /metrics` (Prometheus text) and `GET /health` (JSON from `health()`; 503 when not ok)."""

    def __init__(self, port: int, metrics: WorkerMetrics, health: Callable[[], dict], host: str = "0.0.0.0") -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/metrics":
                    body, ctype, code = metrics.render(), CONTENT_TYPE_LATEST, 200
                elif self.path == "/health":
                    status = health()
                    body = json.dumps(status, ensure_ascii=False).encode()
                    ctype, code = "application/json; charset=utf-8", 200 if status.get("ok") else 503
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # scrapes every few seconds: keep the log quiet
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-http", daemon=True)
        self._thread.start()
        log.info("health and metrics on http://%s:%d/health and /metrics", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
