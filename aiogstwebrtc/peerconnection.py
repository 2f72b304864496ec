"""``PeerConnection``: a webrtcbin in its own pipeline, driven from asyncio.

Every call into GStreamer runs on the GLib thread (:mod:`aiogstwebrtc.glibloop`); every
GStreamer signal comes back to the asyncio thread through ``call_soon_threadsafe``; every
operation is bounded by ``Configuration.operation_timeout``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from .certificate import Certificate, process_certificate, with_fingerprint
from .config import Configuration, check_receive_cap
from .datachannel import DataChannel
from .errors import ClosedError, InvalidSDPError, InvalidStateError, WebRTCError
from .events import EventEmitter
from .glibloop import GLibLoop, acquire_glib_loop, resolve_future
from .gst import (
    FAST_ICE_PACING_LIMIT,
    FAST_ICE_PACING_MS,
    GObject,
    Gst,
    SctpAssociationIds,
    configure_ice_agent,
    ensure_init,
    make_element,
    sink_pads,
)
from .health import KEEPALIVE_CHANNEL_ID, LivenessMonitor
from .media import RemoteTrack, RtpSender, Transceiver
from .media.peer import PeerMedia
from .memory import limit_arenas, trim_free_memory
from .negotiation import (
    BUNDLE_POLICIES,
    ICE_TRANSPORT_POLICIES,
    LOCAL_ALLOWED,
    REMOTE_ALLOWED,
    description_extractor,
    no_reply,
    to_gst_description,
)
from .promises import (
    PendingPromises,
    PromiseOperation,
    ReplyError,
    bounded_wait,
    mark_gstreamer_callback,
    translate_reply_error,
)
from .remote_checks import check_remote_description
from .sdp import IceCandidate, SessionDescription, with_candidates
from .stats import stats_from_reply
from .strategies import Strategy, get_strategy
from .tracing import trace

__all__ = ["PeerConnection"]

log = logging.getLogger(__name__)

_STATE_PROPERTIES = {
    "signaling-state": ("_signaling_state", "signalingstatechange"),
    "connection-state": ("_connection_state", "connectionstatechange"),
    "ice-connection-state": ("_ice_connection_state", "iceconnectionstatechange"),
    "ice-gathering-state": ("_ice_gathering_state", "icegatheringstatechange"),
}
# Started and not yet closed. Held strongly: a PLAYING pipeline must never be freed by the
# garbage collector, and whatever is still open when the interpreter exits is stopped first.
_LIVE: set[PeerConnection] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_live_peers_at_exit() -> None:
    """Stop the pipelines of peers nobody closed, before the interpreter tears down.

    Without this a GStreamer thread can call into a half-finalised interpreter and crash it.
    """
    with _LIVE_LOCK:
        peers = list(_LIVE)
        _LIVE.clear()
    for peer in peers:
        peer._stop_now()


_START_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0
_THREAD_END_TIMEOUT = 1.0  # then the GLib thread is left to end on its own


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


#: What gstsctpenc says when the association is gone under it: "... went into error state"
#: when the remote aborts or shuts it down, "Failed to send data" when a message was on its
#: way at that moment (usrsctp refuses it: 1 session in ~200 of an aiortc peer closing).
_SCTP_ASSOCIATION_END = ("association went into error state", "Failed to send data")


def _is_sctp_association_end(message: Gst.Message, debug: str | None) -> bool:
    """True for sctpenc's errors when the remote aborts or shuts down the association.

    Either comes whenever a remote peer leaves (a browser tab closing, a killed process):
    an expected end, not a pipeline fault.
    """
    source = message.src
    factory = source.get_factory() if isinstance(source, Gst.Element) else None
    return (
        factory is not None
        and factory.get_name() == "sctpenc"
        and any(text in (debug or "") for text in _SCTP_ASSOCIATION_END)
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class PeerConnection(PeerMedia):
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
        self._strategy = strategy or get_strategy(self._config.strategy)
        self._events = _PeerEvents()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._glib: GLibLoop | None = None
        self._pipeline: Gst.Pipeline | None = None
        self._webrtc: Gst.Element | None = None
        self._start_task: asyncio.Future[None] | None = None
        self._close_task: asyncio.Future[None] | None = None
        self._closed = False
        self._pending = PendingPromises()
        self._signaling_state = "stable"
        self._connection_state = "new"
        self._ice_connection_state = "new"
        self._ice_gathering_state = "new"
        self._local_description: SessionDescription | None = None
        self._remote_description: SessionDescription | None = None
        self._local_candidates: list[IceCandidate] = []
        self._remote_candidates: list[IceCandidate] = []
        self._queued_candidates: list[IceCandidate] = []
        self._end_of_candidates_sent = False
        self._channels: list[DataChannel] = []
        self._remote_channels_built: list[DataChannel] = []  # appended on GStreamer threads
        self._negotiable = 0
        self._waiters: list[
            tuple[Callable[[], bool], Callable[[], str | None], asyncio.Future[None]]
        ] = []
        self._handler_ids: list[tuple[GObject.Object, int]] = []
        self._sctp_association_id: int | None = None
        self._sctp_encoders: list[Gst.Element] = []
        self._sctp_transport_exists = False
        self._certificate: Certificate | None = None
        self._liveness: LivenessMonitor | None = None
        self._keepalive_channel_made = False
        self._webrtcbin_connection_state = "new"
        self._transceivers: list[Transceiver] = []
        self._senders: list[RtpSender] = []
        self._tracks: list[RemoteTrack] = []
        self._tracks_built: list[RemoteTrack] = []  # appended on GStreamer threads

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
        return self._signaling_state

    @property
    def connection_state(self) -> str:
        """``new``, ``connecting``, ``connected``, ``disconnected``, ``failed`` or ``closed``."""
        return self._connection_state

    @property
    def ice_connection_state(self) -> str:
        """ICE's state: ``new``, ``checking``, ``connected``, ``completed``, ``failed``, ...

        webrtcbin 1.22 leaves it at ``new`` in data-channel-only sessions: use
        :attr:`connection_state` there.
        """
        return self._ice_connection_state

    @property
    def ice_gathering_state(self) -> str:
        """``new``, ``gathering`` or ``complete``."""
        return self._ice_gathering_state

    @property
    def local_description(self) -> SessionDescription | None:
        """The local description with the candidates gathered so far (as in browsers)."""
        description = self._local_description
        if description is None:
            return None
        complete = self._ice_gathering_state == "complete"
        sdp = with_candidates(description.sdp, self._local_candidates, complete)
        return SessionDescription(description.type, sdp)

    @property
    def remote_description(self) -> SessionDescription | None:
        """The remote description, with the remote candidates added since."""
        description = self._remote_description
        if description is None:
            return None
        sdp = with_candidates(description.sdp, self._remote_candidates, False)
        return SessionDescription(description.type, sdp)

    @property
    def data_channels(self) -> list[DataChannel]:
        """The data channels of this connection, local and remote, that are not closed."""
        return [channel for channel in self._channels if channel.ready_state != "closed"]

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
        self._require_state("create_offer", ("stable", "have-local-offer"))
        webrtc = self._require_webrtc()
        sdp = await self._run(
            "create-offer",
            lambda promise: webrtc.emit("create-offer", None, promise),
            description_extractor("offer"),
        )
        return SessionDescription("offer", self._own_fingerprint(sdp))

    async def create_answer(self) -> SessionDescription:
        """Create an SDP answer to the remote offer."""
        await self._ensure_started()
        self._require_state("create_answer", ("have-remote-offer", "have-local-pranswer"))
        webrtc = self._require_webrtc()
        sdp = await self._run(
            "create-answer",
            lambda promise: webrtc.emit("create-answer", None, promise),
            description_extractor("answer"),
        )
        return SessionDescription("answer", self._own_fingerprint(sdp))

    async def set_local_description(
        self, description: SessionDescription | Mapping[str, Any] | None = None
    ) -> None:
        """Apply a local offer or answer (created now when ``description`` is None)."""
        await self._ensure_started()
        if description is None:
            if self._signaling_state in ("have-remote-offer", "have-local-pranswer"):
                description = await self.create_answer()
            else:
                description = await self.create_offer()
        description = self._as_description(description)
        self._require_state(
            f"set_local_description({description.type})", LOCAL_ALLOWED[description.type]
        )
        webrtc = self._require_webrtc()
        gst_description = to_gst_description(description)
        await self._run(
            "set-local-description",
            lambda promise: webrtc.emit("set-local-description", gst_description, promise),
            no_reply,
        )
        self._local_description = description if description.type != "rollback" else None
        self._note_sctp(description)
        if self._transceivers:
            await self._require_glib().call(self._refresh_transceivers)

    async def set_remote_description(
        self, description: SessionDescription | Mapping[str, Any]
    ) -> None:
        """Apply the remote offer or answer, then the ICE candidates queued before it."""
        await self._ensure_started()
        description = self._as_description(description)
        self._require_state(
            f"set_remote_description({description.type})", REMOTE_ALLOWED[description.type]
        )
        if description.type in ("offer", "answer", "pranswer") and not description.media:
            raise InvalidSDPError("the remote description has no media sections")
        check_remote_description(description)
        webrtc = self._require_webrtc()
        if any(section.kind == "application" for section in description.media):
            await self._ensure_keepalive_channel()
        gst_description = to_gst_description(description)
        await self._run(
            "set-remote-description",
            lambda promise: webrtc.emit("set-remote-description", gst_description, promise),
            no_reply,
        )
        if description.type == "rollback":
            self._remote_description = None
            return
        self._remote_description = description
        self._note_sctp(description)
        await self._after_remote_description(description)
        queued, self._queued_candidates = self._queued_candidates, []
        for candidate in queued:
            try:
                await self._apply_candidate(candidate)
            except InvalidSDPError as exc:
                log.warning("dropped a remote ICE candidate queued early: %s", exc)

    async def handle_offer(
        self, offer: SessionDescription | Mapping[str, Any]
    ) -> SessionDescription:
        """The seed's one-call answerer: set the remote offer, create and set the answer."""
        offer = self._as_description(offer)
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
        if self._remote_description is None:
            self._queued_candidates.append(candidate)
            return
        await self._apply_candidate(candidate)

    async def _apply_candidate(self, candidate: IceCandidate) -> None:
        assert self._remote_description is not None
        sections = self._remote_description.media
        index = candidate.sdp_mline_index
        if candidate.sdp_mid is not None:
            by_mid = [section.index for section in sections if section.mid == candidate.sdp_mid]
            if by_mid:
                index = by_mid[0]
            elif index is None:
                raise InvalidSDPError(f"ICE candidate for unknown sdpMid {candidate.sdp_mid!r}")
        if index is None or index >= len(sections):
            raise InvalidSDPError(
                f"ICE candidate for m-line {index}, but the remote description has "
                f"{len(sections)} m-line(s)"
            )
        webrtc = self._require_webrtc()
        glib = self._require_glib()
        await glib.call(webrtc.emit, "add-ice-candidate", index, candidate.candidate)
        self._remote_candidates.append(candidate)

    async def wait_for_ice_gathering_complete(self, timeout: float | None = None) -> None:
        """Wait until every local candidate is gathered (for non-trickle signalling)."""
        await self._wait_for(
            lambda: self._ice_gathering_state == "complete",
            lambda: None,
            timeout,
            "ICE gathering to complete",
            lambda: f"ice-gathering-state {self._ice_gathering_state}",
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

        def failure() -> str | None:
            current = self._connection_state
            if current != state and current in ("failed", "closed"):
                return f"connection {current} while waiting for {state!r}"
            return None

        await self._wait_for(
            lambda: self._connection_state == state,
            failure,
            timeout,
            f"connection state {state!r}",
            lambda: f"connection-state {self._connection_state}",
        )

    # --- data channels -----------------------------------------------------------------------

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
        if receive_cap is not None:
            check_receive_cap(receive_cap, "receive_cap")
        if not isinstance(label, str) or len(label.encode()) > 65535:
            raise ValueError("label must be a string of at most 65535 bytes")
        if max_retransmits is not None and max_packet_lifetime is not None:
            raise ValueError("give max_retransmits or max_packet_lifetime, not both")
        if negotiated and id is None:
            raise ValueError("a negotiated channel needs an id")
        if id is not None and not 0 <= id <= 65534:
            raise ValueError("id must be between 0 and 65534")
        fields = [f"ordered=(boolean){'true' if ordered else 'false'}"]
        if max_retransmits is not None:
            fields.append(f"max-retransmits=(int){int(max_retransmits)}")
        if max_packet_lifetime is not None:
            fields.append(f"max-packet-lifetime=(int){int(max_packet_lifetime)}")
        if protocol:
            fields.append(f"protocol=(string){_quote(protocol)}")
        if negotiated:
            fields.append("negotiated=(boolean)true")
        if id is not None:
            fields.append(f"id=(int){int(id)}")
        if id == KEEPALIVE_CHANNEL_ID and self._config.dead_peer_timeout is not None:
            raise ValueError(
                f"channel id {KEEPALIVE_CHANNEL_ID} is reserved for the dead-peer keepalive "
                "(Configuration(dead_peer_timeout=None) frees it)"
            )
        await self._ensure_started()
        await self._ensure_keepalive_channel()
        return await self._create_channel(
            label, "application/data-channel, " + ", ".join(fields), id, receive_cap
        )

    async def _create_channel(
        self,
        label: str,
        options_text: str,
        stream_id: int | None = None,
        receive_cap: int | None = None,
    ) -> DataChannel:
        webrtc = self._require_webrtc()
        glib = self._require_glib()
        loop = self._require_loop()

        if stream_id is not None and stream_id > 0 and self._sctp_transport_exists:
            # webrtcbin 1.22 keeps the SCTP transport's max-channels at 0 once it exists and
            # refuses any higher id with a CRITICAL. (Reading its sctp-transport property from
            # Python to check is not safe either: it breaks the transport's reference count.)
            raise ValueError(
                f"webrtcbin cannot add negotiated channel id {stream_id} to a session whose "
                "SCTP transport exists: create negotiated channels before the first offer/answer"
            )

        def create() -> DataChannel | None:
            options = Gst.Structure.from_string(options_text)[0]
            channel = webrtc.emit("create-data-channel", label, options)
            cap = receive_cap or self._config.data_channel_receive_cap
            return None if channel is None else DataChannel(channel, loop, glib, cap)

        self._negotiable += 1
        channel = await glib.call(create)
        if channel is None:
            self._negotiable -= 1
            raise WebRTCError(f"webrtcbin refused to create data channel {label!r}")
        self._channels.append(channel)
        return channel

    # --- stats -------------------------------------------------------------------------------

    async def get_stats(self) -> dict[str, dict[str, Any]]:
        """webrtcbin's statistics: ``{id: {"type": ..., ...}}`` as plain Python values."""
        await self._ensure_started()
        webrtc = self._require_webrtc()
        result: dict[str, dict[str, Any]] = await self._run(
            "get-stats", lambda promise: webrtc.emit("get-stats", None, promise), stats_from_reply
        )
        return result

    # --- closing -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection: pending operations fail with :class:`ClosedError`.

        Never hangs (bounded), safe to call twice, disconnects every GStreamer handler and
        forgets every event handler.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        self._closed = True
        if self._liveness is not None:
            self._liveness.stop()
        promises = self._pending.fail_all(
            lambda operation: ClosedError(f"{operation} aborted: the peer connection was closed")
        )
        closed = ClosedError("the peer connection was closed")
        for _predicate, _failure, waiter in self._waiters:
            resolve_future(waiter, error=closed)
            if waiter.done() and not waiter.cancelled():
                waiter.exception()
        self._waiters.clear()
        if self._start_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._start_task), _START_TIMEOUT)
            except BaseException:
                log.debug("peer connection closed while it was starting")
        await self._stop_pipeline(promises)
        if self._sctp_association_id is not None:
            SctpAssociationIds.release(self._sctp_association_id)
            self._sctp_association_id = None
        for channel in self._channels:
            channel._on_closed(None)
        for track in self._tracks_built:
            track._end()
        self._signaling_state = "closed"
        self._connection_state = "closed"
        self._ice_connection_state = "closed"
        self._events.remove_all_listeners()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    async def _stop_pipeline(self, promises: list[Gst.Promise]) -> None:
        """Tear down on the GLib thread (bounded) and give the thread back, never blocking."""
        glib, self._glib = self._glib, None
        if glib is None:
            return
        try:
            await asyncio.wait_for(glib.call(self._teardown, promises), _CLOSE_TIMEOUT)
        except TimeoutError:
            log.error("webrtcbin did not stop within %s s; abandoning it", _CLOSE_TIMEOUT)
            glib.abandon()
        if glib.release():
            await glib.wait_stopped(_THREAD_END_TIMEOUT)

    def _stop_now(self) -> None:
        """Synchronous last-resort stop (interpreter exit): no asyncio loop is involved."""
        if self._closed:
            return
        self._closed = True
        if self._liveness is not None:
            try:
                self._liveness.stop()
            except Exception:  # the pipeline must still stop
                log.exception("stopping the liveness monitor at exit failed")
        glib = self._glib
        if glib is None:
            return
        promises = [promise for _operation, promise in self._pending.promises()]
        try:
            glib.call_sync(self._teardown, promises, timeout=_CLOSE_TIMEOUT)
        except Exception:
            log.exception("stopping a peer connection at exit failed")

    def _teardown(self, promises: list[Gst.Promise]) -> None:
        """GLib thread: interrupt promises, detach handlers, flush SCTP, stop the pipeline."""
        for promise in promises:
            promise.interrupt()
        for channel in self._channels_built():
            channel._detach()
        for track in self._tracks_built:
            track._detach()
        for sender in self._senders:
            source_detach = getattr(sender.source, "_detach", None)
            if source_detach is not None:
                source_detach()
        for gst_object, handler_id in self._handler_ids:
            if gst_object.handler_is_connected(handler_id):
                gst_object.disconnect(handler_id)
        self._handler_ids.clear()
        # A data-channel backlog makes sctpenc hold its stream lock waiting for space, and
        # set_state(NULL) then waits forever: flush it first.
        for encoder in self._sctp_encoders:
            for pad in sink_pads(encoder):
                pad.send_event(Gst.Event.new_flush_start())
        self._sctp_encoders.clear()
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.get_bus().disable_sync_message_emission()
            if pipeline.set_state(Gst.State.NULL) == Gst.StateChangeReturn.FAILURE:
                log.warning("the webrtcbin pipeline refused to stop")
        del pipeline
        self._release_gstreamer_objects()  # the last reference: GStreamer frees it here
        trim_free_memory()

    def _channels_built(self) -> list[DataChannel]:
        """Every channel wrapped so far, local or remote, posted to asyncio or not."""
        channels = list(self._channels)
        channels += [c for c in list(self._remote_channels_built) if c not in channels]
        return channels

    def _release_gstreamer_objects(self) -> None:
        """GLib thread, the pipeline NULL: drop every Python reference to its objects.

        The pipeline's last reference then goes with ``self._pipeline`` and GStreamer frees
        it here, closing libnice's sockets: a wrapper kept by a sender, a transceiver or a
        probe would keep the transceiver -> transport -> ICE stream -> sockets alive until
        the cyclic garbage collector got to it (issue 17: 1 session in 4, for minutes).
        """
        if self._liveness is not None:
            self._liveness.detach()
        for sender in self._senders:
            sender._release()
        for transceiver in self._transceivers:
            transceiver._release()
        self._sctp_encoders.clear()
        self._pipeline = None
        self._webrtc = None

    # --- advanced ----------------------------------------------------------------------------

    async def run_in_glib(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(pipeline, webrtcbin, *args)`` on the GLib thread and return its result.

        For direct GStreamer access (extra elements, properties) without breaking the
        threading rule.
        """
        await self._ensure_started()
        glib = self._require_glib()
        return await glib.call(fn, self._pipeline, self._webrtc, *args)

    # --- internals: start-up -----------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._closed:
            raise ClosedError("the peer connection is closed")
        if self._start_task is None:
            self._start_task = asyncio.ensure_future(self._start())
        await asyncio.shield(self._start_task)
        if self._closed:
            raise ClosedError("the peer connection is closed")

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._strategy.check_loop(loop)
        limit_arenas()  # before GStreamer's threads allocate (issue 17)
        ensure_init()
        self._loop = loop
        self._glib = acquire_glib_loop(loop)
        self._sctp_association_id = SctpAssociationIds.acquire()
        with _LIVE_LOCK:
            _LIVE.add(self)
        if self._config.certificate == "ecdsa":
            self._certificate = process_certificate(self._config.certificate_validity)
        if self._config.dead_peer_timeout is not None:
            self._liveness = LivenessMonitor(
                self._config.dead_peer_timeout, self._glib, self._on_liveness
            )
        try:
            await asyncio.wait_for(self._glib.call(self._build), _START_TIMEOUT)
        except BaseException:
            await self._stop_pipeline([])
            raise
        if self._config.init_data_channel:
            await self._create_channel("control", "application/data-channel, ordered=(boolean)true")

    def _build(self) -> None:
        """GLib thread: make the pipeline and webrtcbin, connect signals, go to PLAYING."""
        config = self._config
        pipeline = Gst.Pipeline.new(None)
        webrtc = make_element("webrtcbin")
        webrtc.set_property("bundle-policy", BUNDLE_POLICIES[config.bundle_policy])
        webrtc.set_property(
            "ice-transport-policy", ICE_TRANSPORT_POLICIES[config.ice_transport_policy]
        )
        stun, turns = config.stun_and_turn()
        if stun:
            webrtc.set_property("stun-server", stun)
        for turn in turns:
            webrtc.emit("add-turn-server", turn)
        pipeline.add(webrtc)
        self._pipeline = pipeline
        self._webrtc = webrtc
        pacing = FAST_ICE_PACING_MS if SctpAssociationIds.live() <= FAST_ICE_PACING_LIMIT else None
        configure_ice_agent(
            webrtc, list(config.local_addresses or []), ice_tcp=config.ice_tcp, pacing_ms=pacing
        )
        connect = self._connect
        connect(webrtc, "on-negotiation-needed", self._gst_on_negotiation_needed)
        connect(webrtc, "on-ice-candidate", self._gst_on_ice_candidate)
        connect(webrtc, "on-data-channel", self._gst_on_data_channel)
        connect(webrtc, "deep-element-added", self._gst_on_element_added)
        connect(webrtc, "pad-added", self._gst_on_pad_added)
        for name in _STATE_PROPERTIES:
            connect(webrtc, f"notify::{name}", self._gst_on_state)
        # Bus messages are read on the thread that posts them: no GLib loop needed. (A bus
        # sync handler set from Python keeps the pipeline alive after it is unset.)
        bus = pipeline.get_bus()
        bus.enable_sync_message_emission()
        # Only the messages the handler uses reach Python (filtered in C by the detail):
        # with all of them, a pair made 333 GIL-taking calls instead of 94.
        for detail in ("error", "warning", "latency"):
            connect(bus, f"sync-message::{detail}", self._gst_on_bus_message)
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise WebRTCError("the webrtcbin pipeline failed to start")
        change, state, _pending = pipeline.get_state(int(_START_TIMEOUT * Gst.SECOND))
        if state != Gst.State.PLAYING:
            raise WebRTCError(f"the webrtcbin pipeline did not reach PLAYING ({change.value_nick})")
        trace("webrtcbin pipeline PLAYING")

    def _connect(
        self, gst_object: GObject.Object, signal: str, handler: Callable[..., Any]
    ) -> None:
        self._handler_ids.append(
            (gst_object, gst_object.connect(signal, mark_gstreamer_callback(handler)))
        )

    # --- internals: running operations -------------------------------------------------------

    async def _run(
        self,
        name: str,
        emit: Callable[[Gst.Promise], None],
        extract: Callable[[Gst.Structure | None], Any],
    ) -> Any:
        glib = self._require_glib()
        timeout = self._config.operation_timeout
        future = self._strategy.start(
            PromiseOperation(name, emit, extract), glib, self._pending, timeout
        )
        try:
            return await bounded_wait(future, timeout, name, lambda: self._signaling_state)
        except ReplyError as exc:
            if self._closed:
                raise ClosedError(f"{name} aborted: the peer connection was closed") from None
            raise translate_reply_error(exc, name, self._signaling_state) from None

    async def _wait_for(
        self,
        predicate: Callable[[], bool],
        failure: Callable[[], str | None],
        timeout: float | None,
        what: str,
        state: Callable[[], str],
    ) -> None:
        await self._ensure_started()
        if predicate():
            return
        reason = failure()
        if reason is not None:
            raise WebRTCError(reason)
        waiter: asyncio.Future[None] = self._require_loop().create_future()
        entry = (predicate, failure, waiter)
        self._waiters.append(entry)
        try:
            await bounded_wait(
                waiter,
                self._config.operation_timeout if timeout is None else timeout,
                f"waiting for {what}",
                state,
            )
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _check_waiters(self) -> None:
        for predicate, failure, waiter in list(self._waiters):
            if waiter.done():
                continue
            if predicate():
                waiter.set_result(None)
            else:
                reason = failure()
                if reason is not None:
                    waiter.set_exception(WebRTCError(reason))

    async def _ensure_keepalive_channel(self) -> None:
        """Make the hidden channel the liveness monitor pokes (before SCTP exists)."""
        liveness = self._liveness
        if liveness is None or self._keepalive_channel_made or self._sctp_transport_exists:
            return
        self._keepalive_channel_made = True
        webrtc = self._require_webrtc()
        options = (
            "application/data-channel, ordered=(boolean)false, max-retransmits=(int)0, "
            f"negotiated=(boolean)true, id=(int){KEEPALIVE_CHANNEL_ID}"
        )

        def create() -> None:
            structure = Gst.Structure.from_string(options)[0]
            channel = webrtc.emit("create-data-channel", "aiogstwebrtc-keepalive", structure)
            if channel is not None:
                liveness.set_keepalive_channel(channel)

        await self._require_glib().call(create)

    def _on_liveness(self, state: str | None) -> None:
        """asyncio thread: the liveness monitor's verdict changed."""
        if self._closed:
            return
        self._set_connection_state(state or self._webrtcbin_connection_state)
        if state == "failed":
            error = WebRTCError(
                f"the remote peer stopped answering for {self._config.dead_peer_timeout:g} s"
            )
            for channel in self._channels:
                channel._on_closed(error)
            for track in self._tracks:
                track._end()

    def _set_connection_state(self, value: str) -> None:
        if value == self._connection_state:
            return
        self._connection_state = value
        log.debug("connection-state -> %s", value)
        self._events.emit("connectionstatechange")
        self._check_waiters()

    def _own_fingerprint(self, sdp: str) -> str:
        """Put our certificate's real fingerprint into a description webrtcbin made."""
        if self._certificate is None:
            return sdp
        return with_fingerprint(sdp, self._certificate)

    def _note_sctp(self, description: SessionDescription) -> None:
        if any(section.kind == "application" for section in description.media):
            self._sctp_transport_exists = True

    def _require_state(self, operation: str, allowed: tuple[str, ...]) -> None:
        if self._closed:
            raise ClosedError("the peer connection is closed")
        if self._signaling_state not in allowed:
            raise InvalidStateError(
                f"{operation} is not allowed in signaling state {self._signaling_state!r} "
                f"(allowed: {', '.join(allowed)})"
            )

    @staticmethod
    def _as_description(description: SessionDescription | Mapping[str, Any]) -> SessionDescription:
        if isinstance(description, SessionDescription):
            return description
        if isinstance(description, Mapping):
            return SessionDescription.from_dict(description)
        raise InvalidSDPError(
            f"expected a SessionDescription or a dict, not {type(description).__name__}"
        )

    def _require_webrtc(self) -> Gst.Element:
        if self._closed or self._webrtc is None:
            raise ClosedError("the peer connection is closed")
        return self._webrtc

    def _require_glib(self) -> GLibLoop:
        if self._glib is None:
            raise ClosedError("the peer connection is closed")
        return self._glib

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise InvalidStateError("the peer connection has not started")
        return self._loop

    # --- GStreamer threads -> asyncio --------------------------------------------------------

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            log.debug("asyncio loop closed; webrtcbin event dropped")

    def _gst_on_negotiation_needed(self, _webrtc: Gst.Element) -> None:
        trace("on-negotiation-needed")
        self._post(self._on_negotiation_needed)

    def _gst_on_ice_candidate(self, _webrtc: Gst.Element, mline: int, candidate: str) -> None:
        trace("on-ice-candidate")
        self._post(self._on_local_candidate, mline, candidate)

    def _gst_on_data_channel(self, _webrtc: Gst.Element, gst_channel: Any) -> None:
        trace("on-data-channel")
        loop, glib = self._loop, self._glib
        if loop is None or glib is None:
            return
        # Wrap it here, on GStreamer's thread, so that no early message is missed.
        channel = DataChannel(gst_channel, loop, glib, self._config.data_channel_receive_cap)
        self._remote_channels_built.append(channel)  # detached at close even if never posted
        self._post(self._on_remote_channel, channel)

    def _gst_on_state(self, webrtc: Gst.Element, pspec: GObject.ParamSpec) -> None:
        value = webrtc.get_property(pspec.name)
        trace(f"notify::{pspec.name} {value.value_nick}")
        self._post(self._on_state, pspec.name, value.value_nick)

    def _gst_on_element_added(self, _bin: Gst.Bin, _sub_bin: Gst.Bin, element: Gst.Element) -> None:
        factory = element.get_factory()
        name = factory.get_name() if factory is not None else ""
        if name == "nicesrc" and self._liveness is not None:
            self._liveness.watch(element)
        if name == "dtlssrtpdec" and self._certificate is not None:
            element.set_property("pem", self._certificate.pem)
        if name in ("sctpenc", "sctpdec") and self._sctp_association_id is not None:
            element.set_property("sctp-association-id", self._sctp_association_id)
            if name == "sctpenc":
                self._sctp_encoders.append(element)

    def _gst_on_bus_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            if _is_sctp_association_end(message, debug):
                self._post(self._on_sctp_association_ended, debug)
                return
            self._post(self._on_pipeline_error, f"{error.message} ({debug})")
        elif message.type == Gst.MessageType.LATENCY:
            # A live source or sink joined: redistribute latency (from the GLib thread).
            glib, pipeline = self._glib, self._pipeline
            if glib is not None and pipeline is not None:
                glib.call_soon(pipeline.recalculate_latency)
        elif message.type == Gst.MessageType.WARNING:
            warning, debug = message.parse_warning()
            log.warning("GStreamer warning: %s (%s)", warning.message, debug)

    # --- asyncio thread ----------------------------------------------------------------------

    def _on_negotiation_needed(self) -> None:
        if self._closed:
            return
        if self._negotiable == 0:
            log.debug("negotiation-needed ignored: nothing to negotiate yet")
            return
        self._events.emit("negotiationneeded")

    def _on_local_candidate(self, mline: int, text: str) -> None:
        if self._closed:
            return
        mid = None
        if self._local_description is not None:
            sections = self._local_description.media
            if mline < len(sections):
                mid = sections[mline].mid
        try:
            candidate = IceCandidate(text, mline, mid)
        except InvalidSDPError:
            log.warning("webrtcbin produced an unusable candidate %r", text)
            return
        if candidate.is_end_of_candidates:
            # GStreamer 1.26 marks the end of gathering with an empty candidate; 1.22 does
            # not. Either way the one ``None`` comes from ice-gathering-state ``complete``.
            log.debug("webrtcbin's end-of-candidates marker on m-line %d", mline)
            self._maybe_end_candidates()
            return
        self._local_candidates.append(candidate)
        self._end_of_candidates_sent = False
        self._events.emit("icecandidate", candidate)

    def _on_remote_channel(self, channel: DataChannel) -> None:
        if self._closed:
            return
        self._channels.append(channel)
        self._events.emit("datachannel", channel)

    def _on_state(self, name: str, value: str) -> None:
        if self._closed:
            return
        if name == "connection-state":
            self._webrtcbin_connection_state = value
            liveness = self._liveness
            if liveness is not None:
                if value == "connected":
                    liveness.start()
                if liveness.override is not None and value not in ("closed", "failed"):
                    return  # silence on the wire wins over webrtcbin's optimism
            self._set_connection_state(value)
            return
        attribute, event = _STATE_PROPERTIES[name]
        if getattr(self, attribute) == value:
            return
        setattr(self, attribute, value)
        log.debug("%s -> %s", name, value)
        self._events.emit(event)
        if name == "ice-gathering-state":
            self._maybe_end_candidates()
        self._check_waiters()

    def _maybe_end_candidates(self) -> None:
        """Emit the one ``icecandidate`` ``None`` once gathering is complete."""
        if self._ice_gathering_state == "complete" and not self._end_of_candidates_sent:
            self._end_of_candidates_sent = True
            self._events.emit("icecandidate", None)

    def _on_sctp_association_ended(self, debug: str) -> None:
        """The remote ended the SCTP association (it left, closed or crashed): not a fault."""
        if self._closed:
            return
        log.info("the remote peer ended the SCTP association: data channels closed (%s)", debug)
        for channel in self._channels:
            channel._on_closed(None)

    def _on_pipeline_error(self, text: str) -> None:
        log.error("webrtcbin pipeline error: %s", text)
        self._events.emit("error", WebRTCError(text))

    def __repr__(self) -> str:
        return (
            f"<PeerConnection signaling={self._signaling_state} "
            f"connection={self._connection_state}>"
        )
