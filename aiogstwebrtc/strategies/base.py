"""The interface every promise strategy implements."""

from __future__ import annotations

import asyncio
from typing import Any

from ..glibloop import GLibLoop, deliver
from ..gst import Gst
from ..promises import PendingPromises, PromiseOperation, mark_gstreamer_callback, read_reply
from ..tracing import trace

__all__ = ["ChangeFuncStrategy", "Strategy"]


class Strategy:
    """Starts a webrtcbin operation and returns a future for its reply.

    The future resolves on the asyncio loop with the extracted value, or fails with
    :class:`~aiogstwebrtc.promises.ReplyError` or the exception raised on the way.
    """

    name = "base"

    def check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Raise when this strategy cannot run on ``loop``."""

    def start(
        self,
        operation: PromiseOperation,
        glib: GLibLoop,
        pending: PendingPromises,
        timeout: float,
    ) -> asyncio.Future[Any]:
        """Schedule ``operation`` on the GLib thread; return the future of its result."""
        raise NotImplementedError

    @staticmethod
    def _finish(
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        promise: Gst.Promise,
        operation: PromiseOperation,
        where: str,
    ) -> None:
        """Read the reply here (any thread) and hand the outcome to asyncio thread-safely."""
        trace(f"{operation.name} reply read in {where}")
        try:
            value = read_reply(promise, operation.extract)
        except BaseException as exc:
            deliver(loop, future, error=exc)
        else:
            deliver(loop, future, value)

    @staticmethod
    def _emit_guarded(
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        operation: PromiseOperation,
        promise: Gst.Promise,
    ) -> None:
        trace(f"{operation.name} emitted")
        try:
            operation.emit(promise)
        except BaseException as exc:
            deliver(loop, future, error=exc)


class ChangeFuncStrategy(Strategy):
    """A strategy whose promise carries a change-func; subclasses say what the func does.

    :meth:`on_change` runs on webrtcbin's thread when the promise is replied to.
    """

    def start(
        self,
        operation: PromiseOperation,
        glib: GLibLoop,
        pending: PendingPromises,
        timeout: float,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        @mark_gstreamer_callback
        def change_func(promise: Gst.Promise, *_: Any) -> None:
            self.on_change(promise, operation, loop, future, glib)

        promise = Gst.Promise.new_with_change_func(change_func)
        pending.add(future, operation.name, promise)
        glib.call_soon(self._emit_guarded, loop, future, operation, promise)
        return future

    def on_change(
        self,
        promise: Gst.Promise,
        operation: PromiseOperation,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        glib: GLibLoop,
    ) -> None:
        """Handle the replied ``promise`` (webrtcbin's thread)."""
        raise NotImplementedError
