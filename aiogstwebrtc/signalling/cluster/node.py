"""One server's membership of a cluster: its presence in Redis, the others', and routing.

:class:`ClusterNode` is what :class:`~..server.SignallingServer` holds when it is given a
Redis URL. The server tells it when a local peer connected, changed status or left
(:meth:`~ClusterNode.peer_changed`, :meth:`~ClusterNode.peer_left`) and hands it every
message addressed to a remote peer (:meth:`~ClusterNode.send`); the node feeds what comes
from the other servers into the :class:`.routing.ClusterRouter` and hands the router's
answers back to the server's ``deliver``.

Liveness: every ``heartbeat`` seconds the node renews its server key and peer hash, which
expire after ``missed_beats`` beats; on the same beat it checks the other servers' keys,
and a server whose key expired is dropped with all its peers (listeners hear they have no
roles, sessions with them end with ``endSession``).

Redis lost: the node logs it once, detaches the remote peers (the server goes on routing
between its own peers), retries with a growing delay (``0.1 s`` doubling up to ``2 s``,
with jitter), and when Redis answers again it re-writes its own peers (the hash is
replaced, not added to), re-reads the others', and after one expiry period ends the
sessions of remote peers that did not come back. The names in Redis are in :mod:`.wire`;
``docs/cluster.md`` tells the whole story.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ...timeouts import wait_for
from ..protocol import ProtocolError, ServerMessage
from ..router import Outgoing
from . import wire
from .addresses import AddressCounts, AddressShare
from .cancelling import cancel_and_wait
from .errors import ClusterUnavailableError
from .outbox import Command, Outbox
from .routing import ClusterRouter, RoutedMessage

__all__ = [
    "DEFAULT_HEARTBEAT",
    "DEFAULT_MISSED_BEATS",
    "ClusterNode",
    "ClusterUnavailableError",
    "new_server_id",
]

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT = 2.0
"""Seconds between two beats of a server."""

DEFAULT_MISSED_BEATS = 3
"""Beats a server may miss before the others drop it (its keys expire then)."""

_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 2.0


class StreamHolder(Protocol):
    """What a WHEP endpoint offers the cluster (:class:`~aiogstwebrtc.whep.WhepEndpoint`)."""

    locate: Callable[[str], Awaitable[str | None]] | None

    def streams(self) -> list[str]:
        """The names of the streams it holds now."""
        ...


_CONNECT_TIMEOUT = 2.0
_START_TIMEOUT = 10.0


def new_server_id() -> str:
    """A random server id (used when none is given)."""
    return uuid.uuid4().hex[:12]


class ClusterNode:
    """This server's side of the cluster: presence, failure detection, routing over Redis.

    ``url``: ``redis://HOST:PORT/DB``. ``server_id``: this server's name in the cluster
    (unique: a start under an id another live server beats under raises
    :class:`ClusterUnavailableError`; random when None). ``router``: the server's
    :class:`ClusterRouter`. ``deliver``: called with the messages for the server to send
    (to local or remote peers). ``addresses``: the server's admission, whose per-address
    connection counts are shared with the other servers (:mod:`.addresses`).
    """

    def __init__(
        self,
        url: str,
        router: ClusterRouter,
        deliver: Callable[[list[Outgoing]], object],
        *,
        server_id: str | None = None,
        heartbeat: float = DEFAULT_HEARTBEAT,
        missed_beats: int = DEFAULT_MISSED_BEATS,
        addresses: AddressCounts | None = None,
    ) -> None:
        if heartbeat <= 0 or missed_beats < 1:
            raise ValueError("heartbeat must be > 0 and missed_beats >= 1")
        self.url = url
        self.server_id = wire.check_server_id(server_id or new_server_id())
        self.heartbeat = heartbeat
        self.expiry = heartbeat * missed_beats
        self._router = router
        self._deliver = deliver
        self._instance = uuid.uuid4().hex  # tells this process from another with our id
        self._redis = Redis.from_url(
            url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=max(2.0, 1.5 * heartbeat),
            retry=Retry(NoBackoff(), 0),
        )
        db = int(self._redis.connection_pool.connection_kwargs.get("db", 0) or 0)
        self.keys = wire.Keys.for_database(db, self.server_id)
        self._outbox = Outbox(self._expire_after)
        self._addresses = AddressShare(self.keys, addresses) if addresses is not None else None
        self._published: dict[str, str] = {}  # local peer id -> its record in Redis
        self._servers: set[str] = set()  # other servers seen alive
        self._resynced_at = 0.0
        self._public_url: str | None = None
        self._whep: StreamHolder | None = None
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()
        self._up = False  # synced with Redis and serving
        self.outages = 0
        """How many times Redis was lost since the start."""
        self.duplicates = 0
        """1 once another process was seen beating under this server id (said once)."""

    # ------------------------------------------------------------------ state

    @property
    def connected(self) -> bool:
        """True while Redis is reachable and this server's state is written there."""
        return self._up

    @property
    def servers(self) -> set[str]:
        """The other servers known to be alive."""
        return set(self._servers)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Join the cluster; ClusterUnavailableError if Redis does not answer."""
        try:
            await wait_for(self._redis.ping(), _CONNECT_TIMEOUT + 1)
        except (RedisError, OSError, TimeoutError) as exc:
            await self._redis.aclose()
            raise ClusterUnavailableError(f"cannot reach Redis at {self.url}: {exc}") from None
        try:
            other = await self._live_namesake()
        except (RedisError, OSError, TimeoutError) as exc:
            await self._redis.aclose()
            raise ClusterUnavailableError(f"cannot read the cluster at {self.url}: {exc}") from None
        if other is not None:
            await self._redis.aclose()
            raise ClusterUnavailableError(
                f"server id {self.server_id!r} is in use by another live server of the cluster "
                f"on {self.url} (its last beat {other:.1f} s ago): give each server its own "
                "--server-id"
            )
        self._task = asyncio.create_task(self._run(), name=f"cluster-{self.server_id}")
        try:
            await wait_for(self._synced.wait(), _START_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise ClusterUnavailableError(
                f"Redis at {self.url} answered but the cluster state could not be read"
            ) from None
        log.info("server %s joined the cluster on %s", self.server_id, self.url)

    async def _live_namesake(self) -> float | None:
        """Seconds since the last beat of another live server with our id, or None.

        A key under our id written by another process may be a killed server's leftover
        (it expires after ``expiry``): only one that beats again within 1.5 heartbeats is a
        live server; a leftover is taken over, so a crashed server restarts at once.
        """
        first = await self._redis.get(self.keys.server())
        if _other_instance(first, self._instance) is None:
            return None
        await asyncio.sleep(1.5 * self.heartbeat)
        second = await self._redis.get(self.keys.server())
        age = _other_instance(second, self._instance)
        if age is None or second == first:
            log.info("server id %r: taking over the keys of a server that stopped", self.server_id)
            return None
        return age

    async def stop(self) -> None:
        """Leave the cluster: remove this server's keys and tell the others; safe twice."""
        task, self._task = self._task, None
        if task is None:
            return
        await cancel_and_wait([task])
        if self._up:
            self._up = False
            self._outbox.close()
            try:
                async with asyncio.timeout(1.0):
                    pipe = self._redis.pipeline(transaction=False)
                    pipe.delete(
                        self.keys.server(),
                        self.keys.peers(),
                        self.keys.addresses(),
                        self.keys.token_blocked(),
                        self.keys.attempts(),
                    )
                    pipe.srem(self.keys.servers, self.server_id)
                    pipe.publish(self.keys.presence, wire.encode_server_down(self.server_id))
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("could not remove server %s from Redis: %s", self.server_id, exc)
        await self._redis.aclose()
        log.info("server %s left the cluster", self.server_id)

    # ------------------------------------------------------------------ local peers

    def peer_changed(self, peer_id: str) -> None:
        """A local peer connected or may have changed its status: publish it if it did."""
        peer = self._router.peers.get(peer_id)
        if peer is None or not peer.local:
            return
        record = wire.peer_record(peer.roles, peer.meta)
        if self._published.get(peer_id) == record:
            return
        self._published[peer_id] = record
        self._outbox.put("hset", self.keys.peers(), peer_id, record)
        self._outbox.put(
            "publish",
            self.keys.presence,
            wire.encode_peer(self.server_id, peer_id, peer.roles, peer.meta),
        )

    def peer_left(self, peer_id: str) -> None:
        """A local peer disconnected."""
        if self._published.pop(peer_id, None) is None:
            return
        self._outbox.put("hdel", self.keys.peers(), peer_id)
        self._outbox.put("publish", self.keys.presence, wire.encode_gone(self.server_id, peer_id))

    def send(self, peer_id: str, message: ServerMessage) -> bool:
        """Route ``message`` to remote peer ``peer_id``; False if it cannot be (dropped)."""
        peer = self._router.peers.get(peer_id)
        if peer is None or peer.server is None or not isinstance(message, RoutedMessage):
            return False
        if not self._outbox.open:
            return False
        text = wire.encode_routed(self.server_id, peer_id, message)
        self._outbox.put("publish", self.keys.inbox(peer.server), text)
        return True

    # ------------------------------------------------------------------ WHEP streams

    def advertise_whep(self, endpoint: StreamHolder, public_url: str) -> None:
        """Tell the cluster that ``endpoint``'s streams are played at ``public_url``
        (``https://host:port``, how viewers reach this server), and let ``endpoint`` send
        viewers of streams it does not hold to the server that does (307)."""
        self._whep, self._public_url = endpoint, public_url
        endpoint.locate = self.locate_stream
        ttl = int(self.expiry * 1000)
        self._outbox.put("set", self.keys.server(), self._server_info(), None, ttl)

    async def locate_stream(self, name: str) -> str | None:
        """The public URL of another server holding WHEP stream ``name``, or None."""
        if not self._up:
            return None
        try:
            members = await self._redis.smembers(self.keys.servers)  # type: ignore[misc]
            for server in sorted(_text(m) for m in members):
                if server == self.server_id:
                    continue
                raw = await self._redis.get(self.keys.server(server))
                info = json.loads(raw) if raw else {}
                if name in info.get("streams", ()) and isinstance(info.get("url"), str):
                    return str(info["url"])
        except (RedisError, OSError, ValueError) as exc:
            log.warning("could not look for stream %r in the cluster: %s", name, exc)
        return None

    def _server_info(self) -> str:
        """The value of this server's key: its last beat, public URL and WHEP streams."""
        info: dict[str, object] = {"beat": time.time(), "instance": self._instance}
        if self._public_url is not None and self._whep is not None:
            info["url"] = self._public_url
            info["streams"] = self._whep.streams()
        return json.dumps(info)

    def _expire_after(self, batch: list[Command]) -> list[Command]:
        ttl = int(self.expiry * 1000)
        if any(name == "hset" for name, _ in batch):
            return [("pexpire", (self.keys.peers(), ttl))]
        return []

    # ------------------------------------------------------------------ the Redis side

    async def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await self._session(pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
                if self._up:
                    self._lost(exc)
                    backoff = _BACKOFF_FIRST
                else:
                    self._outbox.close()
                    log.debug("Redis still unreachable: %s", exc)
            finally:
                await _close_quietly(pubsub)
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(2 * backoff, _BACKOFF_MAX)

    async def _session(self, pubsub: PubSub) -> None:
        """Connected: subscribe, write our state, read the others', then serve."""
        await pubsub.subscribe(self.keys.presence, self.keys.inbox())
        # changes made from now on are queued, and written after this state
        self._outbox.open_()
        await self._write_own_state()
        await self._read_others()
        back = self._synced.is_set()
        self._up = True
        self._resynced_at = time.monotonic()
        self._synced.set()
        if back:
            log.warning(
                "Redis is back: %d local peers re-published, %d other servers",
                len(self._published),
                len(self._servers),
            )
        writer = asyncio.create_task(self._outbox.run(self._redis))
        beat = asyncio.create_task(self._beat())
        reader = asyncio.create_task(self._read(pubsub))
        tasks = {writer, beat, reader}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the error that ended it
        finally:
            await cancel_and_wait(tasks)

    def _lost(self, exc: BaseException) -> None:
        self.outages += 1
        self._up = False
        if self._addresses is not None:
            self._addresses.forget()
        self._outbox.close()
        out = self._router.detach_remote()
        log.warning(
            "Redis at %s lost (%s): serving the %d local peers only, %d remote peers detached; "
            "reconnecting",
            self.url,
            str(exc) or type(exc).__name__,
            len(self._published),
            self._router.detached,
        )
        self._deliver(out)

    async def _write_own_state(self) -> None:
        """Replace this server's keys with its current peers (no ghosts after an outage)."""
        ttl = int(self.expiry * 1000)
        self._published = {
            p.id: wire.peer_record(p.roles, p.meta) for p in self._router.peers.values() if p.local
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.keys.server(), self._server_info(), px=ttl)
        pipe.sadd(self.keys.servers, self.server_id)
        pipe.delete(self.keys.peers())
        if self._published:
            pipe.hset(self.keys.peers(), mapping=self._published)  # type: ignore[arg-type]
            pipe.pexpire(self.keys.peers(), ttl)
        for peer_id, record in self._published.items():
            roles, meta = wire.parse_peer_record(record)
            text = wire.encode_peer(self.server_id, peer_id, roles, meta)
            pipe.publish(self.keys.presence, text)
        await pipe.execute()

    async def _read_others(self) -> None:
        """Load the peers of every other live server."""
        members = {_text(m) for m in await self._redis.smembers(self.keys.servers)}  # type: ignore[misc]
        members.discard(self.server_id)
        for server in sorted(members):
            await self._load_server(server)

    async def _load_server(self, server: str) -> None:
        if not await self._redis.exists(self.keys.server(server)):
            if server not in self._servers | self._router.remote_servers():
                await self._redis.srem(self.keys.servers, server)  # type: ignore[misc]
            return
        peers = await self._redis.hgetall(self.keys.peers(server))  # type: ignore[misc]
        self._servers.add(server)
        out: list[Outgoing] = []
        for raw_id, record in peers.items():
            try:
                roles, meta = wire.parse_peer_record(record)
            except ProtocolError as exc:
                log.warning("server %s has a malformed peer record: %s", server, exc)
                continue
            out.extend(self._router.upsert_remote(server, _text(raw_id), roles, meta))
        self._deliver(out)

    async def _beat(self) -> None:
        """Renew this server's keys; drop servers whose keys expired."""
        ttl = int(self.expiry * 1000)
        while True:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self.keys.server())
            pipe.set(self.keys.server(), self._server_info(), px=ttl)
            pipe.pexpire(self.keys.peers(), ttl)
            pipe.sadd(self.keys.servers, self.server_id)
            pipe.smembers(self.keys.servers)
            results = await pipe.execute()
            self._check_duplicate(results[0])
            await self._check_servers({_text(m) for m in results[4]} - {self.server_id})
            if self._addresses is not None:
                await self._addresses.exchange(self._redis, self._servers, ttl)
            await asyncio.sleep(self.heartbeat)

    def _check_duplicate(self, value: str | bytes | None) -> None:
        """Another process beats under our server id (both started at once, so neither
        saw the other at its start): say so once, loudly; routing between them is broken."""
        if self.duplicates or _other_instance(value, self._instance) is None:
            return
        self.duplicates = 1
        log.error(
            "server id %r is also used by another server of the cluster: peers and sessions "
            "of the two are mixed up; give each server its own --server-id",
            self.server_id,
        )

    async def _check_servers(self, members: set[str]) -> None:
        in_grace = time.monotonic() - self._resynced_at < self.expiry
        known = self._servers | self._router.remote_servers()
        for server in sorted(members - known):
            await self._load_server(server)  # one we missed the announcements of
        if in_grace:
            return
        for server in sorted(known):
            if await self._redis.exists(self.keys.server(server)):
                continue
            self._servers.discard(server)
            dropped = len(self._router.remote_peers(server))
            log.warning("server %s stopped heartbeating: its %d peers dropped", server, dropped)
            self._deliver(self._router.drop_server(server))
            await self._redis.srem(self.keys.servers, server)  # type: ignore[misc]
        if self._router.detached:
            log.info("%d remote peers did not come back after Redis", self._router.detached)
            self._deliver(self._router.end_detached())

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            channel = _text(message["channel"])
            try:
                if channel == self.keys.presence:
                    self._presence(wire.decode_presence(message["data"]))
                else:
                    self._routed(wire.decode_routed(message["data"]))
            except ProtocolError as exc:
                log.warning("malformed cluster message on %s: %s", channel, exc)

    def _presence(self, event: wire.PeerUp | wire.Gone | wire.ServerDown) -> None:
        if event.server == self.server_id:
            return
        if isinstance(event, wire.ServerDown):
            self._servers.discard(event.server)
            log.info("server %s left the cluster", event.server)
            self._deliver(self._router.drop_server(event.server))
            return
        self._servers.add(event.server)
        if isinstance(event, wire.Gone):
            self._deliver(self._router.drop_remote(event.peer_id))
        else:
            self._deliver(
                self._router.upsert_remote(event.server, event.peer_id, event.roles, event.meta)
            )

    def _routed(self, routed: wire.Routed) -> None:
        self._deliver(self._router.receive_routed(routed.origin, routed.to, routed.message))


def _other_instance(value: str | bytes | None, instance: str) -> float | None:
    """Seconds since the last beat of the server key ``value`` when another process wrote
    it (None when it is ours, absent or unreadable)."""
    if value is None:
        return None
    try:
        info = json.loads(_text(value))
        other, beat = info.get("instance"), float(info.get("beat", 0.0))
    except (ValueError, TypeError, AttributeError):
        return None
    if other is None or other == instance:
        return None
    return max(0.0, time.time() - beat)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _close_quietly(pubsub: PubSub) -> None:
    try:
        await wait_for(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call]
    except (RedisError, OSError, TimeoutError):
        pass
