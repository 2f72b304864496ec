"""What a peer connection does when something reports to it (asyncio thread).

webrtcbin's own signals (negotiation needed, its states, pipeline errors) and libnice's
(component states, gathering done) come through the :class:`~aiogstwebrtc.bridge.EventBridge`;
the liveness monitor's verdicts and ICE failure from :class:`~aiogstwebrtc.icestate.IceWatch`
come directly. :class:`PeerReactions` turns each into state changes and events of the peer
connection. It holds the peer's parts, never the :class:`~aiogstwebrtc.PeerConnection`
itself, so nothing it is handed to keeps the peer connection alive.
"""

from __future__ import annotations

import logging

from .channels import PeerChannels
from .config import Configuration
from .errors import WebRTCError
from .events import EventEmitter
from .icestate import IceWatch
from .media.peer import PeerMedia
from .negotiator import Negotiator
from .pipeline import PeerPipeline
from .states import PeerStates

__all__ = ["PeerReactions"]

log = logging.getLogger(__name__)


class PeerReactions:
    """The peer connection's reactions to its pipeline, ICE and liveness (asyncio thread);
    :attr:`ice` is its ICE state watch."""

    def __init__(
        self,
        config: Configuration,
        pipeline: PeerPipeline,
        states: PeerStates,
        channels: PeerChannels,
        media: PeerMedia,
        negotiator: Negotiator,
        events: EventEmitter,
    ) -> None:
        self._config = config
        self._pipeline = pipeline
        self._states = states
        self._channels = channels
        self._media = media
        self._negotiator = negotiator
        self._events = events
        self.ice = IceWatch(
            states,
            self._on_ice_failure,
            self._descriptions,
            lambda: len(negotiator.local_candidates),
            config.ice_plan().relays,
            config.ice_transport_policy == "relay",
        )

    # --- from the event bridge (bridge.BridgeListener) ---------------------------------------

    def _on_negotiation_needed(self) -> None:
        if self._pipeline.closed:
            return
        if self._channels.negotiable + self._media.negotiable == 0:
            log.debug("negotiation-needed ignored: nothing to negotiate yet")
            return
        self._events.emit("negotiationneeded")

    def _on_state(self, name: str, value: str) -> None:
        if self._pipeline.closed or name == "ice-connection-state":
            return  # the ICE state comes from libnice (_on_ice_component_state)
        if name == "connection-state":
            self.ice.on_connection_state(value)
        if self._states.update(name, value, self._pipeline.liveness):
            if name == "ice-gathering-state":
                self._negotiator.maybe_end_candidates()
                if value == "complete":
                    self.ice.on_gathering_complete(self._pipeline.require_loop())
            self._states.check_waiters()

    def _on_ice_gathering_done(self) -> None:
        """libnice finished gathering: the end of an ICE restart's new allocations."""
        if not self._pipeline.closed:
            self._negotiator.end_regathering()

    def _on_ice_component_state(self, stream: int, component: int, state: int) -> None:
        """libnice's state of one ICE component changed: the ICE connection state."""
        if not self._pipeline.closed:
            self.ice.on_component_state(stream, component, state, self._pipeline.liveness)

    def _on_pipeline_error(self, text: str) -> None:
        log.error("webrtcbin pipeline error: %s", text)
        self._events.emit("error", WebRTCError(text))

    # --- from the ICE watch and the liveness monitor -----------------------------------------

    def _on_ice_failure(self, error: WebRTCError) -> None:
        """ICE failed (the connection is ``failed``): say why, end channels and tracks."""
        self._events.emit("error", error)
        self._channels.close_all(error)
        self._media.end_tracks()

    def _descriptions(self) -> tuple[str | None, str | None]:
        local, remote = self._negotiator.local_description, self._negotiator.remote_description
        return (local.sdp if local else None, remote.sdp if remote else None)

    def on_liveness(self, state: str | None) -> None:
        """The liveness monitor's verdict changed."""
        if self._pipeline.closed:
            return
        self._states.set_connection_state(state or self._states.webrtcbin_connection_state)
        if state == "failed":
            error = WebRTCError(
                f"the remote peer stopped answering for {self._config.dead_peer_timeout:g} s"
            )
            self._channels.close_all(error)
            self._media.end_tracks()

    def emit_restart_negotiation(self) -> None:
        """``negotiationneeded`` for :meth:`PeerConnection.restart_ice`, unless the restart
        was negotiated (or the peer closed) meanwhile."""
        if not self._pipeline.closed and self._negotiator.generations.restart_requested:
            self._events.emit("negotiationneeded")
