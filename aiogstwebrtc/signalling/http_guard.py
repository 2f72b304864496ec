"""The signalling server's HTTP connections before they become websockets.

aiohttp's own listener accepts every TCP connection, waits an hour for a request,
logs a traceback for each malformed one and names its version in ``Server``. Here the
listening socket makes :class:`GuardedHandler` protocols instead, which:

* ask :class:`.admission.Admission` first and close at once what it refuses;
* give each connection ``http_timeout`` seconds to send a complete request and close an
  idle keep-alive connection after as long (aiohttp's keep-alive timer, which also runs
  from the moment the connection is made);
* log malformed requests and client resets at DEBUG and as one WARNING line per interval
  (:class:`.logthrottle.ThrottledLog`), never a traceback;
* answer with ``Server: aiogstwebrtc``, no version numbers.

:func:`raise_fd_limit` and :class:`AcceptErrors` keep the process from running out of file
descriptors quietly: the soft limit goes up to the hard one, and ``accept()`` failing for
want of them is logged once per interval with a count instead of a traceback each time.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

from .admission import Admission, Refusal, address_key
from .logthrottle import ThrottledLog

__all__ = [
    "SERVER_HEADER",
    "AcceptErrors",
    "Guard",
    "GuardedHandler",
    "GuardedSite",
    "raise_fd_limit",
    "set_server_header",
]

log = logging.getLogger("aiogstwebrtc.signalling.server")

SERVER_HEADER = "aiogstwebrtc"
"""The ``Server`` header of every response: no version numbers."""

_ACCEPT_ERROR = "socket.accept() out of system resource"
_QUIET = (HttpProcessingError, ConnectionError, asyncio.IncompleteReadError)


class Guard:
    """What the handlers of one server share: its admission counts and its noisy logs."""

    def __init__(self, admission: Admission, noise: ThrottledLog) -> None:
        self.admission = admission
        self.noise = noise

    def refused(self, refusal: Refusal, address: str | None) -> None:
        """Count one refusal for the aggregated warning."""
        self.noise.event(f"refused connections: {refusal.value}", address_key(address))


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, admitted by a :class:`Guard` and quiet about junk."""

    def __init__(self, manager: Server, guard: Guard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.guard = guard
        self.client: str | None = None
        self.pending = False  # admitted and not yet upgraded
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else None
        refusal = self.guard.admission.accept(self.client)
        if refusal is not None:
            self.refused = True
            self.guard.refused(refusal, self.client)
            cast(asyncio.Transport, transport).abort()
            return
        self.pending = True
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.refused:
            return
        self.guard.admission.closed(self.client, pending=self.pending)
        self.pending = False
        super().connection_lost(exc)

    def mark_upgraded(self) -> None:
        """The request became a websocket: it no longer counts as waiting."""
        if self.pending:
            self.pending = False
            self.guard.admission.upgraded(self.client)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, _QUIET):
            log.debug("HTTP connection from %s: %s", self.client, _describe(exc))
            kind = "client resets" if isinstance(exc, ConnectionError) else "malformed requests"
            self.guard.noise.event(f"HTTP: {kind}", address_key(self.client))
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        response = super().handle_error(request, status, exc, message)
        response.headers["Server"] = SERVER_HEADER
        return response


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__} {text[:120]}".strip()


async def set_server_header(request: web.Request, response: StreamResponse) -> None:
    """``on_response_prepare``: replace aiohttp's ``Server`` header."""
    response.headers["Server"] = SERVER_HEADER


class GuardedSite(web.BaseSite):
    """A TCP listener of ``runner`` whose connections are :class:`GuardedHandler`\\ s
    (with TLS, a handshake must end within ``handshake_timeout`` seconds)."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        factory: Callable[[], GuardedHandler],
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
        handshake_timeout: float = 10.0,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._handshake_timeout = handshake_timeout
        self._host = host
        self._port = port
        self._factory = factory

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        tls = self._ssl_context
        self._server = await loop.create_server(
            self._factory,
            self._host,
            self._port,
            ssl=tls,
            backlog=self._backlog,
            # a TLS handshake that never ends holds no slot longer than a request may take
            ssl_handshake_timeout=self._handshake_timeout if tls is not None else None,
        )

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets (empty before start)."""
        server = self._server
        return [] if server is None else list(getattr(server, "sockets", ()) or ())


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft limit on open files to the hard limit; warn when it stays
    below ``needed``. Returns the soft limit now."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux/BSD/macOS
        return needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.debug("cannot raise the open files limit: %s", exc)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "this process may open only %d files but the server's limits allow %d "
            "connections: raise the limit (ulimit -n, LimitNOFILE=) or lower max_peers",
            soft,
            needed,
        )
    return int(soft)


class AcceptErrors:
    """An event loop exception handler that turns ``accept()`` failing for want of file
    descriptors (EMFILE, ENFILE...) into a counted WARNING per interval; other errors go
    to the handler that was there before."""

    def __init__(self, loop: asyncio.AbstractEventLoop, noise: ThrottledLog) -> None:
        self._loop = loop
        self._noise = noise
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") == _ACCEPT_ERROR and isinstance(exc, OSError):
            name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            self._noise.event(f"cannot accept connections: {name} (out of file descriptors?)")
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def close(self) -> None:
        """Put the previous handler back (if nobody replaced this one meanwhile)."""
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)
