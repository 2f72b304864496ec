"""Per-address connection counts shared by the servers of a cluster.

One host must not get ``max_per_address`` connections from *each* server behind a load
balancer. On every beat each server writes how many connections each client address holds
on it (addresses holding at least :data:`SHARED_FROM`; a lone browser tab is not worth a
Redis field) and reads the others'; its admission then counts an address's connections on
the other servers as well. The view lags by up to one beat: within it, an address may hold
up to ``max_per_address`` on each server, and new connections are refused once the
others' counts arrive (connections already open are not closed). Without Redis each server
counts alone again (the last counts from others expire with their keys).

Failed token attempts are shared the same way: an address that has used up its failed
attempts on one server (:attr:`AdmissionLimits.token_failures_per_minute`) is refused on
every server until that server lets it try again, so a cluster of N servers does not give
one host N times the guesses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from redis.asyncio import Redis

from . import wire

__all__ = ["SHARED_FROM", "AddressCounts", "AddressShare"]

log = logging.getLogger(__name__)

SHARED_FROM = 2
"""Addresses with fewer connections than this on a server are not shared."""


class AddressCounts(Protocol):
    """What the server's admission offers to the cluster (``.admission.Admission``)."""

    def open_counts(self, minimum: int) -> dict[str, int]:
        """Connections per address key held here, for those holding ``minimum`` or more."""
        ...

    def set_elsewhere(self, counts: Mapping[str, int]) -> None:
        """The connections per address key held on the other servers of the cluster."""
        ...

    def token_blocked_keys(self) -> set[str]:
        """Address keys refused here for their failed tokens."""
        ...

    def set_token_blocked_elsewhere(self, keys: set[str]) -> None:
        """Address keys refused for their failed tokens on the other servers."""
        ...


class AddressShare:
    """Writes this server's counts and reads the others' (one pipeline per beat)."""

    def __init__(self, keys: wire.Keys, counts: AddressCounts) -> None:
        self._keys = keys
        self._counts = counts

    async def exchange(self, redis: Redis, others: Iterable[str], ttl_ms: int) -> None:
        """Publish ours (replacing the last ones), then sum the other servers'."""
        own = self._counts.open_counts(SHARED_FROM)
        blocked = self._counts.token_blocked_keys()
        servers = sorted(others)
        pipe = redis.pipeline(transaction=False)
        pipe.delete(self._keys.addresses(), self._keys.token_blocked())
        if own:
            pipe.hset(self._keys.addresses(), mapping=own)  # type: ignore[arg-type]
            pipe.pexpire(self._keys.addresses(), ttl_ms)
        if blocked:
            pipe.sadd(self._keys.token_blocked(), *sorted(blocked))
            pipe.pexpire(self._keys.token_blocked(), ttl_ms)
        for server in servers:
            pipe.hgetall(self._keys.addresses(server))
            pipe.smembers(self._keys.token_blocked(server))
        results = await pipe.execute()
        theirs = results[len(results) - 2 * len(servers) :]
        elsewhere: dict[str, int] = {}
        for table in theirs[0::2]:
            for raw_key, raw_count in table.items():
                try:
                    count = int(raw_count)
                except ValueError:
                    continue
                key = _text(raw_key)
                elsewhere[key] = elsewhere.get(key, 0) + max(0, count)
        self._counts.set_elsewhere(elsewhere)
        self._counts.set_token_blocked_elsewhere({_text(k) for s in theirs[1::2] for k in s})

    def forget(self) -> None:
        """Redis is lost or the node stops: count alone again."""
        self._counts.set_elsewhere({})
        self._counts.set_token_blocked_elsewhere(set())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
