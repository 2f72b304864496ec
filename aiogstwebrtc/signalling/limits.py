"""Per-connection message rate limiting for the signalling server, without I/O.

Each websocket connection gets a :class:`RateLimiter`: a token bucket holding up to
``burst`` messages that refills at ``rate`` messages per second. A message that finds the
bucket empty is dropped and its sender gets an ``error`` reply; a sender that goes on
after ``max_dropped`` drops in a row (no message accepted in between) is disconnected
with close code 1008 (policy violation).

The defaults (:data:`DEFAULT_RATE_LIMIT`: 100 messages per second, bursts of 500, closed
after 100 drops in a row) are far above what a browser negotiating sessions sends: one
session costs about twenty messages (status, list, start, answer, a dozen ICE
candidates), and a producer that gets forty consumers at the same moment sends some 500.
The clock is injectable so the rules are tested without waiting.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_RATE_LIMIT", "RateLimit", "RateLimiter", "TokenBucket", "Verdict"]

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How many messages one connection may send.

    ``rate``: messages per second on average; ``burst``: messages accepted at once after
    a quiet spell; ``max_dropped``: messages dropped in a row after which the connection
    is closed.
    """

    rate: float = 100.0
    burst: int = 500
    max_dropped: int = 100

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")
        if self.max_dropped < 1:
            raise ValueError(f"max_dropped must be at least 1, got {self.max_dropped!r}")

    def describe(self) -> str:
        """The limit in words, for error replies and logs."""
        return f"{self.rate:g} messages per second, bursts of {self.burst}"


DEFAULT_RATE_LIMIT = RateLimit()
"""The server's default: 100 messages per second, bursts of 500, closed after 100 drops."""


class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled at ``rate`` per second, full at first."""

    __slots__ = ("_clock", "_last", "_tokens", "capacity", "rate")

    def __init__(
        self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._last = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    def take(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens and return True, or return False and take nothing."""
        self._refill()
        if self._tokens >= cost - _EPSILON:  # a sender paced at exactly the rate passes
            self._tokens = max(0.0, self._tokens - cost)
            return True
        return False

    def drain(self, cost: float, *, floor: float = 0.0) -> None:
        """Take ``cost`` tokens, work charged after the fact: the bucket goes down to
        ``floor`` at most (a negative ``floor`` lets it go into debt, refilled first)."""
        self._refill()
        self._tokens = max(min(floor, self._tokens), self._tokens - cost)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._last = now


class Verdict(enum.Enum):
    """What to do with one incoming message."""

    ACCEPT = "accept"
    """Within the limit: handle it."""
    DROP = "drop"
    """Over the limit: drop it and tell the sender."""
    CLOSE = "close"
    """Over the limit for too long: drop it and close the connection."""


class RateLimiter:
    """The limit of one connection: a :class:`TokenBucket` and a count of drops in a row."""

    __slots__ = ("_bucket", "dropped_in_a_row", "dropped_total", "limit")

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._bucket = TokenBucket(limit.rate, limit.burst, clock=clock)
        self.dropped_in_a_row = 0
        self.dropped_total = 0

    def charge(self, cost: float) -> None:
        """Charge ``cost`` extra messages for work a message caused (a large reply, a
        fan-out to many peers): the next messages find less in the bucket."""
        if cost > 0:
            self._bucket.drain(cost)

    def check(self) -> Verdict:
        """Count one incoming message and say what to do with it."""
        if self._bucket.take():
            self.dropped_in_a_row = 0
            return Verdict.ACCEPT
        self.dropped_in_a_row += 1
        self.dropped_total += 1
        if self.dropped_in_a_row >= self.limit.max_dropped:
            return Verdict.CLOSE
        return Verdict.DROP
