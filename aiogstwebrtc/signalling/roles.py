"""Ready-made peers on the signalling server: a media :class:`Producer` and a :class:`Consumer`.

A :class:`Producer` registers with the server as ``producer`` (its ``meta`` names it, e.g.
``{"name": "camera"}``) and serves every consumer that starts a session with it — a
``gstwebrtc-api`` page, GStreamer's ``webrtcsrc`` or a :class:`Consumer` — with a
:class:`~aiogstwebrtc.PeerConnection` of its own: fresh media sources, a data channel,
an offer, trickled ICE::

    from aiogstwebrtc.media import AudioSource, VideoSource
    from aiogstwebrtc.signalling import Producer

    def sources():
        return [VideoSource("videotestsrc is-live=true"), AudioSource("audiotestsrc is-live=true")]

    async with Producer("ws://127.0.0.1:8443/", meta={"name": "test"}, sources=sources,
                        chat_handler=lambda session, text: f"echo: {text}") as producer:
        await producer.wait_closed()

A :class:`Consumer` starts sessions with producers and answers their offers::

    async with Consumer("ws://127.0.0.1:8443/") as consumer:
        producer = await consumer.wait_for_producer(name="test")
        session = await consumer.watch(producer.id)
        track = await session.wait_track("video")
        frame = await track.recv()                  # a VideoFrame (numpy RGB)
        channel = await session.wait_channel()      # the producer's data channel

Each session runs in its own task: an error in one (a bad answer, a consumer that never
answers, a failed connection) ends that session only, with ``endSession`` sent to the
other side. Ending a session, the other side leaving or the signalling connection
closing closes the session's peer connection.

This module imports GStreamer lazily: importing it needs no ``gi``.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias

from aiogstwebrtc.errors import ClosedError, OperationTimeoutError, WebRTCError
from aiogstwebrtc.events import EventEmitter

from .client import SignallingClient, SignallingClosedError
from .protocol import (
    EndSession,
    Meta,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ServerMessage,
    SessionRequested,
    SignallingError,
)

if TYPE_CHECKING:
    from aiogstwebrtc.config import Configuration
    from aiogstwebrtc.datachannel import DataChannel
    from aiogstwebrtc.media import MediaSource, RemoteTrack
    from aiogstwebrtc.peerconnection import PeerConnection
    from aiogstwebrtc.sdp import IceCandidate

__all__ = [
    "ChatHandler",
    "Consumer",
    "ConsumerSession",
    "Producer",
    "ProducerSession",
    "RoleSession",
    "SourceFactory",
    "echo_chat",
]

log = logging.getLogger(__name__)

SourceFactory: TypeAlias = "Callable[[], Iterable[MediaSource]]"
"""Makes the media sources of one session (each session needs sources of its own)."""

ChatHandler: TypeAlias = (
    "Callable[[ProducerSession, str | bytes], Awaitable[str | bytes | None] | str | bytes | None]"
)
"""Called with each data-channel message; a returned text or bytes is sent back."""

_EARLY_SESSIONS = 32
_EARLY_MESSAGES = 64


def echo_chat(session: ProducerSession, message: str | bytes) -> str | bytes:
    """The default chat handler: send every message back, text prefixed with ``echo: ``."""
    return f"echo: {message}" if isinstance(message, str) else message


class _SessionEvents(EventEmitter):
    _event_names = frozenset({"channel", "track", "ended"})


class RoleSession:
    """One session of a :class:`Producer` or :class:`Consumer`: a peer connection to one peer.

    ``session_id`` is the server's id of the session, ``peer_id`` the other side's peer
    id. Events (``session.on(name, handler)``): ``channel`` (a :class:`DataChannel`),
    ``track`` (a :class:`RemoteTrack`), ``ended`` (the reason, a string).
    """

    def __init__(self, role: _Role, session_id: str, peer_id: str) -> None:
        self.session_id = session_id
        self.peer_id = peer_id
        self._role = role
        self._events = _SessionEvents()
        self._pc: PeerConnection | None = None
        self._channel: DataChannel | None = None
        self._tracks: list[RemoteTrack] = []
        self._inbox: asyncio.Queue[PeerSdp | PeerIce] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._changed = asyncio.Event()
        self._end_reason: str | None = None
        self._closing: asyncio.Task[None] | None = None
        self._can_trickle = False
        self._held: list[IceCandidate] = []
        self._sends: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ views

    @property
    def pc(self) -> PeerConnection | None:
        """The session's peer connection (None before it is made)."""
        return self._pc

    @property
    def channel(self) -> DataChannel | None:
        """The session's data channel, once there is one."""
        return self._channel

    @property
    def tracks(self) -> list[RemoteTrack]:
        """The remote tracks received so far."""
        return list(self._tracks)

    @property
    def ended(self) -> bool:
        """True once the session is over."""
        return self._ended.is_set()

    @property
    def end_reason(self) -> str | None:
        """Why the session ended (None while it runs)."""
        return self._end_reason

    def on(self, event: str, handler: Any = None) -> Any:
        """Register a handler for ``channel``, ``track`` or ``ended``."""
        return self._events.on(event, handler)

    # ------------------------------------------------------------------ waiting

    async def _wait_until(self, ready: Callable[[], Any], timeout: float, what: str) -> Any:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = ready()
                    if value is not None:
                        return value
                    if self._ended.is_set():
                        raise ClosedError(
                            f"session {self.session_id} ended ({self._end_reason}) "
                            f"while waiting for {what}"
                        )
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise OperationTimeoutError(
                f"session {self.session_id}: no {what} within {timeout:g} s",
                operation=what,
                state=self._pc.connection_state if self._pc is not None else "no peer connection",
            ) from None

    async def wait_channel(self, timeout: float = 10.0) -> DataChannel:
        """The session's data channel once it is open."""
        channel: DataChannel = await self._wait_until(
            lambda: self._channel, timeout, "data channel"
        )
        await channel.wait_open(timeout)
        return channel

    async def wait_track(self, kind: str = "video", timeout: float = 10.0) -> RemoteTrack:
        """The first remote track of ``kind`` (``video`` or ``audio``)."""
        track: RemoteTrack = await self._wait_until(
            lambda: next((t for t in self._tracks if t.kind == kind), None),
            timeout,
            f"{kind} track",
        )
        return track

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Wait until the peer connection is ``connected``."""
        pc: PeerConnection = await self._wait_until(lambda: self._pc, timeout, "peer connection")
        await pc.wait_for_connection_state("connected", timeout)

    async def wait_ended(self, timeout: float | None = None) -> str:
        """Wait until the session is over and return why."""
        async with asyncio.timeout(timeout):
            await self._ended.wait()
        assert self._end_reason is not None
        return self._end_reason

    # ------------------------------------------------------------------ ending

    async def close(self, reason: str = "closed locally") -> None:
        """End the session: tell the other side (``endSession``), close the peer connection."""
        await self._finish(reason, notify=True)

    async def _finish(self, reason: str, *, notify: bool) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._do_finish(reason, notify))
        await asyncio.shield(self._closing)

    async def _do_finish(self, reason: str, notify: bool) -> None:
        self._end_reason = reason
        log.info("session %s with %s ended: %s", self.session_id, self.peer_id, reason)
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            await asyncio.wait({task})
        client = self._role._client
        if notify and client is not None and not client.closed:
            try:
                await client.end_session(self.session_id)
            except (SignallingError, ConnectionError) as exc:
                log.debug("could not send endSession for %s: %r", self.session_id, exc)
        for send in list(self._sends):
            send.cancel()
        if self._pc is not None:
            try:
                await self._pc.close()
            except Exception:
                log.exception("closing the peer connection of session %s failed", self.session_id)
        self._ended.set()
        self._changed.set()
        self._role._forget(self)
        self._events.emit("ended", reason)
        self._events.remove_all_listeners()

    # ------------------------------------------------------------------ plumbing

    def _start(self, work: Callable[[], Awaitable[None]]) -> None:
        self._task = asyncio.create_task(self._guard(work), name=f"session-{self.session_id}")

    async def _guard(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run the session's work; whatever fails ends this session only."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            expected = isinstance(exc, WebRTCError)  # a refusal or timeout, not a bug here
            log.warning("session %s failed: %s", self.session_id, exc, exc_info=not expected)
            self._role._spawn(self._finish(f"failed: {exc}", notify=True))
            return
        if not self._ended.is_set():
            self._role._spawn(self._finish("negotiation loop ended", notify=True))

    def _make_pc(self) -> PeerConnection:
        from aiogstwebrtc.peerconnection import PeerConnection

        pc = PeerConnection(self._role._configuration())
        self._pc = pc
        pc.on("icecandidate", self._on_local_candidate)
        pc.on("datachannel", self._set_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)
        self._changed.set()
        return pc

    def _set_channel(self, channel: DataChannel) -> None:
        if self._channel is not None:
            log.debug("session %s: extra data channel %r ignored", self.session_id, channel.label)
            return
        self._channel = channel
        self._changed.set()
        self._events.emit("channel", channel)

    def _on_track(self, track: RemoteTrack) -> None:
        self._tracks.append(track)
        self._changed.set()
        self._events.emit("track", track)

    def _on_connection_state(self) -> None:
        pc = self._pc
        if pc is not None and pc.connection_state == "failed" and not self.ended:
            self._role._spawn(self._finish("the peer connection failed", notify=True))

    def _on_local_candidate(self, candidate: IceCandidate | None) -> None:
        # End-of-candidates is not sent: gstwebrtc-api and webrtcsink do not need it.
        if candidate is None or candidate.is_end_of_candidates or self.ended:
            return
        if self._can_trickle:
            self._send_candidate(candidate)
        else:
            self._held.append(candidate)

    def _allow_trickle(self) -> None:
        """From now on candidates go out as they come; held ones go first."""
        self._can_trickle = True
        held, self._held = self._held, []
        for candidate in held:
            self._send_candidate(candidate)

    def _send_candidate(self, candidate: IceCandidate) -> None:
        client = self._role._client
        if client is None:
            return
        ice = {"candidate": candidate.candidate, "sdpMLineIndex": candidate.sdp_mline_index or 0}
        if candidate.sdp_mid is not None:
            ice["sdpMid"] = candidate.sdp_mid
        if candidate.username_fragment is not None:  # its ICE generation, as browsers send
            ice["usernameFragment"] = candidate.username_fragment
        task = asyncio.ensure_future(client.send_ice(self.session_id, ice))
        self._sends.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Future[None]) -> None:
        self._sends.discard(task)  # type: ignore[arg-type]
        if not task.cancelled() and task.exception() is not None:
            log.debug("session %s: a candidate was not sent: %r", self.session_id, task.exception())

    async def _next_sdp(self, pc: PeerConnection, timeout: float, what: str) -> dict[str, str]:
        """Apply incoming candidates until a description arrives; return it."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await self._inbox.get()
                    if isinstance(message, PeerSdp):
                        return message.sdp.to_dict()
                    await self._add_candidate(pc, message)
        except TimeoutError:
            raise OperationTimeoutError(
                f"no {what} from peer {self.peer_id} within {timeout:g} s",
                operation=what,
                state=pc.signaling_state,
            ) from None

    async def _add_candidate(self, pc: PeerConnection, message: PeerIce) -> None:
        ice = message.ice
        if not ice.candidate:
            return
        try:
            await pc.add_ice_candidate(
                {
                    "candidate": ice.candidate,
                    "sdpMLineIndex": ice.sdp_m_line_index,
                    "sdpMid": ice.sdp_mid,
                    "usernameFragment": ice.username_fragment,
                }
            )
        except ValueError as exc:  # InvalidSDPError: one bad candidate is not fatal
            log.debug("session %s: ignored candidate %r: %s", self.session_id, ice.candidate, exc)

    async def _follow_up(self, pc: PeerConnection) -> None:
        """After negotiation: keep applying candidates; renegotiation is not supported."""
        while True:
            message = await self._inbox.get()
            if isinstance(message, PeerIce):
                await self._add_candidate(pc, message)
            else:
                log.warning(
                    "session %s: ignoring a %s after negotiation (renegotiation is not supported)",
                    self.session_id,
                    message.sdp.type,
                )

    def __repr__(self) -> str:
        state = "ended" if self.ended else (self._pc.connection_state if self._pc else "new")
        return f"<{type(self).__name__} {self.session_id} peer={self.peer_id} {state}>"


