"""Solution 1: synchronous promises on the GLib thread, with a guarded wait."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..errors import InvalidStateError
from ..glibloop import GLibLoop, deliver
from ..gst import Gst
from ..promises import PendingPromises, PromiseOperation, in_gstreamer_callback
from ..tracing import trace
from .base import Strategy

__all__ = ["SyncStrategy", "guarded_wait"]


def guarded_wait(promise: Gst.Promise, timeout: float) -> Gst.PromiseResult:
    """``promise.wait()`` that gives up after ``timeout`` s by interrupting the promise.

    Refuses to block inside a webrtcbin signal handler or change-func: a wait there
    deadlocks webrtcbin's thread for good.
    """
    if in_gstreamer_callback():
        raise InvalidStateError(
            "refusing a synchronous promise wait on a GStreamer thread: it would deadlock "
            "webrtcbin (use it only on the GLib thread or your own thread)"
        )
    watchdog = threading.Timer(timeout, promise.interrupt)
    watchdog.daemon = True
    watchdog.start()
    try:
        result: Gst.PromiseResult = promise.wait()
    finally:
        watchdog.cancel()
    return result


class SyncStrategy(Strategy):
    """Emit with ``Gst.Promise.new()`` and block the GLib thread until the reply is there."""

    name = "sync"

    def start(
        self,
        operation: PromiseOperation,
        glib: GLibLoop,
        pending: PendingPromises,
        timeout: float,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        promise = Gst.Promise.new()
        pending.add(future, operation.name, promise)

        def run() -> None:
            try:
                if in_gstreamer_callback():
                    guarded_wait(promise, timeout)  # raises: never block webrtcbin's thread
                operation.emit(promise)
                trace(f"{operation.name} emitted, waiting synchronously")
                guarded_wait(promise, timeout)
            except BaseException as exc:
                deliver(loop, future, error=exc)
                return
            self._finish(loop, future, promise, operation, "the GLib thread after wait()")

        glib.call_soon(run)
        return future
