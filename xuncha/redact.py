"""Credentials out of text: every log line, error and health field that may hold a URL goes through here.

Runs in time linear in the text: a log line may quote a multi-megabyte message body, and the
interpreter lock is held while masking (a slow scan would freeze every thread of the process).

>>> mask_url("amqp://guest:s3cret@rabbit:5672//")
'amqp://guest:***@rabbit:5672//'
>>> clip(b"x" * 5_000_000, 8)
"b'xxxxxxxx'... (5000000 bytes)"
"""

from __future__ import annotations

import logging
import re

_SCHEME_MAX = 32  # longer "schemes" are not URLs; bounding the backward scan keeps masking linear
_SCHEME_TAIL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_AUTHORITY = re.compile(r"[^\s;'\"<>]+")
LOG_PREVIEW_CHARS = 200


def mask_url(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***; for logs and error messages."""
    out: list[str] = []
    done = 0  # text[:done] is already in `out`
    pos = text.find("://")
    while pos >= 0:
        scheme = _SCHEME_TAIL.search(text, max(done, pos - _SCHEME_MAX), pos)
        rest = _AUTHORITY.match(text, pos + 3)
        if scheme is None or rest is None:
            pos = text.find("://", pos + 3)
            continue
        out.append(text[done : rest.start()])
        out.append(_mask_rest(rest.group()))
        done = rest.end()
        pos = text.find("://", done)
    out.append(text[done:])
    return "".join(out)


def _mask_rest(rest: str) -> str:
    """user:password@host... -> user:***@host... (the part of a URL after '://')."""
    at = rest.rfind("@")  # the last '@': passwords may contain unescaped '@'
    if at < 0 or ":" not in rest[:at]:
        return rest
    user = rest[:at].split(":", 1)[0]
    return f"{user}:***@{rest[at + 1 :]}"


def clip(body: bytes | str, limit: int = LOG_PREVIEW_CHARS) -> str:
    """A bounded, printable preview of a message body for a log line: a prefix and the length."""
    unit = "bytes" if isinstance(body, bytes) else "chars"
    if len(body) <= limit:
        return repr(body)
    return f"{body[:limit]!r}... ({len(body)} {unit})"


class MaskingFormatter(logging.Formatter):
    """Masks URL passwords in whole log records, tracebacks included: a last guard for messages
    that were not masked where they were made (an exception text quoting a camera URL).

    >>> import logging
    >>> rec = logging.LogRecord("x", logging.ERROR, "", 0, "open %s failed", ("rtsp://admin:pw@cam/1",), None)
    >>> MaskingFormatter("%(message)s").format(rec)
    'open rtsp://admin:***@cam/1 failed'
    """

    def format(self, record: logging.LogRecord) -> str:
        return mask_url(super().format(record))
