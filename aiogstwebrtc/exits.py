"""The exit registry: peer connections and broadcasts started and not yet closed.

Held strongly: a PLAYING pipeline must never be freed by the garbage collector, and whatever
is still open when the interpreter exits is stopped first. Without that a GStreamer thread
can call into a half-finalised interpreter and crash it.
"""

from __future__ import annotations

import atexit
import threading
from typing import Protocol

from .glibloop import ThreadedGLibLoop

__all__ = ["LIVE", "Stoppable", "add", "discard"]


class Stoppable(Protocol):
    """What the registry holds: something that can stop synchronously, with no asyncio loop."""

    def _stop_now(self) -> None: ...


#: Started and not yet closed (read by the test suite to find peers a test left open).
LIVE: set[Stoppable] = set()
_LOCK = threading.Lock()


def add(peer: Stoppable) -> None:
    """Keep ``peer`` referenced until :func:`discard`; stop it at exit if it is still here."""
    with _LOCK:
        LIVE.add(peer)


def discard(peer: Stoppable) -> None:
    """``peer`` is closed: forget it."""
    with _LOCK:
        LIVE.discard(peer)


@atexit.register
def _stop_live_peers_at_exit() -> None:
    """Stop the pipelines of peers nobody closed, then the GLib thread, before the
    interpreter tears down: no thread of ours may enter Python while it finalises."""
    with _LOCK:
        peers = list(LIVE)
        LIVE.clear()
    for peer in peers:
        peer._stop_now()
    ThreadedGLibLoop.stop_at_exit()
