"""``DataChannel``: send, receive, async iteration and backpressure on a webrtcbin channel."""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_RECEIVE_CAP, check_receive_cap
from .errors import ClosedError, InvalidStateError, MessageTooLargeError, WebRTCError
from .events import EventEmitter
from .glibloop import post, resolve_future
from .gst import GLib, GstWebRTC
from .promises import bounded_wait, mark_gstreamer_callback
from .timeouts import wait_for
from .tracing import trace

if TYPE_CHECKING:
    from .glibloop import GLibLoop

__all__ = [
    "DEFAULT_BUFFERED_AMOUNT_LOW_THRESHOLD",
    "DEFAULT_RECEIVE_CAP",
    "MAX_MESSAGE_SIZE",
    "DataChannel",
    "check_receive_cap",
]

log = logging.getLogger(__name__)

#: webrtcbin 1.22 refuses larger messages.
MAX_MESSAGE_SIZE = 65536
#: ``drain()`` waits while more than this many bytes are queued (settable per channel).
DEFAULT_BUFFERED_AMOUNT_LOW_THRESHOLD = 1 << 20

Message = str | bytes


def _held_bytes(message: Message) -> int:
    """Memory a kept message takes: its payload and the object around it."""
    return sys.getsizeof(message)


class _ChannelEvents(EventEmitter):
    """A channel's events; a new ``message`` handler first gets the queued messages.

    It refers to its channel weakly: a channel and its emitter in a reference cycle would
    wait for the cyclic garbage collector, and with them the GLib loop they refer to.
    """

    _event_names = frozenset({"open", "message", "close", "error", "bufferedamountlow"})

    def __init__(self, channel: DataChannel) -> None:
        super().__init__()
        self._channel_ref = weakref.ref(channel)

    def _handler_added(self, event: str) -> None:
        channel = self._channel_ref()
        if channel is not None and event == "message" and channel._queue:
            channel._loop.call_soon(self.flush_messages)

    def flush_messages(self) -> None:
        """Hand queued messages to the ``message`` handlers, in order."""
        channel = self._channel_ref()
        if channel is None:
            return
        queue = channel._queue
        while queue and self.has_handlers("message"):
            self.emit("message", channel._taken(queue.popleft()))


#: ``DataChannel._amount_bound`` before webrtcbin's buffered amount was first read.
_AMOUNT_UNREAD = 1 << 62


