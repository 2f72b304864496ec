"""The states of one peer connection, their change events and the coroutines waiting on them.

:class:`PeerStates` keeps the four states webrtcbin reports (signaling, connection, ICE
connection, ICE gathering), lets the liveness monitor's verdict override the connection
state, emits a ``*statechange`` event on each real change and wakes the waiters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .errors import WebRTCError
from .events import EventEmitter
from .glibloop import resolve_future
from .health import LivenessMonitor
from .promises import bounded_wait

__all__ = ["STATE_PROPERTIES", "PeerStates"]

log = logging.getLogger(__name__)

#: webrtcbin's state property -> (our attribute, the event its change fires).
STATE_PROPERTIES = {
    "signaling-state": ("signaling_state", "signalingstatechange"),
    "connection-state": ("connection_state", "connectionstatechange"),
    "ice-connection-state": ("ice_connection_state", "iceconnectionstatechange"),
    "ice-gathering-state": ("ice_gathering_state", "icegatheringstatechange"),
}

_Waiter = tuple[Callable[[], bool], Callable[[], str | None], asyncio.Future[None]]


class PeerStates:
    """The current states (asyncio thread), their events and their waiters."""

    def __init__(self, events: EventEmitter) -> None:
        """Every state ``new`` (signaling ``stable``); changes are announced on ``events``."""
        self._events = events
        self.signaling_state = "stable"
        self.connection_state = "new"
        self.ice_connection_state = "new"
        self.ice_gathering_state = "new"
        self.webrtcbin_connection_state = "new"
        self._waiters: list[_Waiter] = []

    def update(self, name: str, value: str, liveness: LivenessMonitor | None) -> bool:
        """webrtcbin reported ``name`` = ``value``; True when the caller must wake the waiters.

        The connection state wakes them itself, and a silent peer's ``disconnected`` or
        ``failed`` wins over webrtcbin's optimism.
        """
        if name == "connection-state":
            self.webrtcbin_connection_state = value
            if liveness is not None:
                if value == "connected":
                    liveness.start()
                if liveness.override is not None and value not in ("closed", "failed"):
                    return False  # silence on the wire wins over webrtcbin's optimism
            self.set_connection_state(value)
            return False
        attribute, event = STATE_PROPERTIES[name]
        if getattr(self, attribute) == value:
            return False
        setattr(self, attribute, value)
        log.debug("%s -> %s", name, value)
        self._events.emit(event)
        return True

    def set_connection_state(self, value: str) -> None:
        """Set the connection state (webrtcbin's or the liveness monitor's verdict)."""
        if value == self.connection_state:
            return
        self.connection_state = value
        log.debug("connection-state -> %s", value)
        self._events.emit("connectionstatechange")
        self.check_waiters()

    async def wait_for(
        self,
        loop: asyncio.AbstractEventLoop,
        predicate: Callable[[], bool],
        failure: Callable[[], str | None],
        timeout: float,
        what: str,
        state: Callable[[], str],
    ) -> None:
        """Until ``predicate()`` (on ``loop``); :class:`WebRTCError` once ``failure()`` says why."""
        if predicate():
            return
        reason = failure()
        if reason is not None:
            raise WebRTCError(reason)
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (predicate, failure, waiter)
        self._waiters.append(entry)
        try:
            await bounded_wait(waiter, timeout, f"waiting for {what}", state)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def check_waiters(self) -> None:
        """A state changed: resolve or fail the waiters it decides."""
        for predicate, failure, waiter in list(self._waiters):
            if waiter.done():
                continue
            if predicate():
                waiter.set_result(None)
            else:
                reason = failure()
                if reason is not None:
                    waiter.set_exception(WebRTCError(reason))

    def fail_waiters(self, error: Exception) -> None:
        """The peer is closing: every waiter fails with ``error``."""
        for _predicate, _failure, waiter in self._waiters:
            resolve_future(waiter, error=error)
            if waiter.done() and not waiter.cancelled():
                waiter.exception()
        self._waiters.clear()

    def close(self) -> None:
        """The peer is closed (no event: the listeners are gone)."""
        self.signaling_state = "closed"
        self.connection_state = "closed"
        self.ice_connection_state = "closed"