class ProducerSession(RoleSession):
    """A session in which a :class:`Producer` serves one consumer."""

    async def _serve(self, producer: Producer, offer: str | None) -> None:
        pc = self._make_pc()
        client = producer._require_client()
        for source in producer._sources() if producer._sources is not None else ():
            await pc.add_track(source)
        if offer is None:
            if producer._data_channel is not None:
                self._set_channel(await pc.create_data_channel(producer._data_channel))
                self._hook_chat(producer)
            local = await pc.create_offer()
            await pc.set_local_description(local)
            # gstwebrtc-api drops a session whose candidate arrives before the offer.
            await client.send_sdp(self.session_id, local)
            self._allow_trickle()
            answer = await self._next_sdp(pc, producer.negotiation_timeout, "answer")
            if answer.get("type") != "answer":
                raise WebRTCError(f"expected an answer, got an {answer.get('type')}")
            await pc.set_remote_description(answer)
        else:
            # The consumer offered (webrtcsrc / gstwebrtc-api with offer options): answer;
            # a data channel, if any, comes from its side.
            self._events.on("channel", lambda _channel: self._hook_chat(producer))
            answer_sdp = await pc.handle_offer({"type": "offer", "sdp": offer})
            await client.send_sdp(self.session_id, answer_sdp)
            self._allow_trickle()
        await self._follow_up(pc)

    def _hook_chat(self, producer: Producer) -> None:
        channel, handler = self._channel, producer._chat_handler
        if channel is None or handler is None:
            return

        async def on_message(message: str | bytes) -> None:
            try:
                reply = handler(self, message)
                if inspect.isawaitable(reply):
                    reply = await reply
            except Exception:
                log.exception("the chat handler failed in session %s", self.session_id)
                return
            if reply is None or channel.ready_state != "open":
                return
            try:
                channel.send(reply)
            except (WebRTCError, ValueError) as exc:
                log.warning("session %s: chat reply not sent: %s", self.session_id, exc)

        channel.on("message", on_message)


