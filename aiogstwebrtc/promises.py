"""``Gst.Promise`` ⇄ asyncio: holding promises, reading replies, errors and timeouts.

A webrtcbin promise's change-func runs on webrtcbin's own thread. Everything here reads the
reply *there*, while it is alive, and hands a plain Python value (or an exception) back to
asyncio with ``call_soon_threadsafe`` — the strategies in :mod:`aiogstwebrtc.strategies` differ
only in the route the reply takes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ClosedError, InvalidStateError, NegotiationError, OperationTimeoutError
from .gst import GLib, Gst
from .threadstate import keep_thread_state
from .timeouts import wait_for

__all__ = [
    "PendingPromises",
    "PromiseOperation",
    "ReplyError",
    "bounded_wait",
    "in_gstreamer_callback",
    "mark_gstreamer_callback",
    "read_reply",
    "translate_reply_error",
]

log = logging.getLogger(__name__)

Extractor = Callable[["Gst.Structure | None"], Any]


@dataclass
class PromiseOperation:
    """One webrtcbin operation driven by a promise.

    ``emit`` runs on the GLib thread and emits the action signal with the promise;
    ``extract`` runs while the reply is alive and turns it into a plain Python value.
    """

    name: str
    emit: Callable[[Gst.Promise], None]
    extract: Extractor


class ReplyError(Exception):
    """webrtcbin answered a promise with an error (raw text, translated later)."""


def read_reply(promise: Gst.Promise, extract: Extractor) -> Any:
    """Read a finished promise and return ``extract(reply)``; raise :class:`ReplyError`.

    Must be called while ``promise`` is referenced; the reply structure stays referenced
    until ``extract`` has copied what it needs.
    """
    result = promise.wait()  # returns at once: the promise is no longer pending here
    if result == Gst.PromiseResult.INTERRUPTED:
        raise ReplyError("interrupted")
    if result == Gst.PromiseResult.EXPIRED:
        raise ReplyError("expired")
    reply = promise.get_reply()
    if reply is not None and reply.has_field("error"):
        error = reply.get_value("error")
        message = error.message if isinstance(error, GLib.Error) else str(error)
        raise ReplyError(message)
    value = extract(reply)
    del reply
    return value


def translate_reply_error(error: ReplyError, operation: str, signaling_state: str) -> Exception:
    """Turn webrtcbin's error text into the library's exception for ``operation``."""
    text = str(error)
    if text in ("interrupted", "expired"):
        return ClosedError(f"{operation} was {text}: the peer connection is closing")
    if "is closed" in text:
        return InvalidStateError(
            f"{operation} refused: webrtcbin is closed (the pipeline is not PLAYING)"
        )
    return NegotiationError(
        f"{operation} failed in signaling state {signaling_state}: {text}",
        operation=operation,
        signaling_state=signaling_state,
    )


class PendingPromises:
    """Keeps every promise referenced until its future is done; fails them all on close.

    Used only from the asyncio thread.
    """

    def __init__(self) -> None:
        self._pending: dict[asyncio.Future[Any], tuple[str, Gst.Promise]] = {}

    def add(self, future: asyncio.Future[Any], operation: str, promise: Gst.Promise) -> None:
        """Hold ``promise`` until ``future`` is done."""
        self._pending[future] = (operation, promise)
        future.add_done_callback(self._forget)

    def _forget(self, future: asyncio.Future[Any]) -> None:
        self._pending.pop(future, None)

    def __len__(self) -> int:
        return len(self._pending)

    def promises(self) -> list[tuple[str, Gst.Promise]]:
        """The pending operations and their promises (without touching the futures)."""
        return list(self._pending.values())

    def fail_all(self, error_for: Callable[[str], BaseException]) -> list[Gst.Promise]:
        """Fail every pending future; return their promises so they can be interrupted."""
        promises = []
        for future, (operation, promise) in list(self._pending.items()):
            if not future.done():
                future.set_exception(error_for(operation))
                future.exception()  # retrieved: nobody may be awaiting it any more
            promises.append(promise)
        self._pending.clear()
        return promises


async def bounded_wait(
    future: asyncio.Future[Any], timeout: float, operation: str, state: Callable[[], str]
) -> Any:
    """Await ``future`` for at most ``timeout`` seconds, else raise OperationTimeoutError."""
    try:
        return await wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        if future.done():
            return future.result()
        raise OperationTimeoutError(
            f"{operation} did not complete within {timeout:g} s (state: {state()})",
            operation=operation,
            state=state(),
        ) from None


# --- knowing when we are inside a GStreamer callback ------------------------------------------

_callback_depth = threading.local()


def mark_gstreamer_callback(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GStreamer signal handler so that code below it knows where it runs."""

    def wrapper(*args: Any) -> Any:
        keep_thread_state()
        depth = getattr(_callback_depth, "value", 0)
        _callback_depth.value = depth + 1
        try:
            return fn(*args)
        finally:
            _callback_depth.value = depth

    return wrapper


def in_gstreamer_callback() -> bool:
    """True inside a webrtcbin signal handler or promise change-func (blocking there deadlocks)."""
    if getattr(_callback_depth, "value", 0) > 0:
        return True
    # Threads GStreamer started show up in Python as dummy threads.
    return isinstance(threading.current_thread(), threading._DummyThread)
