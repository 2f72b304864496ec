"""Per-address admission control for the signalling server, without I/O.

One host must not be able to take every slot of the server. :class:`Admission` counts,
per client address, the TCP connections open (websockets and plain HTTP together), those
not yet upgraded to a websocket, the connection attempts (a token bucket) and the failed
token attempts (another bucket), and says whether a new connection may come in.

Addresses: an IPv4 address counts as itself; an IPv6 address counts with its whole /64
(one host usually owns a /64). Behind a reverse proxy every TCP connection comes from the
proxy, so the client address is then taken from ``X-Forwarded-For`` or ``Forwarded`` —
only when the TCP peer is one of :attr:`AdmissionLimits.trusted_proxies` (anyone else
could write those headers). A trusted proxy itself is exempt from the per-address limits
on TCP connections; its clients are counted when their websocket is upgraded.

The clock is injectable so the rules are tested without waiting.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .limits import TokenBucket
from .token_failures import TokenFailures

__all__ = [
    "DEFAULT_ADMISSION",
    "Admission",
    "AdmissionLimits",
    "Refusal",
    "address_key",
    "client_address",
]

_ADDRESSES_KEPT = 65536  # idle per-address records remembered (for their buckets)
_DEBT_SECONDS = 10.0  # attempts made on other servers put a bucket in debt this long at most

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """What one client address may hold of the server, and the pre-upgrade timeouts.

    ``max_per_address``: TCP connections open at once from one address (websockets and
    HTTP connections together). ``attempts_per_second``/``attempts_burst``: new
    connections per address (a token bucket). ``max_pending``/``max_pending_per_address``:
    connections not yet upgraded to a websocket, in all and per address.
    ``http_timeout``: seconds a connection has to send a complete HTTP request (headers
    included) and that an idle HTTP keep-alive connection is kept. ``unregistered_timeout``:
    seconds a websocket may stay without sending one valid message (``setPeerStatus``,
    ``list``, ``startSession``...), then it is closed with 1008.
    ``token_failures_per_minute``/``token_failures_burst``: failed token attempts per
    address before further ones get HTTP 429 without being checked.
    ``trusted_proxies``: addresses or networks (``"10.0.0.1"``, ``"10.0.0.0/8"``) of reverse
    proxies whose ``X-Forwarded-For``/``Forwarded`` headers name the client.
    """

    max_per_address: int = 32
    attempts_per_second: float = 10.0
    attempts_burst: int = 40
    max_pending: int = 256
    max_pending_per_address: int = 16
    http_timeout: float = 10.0
    unregistered_timeout: float = 30.0
    token_failures_per_minute: float = 10.0
    token_failures_burst: int = 10
    trusted_proxies: tuple[str, ...] = ()
    _networks: tuple[IPNetwork, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("max_per_address", "attempts_burst", "max_pending"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_pending_per_address < 1 or self.token_failures_burst < 1:
            raise ValueError("max_pending_per_address and token_failures_burst must be >= 1")
        for name in (
            "attempts_per_second",
            "http_timeout",
            "unregistered_timeout",
            "token_failures_per_minute",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        try:
            networks = tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"trusted proxy: {exc}") from None
        object.__setattr__(self, "_networks", networks)

    def trusts(self, address: str | None) -> bool:
        """True when ``address`` is one of the trusted proxies."""
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self._networks)


DEFAULT_ADMISSION = AdmissionLimits()
"""The server's defaults: 32 connections per address, 10 new ones per second (bursts of
40), 256 connections waiting for their upgrade (16 per address), 10 s to send a request,
30 s to send a first message, 10 failed tokens per minute, no trusted proxy."""


class Refusal(enum.Enum):
    """Why a connection is refused; the value is the phrase logged."""

    ATTEMPTS = "too many connection attempts from one address"
    PER_ADDRESS = "too many connections from one address"
    PENDING = "too many connections waiting for their upgrade"
    PENDING_PER_ADDRESS = "too many connections from one address waiting for their upgrade"
    TOKEN = "too many failed token attempts from one address"


def _ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not address:
        return None
    try:
        return ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return None


def address_key(address: str | None) -> str:
    """The key one host is counted under: the address, or its /64 for IPv6."""
    ip = _ip(address)
    if ip is None:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(peer: str | None, headers: Mapping[str, str], limits: AdmissionLimits) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy, then the nearest
    address in ``Forwarded``/``X-Forwarded-For`` that is not a trusted proxy itself."""
    if not limits.trusts(peer):
        return peer or "unknown"
    hops = _forwarded_for(headers.get("Forwarded", "")) or [
        h.strip() for h in headers.get("X-Forwarded-For", "").split(",") if h.strip()
    ]
    for hop in reversed(hops):
        if not limits.trusts(hop):
            return hop if _ip(hop) is not None else (peer or "unknown")
    return peer or "unknown"


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` addresses of a ``Forwarded`` header (RFC 7239), nearest last."""
    hops: list[str] = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, token = pair.strip().partition("=")
            if name.strip().lower() != "for":
                continue
            token = token.strip().strip('"')
            if token.startswith("["):  # "[2001:db8::1]:4711"
                token = token[1:].partition("]")[0]
            elif token.count(":") == 1:  # "192.0.2.60:4711"
                token = token.partition(":")[0]
            hops.append(token)
    return hops


@dataclass(slots=True)
class _Record:
    attempts: TokenBucket
    open: int = 0
    pending: int = 0


class Admission:
    """The per-address counts of one server (see the module's docstring)."""

    def __init__(
        self,
        limits: AdmissionLimits = DEFAULT_ADMISSION,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._elsewhere: Mapping[str, int] = {}  # connections on the cluster's other servers
        self._attempted: dict[str, int] = {}  # connections admitted per key since last asked
        self._counting = False  # set once a cluster asks for attempt_counts
        #: Failed tokens per address (shared with the server's WHIP/WHEP endpoints).
        self.token_failures = TokenFailures(
            limits.token_failures_per_minute, limits.token_failures_burst, clock=clock
        )
        self.pending = 0
        """Connections not yet upgraded, from every address."""

    def open_count(self, address: str) -> int:
        """TCP connections (or, for proxied clients, websockets) open from ``address``."""
        record = self._records.get(address_key(address))
        return 0 if record is None else record.open

    def open_counts(self, minimum: int) -> dict[str, int]:
        """Connections per address key held here, for those holding ``minimum`` or more
        (what a cluster shares: :mod:`.cluster.addresses`)."""
        return {key: r.open for key, r in self._records.items() if r.open >= minimum}

    def set_elsewhere(self, counts: Mapping[str, int]) -> None:
        """Connections per address key held on the cluster's other servers: they count
        against :attr:`AdmissionLimits.max_per_address` too."""
        self._elsewhere = dict(counts)

    def elsewhere(self, address: str) -> int:
        """Connections ``address`` holds on the cluster's other servers (last known)."""
        return self._elsewhere.get(address_key(address), 0)

    def attempt_counts(self, minimum: int) -> dict[str, int]:
        """Connections admitted per address key since the last call, for those admitted
        ``minimum`` times or more (what a cluster shares each beat: :mod:`.cluster.addresses`)."""
        self._counting = True
        attempted, self._attempted = self._attempted, {}
        return {key: n for key, n in attempted.items() if n >= minimum}

    def charge_attempts(self, counts: Mapping[str, int]) -> None:
        """Connections the cluster's other servers admitted per address key: taken from
        the key's attempt bucket here too, so one host gets
        :attr:`AdmissionLimits.attempts_per_second` across the cluster, not on each server.
        The bucket may go into debt, of at most ten seconds of refills."""
        limits = self.limits
        floor = -limits.attempts_per_second * _DEBT_SECONDS
        for key, count in counts.items():
            if count > 0:
                self._record(key).attempts.drain(count, floor=floor)

    def attempts_left(self, address: str) -> float:
        """The connection attempts ``address`` may make now (negative: in debt)."""
        record = self._records.get(address_key(address))
        return float(self.limits.attempts_burst) if record is None else record.attempts.tokens

    def accept(self, peer: str | None) -> Refusal | None:
        """A TCP connection from ``peer`` arrives: count it, or say why it is refused.

        Accepted connections count as pending until :meth:`upgraded`, and as open until
        :meth:`closed`.
        """
        limits = self.limits
        if self.pending >= limits.max_pending:
            return Refusal.PENDING
        if limits.trusts(peer):
            self.pending += 1
            return None
        key = address_key(peer)
        record = self._record(key)
        if record.open + self._elsewhere.get(key, 0) >= limits.max_per_address:
            return Refusal.PER_ADDRESS
        if record.pending >= limits.max_pending_per_address:
            return Refusal.PENDING_PER_ADDRESS
        if not record.attempts.take():
            return Refusal.ATTEMPTS
        self._count_attempt(key)
        record.open += 1
        record.pending += 1
        self.pending += 1
        return None

    def upgraded(self, peer: str | None) -> None:
        """The connection from ``peer`` became a websocket (or finished its request)."""
        self.pending -= 1
        record = None if self.limits.trusts(peer) else self._records.get(address_key(peer))
        if record is not None:
            record.pending -= 1

    def closed(self, peer: str | None, *, pending: bool) -> None:
        """The connection from ``peer`` closed; ``pending``: it never was upgraded."""
        if pending:
            self.upgraded(peer)
        if self.limits.trusts(peer):
            return
        record = self._records.get(address_key(peer))
        if record is not None:
            record.open -= 1

    def admit_proxied(self, client: str) -> Refusal | None:
        """A websocket from ``client`` through a trusted proxy: count it, or refuse it."""
        key = address_key(client)
        record = self._record(key)
        if record.open + self._elsewhere.get(key, 0) >= self.limits.max_per_address:
            return Refusal.PER_ADDRESS
        if not record.attempts.take():
            return Refusal.ATTEMPTS
        self._count_attempt(key)
        record.open += 1
        return None

    def release_proxied(self, client: str) -> None:
        """The websocket of :meth:`admit_proxied` closed."""
        record = self._records.get(address_key(client))
        if record is not None:
            record.open -= 1

    def token_blocked(self, client: str) -> bool:
        """True while ``client`` has used up its failed token attempts, here or (in a
        cluster) on another server."""
        return self.token_failures.blocked(address_key(client))

    def token_blocked_keys(self) -> set[str]:
        """Address keys that have used up their failed token attempts here (what a
        cluster shares: :mod:`.cluster.addresses`)."""
        return self.token_failures.blocked_keys()

    def set_token_blocked_elsewhere(self, keys: set[str]) -> None:
        """Address keys refused for their failed tokens on the cluster's other servers:
        refused here too."""
        self.token_failures.set_blocked_elsewhere(keys)

    def token_failed(self, client: str) -> None:
        """``client`` presented a missing or wrong token."""
        self.token_failures.failed(address_key(client))

    def _count_attempt(self, key: str) -> None:
        """Count an admitted connection for :meth:`attempt_counts` (only while someone
        asks, that is in a cluster; at most as many keys as records are kept)."""
        if not self._counting:
            return
        attempted = self._attempted
        if key in attempted:
            attempted[key] += 1
        elif len(attempted) < _ADDRESSES_KEPT:
            attempted[key] = 1

    def _record(self, key: str) -> _Record:
        record = self._records.get(key)
        if record is not None:
            self._records.move_to_end(key)
            return record
        limits = self.limits
        record = _Record(
            attempts=TokenBucket(
                limits.attempts_per_second, limits.attempts_burst, clock=self._clock
            ),
        )
        self._records[key] = record
        self._forget_idle()
        return record

    def _forget_idle(self) -> None:
        """Bound the memory: drop the oldest records of addresses with nothing open."""
        if len(self._records) <= _ADDRESSES_KEPT:
            return
        for key in list(self._records)[:64]:
            if self._records[key].open == 0:
                del self._records[key]
