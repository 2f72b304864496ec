"""The interface every promise strategy implements."""

from __future__ import annotations

import asyncio
from typing import Any

from ..glibloop import GLibLoop, deliver
from ..gst import Gst
from ..promises import PendingPromises, PromiseOperation, read_reply
from ..tracing import trace

__all__ = ["Strategy"]


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
