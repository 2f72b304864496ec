"""The ICE connection state, from libnice's component states (webrtcbin 1.22 leaves its own
``ice-connection-state`` at ``new``), and ICE failure with an error that names what was tried.

No GStreamer here: the event bridge feeds :class:`IceWatch` libnice's
``component-state-changed`` (stream, component, state) on the asyncio thread.

ICE fails when libnice says a component failed, or when gathering ends with no local
candidate at all (e.g. a relay-only policy whose TURN servers refuse the credentials:
libnice then never starts checking and would stay ``new`` forever).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable

from .errors import WebRTCError
from .health import LivenessMonitor
from .states import PeerStates

__all__ = ["IceComponents", "IceWatch", "candidate_types", "ice_failure_message"]

log = logging.getLogger(__name__)

#: After gathering completes, how long its candidates may still be on their way to us.
NO_CANDIDATE_GRACE = 1.0

# libnice's NiceComponentState values
_DISCONNECTED, _GATHERING, _CONNECTING, _CONNECTED, _READY, _FAILED = range(6)

_CANDIDATE_TYPE = re.compile(r"^a=candidate:\S+ \d+ (\S+) .* typ (\w+)", re.MULTILINE)


class IceComponents:
    """The state of every ICE component, summed up as ``RTCIceConnectionState``."""

    def __init__(self) -> None:
        self._states: dict[tuple[int, int], str] = {}
        self._connected_once: set[tuple[int, int]] = set()

    def update(self, stream: int, component: int, nice_state: int) -> str:
        """Record libnice's ``nice_state`` of one component; the overall state now."""
        key = (stream, component)
        if nice_state in (_CONNECTED, _READY):
            self._connected_once.add(key)
            state = "connected"
        elif nice_state == _CONNECTING or (
            nice_state == _GATHERING and key in self._connected_once
        ):
            state = "checking"  # (gathering again: an ICE restart, its checks are next)
        elif nice_state == _FAILED:
            state = "failed"
        elif nice_state == _DISCONNECTED and key in self._connected_once:
            state = "disconnected"
        else:  # gathering, or not started
            state = "new"
        self._states[key] = state
        return self.overall()

    def overall(self) -> str:
        """``new``, ``checking``, ``connected``, ``disconnected`` or ``failed``."""
        states = set(self._states.values())
        for state in ("failed", "disconnected", "checking"):
            if state in states:
                return state
        if states == {"connected"}:
            return "connected"
        return "checking" if "connected" in states else "new"


def candidate_types(sdp: str | None) -> str:
    """The candidates of a description, counted by type and protocol: ``"2 host/udp, ..."``."""
    counts = Counter(
        f"{kind}/{protocol.lower()}" for protocol, kind in _CANDIDATE_TYPE.findall(sdp or "")
    )
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "none"


def ice_failure_message(local_sdp: str | None, remote_sdp: str | None, relay_only: bool) -> str:
    """Why ICE failed, naming the candidates each side offered."""
    message = (
        f"ICE failed: no candidate pair worked (local candidates: "
        f"{candidate_types(local_sdp)}; remote candidates: {candidate_types(remote_sdp)})"
    )
    if relay_only:
        message += "; the relay policy uses TURN candidates only"
    return message


def _ignore_failure(_error: WebRTCError) -> None:
    """The failure callback of a closed watch."""


def _no_descriptions() -> tuple[str | None, str | None]:
    return None, None


def _no_candidates() -> int:
    return 0


class IceWatch:
    """asyncio thread: the ICE connection state and ICE failure of one peer connection."""

    def __init__(
        self,
        states: PeerStates,
        on_failure: Callable[[WebRTCError], None],
        descriptions: Callable[[], tuple[str | None, str | None]],
        local_candidates: Callable[[], int],
        relays: list[tuple[str, str]],
        relay_only: bool,
    ) -> None:
        """``on_failure(error)`` once ICE fails (the connection is already ``failed``);
        ``descriptions()``: the local and remote SDP; ``local_candidates()``: how many were
        gathered; ``relays``: the TURN servers, ``(protocol, host:port)``."""
        self._states = states
        self._on_failure = on_failure
        self._descriptions = descriptions
        self._local_candidates = local_candidates
        self._relays = relays
        self._relay_only = relay_only
        self._components = IceComponents()
        self._check: asyncio.TimerHandle | None = None
        #: Why ICE failed, once it has.
        self.failure: str | None = None

    def on_component_state(
        self, stream: int, component: int, state: int, liveness: LivenessMonitor | None
    ) -> None:
        """libnice's state of one component changed."""
        overall = self._components.update(stream, component, state)
        if self._states.update("ice-connection-state", overall, liveness):
            if overall == "failed":
                self._fail(ice_failure_message(*self._descriptions(), self._relay_only))
            self._states.check_waiters()

    def on_connection_state(self, value: str) -> bool:
        """webrtcbin's connection state is now ``value`` (called before it is announced).
        When it failed and that is ICE failing (libnice's own ``failed`` reaches us on
        another path and may come later), ICE fails now: the ICE state and the error are
        not behind the connection's ``failed``. True if it did; False for any other state,
        when ICE already failed or is connected (then DTLS failed, not ICE)."""
        if value != "failed":
            return False
        if self.failure is not None or self._components.overall() == "connected":
            return False
        self._fail_ice(ice_failure_message(*self._descriptions(), self._relay_only))
        return True

    def on_gathering_complete(self, loop: asyncio.AbstractEventLoop) -> None:
        """Gathering ended: with no candidate at all ICE cannot work (checked after a grace
        for the last candidates posted from GStreamer's thread)."""
        if self._check is None:
            self._check = loop.call_later(NO_CANDIDATE_GRACE, self._check_candidates)

    def _check_candidates(self) -> None:
        self._check = None
        local_sdp, _remote_sdp = self._descriptions()
        if local_sdp is None or self.failure is not None:
            return  # nothing was gathered for: no verdict
        if self._local_candidates() or "a=candidate:" in local_sdp:
            return
        servers = ", ".join(f"{where} over {protocol}" for protocol, where in self._relays)
        message = "ICE failed: gathering ended without a single local candidate"
        if self._relay_only:
            message += (
                f" (the relay policy uses TURN candidates only; TURN servers: {servers or 'none'}"
                ": check their credentials and that they are reachable)"
            )
        self._fail_ice(message)

    def _fail_ice(self, message: str) -> None:
        """ICE failed for ``message``, found by us rather than by libnice's states."""
        self._states.update("ice-connection-state", "failed", None)
        self._fail(message)
        self._states.check_waiters()

    def _fail(self, message: str) -> None:
        self.failure = message
        log.info("%s", message)
        self._states.set_connection_state("failed")
        self._on_failure(WebRTCError(message))

    def close(self) -> None:
        """Stop the pending check and let go of the peer connection's callbacks (they
        hold it: without this the two would wait for the cyclic garbage collector)."""
        if self._check is not None:
            self._check.cancel()
            self._check = None
        self._on_failure = _ignore_failure
        self._descriptions = _no_descriptions
        self._local_candidates = _no_candidates
