"""An asyncio client of the webrtcsink signalling protocol, on aiohttp.

::

    async with SignallingClient("ws://127.0.0.1:8443/") as client:
        await client.set_peer_status(["listener"])
        producers = await client.list_producers()
        session_id = await client.start_session(producers[0].id)
        async for message in client:          # PeerSdp, PeerIce, EndSession, ...
            ...

Requests that have a reply (``set_peer_status``, ``list_producers``, ``list_consumers``,
``start_session``) return it, raise :class:`ServerError` when the server refuses them,
:class:`SignallingTimeoutError` when nothing comes in time, and
:class:`SignallingClosedError` when the connection ends first. Everything else the
server sends is delivered in order by :meth:`SignallingClient.recv` / ``async for`` and
to event handlers (:meth:`SignallingClient.on`).

Events: ``"message"`` (every message), ``"peer_status_changed"``, ``"session_requested"``
(a consumer wants a session with this producer), ``"session_started"``,
``"session_ended"``, ``"sdp"``, ``"ice"``, ``"error"`` (a :class:`ServerError` not tied to
a request) and ``"close"`` (no argument).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self, TypeVar

import aiohttp

from aiogstwebrtc.errors import ClosedError, OperationTimeoutError
from aiogstwebrtc.events import EventEmitter

from .protocol import (
    MAX_MESSAGE_SIZE,
    MAX_META_SIZE,
    ClientMessage,
    ConsumerList,
    EndSession,
    ErrorMessage,
    IcePayload,
    ListConsumers,
    ListProducers,
    Meta,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ProducerList,
    ProtocolError,
    SdpPayload,
    ServerMessage,
    SessionRequested,
    SessionStarted,
    SetPeerStatus,
    SignallingError,
    StartSession,
    Welcome,
    coerce_roles,
    dumps,
    parse_meta,
    parse_server_message,
)

__all__ = [
    "ClientState",
    "ServerError",
    "SignallingClient",
    "SignallingClosedError",
    "SignallingTimeoutError",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds any single wait of the client may take unless told otherwise."""

_CLOSE_TIMEOUT = 1.0  # seconds the closing handshake may take before the socket is dropped

_M = TypeVar("_M", bound=ServerMessage)


class ServerError(SignallingError):
    """The server answered ``error``; ``details`` is its text."""

    def __init__(self, details: str) -> None:
        super().__init__(f"signalling server error: {details}")
        self.details = details


