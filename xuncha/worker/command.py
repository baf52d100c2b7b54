"""`xuncha worker`: load the config, start the worker, watch the config, stop on a signal."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from xuncha.config.worker import WorkerConfig, load_worker_config
from xuncha.labels import check_rule_labels, producible_labels
from xuncha.metrics import StatusServer
from xuncha.service_cameras import ServiceCameras
from xuncha.taxonomy import Taxonomy
from xuncha.worker.core import Worker
from xuncha.yamlfile import ConfigError

log = logging.getLogger("xuncha.worker")


def _config_watcher(path: Path, labels: set[str], seen: int) -> Callable[[], tuple[WorkerConfig, Taxonomy] | None]:
    """reload() for the live loop: the new config when the file changed since `seen` (mtime) and is valid,
    its rules naming only `labels`, else None."""

    def reload() -> tuple[WorkerConfig, Taxonomy] | None:
        nonlocal seen
        try:
            mtime = path.stat().st_mtime_ns
        except OSError as e:  # replaced by an editor or a deploy this very moment: look again next round
            log.warning("config %s not readable, keeping the running config: %s", path, e)
            return None
        if mtime == seen:
            return None
        seen = mtime
        try:
            loaded = load_worker_config(path)
            check_rule_labels(loaded[0], labels, str(path))
        except ConfigError as e:
            log.error("config change ignored, keeping the running config: %s", e)
            return None
        log.info("config %s changed: applying it", path)
        return loaded

    return reload


def _run_command(args: argparse.Namespace) -> int:
    cfg, taxonomy = load_worker_config(args.config)
    loaded_mtime = args.config.stat().st_mtime_ns
    if args.metrics_port is not None:
        cfg = cfg.model_copy(update={"metrics_port": args.metrics_port})
    remote = None
    if cfg.cameras_from_service:
        token = cfg.review_token or os.environ.get("XUNCHA_REVIEW_TOKEN")
        if not token:
            raise ConfigError(f"{args.config}: cameras_from_service needs review_token or XUNCHA_REVIEW_TOKEN")
        remote = ServiceCameras(cfg, taxonomy, token)
    worker = Worker(cfg, taxonomy)
    labels = producible_labels(cfg, (lab for d in worker.detectors for lab in d.labels))
    if remote is None:
        check_rule_labels(cfg, labels, str(args.config))
        reload = None if args.once else _config_watcher(args.config, labels, loaded_mtime)
    else:  # the first fetch already tells the service which labels our models detect
        remote.labels = sorted(labels)
        reload = None if args.once else remote.reload
        worker.cfg = cfg = remote.initial()
        worker.observer = remote
    stop = threading.Event()
    stop_on_signals(stop)
    status = StatusServer(cfg.metrics_port, worker.metrics, worker.health) if cfg.metrics_port is not None else None
    try:
        summary = worker.run(once=args.once, stop=stop, reload=reload)
    finally:
        if status:
            status.close()
        if remote is not None:
            remote.close()
    log.info(
        "done: %d samples, %d clues opened, %d events, %d spooled, %d camera(s) failed",
        summary.samples,
        summary.event_counts["opened"],
        summary.event_counts.total(),
        summary.spooled,
        len(summary.failed_cameras),
    )
    return 1 if summary.failed_cameras and len(summary.failed_cameras) == len(cfg.cameras) else 0


STOP_GRACE_S = 20.0


def stop_on_signals(stop: threading.Event, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM and SIGINT set `stop`, from a thread of their own; the handler only writes a byte to a pipe.

    A Python signal handler runs in the main thread between two bytecodes, and the main loop spends its
    idle time in `stop.wait()`, which holds the event's internal (non-reentrant) lock for a few bytecodes
    around each wait. A handler that called `stop.set()` there blocked on that lock for ever: the worker
    never stopped and no watchdog started (the rare hang at SIGTERM). The watcher thread takes the lock
    like any other thread. If the stop still hangs, after `grace_s` the stacks go to the log and the
    process exits (spooled events stay on disk, leases expire).
    """
    read_end, write_end = os.pipe()

    def watch() -> None:
        signum = os.read(read_end, 1)[0]
        log.info("signal %s received: stopping", signal.Signals(signum).name)
        stop.set()
        time.sleep(grace_s)
        log.error("worker did not stop within %.0f s of the signal; thread stacks follow, exiting", grace_s)
        faulthandler.dump_traceback(all_threads=True)
        os._exit(1)

    threading.Thread(target=watch, name="stop-signal", daemon=True).start()

    def on_signal(signum: int, _frame: object) -> None:
        os.write(write_end, bytes([signum]))

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the inspection worker on the configured cameras")
    p.add_argument("--config", required=True, type=Path, help="worker config YAML (see configs/example.yaml)")
    p.add_argument("--once", action="store_true", help="process recorded files to the end as fast as possible")
    p.add_argument("--metrics-port", type=int, help="serve /health and /metrics on this port")
    p.set_defaults(func=_run_command)
