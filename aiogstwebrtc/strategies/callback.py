"""Solution 3: the change-func reschedules the rest of the work onto the GLib thread."""

from __future__ import annotations

import asyncio
from typing import Any

from ..glibloop import GLibLoop
from ..gst import Gst
from ..promises import PendingPromises, PromiseOperation, mark_gstreamer_callback
from .base import Strategy

__all__ = ["CallbackStrategy"]


class CallbackStrategy(Strategy):
    """The change-func only posts an idle callback to the GLib thread, which reads the reply."""

    name = "callback"

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
        def on_change(promise: Gst.Promise, *_: Any) -> None:
            # The promise object stays referenced by this closure until the idle runs.
            glib.call_soon(self._finish, loop, future, promise, operation, "a GLib idle callback")

        promise = Gst.Promise.new_with_change_func(on_change)
        pending.add(future, operation.name, promise)
        glib.call_soon(self._emit_guarded, loop, future, operation, promise)
        return future
