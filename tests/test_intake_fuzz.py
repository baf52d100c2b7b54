"""A small, seeded fuzz run of the review service's intake: random and mutated clue messages.

The review app (uvicorn) and the intake thread run as in the service. Every message is classified
by the contract itself (the oracle): each valid event must reach the database, everything else
must be a dead letter, nothing may be lost or stall the queue, and /health must keep answering.
Bounded: MESSAGES messages, DEADLINE_S seconds.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from review_support import RABBIT_URL, LiveServer, database, isolated_queue, make_event, publish_raw, review_config
from sqlalchemy import func, select

from xuncha.clues.broker import embedded_broker_url
from xuncha.clues.contracts import ClueEvent
from xuncha.clues.limits import MAX_MESSAGE_BYTES
from xuncha.db.clues import ClueEventRow
from xuncha.review import deadletter
from xuncha.review.app import create_app
from xuncha.review.intake import run_intake
from xuncha.taxonomy import load_taxonomy

SEED = 11
MESSAGES = 160
DEADLINE_S = 60.0
ODD_VALUES: list[Any] = [
    None, "", "x" * 1000, "名" * 300, "nul\x00", "\ud7ff\ufffe", -1, 0, 1.5, 2**31, 2**63, 1e308, -1e308,
    True, [], {}, [1, 2], {"a": 1}, "2024-05-01T08:00:00", "2024-13-01T08:00:00+08:00", "../../etc/passwd",
]  # fmt: skip


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _set(node: Any, path: tuple, value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value


def mutated(rng: random.Random, base: dict[str, Any]) -> bytes:
    """One mutation of a valid event: a field deleted or replaced, or the bytes cut, flipped or padded."""
    data = json.loads(json.dumps(base))
    op = rng.randrange(6)
    if op in (0, 1, 2):
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(_leaves(data))
            if path:
                _set(data, path, rng.choice(ODD_VALUES), delete=op == 0)
        return json.dumps(data, ensure_ascii=rng.random() < 0.5).encode()
    body = bytearray(json.dumps(data).encode())
    if op == 3:
        return bytes(body[: rng.randrange(len(body))])
    if op == 4:
        for _ in range(rng.randint(1, 5)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        return bytes(body)
    return bytes(body) + b" " * rng.randint(0, 2 * MAX_MESSAGE_BYTES)  # valid JSON, maybe over the size limit


def random_message(rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 4000))
    if kind == 1:
        return json.dumps(rng.choice(ODD_VALUES)).encode()
    return bytes(rng.choice(b'{}[]":,0123456789abcdeftrunl \\') for _ in range(rng.randint(1, 500)))


def messages(rng: random.Random) -> list[bytes]:
    """Valid events (opened, and later updates of some), mutations of them and random bytes, mixed."""
    out: list[bytes] = []
    for i in range(MESSAGES):
        ev = make_event(100 + i, category=rng.choice(["0507", "0102", "0508"]))
        roll = rng.random()
        if roll < 0.35:
            out.append(ev.model_dump_json().encode())
        elif roll < 0.45:
            out.append(make_event(100 + i, "updated", rng.randint(1, 5), evidence=False).model_dump_json().encode())
        elif roll < 0.85:
            out.append(mutated(rng, ev.model_dump(mode="json")))
        else:
            out.append(random_message(rng))
    return out


def oracle(body: bytes) -> str | None:
    """The event id if the contract accepts `body` (and its category is in the taxonomy), else None."""
    if len(body) > MAX_MESSAGE_BYTES:
        return None
    try:
        event = ClueEvent.model_validate_json(body)
    except ValidationError:
        return None
    return event.event_id if event.category.code in load_taxonomy() else None


@pytest.mark.parametrize(
    "services",
    [
        "embedded+sqlite",
        pytest.param("rabbitmq+postgresql", marks=[pytest.mark.rabbitmq, pytest.mark.postgres]),
    ],
)
def test_fuzzed_intake_keeps_every_valid_event_and_stays_responsive(services: str, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    bodies = messages(rng)
    valid = {eid for b in bodies if (eid := oracle(b))}
    invalid = sum(1 for b in bodies if oracle(b) is None)
    assert len(valid) > 40 and invalid > 60  # the mix exercises both paths

    if services == "embedded+sqlite":
        url, kind = embedded_broker_url(tmp_path / "broker.sqlite"), "sqlite"
    else:
        url, kind = RABBIT_URL, "postgresql"
    with isolated_queue(url) as topo:
        publish_raw(url, topo, [(f"fuzz-{i}", body) for i, body in enumerate(bodies)])
        with database(kind, tmp_path) as (_u, sessions):
            stop = threading.Event()
            intake = threading.Thread(target=run_intake, args=(sessions, url, stop), kwargs={"topology": topo})
            app = create_app(review_config(tmp_path), load_taxonomy(), sessions)
            with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=5) as http:
                intake.start()
                slowest, t0 = 0.0, time.monotonic()
                try:
                    while True:
                        t = time.monotonic()
                        health = http.get("/health").json()
                        slowest = max(slowest, time.monotonic() - t)
                        with sessions() as s:
                            applied = s.scalar(select(func.count()).select_from(ClueEventRow))
                        if health["dead_letters"] >= invalid and applied >= len(valid):
                            break
                        assert time.monotonic() - t0 < DEADLINE_S, (health, applied, len(valid), invalid)
                        time.sleep(0.1)
                finally:
                    stop.set()
                    intake.join(10)
            print(
                f"{services}: {len(bodies)} messages in {time.monotonic() - t0:.1f} s, /health slowest {slowest:.2f} s"
            )
            assert slowest < 1.0
            with sessions() as s:
                assert set(s.scalars(select(ClueEventRow.event_id))) == valid  # no valid event lost
                assert deadletter.count(s) == invalid  # and nothing else slipped in or vanished


def test_messages_are_seeded() -> None:
    assert messages(random.Random(SEED)) == messages(random.Random(SEED))