class ConsumerSession(RoleSession):
    """A session in which a :class:`Consumer` receives a producer's media and channel."""

    async def _answer(self, consumer: Consumer) -> None:
        assert self._pc is not None
        pc = self._pc
        client = consumer._require_client()
        offer = await self._next_sdp(pc, consumer.negotiation_timeout, "offer")
        if offer.get("type") != "offer":
            raise WebRTCError(f"expected an offer, got an {offer.get('type')}")
        answer = await pc.handle_offer(offer)
        # Candidates wait for the answer: a browser offerer refuses (and gstwebrtc-api then
        # closes the session) a candidate that comes before the remote description.
        await client.send_sdp(self.session_id, answer)
        self._allow_trickle()
        await self._follow_up(pc)


class _RoleEvents(EventEmitter):
    _event_names = frozenset(
        {"session", "session_ended", "producer_added", "producer_removed", "close"}
    )


class _Role:
    """What :class:`Producer` and :class:`Consumer` share: the client and session routing."""

    def __init__(
        self,
        url: str,
        *,
        meta: Meta | None,
        configuration: Configuration | None,
        token: str | None,
        timeout: float,
        negotiation_timeout: float,
    ) -> None:
        self.url = url
        self.meta = meta
        self.timeout = timeout
        self.negotiation_timeout = negotiation_timeout
        self._token = token
        self._config = configuration
        self._client: SignallingClient | None = None
        self._sessions: dict[str, RoleSession] = {}
        self._early: collections.OrderedDict[str, list[ServerMessage]] = collections.OrderedDict()
        self._events = _RoleEvents()
        self._reader: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ views

    @property
    def peer_id(self) -> str | None:
        """This peer's id on the server (None before :meth:`start`)."""
        return None if self._client is None else self._client.peer_id

    @property
    def client(self) -> SignallingClient | None:
        """The underlying signalling client."""
        return self._client

    @property
    def sessions(self) -> Mapping[str, RoleSession]:
        """Running sessions by session id."""
        return MappingProxyType(self._sessions)

    @property
    def closed(self) -> bool:
        """True once closed (by :meth:`close` or because the server went away)."""
        return self._closed.is_set()

    def on(self, event: str, handler: Any = None) -> Any:
        """Register an event handler (``@role.on("session")`` works as a decorator)."""
        return self._events.on(event, handler)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Connect to the server and register; return this peer's id."""
        if self._client is not None:
            raise SignallingError("start() was already called")
        client = SignallingClient(self.url, token=self._token, timeout=self.timeout)
        self._client = client
        peer_id = await client.connect()
        try:
            await self._register(client)
        except BaseException:
            await client.close()
            raise
        self._reader = asyncio.create_task(self._read(client), name=f"role-{peer_id}")
        return peer_id

    async def _register(self, client: SignallingClient) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """End every session and leave the server; safe to call twice."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._do_close())
        await asyncio.shield(self._closing)

    async def _do_close(self) -> None:
        sessions = list(self._sessions.values())
        await asyncio.gather(*(s.close("closed locally") for s in sessions), return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            await asyncio.wait({self._reader}, timeout=self.timeout)
        self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until the role is closed (by :meth:`close` or by the server going away)."""
        await self._closed.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ routing

    def _spawn(self, work: Awaitable[None]) -> None:
        """Run ``work`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _require_client(self) -> SignallingClient:
        client = self._client
        if client is None or client.closed:
            raise SignallingClosedError("the signalling connection is closed")
        return client

    def _configuration(self) -> Configuration:
        from aiogstwebrtc.config import Configuration

        return self._config if self._config is not None else Configuration()

    async def _read(self, client: SignallingClient) -> None:
        why = "the signalling connection closed"
        try:
            async for message in client:  # quiet for hours is fine: no timeout here
                try:
                    self._route(message)
                except Exception:
                    log.exception("handling %s failed", message.TYPE)
        except SignallingClosedError as exc:
            why = f"the signalling connection closed: {exc}"
        finally:
            sessions = list(self._sessions.values())
            await asyncio.gather(
                *(s._finish(why, notify=False) for s in sessions), return_exceptions=True
            )
            self._closed.set()
            self._events.emit("close")

    def _route(self, message: ServerMessage) -> None:
        if isinstance(message, PeerSdp | PeerIce):
            session = self._sessions.get(message.session_id)
            if session is not None:
                session._inbox.put_nowait(message)
            else:
                self._hold(message.session_id, message)
        elif isinstance(message, EndSession):
            ending = self._sessions.get(message.session_id)
            if ending is not None:
                self._spawn(ending._finish("ended by the other side", notify=False))
            else:
                self._hold(message.session_id, message)
        elif isinstance(message, SessionRequested):
            self._session_requested(message)
        elif isinstance(message, PeerStatusChanged):
            self._peer_status_changed(message)

    def _hold(self, session_id: str, message: ServerMessage) -> None:
        """Keep messages about a session not registered yet (bounded) for :meth:`_adopt`."""
        held = self._early.setdefault(session_id, [])
        if len(held) < _EARLY_MESSAGES:
            held.append(message)
        while len(self._early) > _EARLY_SESSIONS:
            self._early.popitem(last=False)

    def _adopt(self, session: RoleSession) -> None:
        """Register ``session`` and hand it what arrived before."""
        self._sessions[session.session_id] = session
        for message in self._early.pop(session.session_id, []):
            if isinstance(message, EndSession):
                self._spawn(session._finish("ended by the other side", notify=False))
            elif isinstance(message, PeerSdp | PeerIce):
                session._inbox.put_nowait(message)

    def _forget(self, session: RoleSession) -> None:
        if self._sessions.get(session.session_id) is session:
            del self._sessions[session.session_id]
            self._events.emit("session_ended", session)

    def _session_requested(self, message: SessionRequested) -> None:
        log.warning("ignoring a session request for %s: not a producer", message.session_id)

    def _peer_status_changed(self, message: PeerStatusChanged) -> None:
        pass


class Producer(_Role):
    """Serves media and a data channel to every consumer that starts a session with it.

    ``url``: the server's websocket URL. ``meta``: shown to consumers
    (``gstwebrtc-api`` labels a producer by ``meta["name"]``). ``sources``: called once per
    session, returns that session's :class:`~aiogstwebrtc.media.MediaSource` objects
    (None: no media). ``data_channel``: label of the channel offered to each consumer
    (None: none). ``chat_handler``: called with each message on it; what it returns is
    sent back (default :func:`echo_chat`; None: messages are only queued on the channel).
    ``max_sessions``: sessions served at once; more are refused with ``endSession``.
    ``negotiation_timeout``: seconds a consumer has to answer.
    Events: ``session`` (a new :class:`ProducerSession`), ``session_ended``, ``close``.
    """

    def __init__(
        self,
        url: str,
        *,
        meta: Meta | None = None,
        sources: SourceFactory | None = None,
        data_channel: str | None = "chat",
        chat_handler: ChatHandler | None = echo_chat,
        configuration: Configuration | None = None,
        token: str | None = None,
        max_sessions: int = 8,
        timeout: float = 10.0,
        negotiation_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            url,
            meta=meta,
            configuration=configuration,
            token=token,
            timeout=timeout,
            negotiation_timeout=negotiation_timeout,
        )
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._sources = sources
        self._data_channel = data_channel
        self._chat_handler = chat_handler
        self.max_sessions = max_sessions

    async def _register(self, client: SignallingClient) -> None:
        await client.set_peer_status([PeerRole.PRODUCER], self.meta)
        log.info("producer %s registered with %s", client.peer_id, self.url)

    def _session_requested(self, message: SessionRequested) -> None:
        if message.session_id in self._sessions:
            log.warning("duplicate session request %s ignored", message.session_id)
            return
        session = ProducerSession(self, message.session_id, message.peer_id)
        if len(self._sessions) >= self.max_sessions:
            log.warning(
                "refusing consumer %s: already serving %d sessions",
                message.peer_id,
                len(self._sessions),
            )
            self._spawn(session._finish("too many sessions", notify=True))
            return
        log.info("consumer %s started session %s", message.peer_id, message.session_id)
        self._adopt(session)
        offer = message.offer
        session._start(lambda: session._serve(self, offer))
        self._events.emit("session", session)


class Consumer(_Role):
    """Watches producers: starts sessions with them and answers their offers.

    It registers as a ``listener`` so that :attr:`producers` follows the producers on
    the server. ``negotiation_timeout``: seconds a producer has to send its offer.
    Events: ``producer_added`` / ``producer_removed`` (a :class:`PeerInfo`),
    ``session_ended``, ``close``.
    """

    def __init__(
        self,
        url: str,
        *,
        meta: Meta | None = None,
        configuration: Configuration | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        negotiation_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            url,
            meta=meta,
            configuration=configuration,
            token=token,
            timeout=timeout,
            negotiation_timeout=negotiation_timeout,
        )
        self._producers: dict[str, PeerInfo] = {}
        self._producers_changed = asyncio.Event()

    @property
    def producers(self) -> Mapping[str, PeerInfo]:
        """The producers on the server, by peer id (kept up to date)."""
        return MappingProxyType(self._producers)

    async def _register(self, client: SignallingClient) -> None:
        await client.set_peer_status([PeerRole.LISTENER], self.meta)
        for info in await client.list_producers():
            self._add_producer(info)

    def _add_producer(self, info: PeerInfo) -> None:
        if info.id == self.peer_id:
            return
        known = info.id in self._producers
        self._producers[info.id] = info
        self._producers_changed.set()
        if not known:
            self._events.emit("producer_added", info)

    def _peer_status_changed(self, message: PeerStatusChanged) -> None:
        if PeerRole.PRODUCER in message.roles:
            self._add_producer(PeerInfo(id=message.peer_id, meta=message.meta))
        else:
            gone = self._producers.pop(message.peer_id, None)
            if gone is not None:
                self._producers_changed.set()
                self._events.emit("producer_removed", gone)

    async def list_producers(self) -> list[PeerInfo]:
        """Ask the server for the producers now."""
        producers = await self._require_client().list_producers()
        for info in producers:
            self._add_producer(info)
        return producers

    async def wait_for_producer(
        self, name: str | None = None, *, timeout: float = 10.0
    ) -> PeerInfo:
        """The first producer whose ``meta["name"]`` is ``name`` (any producer if None)."""

        def match() -> PeerInfo | None:
            for info in self._producers.values():
                if name is None or (info.meta or {}).get("name") == name:
                    return info
            return None

        try:
            async with asyncio.timeout(timeout):
                while (found := match()) is None:
                    if self.closed:
                        raise SignallingClosedError("the consumer is closed")
                    self._producers_changed.clear()
                    await self._producers_changed.wait()
        except TimeoutError:
            what = "any producer" if name is None else f"producer {name!r}"
            raise OperationTimeoutError(
                f"{what} did not appear within {timeout:g} s",
                operation="wait_for_producer",
                state=f"{len(self._producers)} producer(s)",
            ) from None
        return found

    async def watch(self, producer_id: str) -> ConsumerSession:
        """Start a session with ``producer_id``; negotiation goes on in the background.

        Use the returned session's ``wait_track``, ``wait_channel``, ``wait_connected``.
        Raises :class:`~aiogstwebrtc.signalling.ServerError` when the server refuses
        (no such producer, too many sessions).
        """
        client = self._require_client()
        session_id = await client.start_session(producer_id)
        session = ConsumerSession(self, session_id, producer_id)
        session._make_pc()
        self._adopt(session)
        session._start(lambda: session._answer(self))
        self._events.emit("session", session)
        return session
