"""Coalescing of ``peerStatusChanged`` fan-out: a peer re-registering in a loop must not
make the server send every listener every change.

:class:`StatusFanout` lets at most one status of a given peer go to listeners every
``min_interval`` seconds; a change arriving sooner is held, replaced by any later one, and
sent when the interval is over. So a burst of re-registrations produces at most a few
messages per listener per second, and listeners always end up with the last state.
The sender's own echo is not affected (the router sends it directly).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .protocol import PeerStatusChanged

__all__ = ["DEFAULT_MIN_INTERVAL", "StatusFanout"]

DEFAULT_MIN_INTERVAL = 0.25
"""Seconds between two statuses of one peer sent to listeners: at most 4 per second."""

_SUBJECTS_KEPT = 4096


class StatusFanout:
    """Decides, per peer, whether its new status goes out now or a little later.

    ``send(status)`` is called for statuses held back, when their time comes; the caller
    sends it to the listeners of that moment.
    """

    def __init__(
        self,
        send: Callable[[PeerStatusChanged], None],
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._min_interval = min_interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, PeerStatusChanged] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def held(self) -> int:
        """How many peers have a status waiting."""
        return len(self._held)

    def offer(self, status: PeerStatusChanged) -> bool:
        """True: send ``status`` to the listeners now; False: it is held (and sent later)."""
        subject = status.peer_id
        if subject in self._held:
            self._held[subject] = status
            return False
        now = self._clock()
        last = self._last.get(subject)
        if last is None or now - last >= self._min_interval:
            self._stamp(subject, now)
            return True
        self._held[subject] = status
        delay = last + self._min_interval - now
        self._timers[subject] = asyncio.get_running_loop().call_later(delay, self._release, subject)
        return False

    def _release(self, subject: str) -> None:
        self._timers.pop(subject, None)
        status = self._held.pop(subject, None)
        if status is not None:
            self._stamp(subject, self._clock())
            self._send(status)

    def _stamp(self, subject: str, now: float) -> None:
        self._last[subject] = now
        if len(self._last) > _SUBJECTS_KEPT:
            horizon = now - self._min_interval
            for key in [k for k, t in self._last.items() if t < horizon]:
                del self._last[key]

    def close(self) -> None:
        """Forget what is held (the server is stopping)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._held.clear()
