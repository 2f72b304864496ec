"""Failed tokens per client address, without I/O: one budget for every surface of a server.

An address may present ``burst`` missing or wrong tokens, then ``per_minute``; beyond, it is
*blocked*: its requests are refused (``429``) without their token being checked, until its
bucket has refilled by one, so no host can guess tokens at line rate. The signalling
server's websocket (:class:`~aiogstwebrtc.signalling.admission.Admission`) and its WHIP/WHEP
endpoints (:class:`~aiogstwebrtc.whep.quota.SessionQuota`) count into the same
:class:`TokenFailures` when they share a server, so a host does not get a budget per surface;
in a cluster the addresses blocked on the other servers are blocked here too
(:mod:`.cluster.addresses` exchanges :meth:`TokenFailures.blocked_keys`). Keys are address
keys (:func:`~aiogstwebrtc.signalling.admission.address_key`). asyncio thread only.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from .limits import TokenBucket

__all__ = ["TokenFailures"]

KEPT = 65536
"""Addresses remembered at most; past it, those whose bucket is full again are forgotten
first (they would start full anyway), then the oldest."""


class TokenFailures:
    """``burst`` failed tokens per address, then ``per_minute``; blocked beyond."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not per_minute > 0 or burst < 1:
            raise ValueError("per_minute must be positive and burst at least 1")
        self.per_minute = per_minute
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._elsewhere: set[str] = set()  # blocked on the cluster's other servers

    def failed(self, key: str) -> None:
        """``key`` presented a missing or wrong token."""
        bucket = self._buckets.get(key)
        if bucket is None:
            self._forget()
            bucket = TokenBucket(self.per_minute / 60, self.burst, clock=self._clock)
            self._buckets[key] = bucket
        else:
            self._buckets.move_to_end(key)
        bucket.take()

    def blocked(self, key: str) -> bool:
        """True while ``key`` may not present a token, here or on another server."""
        return self.retry_after(key) is not None

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may present a token again, or None if it may now. Blocked
        on another server: the time one failure takes to refill (that server's bucket is
        not known here; the next beat tells)."""
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.tokens < 1:
            return max(1, math.ceil((1 - bucket.tokens) * 60 / self.per_minute))
        if key in self._elsewhere:
            return max(1, math.ceil(60 / self.per_minute))
        return None

    def blocked_keys(self) -> set[str]:
        """The keys blocked by their failures here (not those blocked elsewhere)."""
        return {key for key, bucket in self._buckets.items() if bucket.tokens < 1}

    def set_blocked_elsewhere(self, keys: set[str]) -> None:
        """The keys the cluster's other servers block: blocked here too."""
        self._elsewhere = set(keys)

    def _forget(self) -> None:
        if len(self._buckets) < KEPT:
            return
        for key in [k for k, b in self._buckets.items() if b.tokens >= b.capacity]:
            del self._buckets[key]
        while len(self._buckets) >= KEPT:
            self._buckets.popitem(last=False)
