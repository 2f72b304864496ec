"""ICE failure is announced whole, whichever thread's report arrives first: webrtcbin's
connection state ``failed`` can reach asyncio before libnice's failed component does (two
paths from two threads). A user reading the states or waiting for the error in a
``connectionstatechange`` handler then saw ``failed`` beside ICE ``checking`` and no error
(seen once in CI in ``test_symmetric_nats_without_turn_fail_naming_the_candidates``)."""

from __future__ import annotations

from aiogstwebrtc.errors import WebRTCError
from aiogstwebrtc.events import EventEmitter
from aiogstwebrtc.icestate import IceWatch
from aiogstwebrtc.states import PeerStates

CHECKING, CONNECTED, FAILED = 2, 3, 5  # libnice's component states

LOCAL = "v=0\r\na=candidate:1 1 UDP 2015363327 10.0.0.1 5000 typ host\r\n"
REMOTE = "v=0\r\na=candidate:1 1 UDP 2015363327 10.0.0.2 5000 typ host\r\n"


class Watched:
    """One peer's states and ICE watch, recording events as a user's handlers see them."""

    def __init__(self) -> None:
        self.events = EventEmitter()
        self.states = PeerStates(self.events)
        self.seen: list[str] = []
        self.errors: list[WebRTCError] = []
        self.watch = IceWatch(
            self.states,
            self.errors.append,
            lambda: (LOCAL, REMOTE),
            lambda: 1,
            [],
            relay_only=False,
        )
        self.events.on("iceconnectionstatechange", self._ice)
        self.events.on("connectionstatechange", self._connection)

    def _ice(self) -> None:
        self.seen.append(f"ice {self.states.ice_connection_state}")

    def _connection(self) -> None:
        # what a handler reads when the connection fails
        self.seen.append(
            f"connection {self.states.connection_state} "
            f"(ice {self.states.ice_connection_state}, {len(self.errors)} errors)"
        )

    def webrtcbin_says(self, state: str) -> None:
        """What PeerReactions does with webrtcbin's connection-state notification: the ICE
        watch first, then the state announced."""
        self.watch.on_connection_state(state)
        self.states.update("connection-state", state, None)


def test_webrtcbin_failing_first_fails_ice_with_the_error_naming_candidates() -> None:
    peer = Watched()
    peer.watch.on_component_state(1, 1, CHECKING, None)
    peer.webrtcbin_says("failed")
    assert peer.seen == ["ice checking", "ice failed", "connection failed (ice failed, 0 errors)"]
    assert len(peer.errors) == 1
    assert "local candidates: 1 host/udp; remote candidates: 1 host/udp" in str(peer.errors[0])
    # libnice's own report arrives afterwards: nothing announced twice
    peer.watch.on_component_state(1, 1, FAILED, None)
    assert len(peer.errors) == 1 and peer.seen[-1] == "connection failed (ice failed, 0 errors)"
    assert peer.states.ice_connection_state == "failed"


def test_libnice_failing_first_is_announced_once() -> None:
    peer = Watched()
    peer.watch.on_component_state(1, 1, CHECKING, None)
    peer.watch.on_component_state(1, 1, FAILED, None)
    peer.webrtcbin_says("failed")
    assert peer.seen == ["ice checking", "ice failed", "connection failed (ice failed, 0 errors)"]
    assert len(peer.errors) == 1


def test_a_failure_after_ice_connected_is_not_called_an_ice_failure() -> None:
    peer = Watched()  # e.g. DTLS failing over a working ICE pair
    peer.watch.on_component_state(1, 1, CONNECTED, None)
    peer.webrtcbin_says("failed")
    assert peer.states.ice_connection_state == "connected"
    assert peer.states.connection_state == "failed"
    assert peer.errors == [] and peer.watch.failure is None
