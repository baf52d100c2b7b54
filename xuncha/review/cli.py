"""`xuncha review`: run the review service (web + intake + case relay), create users and API tokens."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import threading
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import sessionmaker

from xuncha.clues.evidence import EvidenceStore
from xuncha.db.engine import open_database
from xuncha.db.users import ROLES, TOKEN_ROLES
from xuncha.redact import mask_url
from xuncha.review import auth, deadletter
from xuncha.review.cases import CaseRelay, case_topology
from xuncha.review.config import ReviewConfig, load_review_config
from xuncha.review.export import ExportError, Filters, reviewed, write_export
from xuncha.review.export_plan import VAL_FRACTION
from xuncha.review.handling import run_results_intake
from xuncha.review.intake import run_intake
from xuncha.taxonomy import Taxonomy
from xuncha.yamlfile import ConfigError

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0


def start_background(
    cfg: ReviewConfig, taxonomy: Taxonomy, sessions: sessionmaker, stop: threading.Event
) -> list[threading.Thread]:
    """Start the intake consumer, the case relay and the re-check results consumer; they run until `stop`."""
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    relay = CaseRelay(sessions, cfg.kombu_url, topology=case_topology(cfg.dispatch))
    intake = {"taxonomy": taxonomy, "evidence_store": EvidenceStore(cfg.evidence_root)}
    threads = [
        threading.Thread(
            target=run_intake, args=(sessions, cfg.kombu_url, stop), kwargs=intake, name="intake", daemon=True
        ),
        threading.Thread(target=relay.run, args=(stop,), name="case-relay", daemon=True),
        threading.Thread(
            target=run_results_intake,
            args=(sessions, cfg.kombu_url, stop),
            kwargs={"exchange": cfg.dispatch.exchange},
            name="recheck-results",
            daemon=True,
        ),
    ]
    for t in threads:
        t.start()
    return threads


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from xuncha.review.app import create_app

    cfg, taxonomy = load_review_config(args.config)
    engine, sessions = open_database(cfg.db_url)
    log.info("database %s, broker %s", mask_url(cfg.db_url), mask_url(cfg.kombu_url))
    stop = threading.Event()
    threads = start_background(cfg, taxonomy, sessions, stop)
    try:
        # SIGTERM: requests still running after a few seconds are cut off, so that the service stops.
        uvicorn.run(
            create_app(cfg, taxonomy, sessions),
            host=cfg.host,
            port=cfg.port,
            log_level="info",
            timeout_graceful_shutdown=STOP_TIMEOUT_S,
        )
    finally:
        stop.set()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for t in threads:  # each finishes the message in hand (then acked) or leaves it unacked, queued
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("%s thread did not stop within %.0f s; exiting anyway", t.name, STOP_TIMEOUT_S)
        engine.dispose()
    return 0


def _line(text: str) -> str:
    """A line without its ending (\n or \r\n): nothing else is stripped from a password."""
    return text.removesuffix("\n").removesuffix("\r")


def _read_password(from_stdin: bool) -> str:
    """The new password: from standard input (a first line, and an optional second line that must repeat
    it) or typed twice at the terminal."""
    if from_stdin:
        first, again = sys.stdin.readline(), sys.stdin.readline()
        if not first:
            raise ConfigError("--password-stdin: standard input is empty")
        if again and _line(again) != _line(first):
            raise ConfigError("--password-stdin: the second line (confirmation) differs from the first")
        return _line(first)
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再次输入 / again: ") != first:
        raise ConfigError("passwords differ")
    return first


def _create_user(args: argparse.Namespace) -> int:
    cfg, _ = load_review_config(args.config)
    try:  # refused before the database is opened
        auth.check_username(args.username)
        password = _read_password(args.password_stdin)
        auth.check_password_rules(password)
    except ValueError as e:
        print(f"xuncha review create-user: {e}", file=sys.stderr)
        return 1
    engine, sessions = open_database(cfg.db_url)
    try:
        with sessions.begin() as s:
            user = auth.create_user(s, args.username, password, args.role)
            name = user.username
    except ValueError as e:
        print(f"xuncha review create-user: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"created {args.role} {name}")
    return 0


def _create_token(args: argparse.Namespace) -> int:
    cfg, _ = load_review_config(args.config)
    engine, sessions = open_database(cfg.db_url)
    try:
        with sessions.begin() as s:
            token = auth.create_token(s, args.name, args.role)
    except ValueError as e:
        print(f"xuncha review create-token: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(token)  # shown once: only its hash is stored
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    cfg, _ = load_review_config(args.config)
    engine, sessions = open_database(cfg.db_url)
    try:
        if args.dl_command == "list":
            with sessions() as s:
                rows = deadletter.newest(s, args.limit)
                print(f"{deadletter.count(s)} dead letter(s)")
            for r in rows:
                print(f"{r.id}\t{r.received_at:%Y-%m-%d %H:%M:%S}\t{r.body_size} B\t{r.reason[:120]}")
        elif args.dl_command == "show":
            with sessions() as s:
                r = deadletter.get(s, args.id)
            print(f"id: {r.id}\nqueue: {r.queue}\nmessage_id: {r.message_id}\nrouting_key: {r.routing_key}")
            print(f"received_at: {r.received_at.isoformat()}\nsize: {r.body_size} bytes", end="")
            print(f" (first {len(r.body)} kept)" if r.truncated else "")
            print(f"reason: {r.reason}\nbody:")
            sys.stdout.write(r.body[: args.bytes].decode("utf-8", "backslashreplace") + "\n")
        elif args.dl_command == "requeue":
            deadletter.requeue(sessions, args.id, cfg.kombu_url)
            print(f"requeued {args.id}")
        else:
            deadletter.drop(sessions, args.id)
            print(f"dropped {args.id}")
    except (KeyError, ValueError) as e:
        print(f"xuncha review dead-letters: {e.args[0]}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _export_dataset(args: argparse.Namespace) -> int:
    cfg, taxonomy = load_review_config(args.config)
    if args.category is not None and args.category not in taxonomy:
        print(f"xuncha review export-dataset: --category {args.category}: unknown category code", file=sys.stderr)
        return 1
    if not 0 <= args.val_fraction <= 1:
        print(f"xuncha review export-dataset: --val-fraction {args.val_fraction}: must be 0-1", file=sys.stderr)
        return 1
    tz = ZoneInfo(cfg.timezone)
    engine, sessions = open_database(cfg.db_url)
    filters = Filters(args.since, args.camera, args.category)
    try:
        with sessions() as s:
            rows = reviewed(s, filters, tz)
        if not rows:
            raise ExportError(f"no reviewed clues match ({filters.describe()}; filed or rejected, not undone)")
        done = write_export(rows, EvidenceStore(cfg.evidence_root), args.out, tz, args.val_fraction)
    except ExportError as e:
        print(f"xuncha review export-dataset: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"exported {done.images['train']} train + {done.images['val']} val images to {args.out}: "
        f"{done.filed} filed, {done.background} rejected (background); classes {done.names or 'none'}"
    )
    if done.skipped:
        print(f"skipped {done.skipped} clue(s) without a usable picture (see manifest.jsonl 'skipped')")
    return 0 if sum(done.images.values()) else 1


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="run the review service (web UI, clue intake, case relay)")
    p.add_argument("--config", required=True, type=Path, help="review config YAML (see configs/review.yaml)")
    p.set_defaults(func=_serve)
    actions = p.add_subparsers(dest="review_command", metavar="ACTION")
    u = actions.add_parser("create-user", help="create a user (the first admin, operators)")
    u.add_argument("username")
    u.add_argument("--role", choices=ROLES, default="operator")
    u.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input: one line, optionally a second that repeats it",
    )
    u.set_defaults(func=_create_user)
    t = actions.add_parser("create-token", help="create an API token for the dispatch service or a worker")
    t.add_argument("name")
    t.add_argument("--role", choices=TOKEN_ROLES, default="dispatch")
    t.set_defaults(func=_create_token)
    d = actions.add_parser("dead-letters", help="clue messages intake could not apply: list, show, requeue, drop")
    d.set_defaults(func=_dead_letters)
    dl = d.add_subparsers(dest="dl_command", metavar="COMMAND", required=True)
    dl.add_parser("list", help="newest first, with the reason").add_argument("--limit", type=int, default=50)
    show = dl.add_parser("show", help="one dead letter with its body")
    show.add_argument("id", type=int)
    show.add_argument("--bytes", type=int, default=4096, help="print at most this much of the body")
    for name, text in (("requeue", "publish it to the clue queue again and forget it"), ("drop", "forget it")):
        dl.add_parser(name, help=text).add_argument("id", type=int)
    e = actions.add_parser("export-dataset", help="reviewed clues as a YOLO detection folder (filed: labels)")
    e.add_argument("--out", required=True, type=Path, metavar="DIR", help="new or empty folder to write")
    e.add_argument("--since", type=_day, metavar="DATE", help="decisions from this local day on (YYYY-MM-DD)")
    e.add_argument("--camera", metavar="ID", help="only this camera id")
    e.add_argument("--category", metavar="CODE", help="only clues decided as this category code")
    e.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        default=VAL_FRACTION,
        help="share of camera-days put in val (by a hash, never random)",
    )
    e.set_defaults(func=_export_dataset)
