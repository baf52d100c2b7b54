"""Lease fencing: refuse clue events and re-check results sent under a camera lease older than the newest.

A worker that lost a camera's lease without noticing (paused, partitioned) may still publish for the
camera another worker now owns. Every message carries the lease's token (`leases.py`: the camera's
`generation`, bumped on each acquisition), and intake refuses, as a dead letter naming the camera and
both tokens, a message whose token is older than the camera's current one.

The current token is the newest token intake has applied for the camera, kept here in the review
database in the transaction of the message's effect, not read from the workers' lease table: the
review service needs no access to the workers' database (DESIGN: review does not import worker
internals; the lease table may live in another database), and its queue is applied in order, so a
backlog sent under an earlier lease (intake down while a worker restarted) is applied before the
newer lease's messages instead of being refused as the lease table would have it.

Intake learns a new token from the new holder itself: on taking a camera, a worker sends a
`LeaseNotice` on the clue queue before the camera's first sample (`announce`), so a stale message
is refused even when it arrives before the new holder has any clue to send. What is left: a stale
message published between the new lease's commit and its notice reaching the broker (milliseconds;
longer if the new holder's broker is down and its notice waits in its spool while the old holder
still reaches the broker) is accepted, as is anything of a worker from before notices.

Messages without a token (from before fencing, or from a single worker without leases) are accepted
and leave the fence as it is. A refused message requeued from the dead letters is refused again: the
new holder's events carry the whole clue, so what it loses is one stale observation.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from xuncha.clues.broker import Poison
from xuncha.db.base import utcnow
from xuncha.db.cameras import CameraFence


def refusal(what: str, camera_id: str, token: int | None, current: int | None) -> str | None:
    """Why `what` (sent for `camera_id` under lease `token`) is refused when the camera's current token
    is `current` (None: none seen yet); None to accept it (pure)."""
    if token is None or current is None or token >= current:
        return None
    return (
        f"stale lease: {what} for camera {camera_id} was sent under lease token {token}, older than the"
        f" camera's current token {current} (its worker had lost the camera's lease); not applied"
    )


def check(session: Session, what: str, camera_id: str, token: int | None) -> None:
    """Poison if `token` is older than the camera's current one, else record it as the current one,
    in the caller's transaction (so the fence moves only with an applied message)."""
    if token is None:
        return
    reason = refusal(what, camera_id, token, _raise_fence(session, camera_id, token))
    if reason is not None:
        raise Poison(reason)


def announce(session: Session, camera_id: str, token: int) -> bool:
    """A worker took the camera's lease under `token`: raise the fence to it, in the caller's
    transaction. False if the fence was above it already: a notice of an earlier holder arriving late
    (from its spool) changes nothing and is not an error."""
    return _raise_fence(session, camera_id, token) == token


def _raise_fence(session: Session, camera_id: str, token: int) -> int:
    """Raise the camera's fence to `token` (creating it); returns the fence after the raise."""
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (pg_insert if postgres else sqlite_insert)(CameraFence)
    newest = (func.greatest if postgres else func.max)(CameraFence.lease_token, insert.excluded.lease_token)
    # One statement, no race between intake processes: the row is created or raised to `token` and
    # stays locked to the end of the transaction; it comes back above `token` only if that is stale.
    return session.scalar(
        insert.values(camera_id=camera_id, lease_token=token, updated_at=utcnow())
        .on_conflict_do_update(index_elements=["camera_id"], set_={"lease_token": newest, "updated_at": utcnow()})
        .returning(CameraFence.lease_token)
    )
