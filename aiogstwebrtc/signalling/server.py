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
import hashlib
import hmac
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from aiogstwebrtc.errors import InvalidStateError

from .connection import CLOSE_TIMEOUT, Connection
from .limits import DEFAULT_RATE_LIMIT, RateLimit, Verdict
from .protocol import MAX_MESSAGE_SIZE, ErrorMessage, dumps
from .router import Outgoing, Router

__all__ = ["ANY_ORIGIN", "DEFAULT_HOST", "DEFAULT_PORT", "SignallingServer"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
"""Listen on loopback unless told otherwise."""

DEFAULT_PORT = 8443
"""The port GStreamer's own signalling server and ``webrtcsink`` default to."""

ANY_ORIGIN = "*"
"""In ``allowed_origins``: admit pages from any origin (only for servers whose producers
are meant to be public: any web page a visitor opens could then watch them)."""

_COUNTED = frozenset({WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG})
"""Frames a peer sends that count against its rate limit."""

_STOP_TIMEOUT = 0.5  # the same when the whole server stops: the process exits in 2 s
_WARNED_ORIGINS_LIMIT = 64


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
    caps sessions per peer, ``send_queue_size`` and ``send_queue_chars`` cap what may wait
    for one slow peer before it is dropped.
    ``static``: ``{url_prefix: directory}`` served over HTTP (see :meth:`add_static`).
    ``ssl_context``: serve ``wss://`` and ``https://`` directly (or put a TLS-terminating
    reverse proxy in front, see ``docs/security.md``).
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
        send_queue_size: int = 512,
        send_queue_chars: int = 8 * 1024 * 1024,
        static: Mapping[str, str | os.PathLike[str]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if token is not None and not token:
            raise ValueError("token must not be empty (use None to disable authentication)")
        if max_peers < 1:
            raise ValueError("max_peers must be at least 1")
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._token_digest = None if token is None else _digest(token)
        origins = None if allowed_origins is None else frozenset(allowed_origins)
        self._any_origin = origins is None or ANY_ORIGIN in origins
        self._allowed_origins = frozenset(o.lower().rstrip("/") for o in origins or ())
        self._allow_missing_origin = allow_missing_origin
        self._allow_same_origin = allow_same_origin
        self._own_names = _own_host_names()
        self._warned_origins: set[str] = set()
        self._rate_limit = rate_limit
        self._heartbeat = heartbeat
        self._max_peers = max_peers
        self._send_queue_size = send_queue_size
        self._send_queue_chars = send_queue_chars
        self._ssl_context = ssl_context
        self._router = Router(
            max_sessions_per_peer=max_sessions_per_peer, max_message_size=max_message_size
        )
        self._ws_limit = max(4 * max_message_size, 1024 * 1024)
        self._connections: dict[str, Connection] = {}
        self._index: Path | None = None
        self._app = web.Application()
        self._app.router.add_get("/", self._handle_root)
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
        runner = web.AppRunner(
            self._app, handle_signals=False, access_log=None, shutdown_timeout=2 * _STOP_TIMEOUT
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, ssl_context=self._ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
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

    def _authorized(self, request: web.Request) -> bool:
        if self._token_digest is None:
            return True
        supplied: list[str] = request.query.getall("token", [])
        auth = request.headers.get("Authorization", "")
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            supplied.append(credentials.strip())
        ok = False
        for candidate in supplied[:4]:
            ok |= hmac.compare_digest(_digest(candidate), self._token_digest)
        return ok

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return self._allow_missing_origin
        if self._any_origin or origin.lower().rstrip("/") in self._allowed_origins:
            return True
        return self._allow_same_origin and self._same_origin(origin, request.host)

    def _same_origin(self, origin: str, host: str) -> bool:
        """True when ``origin`` is this server's own page, reached by a name no DNS-rebinding
        page can claim (an IP address, ``localhost``, this machine's name)."""
        try:
            parts = urlsplit(origin)
            name = parts.hostname
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not name:
            return False
        if parts.netloc.lower() != host.lower():
            return False
        return _is_ip_address(name) or name in self._own_names or name.endswith(".localhost")

    def _refuse_origin(self, request: web.Request) -> None:
        origin = request.headers.get("Origin", "")[:200]
        if origin in self._warned_origins or len(self._warned_origins) >= _WARNED_ORIGINS_LIMIT:
            log.info("refused a websocket from %s: origin %r not allowed", request.remote, origin)
            return
        self._warned_origins.add(origin)
        log.warning(
            "refused a websocket from %s: origin %r is not allowed "
            "(if that page is yours, allow it with --allowed-origin / allowed_origins)",
            request.remote,
            origin,
        )

    async def _handle_root(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            heartbeat=self._heartbeat, max_msg_size=self._ws_limit, autoping=False
        )  # pings are answered in _serve, after the rate limit
        if not ws.can_prepare(request).ok:
            if self._index is not None:
                return web.FileResponse(self._index)
            return web.Response(text="aiogstwebrtc signalling server: open a websocket here\n")
        remote = request.remote
        if not self._authorized(request):
            log.info("refused a websocket from %s: missing or wrong token", remote)
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="signalling"'})
        if not self._origin_allowed(request):
            self._refuse_origin(request)
            raise web.HTTPForbidden(text="origin not allowed\n")
        if self._stopping or len(self._connections) >= self._max_peers:
            log.info("refused a websocket from %s: server full or stopping", remote)
            raise web.HTTPServiceUnavailable(text="signalling server full\n")
        await ws.prepare(request)
        await self._serve(ws, request)
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
        close_code, close_reason = WSCloseCode.GOING_AWAY, ""
        try:
            async for msg in ws:
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
                    self._receive(peer_id, msg.data)
                else:
                    details = "invalid message: binary frames are not supported, send JSON text"
                    self._deliver([(peer_id, ErrorMessage(details=details))])
        finally:
            del self._connections[peer_id]
            try:
                self._deliver(self._router.disconnect(peer_id))
            except Exception:
                log.exception("cleaning up after peer %s failed", peer_id)
            budget = _STOP_TIMEOUT if self._stopping else CLOSE_TIMEOUT
            await conn.finish(budget)
            if not ws.closed:
                await conn.close(close_code, close_reason, timeout=budget)
            log.debug("peer %s disconnected (code %s)", peer_id, ws.close_code)

    def _rate_check(self, conn: Connection, kind: WSMsgType) -> Verdict:
        """Count one frame of ``conn``; over the limit, tell the peer its message was dropped
        (a ping over the limit just gets no pong)."""
        limiter = conn.limiter
        verdict = Verdict.ACCEPT if limiter is None else limiter.check()
        if limiter is None or verdict is Verdict.ACCEPT:
            return verdict
        limit = limiter.limit.describe()
        if verdict is Verdict.CLOSE:
            log.warning(
                "peer %s from %s kept sending over the rate limit (%s): disconnecting it",
                conn.peer_id,
                conn.request.remote,
                limit,
            )
            details = f"rate limit: too many messages ({limit}): closing the connection"
        else:
            if limiter.dropped_in_a_row == 1:
                log.info("peer %s is over the rate limit (%s)", conn.peer_id, limit)
            if kind not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return verdict
            details = f"rate limit: too many messages ({limit}): this one was dropped"
        self._deliver([(conn.peer_id, ErrorMessage(details=details))])
        return verdict

    def _receive(self, peer_id: str, text: str) -> None:
        try:
            out = self._router.receive(peer_id, text)
        except Exception:  # a bug must not take the server down: log it, tell the peer
            log.exception("handling a message from peer %s failed", peer_id)
            out = [(peer_id, ErrorMessage(details="internal server error"))]
        self._deliver(out)

    def _deliver(self, out: list[Outgoing]) -> None:
        texts: dict[int, str] = {}
        for peer_id, message in out:
            conn = self._connections.get(peer_id)
            if conn is None:
                continue
            text = texts.get(id(message))
            if text is None:
                text = texts[id(message)] = dumps(message)
            conn.send(text)


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _own_host_names() -> frozenset[str]:
    """Names of this machine a page may be served under: ``localhost`` and its host names."""
    names = {"localhost"}
    try:
        hostname = socket.gethostname().lower()
    except OSError:  # pragma: no cover - no host name at all
        return frozenset(names)
    if hostname:
        short = hostname.split(".")[0]
        names.update({hostname, short, f"{short}.local"})
    return frozenset(names)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
