"""The signalling server: an aiohttp websocket endpoint around a :class:`.router.Router`.

It speaks GStreamer's ``webrtcsink``/``webrtcsrc`` protocol, so ``gstwebrtc-api`` pages,
``webrtcsink``/``webrtcsrc`` and :class:`.client.SignallingClient` can all use it::

    async with SignallingServer(port=0) as server:
        print(server.url)          # ws://127.0.0.1:<port>/
        ...

The websocket lives at ``/``; :meth:`SignallingServer.add_static` serves a directory
(for example the demo page) over HTTP on the same port. Each connection gets its own
bounded send queue and writer task, so a slow or stuck peer only ever loses its own
connection, and its own rate limit (:mod:`.limits`), so a flooding peer only ever slows
itself down. The routing rules are in :mod:`.router`; what the server checks, and why,
is in ``docs/security.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from aiohttp import WSCloseCode, WSMsgType, web

from aiogstwebrtc.errors import InvalidStateError

from .admission import DEFAULT_ADMISSION, Admission, AdmissionLimits, Refusal, client_address
from .connection import CLOSE_TIMEOUT, Connection, LazyFrame
from .fanout import DEFAULT_MIN_INTERVAL, StatusFanout
from .gate import ANY_ORIGIN, Gate
from .http_guard import (
    AcceptErrors,
    Guard,
    GuardedHandler,
    GuardedSite,
    raise_fd_limit,
    set_server_header,
)
from .limits import DEFAULT_RATE_LIMIT, RateLimit, Verdict
from .logthrottle import ThrottledLog
from .pacing import SLICE, FanoutPacer
from .protocol import (
    MAX_MESSAGE_SIZE,
    ConsumerList,
    ErrorMessage,
    PeerStatusChanged,
    ProducerList,
    ServerMessage,
    dumps,
)
from .router import Outgoing, Router
from .token_failures import TokenFailures

if TYPE_CHECKING:
    from .cluster.node import ClusterNode

__all__ = ["ANY_ORIGIN", "DEFAULT_HOST", "DEFAULT_PORT", "SignallingServer"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
"""Listen on loopback unless told otherwise."""

DEFAULT_PORT = 8443
"""The port GStreamer's own signalling server and ``webrtcsink`` default to."""


_COUNTED = frozenset({WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG})
"""Frames a peer sends that count against its rate limit."""

_FANOUT_PER_MESSAGE = 100  # messages sent to others that cost the sender one more
_CHARS_PER_MESSAGE = 64 * 1024  # characters of replies that cost the sender one more
_STOP_TIMEOUT = 0.5  # the same when the whole server stops: the process exits in 2 s


