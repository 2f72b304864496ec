"""The GStreamer side of one peer connection, from start to release: :class:`PeerPipeline`.

It owns what lives on the GLib thread: the GLib loop it acquired, the pipeline and its
webrtcbin, the signal handlers connected to them, the SCTP association id, the DTLS
certificate and the liveness monitor patched into the elements webrtcbin adds, and the
promises of the operations in flight. It runs webrtcbin's operations (bounded) and tears
everything down deterministically: handlers off, SCTP flushed, pipeline ``NULL``, every
Python reference dropped so that the last one goes here, free heap pages handed back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .certificate import Certificate, process_certificate
from .config import Configuration
from .errors import ClosedError, InvalidStateError, WebRTCError
from .glibloop import GLibLoop, acquire_glib_loop
from .gst import (
    FAST_ICE_PACING_LIMIT,
    FAST_ICE_PACING_MS,
    GObject,
    Gst,
    SctpAssociationIds,
    close_ice_agent,
    configure_ice_agent,
    ensure_init,
    make_element,
    sink_pads,
    warm_up_elements,
)
from .health import LivenessMonitor
from .memory import limit_arenas, trim_free_memory
from .negotiation import BUNDLE_POLICIES, ICE_TRANSPORT_POLICIES
from .promises import (
    PendingPromises,
    PromiseOperation,
    ReplyError,
    bounded_wait,
    mark_gstreamer_callback,
    translate_reply_error,
)
from .strategies import Strategy
from .timeouts import wait_for
from .tracing import trace

__all__ = ["PeerPipeline", "PipelinePart"]

log = logging.getLogger(__name__)

_START_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0
_THREAD_END_TIMEOUT = 1.0  # then the GLib thread is left to end on its own


class PipelinePart(Protocol):
    """A part of the peer holding GStreamer objects of this pipeline (data channels, media)."""

    def detach(self) -> None:
        """GLib thread, before the pipeline stops: disconnect handlers, stop sources."""

    def release(self) -> None:
        """GLib thread, the pipeline ``NULL``: drop every Python reference to its objects."""


class PeerPipeline:
    """One webrtcbin in its own pipeline: acquire, start, run operations, stop, release.

    Every GStreamer call it makes runs on the GLib thread; its asyncio-thread methods never
    block (waits are bounded, a stuck GLib thread is abandoned).
    """

    def __init__(self, configuration: Configuration, strategy: Strategy) -> None:
        """Nothing starts here: :meth:`acquire`, then :meth:`start`."""
        self.config = configuration
        self.strategy = strategy
        self.loop: asyncio.AbstractEventLoop | None = None
        self.glib: GLibLoop | None = None
        self.pipeline: Gst.Pipeline | None = None
        self.webrtc: Gst.Element | None = None
        self.closed = False
        self.pending = PendingPromises()
        self.certificate: Certificate | None = None
        self.liveness: LivenessMonitor | None = None
        self._parts: list[PipelinePart] = []
        self._handler_ids: list[tuple[GObject.Object, int]] = []
        self._sctp_association_id: int | None = None
        self._sctp_encoders: list[Gst.Element] = []

    def add_part(self, part: PipelinePart) -> None:
        """Detach and release ``part`` at teardown, in the order the parts were added.

        Teardown then forgets it: no reference cycle is left for the garbage collector.
        """
        self._parts.append(part)

    # --- start -------------------------------------------------------------------------------

    def acquire(self) -> None:
        """asyncio thread: check the loop, take the GLib loop and an SCTP association id."""
        if self.closed:  # closed before its start ran: take nothing
            raise ClosedError("the peer connection is closed")
        loop = asyncio.get_running_loop()
        self.strategy.check_loop(loop)
        limit_arenas()  # before GStreamer's threads allocate (issue 17)
        ensure_init()
        warm_up_elements()  # the first offer does not wait for plugins and the DTLS key
        self.loop = loop
        self.glib = acquire_glib_loop(loop)  # given back by close(), as is the id:
        self._sctp_association_id = SctpAssociationIds.acquire()

    async def start(
        self,
        wire: Callable[[PeerPipeline], None],
        on_liveness: Callable[[str | None], None],
    ) -> None:
        """Build the pipeline and bring it to PLAYING (bounded).

        On failure or cancellation the caller closes (:meth:`begin_close`, :meth:`close`):
        that stops what was built, gives the GLib loop and the SCTP association id back.

        ``wire(self)`` runs on the GLib thread once webrtcbin exists and before PLAYING: it
        connects the handlers (with :meth:`connect`) so that no early signal is missed.
        ``on_liveness`` gets the liveness monitor's verdicts until :meth:`begin_close`.
        """
        glib = self.require_glib()
        if self.config.certificate == "ecdsa":
            self.certificate = process_certificate(self.config.certificate_validity)
        if self.config.dead_peer_timeout is not None:
            self.liveness = LivenessMonitor(self.config.dead_peer_timeout, glib, on_liveness)
        await wait_for(glib.call(self._build, wire), _START_TIMEOUT)

    def _build(self, wire: Callable[[PeerPipeline], None]) -> None:
        """GLib thread: make the pipeline and webrtcbin, connect signals, go to PLAYING."""
        config = self.config
        pipeline = Gst.Pipeline.new(None)
        webrtc = make_element("webrtcbin")
        webrtc.set_property("bundle-policy", BUNDLE_POLICIES[config.bundle_policy])
        webrtc.set_property(
            "ice-transport-policy", ICE_TRANSPORT_POLICIES[config.ice_transport_policy]
        )
        plan = config.ice_plan()
        if plan.stun:
            webrtc.set_property("stun-server", plan.stun)
        for url in plan.ignored_stun:
            log.info("STUN server %s ignored: webrtcbin uses one, %s", url, plan.stun)
        for turn, (protocol, where) in zip(plan.turn, plan.relays, strict=True):
            if not webrtc.emit("add-turn-server", turn):
                raise WebRTCError(f"webrtcbin refused the TURN server {where} ({protocol})")
            log.debug("TURN server %s over %s added", where, protocol)
        pipeline.add(webrtc)
        self.pipeline = pipeline
        self.webrtc = webrtc
        pacing = FAST_ICE_PACING_MS if SctpAssociationIds.live() <= FAST_ICE_PACING_LIMIT else None
        configure_ice_agent(
            webrtc, list(config.local_addresses or []), ice_tcp=config.ice_tcp, pacing_ms=pacing
        )
        self.connect(webrtc, "deep-element-added", self._gst_on_element_added)
        wire(self)
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise WebRTCError("the webrtcbin pipeline failed to start")
        change, state, _pending = pipeline.get_state(int(_START_TIMEOUT * Gst.SECOND))
        if state != Gst.State.PLAYING:
            raise WebRTCError(f"the webrtcbin pipeline did not reach PLAYING ({change.value_nick})")
        trace("webrtcbin pipeline PLAYING")

    def connect(
        self,
        gst_object: GObject.Object,
        signal: str,
        handler: Callable[..., Any],
        *,
        after: bool = False,
    ) -> None:
        """GLib thread: connect ``handler`` (``after``: behind every other handler, e.g.
        webrtcbin's own); it is disconnected at teardown."""
        connect = gst_object.connect_after if after else gst_object.connect
        self._handler_ids.append((gst_object, connect(signal, mark_gstreamer_callback(handler))))

    def _gst_on_element_added(self, _bin: Gst.Bin, _sub_bin: Gst.Bin, element: Gst.Element) -> None:
        """GStreamer thread: patch our certificate, association id and liveness watch in."""
        factory = element.get_factory()
        name = factory.get_name() if factory is not None else ""
        if name == "nicesrc" and self.liveness is not None:
            self.liveness.watch(element)
        if name == "dtlssrtpdec" and self.certificate is not None:
            element.set_property("pem", self.certificate.pem)
        if name in ("sctpenc", "sctpdec") and self._sctp_association_id is not None:
            element.set_property("sctp-association-id", self._sctp_association_id)
            if name == "sctpenc":
                self._sctp_encoders.append(element)

    # --- running -----------------------------------------------------------------------------

    async def run(
        self,
        name: str,
        args: tuple[Any, ...],
        extract: Callable[[Gst.Structure | None], Any],
        state: Callable[[], str],
    ) -> Any:
        """Emit webrtcbin's action signal ``name(*args, promise)``; await the reply (bounded).

        ``state()`` names the signaling state in errors.
        """
        webrtc = self.require_webrtc()
        glib = self.require_glib()
        timeout = self.config.operation_timeout

        def emit(promise: Gst.Promise) -> None:
            webrtc.emit(name, *args, promise)

        future = self.strategy.start(
            PromiseOperation(name, emit, extract), glib, self.pending, timeout
        )
        try:
            return await bounded_wait(future, timeout, name, state)
        except ReplyError as exc:
            if self.closed:
                raise ClosedError(f"{name} aborted: the peer connection was closed") from None
            raise translate_reply_error(exc, name, state()) from None

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the GLib thread and return its result."""
        return await self.require_glib().call(fn, *args)

    def require_webrtc(self) -> Gst.Element:
        """webrtcbin, or :class:`ClosedError`."""
        if self.closed or self.webrtc is None:
            raise ClosedError("the peer connection is closed")
        return self.webrtc

    def require_glib(self) -> GLibLoop:
        """The GLib loop, or :class:`ClosedError`."""
        if self.glib is None:
            raise ClosedError("the peer connection is closed")
        return self.glib

    def require_loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio loop it started on, or :class:`InvalidStateError`."""
        if self.loop is None:
            raise InvalidStateError("the peer connection has not started")
        return self.loop

    # --- stop --------------------------------------------------------------------------------

    def begin_close(self) -> list[Gst.Promise]:
        """asyncio thread: refuse new work, stop watching, fail every pending operation.

        Returns the promises of those operations, for :meth:`close` to interrupt.
        """
        self.closed = True
        if self.liveness is not None:
            self.liveness.stop()
        return self.pending.fail_all(
            lambda operation: ClosedError(f"{operation} aborted: the peer connection was closed")
        )

    async def close(self, promises: list[Gst.Promise]) -> None:
        """Stop and release the pipeline (bounded, never blocking), then the association id.

        Also after a failed or cancelled :meth:`start` (what was not taken is skipped); the
        GLib loop and the id are given back even if the teardown fails or is cancelled.
        """
        try:
            await self._stop(promises)
        finally:
            if self._sctp_association_id is not None:
                SctpAssociationIds.release(self._sctp_association_id)
                self._sctp_association_id = None

    async def _stop(self, promises: list[Gst.Promise]) -> None:
        """Tear down on the GLib thread (bounded) and give the thread back, never blocking."""
        glib, self.glib = self.glib, None
        if glib is None:
            return
        last = False
        try:
            await wait_for(glib.call(self._teardown, promises), _CLOSE_TIMEOUT)
        except TimeoutError:
            log.error("webrtcbin did not stop within %s s; abandoning it", _CLOSE_TIMEOUT)
            glib.abandon()
        finally:
            # Queued behind the teardown, which runs even if this wait was cancelled.
            last = glib.release()
        if last:
            await glib.wait_stopped(_THREAD_END_TIMEOUT)

    def stop_now(self) -> None:
        """Synchronous last-resort stop (interpreter exit): no asyncio loop is involved."""
        if self.closed:
            return
        self.closed = True
        if self.liveness is not None:
            try:
                self.liveness.stop()
            except Exception:  # the pipeline must still stop
                log.exception("stopping the liveness monitor at exit failed")
        glib = self.glib
        if glib is None:
            return
        promises = [promise for _operation, promise in self.pending.promises()]
        try:
            glib.call_sync(self._teardown, promises, timeout=_CLOSE_TIMEOUT)
        except Exception:
            log.exception("stopping a peer connection at exit failed")

    def _teardown(self, promises: list[Gst.Promise]) -> None:
        """GLib thread: interrupt promises, detach handlers, flush SCTP, stop the pipeline."""
        for promise in promises:
            promise.interrupt()
        for part in self._parts:
            part.detach()
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
        pipeline = self.pipeline
        if pipeline is not None:
            pipeline.get_bus().disable_sync_message_emission()
            if pipeline.set_state(Gst.State.NULL) == Gst.StateChangeReturn.FAILURE:
                log.warning("the webrtcbin pipeline refused to stop")
        if self.webrtc is not None and self.config.ice_plan().turn:
            if not close_ice_agent(self.webrtc):  # TURN allocations released at once
                log.info("libnice not found: TURN allocations are left to expire")
        del pipeline
        self._release_gstreamer_objects()  # the last reference: GStreamer frees it here
        trim_free_memory()

    def _release_gstreamer_objects(self) -> None:
        """GLib thread, the pipeline NULL: drop every Python reference to its objects.

        The pipeline's last reference then goes with ``self.pipeline`` and GStreamer frees
        it here, closing libnice's sockets: a wrapper kept by a sender, a transceiver or a
        probe would keep the transceiver -> transport -> ICE stream -> sockets alive until
        the cyclic garbage collector got to it (issue 17: 1 session in 4, for minutes).
        """
        if self.liveness is not None:
            self.liveness.detach()
        for part in self._parts:
            part.release()
        self._parts.clear()  # they hold this object: no cycle left for the collector
        self.pipeline = None
        self.webrtc = None
