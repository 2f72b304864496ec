"""What the doctor observes inside a run: promise operations and callbacks with their threads.

:class:`RecordingStrategy` wraps any strategy and notes, for each webrtcbin operation, on
which thread it was emitted, where its reply was read, what the reply held, and when and
where asyncio saw the result. :class:`SignalRecorder` notes the thread of webrtcbin's signals.
Both only append to their own records from GStreamer threads; nothing calls into asyncio.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..glibloop import GLibLoop
from ..gst import GObject, Gst
from ..promises import PendingPromises, PromiseOperation
from ..strategies import Strategy

if TYPE_CHECKING:
    from ..peerconnection import PeerConnection

__all__ = ["OperationRecord", "RecordingStrategy", "SignalRecorder", "describe_thread"]

_GLIB_THREAD = "aiogstwebrtc-glib"


def _native_name() -> str | None:
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm") as comm:
            return comm.read().strip() or None
    except OSError:
        return None


def describe_thread(asyncio_thread: int | None = None) -> tuple[str, str]:
    """``(name, kind)`` of the calling thread; kind: asyncio, glib, gstreamer or python.

    GStreamer's threads carry their native names (``webrtcbin0:pc`` is webrtcbin's operation
    thread); ``asyncio_thread`` is the ``threading.get_ident()`` of the event loop's thread.
    """
    thread = threading.current_thread()
    if isinstance(thread, threading._DummyThread):
        name = _native_name() or f"thread {threading.get_native_id()}"
        return name, "gstreamer"
    if asyncio_thread is not None and threading.get_ident() == asyncio_thread:
        return thread.name, "asyncio"
    if thread.name == _GLIB_THREAD:
        return thread.name, "glib"
    return thread.name, "python"


def describe_reply(reply: Gst.Structure | None) -> str:
    """``none`` or the reply structure's name and field names."""
    if reply is None:
        return "none"
    names = [reply.nth_field_name(index) for index in range(reply.n_fields())]
    return f"{reply.get_name()} {{{', '.join(names)}}}"


@dataclass
class OperationRecord:
    """One webrtcbin operation as it went through a strategy (times are ``time.monotonic``)."""

    operation: str
    requested: float
    emitted: float | None = None
    emitted_on: tuple[str, str] | None = None
    reply_read: float | None = None
    reply_read_on: tuple[str, str] | None = None
    reply: str | None = None
    verified: bool = False
    seen: float | None = None
    seen_on: tuple[str, str] | None = None
    outcome: str | None = None

    @property
    def wakeup_delay(self) -> float | None:
        """Seconds between the reply being read and asyncio seeing the result."""
        if self.reply_read is None or self.seen is None:
            return None
        return self.seen - self.reply_read

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in ms from the request)."""

        def ms(moment: float | None) -> float | None:
            return None if moment is None else round((moment - self.requested) * 1000, 3)

        def where(place: tuple[str, str] | None) -> dict[str, str] | None:
            return None if place is None else {"thread": place[0], "kind": place[1]}

        delay = self.wakeup_delay
        return {
            "operation": self.operation,
            "emitted_on": where(self.emitted_on),
            "reply_read_on": where(self.reply_read_on),
            "result_seen_on": where(self.seen_on),
            "reply": self.reply,
            "verified": self.verified,
            "outcome": self.outcome,
            "emitted_ms": ms(self.emitted),
            "reply_ms": ms(self.reply_read),
            "seen_ms": ms(self.seen),
            "wakeup_delay_ms": None if delay is None else round(delay * 1000, 3),
        }


class RecordingStrategy(Strategy):
    """Delegates to ``inner`` and records every operation (see :class:`OperationRecord`)."""

    def __init__(self, inner: Strategy, asyncio_thread: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.records: list[OperationRecord] = []
        self._asyncio_thread = asyncio_thread

    def check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.inner.check_loop(loop)

    def last(self, operation: str) -> OperationRecord | None:
        """The latest record of ``operation``."""
        for record in reversed(self.records):
            if record.operation == operation:
                return record
        return None

    def start(
        self,
        operation: PromiseOperation,
        glib: GLibLoop,
        pending: PendingPromises,
        timeout: float,
    ) -> asyncio.Future[Any]:
        record = OperationRecord(operation.name, time.monotonic())
        asyncio_thread = self._asyncio_thread

        def emit(promise: Gst.Promise) -> None:
            record.emitted = time.monotonic()
            record.emitted_on = describe_thread(asyncio_thread)
            operation.emit(promise)

        def extract(reply: Gst.Structure | None) -> Any:
            record.reply_read = time.monotonic()
            record.reply_read_on = describe_thread(asyncio_thread)
            record.reply = describe_reply(reply)
            value = operation.extract(reply)
            record.verified = True
            return value

        def seen(future: asyncio.Future[Any]) -> None:
            record.seen = time.monotonic()
            record.seen_on = describe_thread(asyncio_thread)
            if future.cancelled():
                record.outcome = "cancelled"
            elif future.exception() is not None:
                record.outcome = f"error: {future.exception()}"
            else:
                record.outcome = "ok"

        self.records.append(record)
        future = self.inner.start(
            PromiseOperation(operation.name, emit, extract), glib, pending, timeout
        )
        future.add_done_callback(seen)
        return future


@dataclass
class SignalRecorder:
    """Counts webrtcbin's signals by (signal, thread) without leaving GStreamer's threads."""

    asyncio_thread: int
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _handlers: list[tuple[GObject.Object, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    SIGNALS = (
        "on-negotiation-needed",
        "on-ice-candidate",
        "on-data-channel",
        "notify::signaling-state",
        "notify::connection-state",
        "notify::ice-gathering-state",
    )

    async def attach(self, pc: PeerConnection) -> None:
        """Connect to ``pc``'s webrtcbin (on the GLib thread)."""

        def connect(_pipeline: Gst.Pipeline, webrtc: Gst.Element) -> None:
            for signal in self.SIGNALS:
                handler_id = webrtc.connect(signal, self._make_handler(signal))
                self._handlers.append((webrtc, handler_id))

        await pc.run_in_glib(connect)

    async def detach(self, pc: PeerConnection) -> None:
        """Disconnect every handler (on the GLib thread)."""

        def disconnect(_pipeline: Gst.Pipeline, _webrtc: Gst.Element) -> None:
            for gst_object, handler_id in self._handlers:
                if gst_object.handler_is_connected(handler_id):
                    gst_object.disconnect(handler_id)
            self._handlers.clear()

        await pc.run_in_glib(disconnect)

    def _make_handler(self, signal: str) -> Any:
        def handler(*_args: Any) -> None:
            name, kind = describe_thread(self.asyncio_thread)
            with self._lock:
                self.counts[(signal, name, kind)] += 1

        return handler

    def to_list(self) -> list[dict[str, Any]]:
        """``[{"callback", "thread", "kind", "count"}]`` in signal order."""
        with self._lock:
            items = list(self.counts.items())
        order = {signal: index for index, signal in enumerate(self.SIGNALS)}
        items.sort(key=lambda item: (order.get(item[0][0], 99), item[0][1]))
        return [
            {"callback": signal, "thread": name, "kind": kind, "count": count}
            for (signal, name, kind), count in items
        ]
