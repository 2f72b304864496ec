"""How many WHIP/WHEP sessions one client address may open, and how fast, without I/O.

Every POST of an offer makes a peer connection (a webrtcbin pipeline, sockets, threads):
one host posting in a loop could take the whole machine. :class:`SessionQuota` gives each
client address at most ``max_per_address`` open sessions and ``offers_per_second`` new
offers (a token bucket of ``offers_burst``); beyond either the POST gets ``429`` with a
``Retry-After``. Failed bearer tokens (missing or wrong) are limited per address as the
signalling server limits them: ``token_failures_burst``, then ``token_failures_per_minute``;
beyond, every request from that address gets ``429`` without its token being checked, so
a host cannot guess tokens at line rate; served by a signalling server, the endpoint counts
them into the server's own (:meth:`SessionQuota.share_token_failures`): one budget per host
for the websocket and every endpoint, shared by a cluster. Addresses count as the
signalling server counts them (:func:`~aiogstwebrtc.signalling.admission.address_key`: an
IPv6 /64 is one host; behind a reverse proxy named in ``trusted_proxies``, the client its
``X-Forwarded-For`` names).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..signalling.admission import AdmissionLimits, address_key, client_address
from ..signalling.limits import TokenBucket
from ..signalling.token_failures import TokenFailures

__all__ = ["DEFAULT_SESSION_LIMITS", "SessionLimits", "SessionQuota"]

_ADDRESSES_KEPT = 65536


@dataclass(frozen=True)
class SessionLimits:
    """Per client address: open sessions, offers per second in bursts of ``offers_burst``,
    and failed bearer tokens per minute in bursts of ``token_failures_burst``.

    ``trusted_proxies``: addresses or networks of reverse proxies whose
    ``X-Forwarded-For``/``Forwarded`` headers name the client.
    """

    max_per_address: int = 16
    offers_per_second: float = 2.0
    offers_burst: int = 10
    token_failures_per_minute: float = 10.0
    token_failures_burst: int = 10
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_per_address < 1 or self.offers_burst < 1 or self.token_failures_burst < 1:
            raise ValueError(
                "max_per_address, offers_burst and token_failures_burst must be at least 1"
            )
        if not self.offers_per_second > 0 or not self.token_failures_per_minute > 0:
            raise ValueError("offers_per_second and token_failures_per_minute must be positive")
        AdmissionLimits(trusted_proxies=self.trusted_proxies)  # checks the networks


DEFAULT_SESSION_LIMITS = SessionLimits()


class SessionQuota:
    """Counts open sessions and offers per client address (asyncio thread only)."""

    def __init__(
        self,
        limits: SessionLimits = DEFAULT_SESSION_LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._admission = AdmissionLimits(trusted_proxies=limits.trusted_proxies)
        self._open: dict[str, int] = {}
        self._buckets: dict[str, TokenBucket] = {}
        #: Failed bearer tokens per address: the endpoint's own, or its server's
        #: (:meth:`share_token_failures`).
        self.token_failures = TokenFailures(
            limits.token_failures_per_minute, limits.token_failures_burst, clock=clock
        )

    def share_token_failures(self, failures: TokenFailures) -> None:
        """Count failed tokens into ``failures`` (a signalling server's: one budget per
        host for the websocket and the endpoints, shared by a cluster) instead of our own;
        its limits then apply."""
        self.token_failures = failures

    def client(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The address a request counts against."""
        return address_key(client_address(peer, headers, self._admission))

    def open_count(self, client: str) -> int:
        """Sessions of ``client`` open (or being made) now."""
        return self._open.get(client, 0)

    def reserve(self, client: str) -> tuple[str, int] | None:
        """Count one more session of ``client``; or ``(reason, retry_after_s)`` if refused."""
        if self._open.get(client, 0) >= self.limits.max_per_address:
            return (
                f"too many sessions from your address (at most {self.limits.max_per_address})",
                5,
            )
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= _ADDRESSES_KEPT:
                self._forget_full()
            bucket = self._buckets[client] = TokenBucket(
                self.limits.offers_per_second, self.limits.offers_burst, clock=self._clock
            )
        if not bucket.take():
            wait = math.ceil((1 - bucket.tokens) / self.limits.offers_per_second)
            return ("too many offers from your address: slow down", max(1, wait))
        self._open[client] = self._open.get(client, 0) + 1
        return None

    def token_blocked(self, client: str) -> int | None:
        """Seconds until ``client`` may present a token again, or None if it may now."""
        return self.token_failures.retry_after(client)

    def token_failed(self, client: str) -> None:
        """``client`` presented a missing or wrong bearer token."""
        self.token_failures.failed(client)

    def release(self, client: str) -> None:
        """One session of ``client`` ended, or was never made."""
        left = self._open.get(client, 0) - 1
        if left > 0:
            self._open[client] = left
        else:
            self._open.pop(client, None)

    def _forget_full(self) -> None:
        """Drop the buckets that are full again (they would start full anyway)."""
        for key in [k for k, b in self._buckets.items() if b.tokens >= b.capacity]:
            del self._buckets[key]
