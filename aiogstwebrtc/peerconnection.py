"""``PeerConnection``: a webrtcbin in its own pipeline, driven from asyncio.

The public face. It starts and closes the peer and hands each call down to the part that
does it; every part works on one :class:`~aiogstwebrtc.pipeline.PeerPipeline`:

- :mod:`~aiogstwebrtc.pipeline`: the pipeline, webrtcbin and the GLib loop, start to release;
- :mod:`~aiogstwebrtc.negotiator`: descriptions and ICE candidates;
- :mod:`~aiogstwebrtc.channels`: data channels; :mod:`~aiogstwebrtc.media.peer`: tracks;
- :mod:`~aiogstwebrtc.states`: the states, their events and waiters;
- :mod:`~aiogstwebrtc.bridge`: webrtcbin's signals, from GStreamer's threads to asyncio;
- :mod:`~aiogstwebrtc.reactions`: what those signals, libnice and the liveness monitor change;
- :mod:`~aiogstwebrtc.exits`: started peers, stopped at interpreter exit if still open.

Every call into GStreamer runs on the GLib thread (:mod:`aiogstwebrtc.glibloop`); every
GStreamer signal comes back to the asyncio thread through ``call_soon_threadsafe``; every
operation is bounded by ``Configuration.operation_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from . import exits
from .bridge import EventBridge
from .channels import PeerChannels
from .config import Configuration
from .datachannel import DataChannel
from .errors import ClosedError, InvalidSDPError
from .events import EventEmitter
from .icerestart import require_ice_restart
from .media import RemoteTrack, RtpSender, Transceiver
from .media.peer import PeerMedia
from .media.sources import MediaSource
from .negotiator import Negotiator, as_description
from .pipeline import PeerPipeline
from .reactions import PeerReactions
from .sdp import IceCandidate, SessionDescription
from .states import PeerStates
from .stats import selected_pairs, stats_from_reply, with_selected_pairs
from .strategies import Strategy, get_strategy

__all__ = ["PeerConnection"]

log = logging.getLogger(__name__)

#: Started and not yet closed (the exit registry, :mod:`aiogstwebrtc.exits`).
_LIVE = exits.LIVE

_START_TIMEOUT = 10.0


class _PeerEvents(EventEmitter):
    _event_names = frozenset(
        {
            "icecandidate",
            "datachannel",
            "signalingstatechange",
            "connectionstatechange",
            "iceconnectionstatechange",
            "icegatheringstatechange",
            "negotiationneeded",
            "track",
            "error",
        }
    )


class PeerConnection:
    """An ``RTCPeerConnection`` on GStreamer's webrtcbin, for asyncio.

    Use ``async with PeerConnection(Configuration()) as pc:`` or call :meth:`close`.
    Events (``pc.on(name, handler)`` or ``@pc.on(name)``): ``icecandidate`` (an
    :class:`IceCandidate`, then ``None`` when gathering is complete), ``datachannel``,
    ``signalingstatechange``, ``connectionstatechange``, ``iceconnectionstatechange``,
    ``icegatheringstatechange``, ``negotiationneeded``. Handlers run on the asyncio thread;
    coroutine handlers are scheduled as tasks.
    """

    def __init__(
        self, configuration: Configuration | None = None, *, strategy: Strategy | None = None
    ) -> None:
        """Make a peer connection; nothing starts until the first operation or ``async with``.

        ``strategy`` overrides ``configuration.strategy`` with a
        :class:`~aiogstwebrtc.strategies.Strategy` instance (advanced; the doctor uses it).
        """
        self._config = configuration or Configuration()
        self._events = _PeerEvents()
        self._start_task: asyncio.Future[None] | None = None
        self._close_task: asyncio.Future[None] | None = None
        self._start_waiters = 0  # callers awaiting the start: the last one may cancel it
        pipeline = PeerPipeline(self._config, strategy or get_strategy(self._config.strategy))
        self._pipeline = pipeline
        self._states = PeerStates(self._events)
        self._channels = PeerChannels(pipeline, self._events)
        self._media = PeerMedia(pipeline, self._events)
        pipeline.add_part(self._channels)
        pipeline.add_part(self._media)
        self._negotiator = Negotiator(
            pipeline, self._states, self._channels, self._media, self._events
        )
        self._reactions = PeerReactions(
            self._config,
            pipeline,
            self._states,
            self._channels,
            self._media,
            self._negotiator,
            self._events,
        )
        self._ice = self._reactions.ice

    # --- context manager ---------------------------------------------------------------------

    async def __aenter__(self) -> PeerConnection:
        await self._ensure_started()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- properties --------------------------------------------------------------------------

    @property
    def configuration(self) -> Configuration:
        """The configuration this peer connection was made with."""
        return self._config

    @property
    def signaling_state(self) -> str:
        """``stable``, ``have-local-offer``, ``have-remote-offer``, ... or ``closed``."""
        return self._states.signaling_state

    @property
    def connection_state(self) -> str:
        """``new``, ``connecting``, ``connected``, ``disconnected``, ``failed`` or ``closed``."""
        return self._states.connection_state

    @property
    def ice_connection_state(self) -> str:
        """ICE's state: ``new``, ``checking``, ``connected``, ``disconnected``, ``failed``
        or ``closed``, read from libnice's components (webrtcbin 1.22 leaves its own at
        ``new``). When it becomes ``failed`` the connection fails too, an ``error`` event
        names the candidates each side offered, and the data channels close with that
        error.
        """
        return self._states.ice_connection_state

    @property
    def ice_gathering_state(self) -> str:
        """``new``, ``gathering`` or ``complete``."""
        return self._states.ice_gathering_state

    @property
    def local_description(self) -> SessionDescription | None:
        """The local description with the candidates gathered so far (as in browsers)."""
        return self._negotiator.local_description

    @property
    def remote_description(self) -> SessionDescription | None:
        """The remote description, with the remote candidates added since."""
        return self._negotiator.remote_description

    @property
    def data_channels(self) -> list[DataChannel]:
        """The data channels of this connection, local and remote, that are not closed."""
        return self._channels.open_channels

    @property
    def transceivers(self) -> list[Transceiver]:
        """The transceivers added locally (by :meth:`add_track` or :meth:`add_transceiver`)."""
        return self._media.transceivers

    @property
    def tracks(self) -> list[RemoteTrack]:
        """The remote tracks received so far."""
        return self._media.tracks

    def get_transceivers(self) -> list[Transceiver]:
        """aiortc's ``getTransceivers()``: :attr:`transceivers` (those added locally)."""
        return self._media.transceivers

    def get_senders(self) -> list[RtpSender]:
        """aiortc's ``getSenders()``: every :meth:`add_track` sender, removed ones included."""
        return self._media.senders

    def get_receivers(self) -> list[RemoteTrack]:
        """aiortc's ``getReceivers()``: the remote tracks (each is its receiver's ``track``)."""
        return self._media.tracks

    # --- events ------------------------------------------------------------------------------

    def on(self, event: str, handler: Any = None) -> Any:
        """Register an event handler; ``@pc.on("datachannel")`` works as a decorator."""
        return self._events.on(event, handler)

    def off(self, event: str, handler: Any) -> None:
        """Remove an event handler."""
        self._events.off(event, handler)

    # --- offer / answer ----------------------------------------------------------------------

    async def create_offer(self) -> SessionDescription:
        """Create an SDP offer for the current channels and transceivers."""
        await self._ensure_started()
        return await self._negotiator.create_offer()

    async def create_answer(self) -> SessionDescription:
        """Create an SDP answer to the remote offer."""
        await self._ensure_started()
        return await self._negotiator.create_answer()

    async def set_local_description(
        self, description: SessionDescription | Mapping[str, Any] | None = None
    ) -> None:
        """Apply a local offer or answer (created now when ``description`` is None)."""
        await self._ensure_started()
        await self._negotiator.set_local_description(description)

    async def set_remote_description(
        self, description: SessionDescription | Mapping[str, Any]
    ) -> None:
        """Apply the remote offer or answer, then the ICE candidates queued before it."""
        await self._ensure_started()
        await self._negotiator.set_remote_description(description)

    async def handle_offer(
        self, offer: SessionDescription | Mapping[str, Any]
    ) -> SessionDescription:
        """The seed's one-call answerer: set the remote offer, create and set the answer."""
        offer = as_description(offer)
        if offer.type != "offer":
            raise InvalidSDPError(f"handle_offer needs an offer, not an {offer.type}")
        await self.set_remote_description(offer)
        answer = await self.create_answer()
        await self.set_local_description(answer)
        return answer

    # --- ICE ---------------------------------------------------------------------------------

    async def add_ice_candidate(self, candidate: IceCandidate | Mapping[str, Any] | None) -> None:
        """Add a remote ICE candidate; before the remote description it is queued.

        ``None`` or an empty candidate marks the end of the remote candidates. A malformed
        candidate or one for an m-line the remote description lacks raises
        :class:`InvalidSDPError`.
        """
        if candidate is None:
            return
        if not isinstance(candidate, IceCandidate):
            candidate = IceCandidate.from_dict(candidate)
        if candidate.is_end_of_candidates:
            return
        await self._ensure_started()
        await self._negotiator.add_remote_candidate(candidate)

    async def restart_ice(self) -> None:
        """Restart ICE like the browser's ``restartIce()``: the next offer carries new ICE
        credentials and its answer restarts libnice's checks (see docs/nat.md "ICE restart").

        In ``stable`` state with a negotiated session a ``negotiationneeded`` event follows;
        otherwise the offer made after the current negotiation restarts. Channels and tracks
        stay as they are. Raises :class:`ClosedError` once closed and
        :class:`MissingComponentError` when libnice cannot be reached.
        """
        if self._pipeline.closed:
            raise ClosedError("the peer connection is closed")
        require_ice_restart()
        if self._negotiator.request_ice_restart():
            asyncio.get_running_loop().call_soon(self._reactions.emit_restart_negotiation)

    async def wait_for_ice_gathering_complete(self, timeout: float | None = None) -> None:
        """Wait until every local candidate is gathered (for non-trickle signalling)."""
        states = self._states
        await self._wait_for(
            lambda: states.ice_gathering_state == "complete",
            lambda: None,
            timeout,
            "ICE gathering to complete",
            lambda: f"ice-gathering-state {states.ice_gathering_state}",
        )

    async def wait_for_connection_state(self, state: str, timeout: float | None = None) -> None:
        """Wait until :attr:`connection_state` is ``state``.

        Raises :class:`WebRTCError` if the connection fails or closes first, and
        :class:`OperationTimeoutError` after ``timeout`` seconds (default: the operation
        timeout).
        """
        valid = ("new", "connecting", "connected", "disconnected", "failed", "closed")
        if state not in valid:
            raise ValueError(f"state must be one of {valid}")
        states = self._states

        def failure() -> str | None:
            current = states.connection_state
            if current != state and current in ("failed", "closed"):
                reason = f": {self._ice.failure}" if self._ice.failure else ""
                return f"connection {current} while waiting for {state!r}{reason}"
            return None

        await self._wait_for(
            lambda: states.connection_state == state,
            failure,
            timeout,
            f"connection state {state!r}",
            lambda: f"connection-state {states.connection_state}",
        )

    async def _wait_for(
        self,
        predicate: Callable[[], bool],
        failure: Callable[[], str | None],
        timeout: float | None,
        what: str,
        state: Callable[[], str],
    ) -> None:
        await self._ensure_started()
        await self._states.wait_for(
            self._pipeline.require_loop(),
            predicate,
            failure,
            self._config.operation_timeout if timeout is None else timeout,
            what,
            state,
        )

    # --- data channels and media -------------------------------------------------------------

    async def create_data_channel(
        self,
        label: str,
        *,
        ordered: bool = True,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
        protocol: str = "",
        negotiated: bool = False,
        id: int | None = None,
        receive_cap: int | None = None,
    ) -> DataChannel:
        """Create a data channel (as ``RTCPeerConnection.createDataChannel``).

        ``receive_cap``: bytes kept unread before the channel closes with an error (default:
        the configuration's ``data_channel_receive_cap``).
        """
        options = self._channels.options(
            label,
            ordered=ordered,
            max_retransmits=max_retransmits,
            max_packet_lifetime=max_packet_lifetime,
            protocol=protocol,
            negotiated=negotiated,
            id=id,
            receive_cap=receive_cap,
        )
        await self._ensure_started()
        await self._channels.ensure_keepalive_channel()
        return await self._channels.create(label, options, id, receive_cap)

    async def add_track(self, source: MediaSource) -> RtpSender:
        """Send ``source`` (a :class:`VideoSource`, :class:`AudioSource` or a
        :class:`~aiogstwebrtc.media.Broadcast`'s track) to the peer.

        On a connected peer this fires ``negotiationneeded``: renegotiate to bring it up.
        """
        self._media.check_source(source)
        await self._ensure_started()
        remote = self._negotiator.remote
        pending = remote if self.signaling_state == "have-remote-offer" else None
        return await self._media.add_track(source, pending)

    async def add_transceiver(self, kind: str, direction: str = "sendrecv") -> Transceiver:
        """Add an m-line of ``kind`` (``audio``/``video``) in ``direction`` without a source.

        ``recvonly`` asks the remote peer to send us that kind of media.
        """
        self._media.check_transceiver(kind, direction)
        await self._ensure_started()
        return await self._media.add_transceiver(kind, direction)

    async def remove_track(self, sender: RtpSender) -> None:
        """Stop sending ``sender``'s source; its m-line becomes ``recvonly``.

        Fires ``negotiationneeded``: renegotiate to tell the peer.
        """
        if not self._media.is_sending(sender):
            return
        await self._ensure_started()
        await self._media.remove_track(sender)

    # --- stats and direct access -------------------------------------------------------------

    async def get_stats(self) -> dict[str, dict[str, Any]]:
        """webrtcbin's statistics: ``{id: {"type": ..., ...}}`` as plain Python values.

        The selected ``candidate-pair`` of each ICE transport is there (``selected`` true)
        with its ``local-candidate`` and ``remote-candidate``: ``candidate-type`` says
        whether the call goes directly (host, srflx, prflx) or through a TURN server
        (relay, with ``relay-protocol`` udp, tcp or tls).
        """
        await self._ensure_started()
        result: dict[str, dict[str, Any]] = await self._pipeline.run(
            "get-stats", (None,), stats_from_reply, lambda: self._states.signaling_state
        )
        webrtc = self._pipeline.require_webrtc()
        relays = {protocol for protocol, _ in self._pipeline.config.ice_plan().relays}
        pairs = await self._pipeline.call(selected_pairs, webrtc, relays)
        return with_selected_pairs(result, pairs)

    async def run_in_glib(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(pipeline, webrtcbin, *args)`` on the GLib thread and return its result.

        For direct GStreamer access (extra elements, properties) without breaking the
        threading rule.
        """
        await self._ensure_started()
        pipeline = self._pipeline
        return await pipeline.require_glib().call(fn, pipeline.pipeline, pipeline.webrtc, *args)

    # --- start and close ---------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._pipeline.closed:
            raise ClosedError("the peer connection is closed")
        if self._start_task is None:
            self._start_task = asyncio.ensure_future(self._start())
        start = self._start_task
        self._start_waiters += 1
        try:
            await asyncio.shield(start)
        except asyncio.CancelledError:
            if not start.done() and self._start_waiters == 1:
                # The last caller waiting gave up: stop starting, and release what the start
                # took (bounded) before the cancellation goes on.
                start.cancel()
                await asyncio.wait({start})
            raise
        finally:
            self._start_waiters -= 1
        if self._pipeline.closed:
            raise ClosedError("the peer connection is closed")

    async def _start(self) -> None:
        try:
            exits.add(self)
            self._pipeline.acquire()
            # Held only by the handlers it connects (until teardown): no cycle through the peer.
            bridge = EventBridge(
                self._pipeline, self._negotiator, self._channels, self._media, self._reactions
            )
            await self._pipeline.start(bridge.wire, self._reactions.on_liveness)
            if self._config.init_data_channel:
                await self._channels.create(
                    "control", "application/data-channel, ordered=(boolean)true"
                )
        except BaseException as exc:  # failed or cancelled: closed, nothing held
            log.debug("peer connection start failed: %r", exc)
            if self._close_task is None:  # (else close() is under way and waits for this)
                self._close_task = asyncio.ensure_future(self._close(wait_for_start=False))
                await asyncio.shield(self._close_task)
            raise

    async def close(self) -> None:
        """Close the connection: pending operations fail with :class:`ClosedError`.

        Never hangs (bounded), safe to call twice, disconnects every GStreamer handler and
        forgets every event handler.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        elif self._close_task.cancelled():  # the closing was cancelled, after it released all
            return
        await asyncio.shield(self._close_task)

    async def _close(self, *, wait_for_start: bool = True) -> None:
        promises = self._pipeline.begin_close()
        self._states.fail_waiters(ClosedError("the peer connection was closed"))
        start = self._start_task
        try:
            if wait_for_start and start is not None and not start.done():
                # Bounded; the start's outcome is its callers' (nothing to catch here).
                await asyncio.wait({start}, timeout=_START_TIMEOUT)
        finally:  # cancelled too: the pipeline still stops (bounded), then it propagates
            try:
                await self._pipeline.close(promises)
            finally:
                self._channels.close_all(None)
                self._media.end_tracks(all_built=True)
                self._ice.close()
                await self._negotiator.local_names.close()
                self._states.close()
                self._events.remove_all_listeners()
                exits.discard(self)

    def _stop_now(self) -> None:
        """Synchronous last-resort stop (interpreter exit): no asyncio loop is involved."""
        self._pipeline.stop_now()

    def __repr__(self) -> str:
        return (
            f"<PeerConnection signaling={self._states.signaling_state} "
            f"connection={self._states.connection_state}>"
        )