class SignallingServer:
    """WebRTC signalling server speaking GStreamer's webrtcsink protocol over aiohttp.

    ``token``: when set, a websocket must present it as ``?token=...`` or
    ``Authorization: Bearer ...`` (compared in constant time) or it gets HTTP 401.
    ``allowed_origins``: browser origins (``https://example.org``) whose pages may open
    a websocket besides this server's own pages; a page from any other origin gets
    HTTP 403, so a stranger's web page cannot reach producers through a visitor's
    browser. The default ``()`` admits only this server's own pages;
    ``[ANY_ORIGIN]`` (``"*"``) or None admits every origin. Requests without ``Origin``
    (non-browser peers such as webrtcsink) pass unless ``allow_missing_origin`` is
    false. A page counts as this server's own when its ``Origin`` names the same host
    and port as the request's ``Host`` and that host is an IP address, ``localhost`` or
    this machine's name (a DNS-rebinding page cannot claim those);
    ``allow_same_origin=False`` turns that off.
    ``heartbeat``: seconds between pings; a peer that does not answer within half of
    it is dropped (None disables). ``max_message_size``: larger texts get an ``error``
    reply and the connection stays; texts over four times that close the connection.
    ``rate_limit``: messages each connection may send (:class:`.limits.RateLimit`;
    None disables): over it a message is dropped with an ``error`` reply, and after
    ``max_dropped`` drops in a row the connection is closed with code 1008.
    ``max_peers`` caps connections (HTTP 503 beyond), ``max_sessions_per_peer``
    caps sessions per peer and ``max_sessions_per_pair`` those of one consumer with one
    producer, ``send_queue_size`` and ``send_queue_chars`` cap what may wait
    for one slow peer before it is dropped.
    ``admission``: per-address limits and pre-upgrade timeouts
    (:class:`.admission.AdmissionLimits`: 32 connections per address, 10 new ones per
    second, 10 s to send a request, 30 s to send a first message, trusted proxies...).
    ``status_interval``: seconds between two ``peerStatusChanged`` about one peer sent to
    listeners (later changes are held and the last one sent; 0 sends every change).
    ``websocket_compression``: accept permessage-deflate (off by default: it costs about
    150 KiB per connection).
    ``static``: ``{url_prefix: directory}`` served over HTTP (see :meth:`add_static`).
    ``ssl_context``: serve ``wss://`` and ``https://`` directly (or put a TLS-terminating
    reverse proxy in front, see ``docs/security.md``).
    ``redis_url``: ``redis://HOST:PORT/DB`` makes this server one of a cluster sharing that
    Redis database (needs ``aiogstwebrtc[cluster]``; see ``docs/cluster.md``): peers of every
    server are listed and reachable from every other. ``server_id`` names this server in the
    cluster (random by default), ``cluster_heartbeat`` is the seconds between two of its
    beats (the others drop it after three missed ones). :meth:`start` raises
    :class:`~.cluster.ClusterUnavailableError` when Redis does not answer.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        allowed_origins: Iterable[str] | None = (),
        allow_missing_origin: bool = True,
        allow_same_origin: bool = True,
        heartbeat: float | None = 20.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        max_peers: int = 1000,
        max_sessions_per_peer: int = 64,
        max_sessions_per_pair: int = 2,
        send_queue_size: int = 512,
        send_queue_chars: int = 8 * 1024 * 1024,
        static: Mapping[str, str | os.PathLike[str]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        admission: AdmissionLimits = DEFAULT_ADMISSION,
        websocket_compression: bool = False,
        status_interval: float = DEFAULT_MIN_INTERVAL,
        redis_url: str | None = None,
        server_id: str | None = None,
        cluster_heartbeat: float = 2.0,
    ) -> None:
        if max_peers < 1:
            raise ValueError("max_peers must be at least 1")
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._gate = Gate(
            token,
            allowed_origins,
            allow_missing_origin=allow_missing_origin,
            allow_same_origin=allow_same_origin,
        )
        self._rate_limit = rate_limit
        self._heartbeat = heartbeat
        self._max_peers = max_peers
        self._send_queue_size = send_queue_size
        self._send_queue_chars = send_queue_chars
        self._ssl_context = ssl_context
        self._limits = admission
        self._compress = websocket_compression
        self._noise = ThrottledLog(log)
        self._admission = Admission(admission)
        self._accept_errors: AcceptErrors | None = None
        self._cluster: ClusterNode | None = None
        if redis_url is None:
            self._router = Router(
                max_sessions_per_peer=max_sessions_per_peer,
                max_sessions_per_pair=max_sessions_per_pair,
                max_message_size=max_message_size,
            )
        else:
            from .cluster.node import ClusterNode
            from .cluster.routing import ClusterRouter

            router = ClusterRouter(
                max_sessions_per_peer=max_sessions_per_peer,
                max_sessions_per_pair=max_sessions_per_pair,
                max_message_size=max_message_size,
            )
            self._router = router
            self._cluster = ClusterNode(
                redis_url,
                router,
                self._deliver,
                server_id=server_id,
                heartbeat=cluster_heartbeat,
                addresses=self._admission,
            )
        self._fanout = StatusFanout(self._send_held_status, min_interval=status_interval)
        self._pacer = FanoutPacer()
        self._list_texts: dict[int, tuple[ServerMessage, str]] = {}
        self._ws_limit = max(4 * max_message_size, 1024 * 1024)
        self._connections: dict[str, Connection] = {}
        self._index: Path | None = None
        self._app = web.Application()
        self._app.router.add_get("/", self._handle_root)
        self._app.on_response_prepare.append(set_server_header)
        self._runner: web.AppRunner | None = None
        self._stopping = False
        for prefix, directory in (static or {}).items():
            self.add_static(directory, prefix=prefix)

    # ------------------------------------------------------------------ configuration

    @property
    def app(self) -> web.Application:
        """The aiohttp application: add extra routes to it before :meth:`start`."""
        return self._app

    @property
    def router(self) -> Router:
        """The routing state (peers and sessions), for inspection."""
        return self._router

    @property
    def cluster(self) -> ClusterNode | None:
        """This server's membership of a cluster (None without ``redis_url``)."""
        return self._cluster

    @property
    def token_failures(self) -> TokenFailures:
        """Failed tokens per client address, shared by the cluster's servers: give it to
        WHIP/WHEP endpoints on :attr:`app` (``endpoint.share_token_failures(...)``) and a
        host has one budget for every surface of the cluster."""
        return self._admission.token_failures

    def add_static(self, directory: str | os.PathLike[str], *, prefix: str = "/") -> None:
        """Serve the files of ``directory`` under ``prefix`` over HTTP; call before start.

        With ``prefix="/"``, a plain HTTP ``GET /`` returns ``directory/index.html`` while a
        websocket upgrade on ``/`` still reaches the signalling endpoint.
        """
        if self._runner is not None:
            raise InvalidStateError("add_static() must be called before start()")
        path = Path(directory)
        if not path.is_dir():
            raise ValueError(f"{path} is not a directory")
        if not prefix.startswith("/"):
            raise ValueError(f"prefix must start with '/', got {prefix!r}")
        if prefix == "/" and (path / "index.html").is_file():
            self._index = path / "index.html"
        self._app.router.add_static(prefix, path, follow_symlinks=False)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The bound port (useful after starting with ``port=0``)."""
        if self._port is None:
            raise InvalidStateError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """The websocket URL peers connect to, e.g. ``ws://127.0.0.1:8443/``."""
        scheme = "wss" if self._ssl_context is not None else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"

    @property
    def peer_count(self) -> int:
        """How many peers are connected."""
        return len(self._connections)

    async def start(self) -> int:
        """Listen on ``host``/``port`` and return the bound port."""
        if self._runner is not None:
            raise InvalidStateError("the server is already started")
        self._stopping = False
        if self._cluster is not None:
            await self._cluster.start()  # before listening: no peer without the cluster
        runner = web.AppRunner(self._app, handle_signals=False, shutdown_timeout=2 * _STOP_TIMEOUT)
        await runner.setup()
        raise_fd_limit(self._max_peers + self._limits.max_pending + 64)
        loop = asyncio.get_running_loop()
        manager = runner.server
        assert manager is not None
        guard = Guard(self._admission, self._noise)
        timeout = self._limits.http_timeout

        def handler() -> GuardedHandler:
            return GuardedHandler(
                manager, guard, loop=loop, access_log=None, keepalive_timeout=timeout
            )

        site = GuardedSite(
            runner,
            self.host,
            self._requested_port,
            handler,
            ssl_context=self._ssl_context,
            handshake_timeout=timeout,
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            if self._cluster is not None:
                await self._cluster.stop()
            raise
        self._runner = runner
        self._accept_errors = AcceptErrors(loop, self._noise)
        self._port = int(site.sockets[0].getsockname()[1])
        log.info("signalling server listening on %s", self.url)
        return self._port

    async def stop(self) -> None:
        """Close every peer connection and stop listening; safe to call twice.

        Takes about a second at most: a peer that does not take its close frame within
        half a second has its connection aborted.
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        connections = list(self._connections.values())
        await asyncio.gather(
            *(
                c.close(WSCloseCode.GOING_AWAY, "server shutdown", timeout=_STOP_TIMEOUT)
                for c in connections
            ),
            return_exceptions=True,
        )
        await runner.cleanup()
        if self._accept_errors is not None:
            self._accept_errors.close()
            self._accept_errors = None
        self._noise.close()
        self._fanout.close()
        self._pacer.close()
        if self._cluster is not None:
            await self._cluster.stop()
        self._port = None
        log.info("signalling server stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ HTTP

    def _authorized(self, request: web.Request, remote: str) -> bool:
        """Check the token; failures are counted per address, and an address over its
        budget of failures is refused with HTTP 429 without its token being checked."""
        if not self._gate.needs_token:
            return True
        if self._admission.token_blocked(remote):
            self._noise.event(f"refused websockets: {Refusal.TOKEN.value}", remote)
            raise web.HTTPTooManyRequests(text="too many failed attempts\n")
        if self._gate.token_ok(request):
            return True
        self._admission.token_failed(remote)
        self._noise.event("refused websockets: missing or wrong token", remote)
        return False

    async def _handle_root(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            heartbeat=self._heartbeat,
            max_msg_size=self._ws_limit,
            autoping=False,  # pings are answered in _serve, after the rate limit
            compress=self._compress,
        )
        if not ws.can_prepare(request).ok:
            if self._index is not None:
                return web.FileResponse(self._index)
            return web.Response(text="aiogstwebrtc signalling server: open a websocket here\n")
        remote = client_address(request.remote, request.headers, self._limits)
        if not self._authorized(request, remote):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="signalling"'})
        if not self._gate.origin_allowed(request):
            self._gate.refuse_origin(request)
            raise web.HTTPForbidden(text="origin not allowed\n")
        if self._stopping or len(self._connections) >= self._max_peers:
            self._noise.event("refused websockets: server full or stopping", remote)
            raise web.HTTPServiceUnavailable(text="signalling server full\n")
        proxied = remote != request.remote
        if proxied:
            refusal = self._admission.admit_proxied(remote)
            if refusal is not None:
                self._noise.event(f"refused websockets: {refusal.value}", remote)
                raise web.HTTPTooManyRequests(text="too many connections\n")
        try:
            # a client resetting now raises ConnectionError: GuardedHandler logs it quietly
            await ws.prepare(request)
            if isinstance(request.protocol, GuardedHandler):
                request.protocol.mark_upgraded()
            await self._serve(ws, request)
        finally:
            if proxied:
                self._admission.release_proxied(remote)
        return ws

    # ------------------------------------------------------------------ websocket

    async def _serve(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        peer_id, welcome = self._router.connect()
        conn = Connection(
            peer_id,
            ws,
            request,
            self._send_queue_size,
            self._send_queue_chars,
            self._rate_limit,
        )
        self._connections[peer_id] = conn
        log.debug("peer %s connected from %s", peer_id, request.remote)
        self._deliver(welcome)
        if self._cluster is not None:
            self._cluster.peer_changed(peer_id)
        close_code, close_reason = WSCloseCode.GOING_AWAY, ""
        quiet = asyncio.get_running_loop().call_later(
            self._limits.unregistered_timeout, self._close_if_silent, conn
        )
        try:
            async for msg in ws:
                if conn.dropped or _aborted(request):
                    break  # what an aborted connection had buffered is not worth handling
                if msg.type is WSMsgType.ERROR:
                    log.debug("peer %s: websocket error %r", peer_id, ws.exception())
                    break
                if msg.type not in _COUNTED:
                    continue
                verdict = self._rate_check(conn, msg.type)
                if verdict is Verdict.CLOSE:
                    close_code, close_reason = WSCloseCode.POLICY_VIOLATION, "rate limit"
                    break
                if verdict is Verdict.DROP or msg.type is WSMsgType.PONG:
                    continue
                if msg.type is WSMsgType.PING:
                    with contextlib.suppress(ConnectionError):  # closing meanwhile
                        await ws.pong(msg.data)
                elif msg.type is WSMsgType.TEXT:
                    self._receive(conn, msg.data)
                else:
                    details = "invalid message: binary frames are not supported, send JSON text"
                    self._deliver([(peer_id, ErrorMessage(details=details))])
        finally:
            quiet.cancel()
            del self._connections[peer_id]
            try:
                self._deliver(self._router.disconnect(peer_id))
                if self._cluster is not None:
                    self._cluster.peer_left(peer_id)
            except Exception:
                log.exception("cleaning up after peer %s failed", peer_id)
            budget = _STOP_TIMEOUT if self._stopping else CLOSE_TIMEOUT
            await conn.finish(budget)
            if not ws.closed:
                await conn.close(close_code, close_reason, timeout=budget)
            log.debug("peer %s disconnected (code %s)", peer_id, ws.close_code)

    def _close_if_silent(self, conn: Connection) -> None:
        """Close ``conn`` if it has not sent one valid message yet (it holds a slot for
        nothing: a flood of such connections would starve everyone else)."""
        peer = self._router.peers.get(conn.peer_id)
        if peer is None or peer.received_first_message or conn.dropped:
            return
        self._noise.event("closed websockets: no message in time", conn.request.remote)
        conn.close_soon(WSCloseCode.POLICY_VIOLATION, "no message in time")

    def _rate_check(self, conn: Connection, kind: WSMsgType) -> Verdict:
        """Count one frame of ``conn``; over the limit, tell the peer its message was dropped
        (a ping over the limit just gets no pong)."""
        limiter = conn.limiter
        verdict = Verdict.ACCEPT if limiter is None else limiter.check()
        if limiter is None or verdict is Verdict.ACCEPT:
            return verdict
        limit = limiter.limit.describe()
        if verdict is Verdict.CLOSE:
            log.debug("peer %s kept sending over the rate limit: disconnecting it", conn.peer_id)
            self._noise.event(
                f"peers kept sending over the rate limit ({limit}): disconnected",
                conn.request.remote,
            )
            details = f"rate limit: too many messages ({limit}): closing the connection"
        else:
            if limiter.dropped_in_a_row == 1:
                log.debug("peer %s is over the rate limit (%s)", conn.peer_id, limit)
            if kind not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return verdict
            details = f"rate limit: too many messages ({limit}): this one was dropped"
        self._deliver([(conn.peer_id, ErrorMessage(details=details))])
        return verdict

    def _receive(self, conn: Connection, text: str) -> None:
        peer_id = conn.peer_id
        try:
            out = self._router.receive(peer_id, text)
        except Exception:  # a bug must not take the server down: log it, tell the peer
            log.exception("handling a message from peer %s failed", peer_id)
            out = [(peer_id, ErrorMessage(details="internal server error"))]
        sent_chars = self._deliver(out, sender=peer_id)
        if self._cluster is not None:
            self._cluster.peer_changed(peer_id)
        if conn.limiter is not None:  # a big reply or a wide fan-out costs extra
            conn.limiter.charge(len(out) // _FANOUT_PER_MESSAGE + sent_chars // _CHARS_PER_MESSAGE)

    def _deliver(
        self, out: list[Outgoing], sender: str | None = None, *, coalesce: bool = True
    ) -> int:
        """Queue ``out``; each message is serialised once. Statuses going to listeners
        pass through the fan-out coalescing; past the first :data:`.pacing.SLICE` messages
        the rest go out a slice per loop iteration. Returns the characters queued for
        ``sender``."""
        texts: dict[int, str] = {}
        frames: dict[int, LazyFrame] = {}  # each message's websocket frame, built once
        fanned_out: dict[int, bool] = {}  # status -> sent to listeners now (else held)
        to_sender = written = 0
        for peer_id, message in out:
            conn = self._connections.get(peer_id)
            if conn is None and self._cluster is not None:
                self._cluster.send(peer_id, message)  # a peer of another server
                continue
            if conn is None or conn.dropped:
                continue
            key = id(message)
            if coalesce and isinstance(message, PeerStatusChanged) and peer_id != message.peer_id:
                now = fanned_out.get(key)
                if now is None:
                    now = fanned_out[key] = self._fanout.offer(message)
                if not now:
                    continue
            text = texts.get(key)
            if text is None:
                text = texts[key] = self._serialise(message)
                frames[key] = LazyFrame(text)
            if peer_id == sender:
                to_sender += len(text)
            self._pacer.send(conn, text, frames[key], defer=written >= SLICE)
            written += 1
        return to_sender

    def _serialise(self, message: ServerMessage) -> str:
        """``dumps(message)``; listings are the router's cached objects, so their text is
        kept as long as the object is current."""
        if not isinstance(message, ProducerList | ConsumerList):
            return dumps(message)
        cached = self._list_texts.get(id(message))
        if cached is not None and cached[0] is message:
            return cached[1]
        if len(self._list_texts) >= 4:
            self._list_texts.clear()
        text = dumps(message)
        self._list_texts[id(message)] = (message, text)
        return text

    def _send_held_status(self, status: PeerStatusChanged) -> None:
        listeners = self._router.listeners()
        self._deliver([(p, status) for p in listeners if p != status.peer_id], coalesce=False)


def _aborted(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
