"""Wide fan-outs written a slice per event-loop iteration, so other clients are not kept
waiting behind them.

A status fanned out to 900 listeners is 900 socket writes (about 25 µs each on loopback):
done in one callback, every other client's message waits the whole ~25 ms behind it
(issue 15: a producer re-registering with 900 listeners doubled the others' p99 latency).
:class:`FanoutPacer` writes the first :data:`SLICE` messages of a fan-out at once and the
rest :data:`SLICE` per loop iteration, with the loop's I/O polled in between.

Order per peer is kept: while a peer has messages waiting here, anything else for it
waits behind them (:attr:`Paced.paced`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["SLICE", "FanoutPacer", "Paced"]

SLICE = 64
"""Messages written per loop iteration (about 1.5 ms of socket writes)."""


class Paced(Protocol):
    """A peer's connection as the pacer sees it (``.connection.Connection``)."""

    paced: int
    """Messages for this peer waiting in the pacer."""

    def send(self, text: str, frame: Callable[[], bytes] | None = None) -> None:
        """Write ``text`` now, or queue it behind what the peer has queued."""
        ...


class FanoutPacer:
    """The deferred part of wide fan-outs, written :data:`SLICE` messages per iteration."""

    def __init__(self, slice_size: int = SLICE) -> None:
        self._slice = slice_size
        self._items: deque[tuple[Paced, str, Callable[[], bytes]]] = deque()
        self._handle: asyncio.Handle | None = None

    @property
    def waiting(self) -> int:
        """Messages not written yet."""
        return len(self._items)

    def send(self, conn: Paced, text: str, frame: Callable[[], bytes], *, defer: bool) -> None:
        """Send ``text`` to ``conn``: now, unless ``defer`` (past a fan-out's first slice)
        or ``conn`` already has messages waiting here (they go first)."""
        if not defer and not conn.paced:
            conn.send(text, frame)
            return
        conn.paced += 1
        self._items.append((conn, text, frame))
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._write_slice)

    def _write_slice(self) -> None:
        items = self._items
        for _ in range(min(self._slice, len(items))):
            conn, text, frame = items.popleft()
            conn.paced -= 1
            conn.send(text, frame)
        self._handle = asyncio.get_running_loop().call_soon(self._write_slice) if items else None

    def close(self) -> None:
        """Forget what waits (the server is stopping)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for conn, _text, _frame in self._items:
            conn.paced = 0
        self._items.clear()
