"""Request body limits: an oversized body is refused with 413 before it is read whole.

A declared Content-Length over the limit is answered at once, without reading a byte; a chunked
body is counted as it arrives and cut off at the limit. Picture uploads have their own, larger limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1024 * 1024  # JSON and forms: a zone set of many zones is ~100 KB
MAX_PICTURE = 20 * 1024 * 1024
# Routes that take a file (multipart): a picture, or a camera list of a whole city, plus the other fields.
UPLOADS = re.compile(r"^/api/(cases/[^/]+/handled|cameras/[^/]+/reference|cameras/import)$")


def limit_for(path: str) -> int:
    """Most bytes a request to `path` may send.

    >>> limit_for("/api/clues/c1/reject") == MAX_BODY, limit_for("/api/cases/c1/handled") > MAX_PICTURE
    (True, True)
    """
    return MAX_PICTURE + MAX_BODY if UPLOADS.match(path) else MAX_BODY


def too_large(limit: int) -> str:
    return f"请求内容过大（上限 {limit // (1024 * 1024)} MB）"


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit_for(path)` with 413 and a Chinese message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer_413(send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body on as it is.
                    raise HTTPException(413, too_large(limit))
            return message

        await self.app(scope, counted, send)


async def _answer_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large(limit)}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # Connection: close, since the unread body is still on its way.
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
