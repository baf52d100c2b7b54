"""Routes of the dead-letter page (admins): the clue messages intake could not apply, with the reason.

GET /dead-letters (page) and /api/dead-letters (JSON, newest first), GET /api/dead-letters/{id}
(with a preview of the body), POST /api/dead-letters/{id}/requeue (publish it to the clue queue
again, after the cause is fixed), DELETE /api/dead-letters/{id} (forget it).
"""

# No `from __future__ import annotations`: FastAPI must see the routes' Annotated dependencies evaluated.
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from xuncha.db.deadletters import DeadLetter
from xuncha.redact import mask_url
from xuncha.review import deadletter
from xuncha.review.deps import Admin, page
from xuncha.review.deps import state as st

PREVIEW_BYTES = 4096
LIST_LIMIT = 200


def dead_letter_json(row: DeadLetter, *, preview: bool = False) -> dict[str, Any]:
    out = {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "queue": row.queue,
        "message_id": row.message_id,
        "routing_key": row.routing_key,
        "reason": row.reason,
        "size": row.body_size,
        "truncated": row.truncated,
    }
    if preview:  # text for people: undecodable bytes as \\x.., never the whole of a large body
        out["body_preview"] = row.body[:PREVIEW_BYTES].decode("utf-8", "backslashreplace")
    return out


def make_router() -> APIRouter:
    router = APIRouter(tags=["dead letters"])

    @router.get("/dead-letters")
    def dead_letters_page(request: Request, who: Admin) -> Response:
        tz = ZoneInfo(st(request).cfg.timezone)
        with st(request).sessions() as s:
            total = deadletter.count(s)
            rows = [
                {**dead_letter_json(r, preview=True), "local_time": f"{r.received_at.astimezone(tz):%Y-%m-%d %H:%M:%S}"}
                for r in deadletter.newest(s, LIST_LIMIT)
            ]
        return page(request, "dead_letters.html", who, total=total, rows=rows, shown=LIST_LIMIT)

    @router.get("/api/dead-letters")
    def dead_letters(request: Request, who: Admin) -> dict[str, Any]:
        with st(request).sessions() as s:
            return {
                "total": deadletter.count(s),
                "items": [dead_letter_json(r) for r in deadletter.newest(s, LIST_LIMIT)],
            }

    @router.get("/api/dead-letters/{dead_id}")
    def dead_letter(request: Request, who: Admin, dead_id: int) -> dict[str, Any]:
        with st(request).sessions() as s:
            try:
                return dead_letter_json(deadletter.get(s, dead_id), preview=True)
            except KeyError:
                raise HTTPException(404, "死信不存在") from None

    @router.post("/api/dead-letters/{dead_id}/requeue")
    def requeue(request: Request, who: Admin, dead_id: int) -> dict[str, Any]:
        state = st(request)
        try:
            deadletter.requeue(state.sessions, dead_id, state.cfg.kombu_url)
        except KeyError:
            raise HTTPException(404, "死信不存在") from None
        except ValueError:
            raise HTTPException(409, "消息过大，只保存了开头部分，无法重新入队") from None
        except Exception as e:  # noqa: BLE001 - the broker is down: say so, keep the dead letter
            raise HTTPException(503, f"消息队列不可用：{type(e).__name__}: {mask_url(str(e))[:200]}") from None
        return {"requeued": dead_id}

    @router.delete("/api/dead-letters/{dead_id}")
    def drop(request: Request, who: Admin, dead_id: int) -> dict[str, Any]:
        try:
            deadletter.drop(st(request).sessions, dead_id)
        except KeyError:
            raise HTTPException(404, "死信不存在") from None
        return {"dropped": dead_id}

    return router
