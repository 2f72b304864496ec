"""Per-address connection counts shared by the servers of a cluster.

One host must not get ``max_per_address`` connections from *each* server behind a load
balancer. On every beat each server writes how many connections each client address holds
on it (addresses holding at least :data:`SHARED_FROM`; a lone browser tab is not worth a
Redis field) and reads the others'; its admission then counts an address's connections on
the other servers as well. The view lags by up to one beat: within it, an address may hold
up to ``max_per_address`` on each server, and new connections are refused once the
others' counts arrive (connections already open are not closed). Without Redis each server
counts alone again (the last counts from others expire with their keys).

Connection attempts are shared too: each beat a server writes the connections it admitted
per address since its previous beat (with the beat's serial, so a reader charges each beat
once), and the others take them from that address's attempt bucket, which may go into
debt. So one host gets about ``attempts_per_second`` across the cluster, plus at most one
burst per server within the first beat.

Failed token attempts are shared the same way: an address that has used up its failed
attempts on one server (:attr:`AdmissionLimits.token_failures_per_minute`) is refused on
every server until that server lets it try again, so a cluster of N servers does not give
one host N times the guesses.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from redis.asyncio import Redis

from . import wire

__all__ = ["BEAT_FIELD", "SHARED_FROM", "AddressCounts", "AddressShare"]

log = logging.getLogger(__name__)

SHARED_FROM = 2
"""Addresses with fewer connections (or admitted attempts in a beat) than this on a
server are not shared."""

BEAT_FIELD = "#beat"
"""The field of an attempts hash holding the serial of the beat that wrote it."""


class AddressCounts(Protocol):
    """What the server's admission offers to the cluster (``.admission.Admission``)."""

    def open_counts(self, minimum: int) -> dict[str, int]:
        """Connections per address key held here, for those holding ``minimum`` or more."""
        ...

    def set_elsewhere(self, counts: Mapping[str, int]) -> None:
        """The connections per address key held on the other servers of the cluster."""
        ...

    def attempt_counts(self, minimum: int) -> dict[str, int]:
        """Connections admitted per address key since the last call (``minimum`` or more)."""
        ...

    def charge_attempts(self, counts: Mapping[str, int]) -> None:
        """Connections the other servers admitted per address key since their last beat."""
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
        self._serials = itertools.count(1)
        self._charged: dict[str, str] = {}  # server -> serial of the attempts last charged

    async def exchange(self, redis: Redis, others: Iterable[str], ttl_ms: int) -> None:
        """Publish ours (replacing the last ones), then sum the other servers'."""
        keys = self._keys
        own = self._counts.open_counts(SHARED_FROM)
        attempts: dict[str, int | str] = dict(self._counts.attempt_counts(SHARED_FROM))
        blocked = self._counts.token_blocked_keys()
        servers = sorted(others)
        pipe = redis.pipeline(transaction=False)
        pipe.delete(keys.addresses(), keys.token_blocked(), keys.attempts())
        if own:
            pipe.hset(keys.addresses(), mapping=own)  # type: ignore[arg-type]
            pipe.pexpire(keys.addresses(), ttl_ms)
        if attempts:
            attempts[BEAT_FIELD] = next(self._serials)
            pipe.hset(keys.attempts(), mapping=attempts)  # type: ignore[arg-type]
            pipe.pexpire(keys.attempts(), ttl_ms)
        if blocked:
            pipe.sadd(keys.token_blocked(), *sorted(blocked))
            pipe.pexpire(keys.token_blocked(), ttl_ms)
        for server in servers:
            pipe.hgetall(keys.addresses(server))
            pipe.smembers(keys.token_blocked(server))
            pipe.hgetall(keys.attempts(server))
        results = await pipe.execute()
        theirs = results[len(results) - 3 * len(servers) :]
        self._charge_attempts(servers, theirs[2::3])
        elsewhere: dict[str, int] = {}
        for table in theirs[0::3]:
            _add_counts(table, elsewhere)
        self._counts.set_elsewhere(elsewhere)
        self._counts.set_token_blocked_elsewhere({_text(k) for s in theirs[1::3] for k in s})

    def _charge_attempts(self, servers: list[str], tables: list[dict[bytes, bytes]]) -> None:
        """Charge each other server's attempts of its last beat, once per beat it wrote."""
        charged: dict[str, str] = {}
        counts: dict[str, int] = {}
        for server, table in zip(servers, tables, strict=True):
            fields = {_text(k): v for k, v in table.items()}
            raw_serial = fields.pop(BEAT_FIELD, None)
            if raw_serial is None:
                continue
            serial = charged[server] = _text(raw_serial)
            if self._charged.get(server) == serial:
                continue  # read already (its beat is slower than ours)
            _add_counts(fields, counts)
        self._charged = charged
        if counts:
            self._counts.charge_attempts(counts)

    def forget(self) -> None:
        """Redis is lost or the node stops: count alone again."""
        self._counts.set_elsewhere({})
        self._counts.set_token_blocked_elsewhere(set())


def _add_counts(table: Mapping[bytes, bytes] | Mapping[str, bytes], into: dict[str, int]) -> None:
    """Add a Redis hash of address key -> count to ``into`` (a malformed count is skipped,
    a negative one counts 0)."""
    for raw_key, raw_count in table.items():
        try:
            count = int(raw_count)
        except ValueError:
            continue
        key = _text(raw_key)
        into[key] = into.get(key, 0) + max(0, count)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
