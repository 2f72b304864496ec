"""The event bridge: webrtcbin's signals and bus messages, from GStreamer's threads to asyncio.

:class:`EventBridge` connects its handlers while the pipeline is built (before PLAYING, so
nothing is missed). Each runs on the GStreamer thread that emitted the signal, reads what it
needs there, and posts one call to the part that owns the event on the asyncio thread with
``call_soon_threadsafe``; a closed asyncio loop drops the call. Nothing here blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from .channels import PeerChannels
from .glibloop import post
from .gst import GObject, Gst, read_ice_agent, read_object_property
from .media.peer import PeerMedia
from .negotiator import Negotiator
from .pipeline import PeerPipeline
from .states import STATE_PROPERTIES
from .tracing import trace

__all__ = ["BridgeListener", "EventBridge"]

log = logging.getLogger(__name__)

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


class BridgeListener(Protocol):
    """The peer connection's own events (asyncio thread): :class:`~.reactions.PeerReactions`."""

    def _on_negotiation_needed(self) -> None: ...

    def _on_state(self, name: str, value: str) -> None: ...

    def _on_pipeline_error(self, text: str) -> None: ...

    def _on_ice_component_state(self, stream: int, component: int, state: int) -> None: ...

    def _on_ice_gathering_done(self) -> None: ...


class EventBridge:
    """webrtcbin's signals and the bus, each posted to its owner on the asyncio thread."""

    def __init__(
        self,
        pipeline: PeerPipeline,
        negotiator: Negotiator,
        channels: PeerChannels,
        media: PeerMedia,
        peer: BridgeListener,
    ) -> None:
        """Events of ``pipeline`` go to the part that owns them, or to ``peer``."""
        self._pipeline = pipeline
        self._negotiator = negotiator
        self._channels = channels
        self._media = media
        self._peer = peer

    def wire(self, pipeline: PeerPipeline) -> None:
        """GLib thread, before PLAYING: connect to webrtcbin's signals and the bus."""
        webrtc, gst_pipeline = pipeline.webrtc, pipeline.pipeline
        assert webrtc is not None and gst_pipeline is not None
        connect = pipeline.connect
        connect(webrtc, "on-negotiation-needed", self._gst_on_negotiation_needed)
        connect(webrtc, "on-ice-candidate", self._gst_on_ice_candidate)
        connect(webrtc, "on-data-channel", self._gst_on_data_channel)
        connect(webrtc, "pad-added", self._gst_on_pad_added)
        for name in STATE_PROPERTIES:
            connect(webrtc, f"notify::{name}", self._gst_on_state)
        # webrtcbin 1.22 never updates ice-connection-state: libnice's component states do.
        agent = read_object_property(read_ice_agent(webrtc), "agent")
        if agent is not None:
            # After webrtcbin's own handlers (connected later, when its streams are made):
            # ours wait for Python's GIL, and webrtcbin's must not wait behind them.
            connect(agent, "component-state-changed", self._gst_on_component_state, after=True)
            connect(agent, "candidate-gathering-done", self._gst_on_gathering_done, after=True)
        # Bus messages are read on the thread that posts them: no GLib loop needed. (A bus
        # sync handler set from Python keeps the pipeline alive after it is unset.)
        bus = gst_pipeline.get_bus()
        bus.enable_sync_message_emission()
        # Only the messages the handler uses reach Python (filtered in C by the detail):
        # with all of them, a pair made 333 GIL-taking calls instead of 94.
        for detail in ("error", "warning", "latency"):
            connect(bus, f"sync-message::{detail}", self._gst_on_bus_message)

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._pipeline.loop
        if loop is not None:
            post(loop, fn, *args)

    # --- GStreamer threads -------------------------------------------------------------------

    def _gst_on_negotiation_needed(self, _webrtc: Gst.Element) -> None:
        trace("on-negotiation-needed")
        self._post(self._peer._on_negotiation_needed)

    def _gst_on_ice_candidate(self, _webrtc: Gst.Element, mline: int, candidate: str) -> None:
        trace("on-ice-candidate")
        self._post(self._negotiator.on_local_candidate, mline, candidate)

    def _gst_on_data_channel(self, _webrtc: Gst.Element, gst_channel: Any) -> None:
        trace("on-data-channel")
        channel = self._channels.wrap_remote(gst_channel)
        if channel is not None:
            self._post(self._channels.on_remote_channel, channel)

    def _gst_on_pad_added(self, _webrtc: Gst.Element, pad: Gst.Pad) -> None:
        track = self._media.track_from_pad(pad)
        if track is not None:
            self._post(self._media.on_remote_track, track)

    def _gst_on_state(self, webrtc: Gst.Element, pspec: GObject.ParamSpec) -> None:
        value = webrtc.get_property(pspec.name)
        trace(f"notify::{pspec.name} {value.value_nick}")
        self._post(self._peer._on_state, pspec.name, value.value_nick)

    def _gst_on_component_state(
        self, _agent: GObject.Object, stream: int, component: int, state: int
    ) -> None:
        trace(f"component-state-changed {stream}/{component} {state}")
        self._post(self._peer._on_ice_component_state, stream, component, state)

    def _gst_on_gathering_done(self, _agent: GObject.Object, stream: int) -> None:
        trace(f"candidate-gathering-done {stream}")
        self._post(self._peer._on_ice_gathering_done)

    def _gst_on_bus_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            if _is_sctp_association_end(message, debug):
                self._post(self._channels.on_association_ended, debug)
                return
            self._post(self._peer._on_pipeline_error, f"{error.message} ({debug})")
        elif message.type == Gst.MessageType.LATENCY:
            # A live source or sink joined: redistribute latency (from the GLib thread).
            glib, pipeline = self._pipeline.glib, self._pipeline.pipeline
            if glib is not None and pipeline is not None:
                glib.call_soon(pipeline.recalculate_latency)
        elif message.type == Gst.MessageType.WARNING:
            warning, debug = message.parse_warning()
            log.warning("GStreamer warning: %s (%s)", warning.message, debug)