class SignallingClosedError(SignallingError, ClosedError):
    """The signalling connection is closed (or closed while waiting).

    ``code`` is the websocket close code when known.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SignallingTimeoutError(SignallingError, OperationTimeoutError):
    """A signalling wait did not finish in time; ``operation`` names it."""


class ClientState(enum.IntEnum):
    """Lifecycle of a :class:`SignallingClient`."""

    NEW = 0
    CONNECTING = 1
    OPEN = 2
    CLOSING = 3
    CLOSED = 4


class SdpLike(Protocol):
    """Anything with ``type`` ("offer"/"answer", str or str-valued enum) and ``sdp``."""

    @property
    def type(self) -> Any:
        """ "offer" or "answer"."""

    @property
    def sdp(self) -> Any:
        """The SDP text."""


@dataclass(slots=True)
class _Waiter:
    """A request waiting for its reply; ``request_type`` matches error prefixes."""

    request_type: str
    accepts: Callable[[ServerMessage], bool]
    future: asyncio.Future[ServerMessage]


_NORMAL_CLOSE_CODES = frozenset({1000, 1001})
_EVENTS = {
    PeerStatusChanged: "peer_status_changed",
    SessionRequested: "session_requested",
    SessionStarted: "session_started",
    EndSession: "session_ended",
    PeerSdp: "sdp",
    PeerIce: "ice",
}


class SignallingClient(EventEmitter):
    """A peer of the signalling server (``webrtcsink`` protocol) over one websocket.

    ``url`` is the server's websocket URL; ``token`` is sent as ``Authorization:
    Bearer``; ``headers`` and ``origin`` go into the handshake. ``timeout`` bounds every
    wait unless a call passes its own. ``queue_size`` bounds the messages kept for
    :meth:`recv` (the oldest is dropped, with a warning, when nobody reads).
    """

    _event_names = frozenset({"message", "close", "error", *_EVENTS.values()})

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        origin: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        heartbeat: float | None = 20.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        queue_size: int = 1024,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self._headers = dict(headers or {})
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._origin = origin
        self._heartbeat = heartbeat
        self._max_message_size = max_message_size
        self._http = session
        self._own_http = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._state = ClientState.NEW
        self._peer_id: str | None = None
        self._welcome: asyncio.Future[str] | None = None
        self._waiters: list[_Waiter] = []
        self._incoming: collections.deque[ServerMessage] = collections.deque()
        self._queue_size = queue_size
        self._incoming_ready = asyncio.Event()
        self._sessions: dict[str, str] = {}
        self._close_code: int | None = None
        self._close_error: SignallingClosedError | None = None
        self._closed_by_us = False

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> ClientState:
        """Where the client is in its lifecycle."""
        return self._state

    def _set_state(self, state: ClientState) -> None:
        if state != self._state:
            log.debug("signalling client %s: %s -> %s", self._peer_id, self._state.name, state.name)
            self._state = state

    @property
    def peer_id(self) -> str | None:
        """This connection's peer id, from the server's ``welcome`` (None before)."""
        return self._peer_id

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by either side)."""
        return self._state is ClientState.CLOSED

    @property
    def close_code(self) -> int | None:
        """The websocket close code, once closed."""
        return self._close_code

    @property
    def sessions(self) -> Mapping[str, str]:
        """Open sessions of this peer: session id -> the other peer's id."""
        return MappingProxyType(self._sessions)

    # ------------------------------------------------------------------ connect / close

    async def connect(self, *, timeout: float | None = None) -> str:
        """Open the websocket and wait for ``welcome``; return this peer's id."""
        if self._state is not ClientState.NEW:
            raise SignallingClosedError(
                f"connect() needs a new client, this one is {self._state.name}"
            )
        self._set_state(ClientState.CONNECTING)
        loop = asyncio.get_running_loop()
        self._welcome = loop.create_future()
        try:
            async with self._deadline(timeout, "connect"):
                if self._http is None:
                    self._http = aiohttp.ClientSession()
                try:
                    self._ws = await self._http.ws_connect(
                        self.url,
                        headers=self._headers,
                        origin=self._origin,
                        heartbeat=self._heartbeat,
                        max_msg_size=max(4 * self._max_message_size, 1024 * 1024),
                        autoping=True,
                    )
                except aiohttp.WSServerHandshakeError as exc:
                    raise SignallingClosedError(
                        f"the signalling server refused the connection: HTTP {exc.status} "
                        f"{exc.message}",
                        code=None,
                    ) from exc
                except (aiohttp.ClientError, OSError) as exc:
                    raise SignallingClosedError(f"cannot connect to {self.url}: {exc}") from exc
                self._reader = asyncio.create_task(
                    self._read_loop(), name="signalling-client-reader"
                )
                self._peer_id = await self._welcome
        except BaseException:
            await self._teardown(None)
            raise
        self._set_state(ClientState.OPEN)
        log.debug("signalling client connected to %s as %s", self.url, self._peer_id)
        return self._peer_id

    async def close(self) -> None:
        """Close the connection; pending requests fail; safe to call twice."""
        if self._state is ClientState.CLOSED:
            return
        self._set_state(ClientState.CLOSING)
        self._closed_by_us = True
        await self._teardown(1000)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _teardown(self, code: int | None) -> None:
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            try:  # a server that does not answer the close is not waited for long
                async with asyncio.timeout(min(self.timeout, _CLOSE_TIMEOUT)):
                    await ws.close(code=code or 1000)
            except Exception as exc:
                log.debug("closing the signalling websocket failed: %r", exc)
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            await asyncio.wait({self._reader})
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
        if ws is not None and ws.close_code is not None:
            code = ws.close_code
        self._finish(code, "closed by this client")

    def _finish(self, code: int | None, why: str) -> None:
        """Mark closed and fail everything still waiting (idempotent)."""
        if self._state is ClientState.CLOSED:
            return
        self._close_code = code
        self._close_error = SignallingClosedError(
            f"signalling connection closed ({why}, code {code})", code=code
        )
        self._set_state(ClientState.CLOSED)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(self._close_error)
        self._waiters.clear()
        if self._welcome is not None and not self._welcome.done():
            self._welcome.set_exception(self._close_error)
        self._incoming_ready.set()
        self.emit("close")

    # ------------------------------------------------------------------ requests

    async def set_peer_status(
        self,
        roles: Iterable[PeerRole | str],
        meta: Meta | None = None,
        *,
        confirm: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Register this peer with ``roles`` and ``meta``.

        With ``confirm`` (default), wait for the server's ``peerStatusChanged`` about this
        peer; GStreamer's own server only sends it to listeners, so pass ``confirm=False``
        there unless ``listener`` is among the roles.
        """
        message = SetPeerStatus(
            roles=coerce_roles(roles),
            meta=parse_meta(meta, max_size=MAX_META_SIZE),
            peer_id=self._peer_id,
        )
        if not confirm:
            await self.send(message)
            return
        own = self._peer_id
        await self._request(
            message,
            lambda m: isinstance(m, PeerStatusChanged) and m.peer_id == own,
            timeout,
        )

    async def list_producers(self, *, timeout: float | None = None) -> list[PeerInfo]:
        """Ask for the registered producers."""
        reply = await self._request(ListProducers(), lambda m: isinstance(m, ProducerList), timeout)
        assert isinstance(reply, ProducerList)
        return list(reply.producers)

    async def list_consumers(self, *, timeout: float | None = None) -> list[PeerInfo]:
        """Ask for the registered passive consumers."""
        reply = await self._request(ListConsumers(), lambda m: isinstance(m, ConsumerList), timeout)
        assert isinstance(reply, ConsumerList)
        return list(reply.consumers)

    async def start_session(
        self, peer_id: str, *, offer: str | None = None, timeout: float | None = None
    ) -> str:
        """Start a session with ``peer_id`` and return its session id.

        Towards a producer, this peer is the consumer (``offer`` optionally carries its
        SDP offer); towards a passive consumer, this peer must be a producer.
        """
        reply = await self._request(
            StartSession(peer_id=peer_id, offer=offer),
            lambda m: isinstance(m, SessionStarted | SessionRequested) and m.peer_id == peer_id,
            timeout,
        )
        assert isinstance(reply, SessionStarted | SessionRequested)
        return reply.session_id

    async def send_sdp(
        self, session_id: str, description: SdpPayload | Mapping[str, Any] | SdpLike
    ) -> None:
        """Forward a session description (``{"type", "sdp"}``) to the other side."""
        await self.send(PeerSdp(session_id=session_id, sdp=_to_sdp(description)))

    async def send_ice(self, session_id: str, candidate: IcePayload | Mapping[str, Any]) -> None:
        """Forward an ICE candidate (``{"candidate", "sdpMLineIndex"}``) to the other side."""
        await self.send(PeerIce(session_id=session_id, ice=_to_ice(candidate)))

    async def end_session(self, session_id: str) -> None:
        """End ``session_id``; the other side gets ``endSession``."""
        self._sessions.pop(session_id, None)
        await self.send(EndSession(session_id=session_id))

    async def send(self, message: ClientMessage, *, timeout: float | None = None) -> None:
        """Send any client message as is."""
        text = dumps(message)
        size = len(text.encode())
        if size > self._max_message_size:
            raise ProtocolError(
                f"{message.TYPE}: {size} bytes is over the limit of {self._max_message_size}",
                message_type=message.TYPE,
            )
        ws = self._open_ws()
        try:
            async with self._deadline(timeout, f"send {message.TYPE}"):
                await ws.send_str(text)
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise SignallingClosedError(f"cannot send {message.TYPE}: {exc}") from exc

    async def _request(
        self,
        message: ClientMessage,
        accepts: Callable[[ServerMessage], bool],
        timeout: float | None,
    ) -> ServerMessage:
        self._open_ws()
        waiter = _Waiter(message.TYPE, accepts, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with self._deadline(timeout, message.TYPE):
                await self.send(message)
                return await waiter.future
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # ------------------------------------------------------------------ receiving

    async def recv(self, *, timeout: float | None = None) -> ServerMessage:
        """Return the next message not consumed as a request's reply.

        Raise :class:`SignallingClosedError` once the connection is closed and every
        received message has been returned, :class:`SignallingTimeoutError` on timeout.
        """
        async with self._deadline(timeout, "recv"):
            return await self._next_message()

    async def _next_message(self) -> ServerMessage:
        """The next message, waiting as long as it takes (the connection's end stops it)."""
        while not self._incoming:
            if self._state is ClientState.CLOSED:
                assert self._close_error is not None
                raise self._close_error
            if self._state is ClientState.NEW:
                raise SignallingClosedError("recv() before connect()")
            self._incoming_ready.clear()
            await self._incoming_ready.wait()
        return self._incoming.popleft()

    async def recv_type(self, kind: type[_M], *, timeout: float | None = None) -> _M:
        """Return the next message of class ``kind``, dropping others (for scripts/tests)."""
        async with self._deadline(timeout, f"recv {kind.__name__}"):
            while True:
                message = await self._next_message()
                if isinstance(message, kind):
                    return message

    def __aiter__(self) -> AsyncIterator[ServerMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerMessage]:
        """Yield messages until the connection closes; raise if it closed abnormally.

        Quiet periods are normal here: iteration waits without a timeout.
        """
        while True:
            try:
                message = await self._next_message()
            except SignallingClosedError as exc:
                if self._closed_by_us or exc.code in _NORMAL_CLOSE_CODES:
                    return
                raise
            yield message

    async def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        why = "closed by the server"
        code: int | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._on_text(msg.data)
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    # the server's own code: ws.close_code may read 1006 when the server
                    # drops TCP before our close reply goes out
                    code = int(msg.data) if isinstance(msg.data, int) else None
                    if msg.extra:
                        why = f"closed by the server: {msg.extra}"
                    break
                elif msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    break
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    why = f"websocket error: {ws.exception()!r}"
                    break
                else:
                    log.warning("ignoring a non-text websocket message (%s)", msg.type.name)
        except Exception as exc:  # never leave waiters hanging on a reader crash
            log.exception("signalling client reader failed")
            why = f"reader failed: {exc!r}"
        finally:
            if self._state is not ClientState.CLOSING:
                self._finish(code if code is not None else ws.close_code, why)

    def _on_text(self, text: str) -> None:
        try:
            message = parse_server_message(
                text, max_size=max(4 * self._max_message_size, 1024 * 1024)
            )
        except ProtocolError as exc:
            log.warning("ignoring an invalid message from the server: %s", exc)
            return
        log.debug("received %s", message.TYPE)
        self._track(message)
        if isinstance(message, Welcome):
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(message.peer_id)
            return
        if isinstance(message, ErrorMessage):
            self._on_error(message)
            return
        for waiter in self._waiters:
            if not waiter.future.done() and waiter.accepts(message):
                waiter.future.set_result(message)
                self._waiters.remove(waiter)
                return
        self._deliver(message)

    def _on_error(self, message: ErrorMessage) -> None:
        error = ServerError(message.details)
        prefix, colon, _ = message.details.partition(":")
        pending = [w for w in self._waiters if not w.future.done()]
        if colon and any(w.request_type == prefix for w in pending):
            target = next(w for w in pending if w.request_type == prefix)
        elif not (colon and prefix.isidentifier()) and pending:
            target = pending[0]  # a server that does not say which request: the oldest
        else:
            target = None
        if target is not None:
            target.future.set_exception(error)
            self._waiters.remove(target)
            return
        log.warning("signalling server error: %s", message.details)
        self._deliver(message)
        self.emit("error", error)

    def _track(self, message: ServerMessage) -> None:
        if isinstance(message, SessionStarted | SessionRequested):
            self._sessions[message.session_id] = message.peer_id
        elif isinstance(message, EndSession):
            self._sessions.pop(message.session_id, None)

    def _deliver(self, message: ServerMessage) -> None:
        if len(self._incoming) >= self._queue_size:
            dropped = self._incoming.popleft()
            log.warning("recv() queue full: dropped the oldest message (%s)", dropped.TYPE)
        self._incoming.append(message)
        self._incoming_ready.set()
        self.emit("message", message)
        event = _EVENTS.get(type(message))
        if event is not None:
            self.emit(event, message)

    # ------------------------------------------------------------------ helpers

    def _open_ws(self) -> aiohttp.ClientWebSocketResponse:
        if self._state is not ClientState.OPEN or self._ws is None:
            if self._close_error is not None:
                raise self._close_error
            raise SignallingClosedError(f"the signalling client is {self._state.name}")
        return self._ws

    def _deadline(self, timeout: float | None, operation: str) -> _Deadline:
        return _Deadline(self.timeout if timeout is None else timeout, operation, self._state.name)


class _Deadline:
    """``asyncio.timeout`` that raises :class:`SignallingTimeoutError` naming the wait."""

    def __init__(self, seconds: float, operation: str, state: str) -> None:
        self._cm = asyncio.timeout(seconds)
        self._seconds = seconds
        self._operation = operation
        self._state = state

    async def __aenter__(self) -> None:
        await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._cm.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            raise SignallingTimeoutError(
                f"signalling: {self._operation} got no answer within {self._seconds:g} s",
                operation=self._operation,
                state=self._state,
            ) from None


def _to_sdp(description: SdpPayload | Mapping[str, Any] | SdpLike) -> SdpPayload:
    if isinstance(description, SdpPayload):
        return description
    if isinstance(description, Mapping):
        return SdpPayload.from_dict(dict(description))
    sdp_type = getattr(description.type, "value", description.type)
    return SdpPayload.from_dict({"type": str(sdp_type).lower(), "sdp": str(description.sdp)})


def _to_ice(candidate: IcePayload | Mapping[str, Any]) -> IcePayload:
    if isinstance(candidate, IcePayload):
        return candidate
    return IcePayload.from_dict(dict(candidate))
