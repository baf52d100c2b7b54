"""Reconnect delays: exponential, capped, with jitter so that many cameras behind one failed
platform do not all reconnect in the same instant.

>>> b = Backoff(initial=1, cap=30, jitter=0)
>>> [b.delay(n) for n in range(7)]
[1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before reconnect attempt `n` (0-based): min(cap, initial * 2**n), minus up to `jitter` of it."""

    initial: float = 1.0
    cap: float = 30.0
    jitter: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError(f"backoff needs 0 < initial <= cap, got initial={self.initial} cap={self.cap}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be within [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        base = min(self.cap, self.initial * 2 ** min(attempt, 62))
        return base * (1 - self.jitter * rand())
