"""Login throttling: too many failed logins for one account, or from one address, make the next wait.

Failures are counted in a sliding window per account (the normalised user name) and per client
address. Past either limit, logins for that account / from that address are refused without
checking the password until the oldest failure in the window expires. A success clears only the
account's count: one valid account must not reset the count of the address it is used from.
In memory, per process: the review service runs one process; a restart forgets (a fresh window).

>>> t = LoginThrottle(per_account=2, per_address=10, window_s=60)
>>> t.fail("op1", "10.0.0.1", now=0.0); t.fail("op1", "10.0.0.1", now=1.0)
>>> t.wait_s("op1", "10.0.0.2", now=2.0), t.wait_s("op2", "10.0.0.1", now=2.0)
(58.0, 0.0)
>>> t.wait_s("op1", "10.0.0.1", now=60.5)
0.0
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginThrottle:
    # Bounds the memory an attacker can make us spend with made-up user names.
    MAX_KEYS = 100_000

    def __init__(self, per_account: int, per_address: int, window_s: float) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0  # logins refused because of throttling (for /metrics)
        self.failed = 0  # wrong user name or password

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def wait_s(self, account: str, address: str, now: float | None = None) -> float:
        """Seconds until a login for `account` from `address` is allowed again; 0 = now."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key, limit in ((("account", account), self.per_account), (("address", address), self.per_address)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    # Allowed again when enough old failures leave the window to be under the limit.
                    wait = max(wait, times[len(times) - limit] + self.window_s - now)
        return wait

    def refuse(self) -> None:
        with self._lock:
            self.refused += 1

    def fail(self, account: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self.failed += 1
            if len(self._failures) >= self.MAX_KEYS:
                self._prune(now)
            for key in (("account", account), ("address", address)):
                self._failures.setdefault(key, deque()).append(now)

    def succeed(self, account: str) -> None:
        with self._lock:
            self._failures.pop(("account", account), None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.MAX_KEYS:  # still full of live keys: forget the oldest
            del self._failures[next(iter(self._failures))]


def wait_text(seconds: float) -> str:
    """The wait in Chinese, rounded up to what a person reads.

    >>> wait_text(42.1), wait_text(61), wait_text(900)
    ('43 秒', '2 分钟', '15 分钟')
    """
    s = max(1, int(-(-seconds // 1)))
    return f"{s} 秒" if s < 60 else f"{-(-s // 60)} 分钟"
