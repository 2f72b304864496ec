"""One websocket peer of the signalling server: its bounded send queue and writer task.

A slow or stuck peer only ever loses its own connection: what waits for it is bounded in
messages and in characters, and a peer letting either fill up is dropped.

A message for a peer with nothing queued, nothing being written and room in its socket
buffer is written at once, as a websocket frame built once per message however many peers
get it (:func:`text_frame`): a status fanned out to 900 listeners is then 900 socket writes
in one callback instead of 900 writer tasks woken one by one (issue 15: the other clients'
p99 latency during such fan-outs).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable

from aiohttp import WSCloseCode, web

from .limits import RateLimit, RateLimiter

__all__ = ["CLOSE_TIMEOUT", "Connection", "LazyFrame", "text_frame"]

log = logging.getLogger("aiogstwebrtc.signalling.server")

CLOSE_TIMEOUT = 2.0
"""Seconds for a peer's close handshake, or for its last messages to go out."""

DIRECT_WRITE_LIMIT = 64 * 1024
"""Bytes in a peer's socket buffer below which a message may skip its queue."""


def text_frame(text: str) -> bytes:
    """``text`` as one final, unmasked websocket text frame (RFC 6455 5.2), as a server
    sends it without compression."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class LazyFrame:
    """``text``'s websocket frame, built on the first call and kept: once per message however
    many peers are written to directly, never for a message that only goes to queues."""

    __slots__ = ("_frame", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._frame: bytes | None = None

    def __call__(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.text)
        return self._frame


class Connection:
    """One websocket peer: a bounded queue of texts and the task writing them in order.

    The queue is bounded in messages and in characters; a peer letting either fill up
    (it does not read) is dropped.
    """

    def __init__(
        self,
        peer_id: str,
        ws: web.WebSocketResponse,
        request: web.Request,
        queue_size: int,
        queue_chars: int,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.ws = ws
        self.request = request
        self.dropped = False
        self.paced = 0
        """Messages for this peer waiting in the server's fan-out pacer (``.pacing``)."""
        self.limiter = None if rate_limit is None else RateLimiter(rate_limit)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size)
        self._queued_chars = 0
        self._max_queued_chars = queue_chars
        self._closing: asyncio.Future[None] | None = None
        self._writing = False
        self._writer = asyncio.create_task(self._write_loop(), name=f"signalling-send-{peer_id}")

    def send(self, text: str, frame: Callable[[], bytes] | None = None) -> None:
        """Send ``text`` at once (as ``frame()``, e.g. a :class:`LazyFrame`) when nothing is
        ahead of it, else queue it; a peer that lets its queue fill up is disconnected."""
        if self.dropped:
            return
        if frame is not None and self._may_write_now():
            transport = self.request.transport
            assert transport is not None
            transport.write(frame())
            return
        try:
            if self._queued_chars + len(text) > self._max_queued_chars:
                raise asyncio.QueueFull
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("peer %s does not read its messages: disconnecting it", self.peer_id)
            self.drop("send queue full")
            return
        self._queued_chars += len(text)

    def _may_write_now(self) -> bool:
        """Nothing queued or being written, an uncompressed open socket with room."""
        if self._writing or not self._queue.empty() or self.ws.closed or self.ws.compress:
            return False
        transport = self.request.transport
        return (
            transport is not None
            and not transport.is_closing()
            and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT
        )

    async def _write_loop(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            self._writing = True  # from here until sent, nothing may overtake it
            self._queued_chars -= len(text)
            try:
                await self.ws.send_str(text)
            except Exception as exc:  # the socket went away: the reader notices and cleans up
                log.debug("sending to peer %s failed: %r", self.peer_id, exc)
                self.dropped = True
                return
            finally:
                self._writing = False

    def drop(self, reason: str) -> None:
        """Abort the connection at once (from any task, never blocking).

        A graceful close would wait behind the data the peer does not read; worse,
        cancelling a send blocked in aiohttp's drain cancels a future shared by every
        writer of the socket. Aborting makes the pending send and the reader fail, and
        the connection's handler cleans up as for any disconnect.
        """
        if self.dropped:
            return
        self.dropped = True
        log.debug("aborting the connection of peer %s: %s", self.peer_id, reason)
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(
        self, code: int = WSCloseCode.OK, reason: str = "", timeout: float = CLOSE_TIMEOUT
    ) -> None:
        """Close the websocket, aborting the transport if that takes over ``timeout`` s
        (a peer that does not read: the close frame cannot even be written)."""
        try:
            async with asyncio.timeout(timeout):
                await self.ws.close(code=code, message=reason.encode())
        except Exception as exc:  # TimeoutError included
            log.debug("closing peer %s cleanly failed (%r): aborting", self.peer_id, exc)
            transport = self.request.transport
            if transport is not None:
                transport.abort()

    def close_soon(self, code: int, reason: str) -> None:
        """Start :meth:`close` in a task of its own (from a timer callback)."""
        task = asyncio.ensure_future(self.close(code, reason))
        self._closing = task  # keep a reference until it is done

    async def finish(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Let queued texts go out (for ``timeout`` s at most), then stop the writer task."""
        if not self._writer.done():
            try:
                self._queue.put_nowait(None)
            except asyncio.QueueFull:
                self.drop("send queue full at disconnect")
            _, pending = await asyncio.wait({self._writer}, timeout=timeout)
            if pending:
                self.drop("send queue not drained at disconnect")
                await asyncio.wait(pending, timeout=timeout)
