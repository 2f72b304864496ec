"""Per-address connection counts shared by the servers of a cluster.

One host must not get ``max_per_address`` connections from *each* server behind a load
balancer. On every beat each server writes how many connections each client address holds
on it (addresses holding at least :data:`SHARED_FROM`; a lone browser tab is not worth a
Redis field) and reads the others'; its admission then counts an address's connections on
the other servers as well. The view lags by up to one beat: within it, an address may hold
up to ``max_per_address`` on each server, and new connections are refused once the
others' counts arrive (connections already open are not closed). Without Redis each server
counts alone again (the last counts from others expire with their keys).
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


class AddressShare:
    """Writes this server's counts and reads the others' (one pipeline per beat)."""

    def __init__(self, keys: wire.Keys, counts: AddressCounts) -> None:
        self._keys = keys
        self._counts = counts

    async def exchange(self, redis: Redis, others: Iterable[str], ttl_ms: int) -> None:
        """Publish ours (replacing the last ones), then sum the other servers'."""
        own = self._counts.open_counts(SHARED_FROM)
        servers = sorted(others)
        pipe = redis.pipeline(transaction=False)
        pipe.delete(self._keys.addresses())
        if own:
            pipe.hset(self._keys.addresses(), mapping=own)  # type: ignore[arg-type]
            pipe.pexpire(self._keys.addresses(), ttl_ms)
        for server in servers:
            pipe.hgetall(self._keys.addresses(server))
        results = await pipe.execute()
        elsewhere: dict[str, int] = {}
        for table in results[len(results) - len(servers) :]:
            for raw_key, raw_count in table.items():
                key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
                try:
                    count = int(raw_count)
                except ValueError:
                    continue
                elsewhere[key] = elsewhere.get(key, 0) + max(0, count)
        self._counts.set_elsewhere(elsewhere)

    def forget(self) -> None:
        """Redis is lost or the node stops: count alone again."""
        self._counts.set_elsewhere({})
