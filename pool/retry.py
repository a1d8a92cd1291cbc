"""How clients of the pool retry: exponential backoff with full jitter, and the refusal
that ends retrying (a bad credential or scope)."""

from __future__ import annotations

import random


class Refused(Exception):
    """The pool refused this client for good (bad credential, missing scope)."""


class Backoff:
    """Exponential backoff with full jitter: a random wait up to base * 2^n, capped."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None):
        self.base, self.cap, self.failures = base, cap, 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0