class DataChannel:
    """A WebRTC data channel (``RTCDataChannel``) backed by webrtcbin.

    Incoming messages go to ``"message"`` handlers when there are any, otherwise they wait
    in a queue for :meth:`recv` / ``async for`` — none is dropped. What waits is capped at
    :attr:`receive_cap` bytes: a peer sending more than the application reads closes the
    channel with an ``error`` event naming the cap (then :meth:`recv` returns what was kept
    and raises that error). Events: ``open``, ``message``, ``close``, ``error``,
    ``bufferedamountlow``. Handlers run on the asyncio thread.
    """

    def __init__(
        self,
        channel: GstWebRTC.WebRTCDataChannel,
        loop: asyncio.AbstractEventLoop,
        glib: GLibLoop,
        receive_cap: int = DEFAULT_RECEIVE_CAP,
    ) -> None:
        self._events = _ChannelEvents(self)
        self._channel: GstWebRTC.WebRTCDataChannel | None = channel
        self._loop = loop
        self._glib = glib
        self._label: str = channel.get_property("label") or ""
        self._ordered: bool = bool(channel.get_property("ordered"))
        self._protocol: str = channel.get_property("protocol") or ""
        self._negotiated: bool = bool(channel.get_property("negotiated"))
        retransmits = channel.get_property("max-retransmits")
        lifetime = channel.get_property("max-packet-lifetime")
        self._max_retransmits: int | None = retransmits if retransmits >= 0 else None
        self._max_packet_lifetime: int | None = lifetime if lifetime >= 0 else None
        self._id: int = channel.get_property("id")
        self._ready_state = "connecting"
        self._threshold = DEFAULT_BUFFERED_AMOUNT_LOW_THRESHOLD
        channel.set_property("buffered-amount-low-threshold", self._threshold)
        # An upper bound of webrtcbin's buffered amount without asking it (asyncio thread):
        # the amount last read plus every byte sent since. webrtcbin only lowers the amount
        # on its own, so while the bound is at or below the threshold drain() need not ask.
        # Unknown until first read once open: webrtcbin counts its DCEP OPEN/ACK too.
        self._amount_bound = _AMOUNT_UNREAD
        self._queue: collections.deque[Message] = collections.deque()
        self._incoming: collections.deque[Message] = collections.deque()
        self._incoming_scheduled = False
        # Bytes received and not yet handed to the application; read and written under
        # ``_unread_lock`` by GStreamer's thread (adding) and asyncio's (taking away).
        self._receive_cap = check_receive_cap(receive_cap, "receive_cap")
        self._unread_lock = threading.Lock()
        self._unread_bytes = 0
        self._over_cap = False
        self._close_fallback: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None  # close() under way
        self._recv_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._open_waiters: list[asyncio.Future[None]] = []
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._close_waiters: list[asyncio.Future[None]] = []
        self._error: WebRTCError | None = None
        self._handler_ids: list[int] = [
            channel.connect("on-open", mark_gstreamer_callback(self._gst_on_open)),
            channel.connect("on-close", mark_gstreamer_callback(self._gst_on_close)),
            channel.connect("on-error", mark_gstreamer_callback(self._gst_on_error)),
            channel.connect("on-message-string", mark_gstreamer_callback(self._gst_on_string)),
            channel.connect("on-message-data", mark_gstreamer_callback(self._gst_on_data)),
            channel.connect("on-buffered-amount-low", mark_gstreamer_callback(self._gst_on_low)),
        ]
        state = channel.get_property("ready-state")
        if state == GstWebRTC.WebRTCDataChannelState.OPEN:
            self._post(self._on_open, self._id)

    # --- properties --------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The channel's label."""
        return self._label

    @property
    def id(self) -> int | None:
        """The SCTP stream id, or None until the channel is negotiated."""
        return self._id if self._id >= 0 else None

    @property
    def ordered(self) -> bool:
        """True when messages are delivered in order."""
        return self._ordered

    @property
    def protocol(self) -> str:
        """The sub-protocol name given at creation."""
        return self._protocol

    @property
    def negotiated(self) -> bool:
        """True when the channel was negotiated out of band (both sides created it by id)."""
        return self._negotiated

    @property
    def max_retransmits(self) -> int | None:
        """Retransmissions allowed per message, or None for reliable delivery."""
        return self._max_retransmits

    @property
    def max_packet_lifetime(self) -> int | None:
        """Milliseconds a message may be retransmitted for, or None."""
        return self._max_packet_lifetime

    @property
    def receive_cap(self) -> int:
        """Bytes of received messages kept unread before the channel closes with an error."""
        return self._receive_cap

    @property
    def ready_state(self) -> str:
        """``connecting``, ``open``, ``closing`` or ``closed``."""
        return self._ready_state

    @property
    def buffered_amount(self) -> int:
        """Bytes queued by :meth:`send` and not yet handed to the network."""
        channel = self._channel
        if channel is None:
            return 0
        amount = int(channel.get_property("buffered-amount"))
        if self._ready_state == "open":  # until then webrtcbin may still add its DCEP OPEN
            self._amount_bound = amount
        return amount

    @property
    def buffered_amount_low_threshold(self) -> int:
        """:meth:`drain` returns once :attr:`buffered_amount` is at or below this."""
        return self._threshold

    @buffered_amount_low_threshold.setter
    def buffered_amount_low_threshold(self, value: int) -> None:
        if not isinstance(value, int) or value < 0:
            raise ValueError("buffered_amount_low_threshold must be a non-negative int")
        self._threshold = value  # drain() uses it at once; webrtcbin's copy follows:
        if self._glib.in_glib_thread():
            self._apply_threshold()
        else:
            self._glib.call_soon(self._apply_threshold)

    def _apply_threshold(self) -> None:
        """GLib thread: webrtcbin fires ``bufferedamountlow`` at the latest threshold.

        webrtcbin fires it only when the amount *crosses* its threshold. A drain() waiting
        on the new threshold while webrtcbin still had the old one (higher) could see the
        amount fall below the new one before it was set here, and never be woken: so once
        set, a queue already at or below it wakes the waiters.
        """
        channel = self._channel
        if channel is not None:
            channel.set_property("buffered-amount-low-threshold", self._threshold)
            if int(channel.get_property("buffered-amount")) <= self._threshold:
                self._post(self._wake_drains)  # not the event: nothing crossed

    # --- events ------------------------------------------------------------------------------

    def on(self, event: str, handler: Any = None) -> Any:
        """Register an event handler (``@channel.on("message")`` works as a decorator)."""
        return self._events.on(event, handler)

    def off(self, event: str, handler: Any) -> None:
        """Remove an event handler."""
        self._events.off(event, handler)

    # --- sending -----------------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send ``data`` (text or binary) to the remote peer.

        Raises :class:`MessageTooLargeError` over 64 KiB, ``ValueError`` for an empty message
        (webrtcbin cannot send one), :class:`InvalidStateError` before the
        channel is open and :class:`ClosedError` after it closed.
        """
        if isinstance(data, str):
            size = len(data.encode())
        elif isinstance(data, bytes | bytearray | memoryview):
            data = bytes(data)
            size = len(data)
        else:
            raise TypeError(f"data must be str or bytes, not {type(data).__name__}")
        channel = self._channel  # read once: teardown on the GLib thread may clear it
        if self._ready_state != "open" or channel is None:
            if self._ready_state == "connecting":
                raise InvalidStateError(f"data channel {self._label!r} is not open yet")
            # "open" with no channel: detached by the connection's teardown, not yet told
            state = "closed" if self._ready_state == "open" else self._ready_state
            raise ClosedError(f"data channel {self._label!r} is {state}")
        if size == 0:
            # webrtcbin 1.22's sctpenc fails on an empty message and the channel dies with it.
            raise ValueError("webrtcbin cannot send empty messages")
        if size > MAX_MESSAGE_SIZE:
            raise MessageTooLargeError(
                f"message of {size} bytes is over the {MAX_MESSAGE_SIZE}-byte limit"
            )
        self._amount_bound += size  # before the call: the bytes may count from any moment on
        try:
            if isinstance(data, str):
                channel.send_string_full(data)
            else:
                channel.send_data_full(GLib.Bytes.new(data))
        except GLib.Error as exc:
            if "too large" in exc.message:
                raise MessageTooLargeError(exc.message) from exc
            raise ClosedError(f"data channel {self._label!r}: {exc.message}") from exc

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until :attr:`buffered_amount` is at or below the low threshold."""
        if self._amount_bound <= self._threshold:
            return  # below it for certain: webrtcbin not asked (a call per message saved)
        while self.buffered_amount > self._threshold:
            if self._ready_state == "closed":
                raise ClosedError(f"data channel {self._label!r} closed with data queued")
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._drain_waiters.append(waiter)
            if self.buffered_amount <= self._threshold:  # crossed before we registered
                self._drain_waiters.remove(waiter)
                break
            try:
                if timeout is None:
                    await waiter
                else:
                    await bounded_wait(waiter, timeout, "drain", lambda: self._ready_state)
            finally:  # timed out or cancelled: the list keeps no stale waiter
                if waiter in self._drain_waiters:
                    self._drain_waiters.remove(waiter)

    # --- receiving ---------------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message; raises :class:`ClosedError` once closed and nothing is left."""
        while not self._queue:
            if self._ready_state == "closed":
                raise self._error or ClosedError(f"data channel {self._label!r} is closed")
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._recv_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._recv_waiters:
                    self._recv_waiters.remove(waiter)
        return self._taken(self._queue.popleft())

    def __aiter__(self) -> DataChannel:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ClosedError:
            if self._error is not None:
                raise
            raise StopAsyncIteration from None

    # --- opening and closing -----------------------------------------------------------------

    async def wait_open(self, timeout: float = 10.0) -> None:
        """Return once the channel is open; :class:`OperationTimeoutError` after ``timeout``."""
        if self._ready_state == "open":
            return
        if self._ready_state in ("closing", "closed"):
            raise ClosedError(f"data channel {self._label!r} is {self._ready_state}")
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._open_waiters.append(waiter)
        try:
            await bounded_wait(
                waiter, timeout, f"opening data channel {self._label!r}", lambda: self._ready_state
            )
        finally:  # timed out or cancelled: the list keeps no stale waiter
            if waiter in self._open_waiters:
                self._open_waiters.remove(waiter)

    def close(self, timeout: float = 2.0) -> asyncio.Future[None]:
        """Close the channel; the returned future is done once it is closed. Safe twice.

        The channel stops sending at once (``ready_state`` is ``closing``) and closes whether
        or not the future is awaited: ``channel.close()`` as in aiortc, or
        ``await channel.close()`` to wait (up to ``timeout``) for the close to complete.
        Call it on the channel's asyncio loop.
        """
        if self._closing is not None:
            return self._closing
        if self._ready_state == "closed" or self._channel is None:
            done: asyncio.Future[None] = self._loop.create_future()
            done.set_result(None)
            return done
        ask_gstreamer = self._ready_state != "closing"  # (else the remote is closing it)
        self._ready_state = "closing"  # send() refuses from now on
        self._closing = self._loop.create_task(self._close(ask_gstreamer, timeout))
        return self._closing

    async def _close(self, ask_gstreamer: bool, timeout: float) -> None:
        if self._ready_state == "closed":
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._close_waiters.append(waiter)
        try:
            if ask_gstreamer:  # not awaited: a GLib loop stopping meanwhile cannot hang this
                self._glib.call_soon(self._close_gst_channel)
            await wait_for(asyncio.shield(waiter), timeout)
        except Exception as exc:  # nobody may await this: close locally, never raise
            if not isinstance(exc, TimeoutError):
                log.debug("closing data channel %r: %r", self._label, exc)
            log.warning("data channel %r did not confirm close; closing locally", self._label)
            self._on_closed(None)

    # --- called by the peer connection -------------------------------------------------------

    def _detach(self) -> None:
        """Disconnect from GStreamer (GLib thread): no signal reaches this object afterwards."""
        channel, self._channel = self._channel, None
        if channel is not None:
            for handler_id in self._handler_ids:
                channel.disconnect(handler_id)
            self._handler_ids.clear()

    def _on_closed(self, error: WebRTCError | None) -> None:
        """Mark closed and wake every waiter (asyncio thread)."""
        if self._ready_state == "closed":
            return
        if self._close_fallback is not None:
            self._close_fallback.cancel()
            self._close_fallback = None
        if error is not None and self._error is None:
            self._error = error
        self._ready_state = "closed"
        closed = ClosedError(f"data channel {self._label!r} is closed")
        for waiter in self._open_waiters + self._drain_waiters:
            resolve_future(waiter, error=error or closed)
            if waiter.done() and not waiter.cancelled():
                waiter.exception()
        for waiter in list(self._recv_waiters) + self._close_waiters:
            resolve_future(waiter)
        self._open_waiters.clear()
        self._drain_waiters.clear()
        self._close_waiters.clear()
        self._events.emit("close")

    # --- GStreamer threads -> asyncio --------------------------------------------------------

    def _post(self, fn: Any, *args: Any) -> None:
        post(self._loop, fn, *args)

    def _gst_on_open(self, channel: Any) -> None:
        trace(f"data channel {self._label!r} on-open")
        self._post(self._on_open, channel.get_property("id"))

    def _gst_on_close(self, _channel: Any) -> None:
        trace(f"data channel {self._label!r} on-close")
        self._post(self._on_closed, None)

    def _gst_on_error(self, _channel: Any, error: Any) -> None:
        message = error.message if isinstance(error, GLib.Error) else str(error)
        trace(f"data channel {self._label!r} on-error")
        self._post(self._on_error, message)

    def _gst_on_string(self, _channel: Any, text: str | None) -> None:
        self._push(text or "")

    def _gst_on_data(self, _channel: Any, data: GLib.Bytes | None) -> None:
        self._push(b"" if data is None else data.get_data())

    def _push(self, message: Message) -> None:
        """GStreamer thread: queue a message; one asyncio wake-up serves a whole batch.

        Past the receive cap the channel is closed instead: the message and any after it
        are not kept, and the application gets an ``error`` naming the cap.
        """
        size = _held_bytes(message)
        with self._unread_lock:
            if self._over_cap:
                return  # the channel is closing with an error already reported
            if self._unread_bytes + size > self._receive_cap:
                self._over_cap = True
                unread = self._unread_bytes
            else:
                self._unread_bytes += size
                unread = -1
        if unread >= 0:
            self._gst_over_cap(unread, size)
            return
        self._incoming.append(message)  # before reading the flag: nothing can be stranded
        if not self._incoming_scheduled:
            self._incoming_scheduled = True
            self._post(self._flush_incoming)

    def _flush_incoming(self) -> None:
        """asyncio thread: deliver the batch in order."""
        self._incoming_scheduled = False  # before draining: later messages schedule again
        while self._incoming:
            self._on_message(self._incoming.popleft())

    def _gst_on_low(self, _channel: Any) -> None:
        self._post(self._on_low)

    def _gst_over_cap(self, unread: int, size: int) -> None:
        """GStreamer thread: close the stream now (on the GLib thread), tell asyncio."""
        log.warning(
            "data channel %r: %d bytes unread and %d more arrived, over its receive cap of "
            "%d bytes: closing it",
            self._label,
            unread,
            size,
            self._receive_cap,
        )
        self._glib.call_soon(self._close_gst_channel)
        self._post(self._on_over_cap)

    def _close_gst_channel(self) -> None:
        """GLib thread: close webrtcbin's channel unless it was detached meanwhile."""
        channel = self._channel
        if channel is not None:
            channel.close()

    # --- asyncio thread ----------------------------------------------------------------------

    def _on_open(self, stream_id: int) -> None:
        if self._ready_state != "connecting":
            return
        self._id = stream_id
        self._ready_state = "open"
        for waiter in self._open_waiters:
            resolve_future(waiter)
        self._open_waiters.clear()
        self._events.emit("open")

    def _on_over_cap(self) -> None:
        """asyncio thread: report the cap as the channel's error; it is closing."""
        error = WebRTCError(
            f"data channel {self._label!r}: more than {self._receive_cap} bytes received and "
            "not read (its receive cap): the channel is closed; read faster or raise "
            "receive_cap (create_data_channel) / data_channel_receive_cap (Configuration)"
        )
        self._error = error
        self._events.emit("error", error)
        if self._ready_state in ("connecting", "open"):
            self._ready_state = "closing"
        if self._ready_state == "closing" and self._close_fallback is None:
            # If webrtcbin never confirms, close locally as close() would.
            self._close_fallback = self._loop.call_later(2.0, self._on_closed, None)

    def _taken(self, message: Message) -> Message:
        """asyncio thread: ``message`` leaves our hands; its bytes no longer count."""
        size = _held_bytes(message)
        with self._unread_lock:
            self._unread_bytes -= size
        return message

    def _on_error(self, message: str) -> None:
        error = WebRTCError(f"data channel {self._label!r}: {message}")
        self._error = error
        self._events.emit("error", error)

    def _on_message(self, message: Message) -> None:
        if self._events.has_handlers("message") and not self._queue:
            self._events.emit("message", self._taken(message))
            return
        self._queue.append(message)
        if self._recv_waiters:
            resolve_future(self._recv_waiters.popleft())
        elif self._events.has_handlers("message"):
            self._events.flush_messages()

    def _on_low(self) -> None:
        self._wake_drains()
        self._events.emit("bufferedamountlow")

    def _wake_drains(self) -> None:
        for waiter in self._drain_waiters:
            resolve_future(waiter)
        self._drain_waiters.clear()

    def __repr__(self) -> str:
        return f"<DataChannel {self._label!r} id={self.id} {self._ready_state}>"
