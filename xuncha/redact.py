"""Credentials out of text: every log line, error and health field that may hold a URL goes through here.

>>> mask_url("amqp://guest:s3cret@rabbit:5672//")
'amqp://guest:***@rabbit:5672//'
"""

from __future__ import annotations

import logging
import re

_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s;'\"<>]+)")


def mask_url(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***; for logs and error messages."""

    def _mask(m: re.Match[str]) -> str:
        rest = m.group(2)
        at = rest.rfind("@")  # the last '@': passwords may contain unescaped '@'
        if at < 0 or ":" not in rest[:at]:
            return m.group(0)
        user = rest[:at].split(":", 1)[0]
        return f"{m.group(1)}{user}:***@{rest[at + 1 :]}"

    return _URL.sub(_mask, text)


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
