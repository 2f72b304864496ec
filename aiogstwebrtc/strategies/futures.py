"""Solution 4: the change-func resolves an asyncio future with ``call_soon_threadsafe``."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import InvalidStateError
from ..glibloop import GLibLoop, gi_events_context
from ..gst import Gst
from ..promises import PendingPromises, PromiseOperation, mark_gstreamer_callback
from .base import Strategy

__all__ = ["AsyncioStrategy", "GiEventsStrategy"]


class AsyncioStrategy(Strategy):
    """Default: the reply is read in the change-func and the future woken thread-safely."""

    name = "asyncio"

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
            self._finish(loop, future, promise, operation, "the promise change-func")

        promise = Gst.Promise.new_with_change_func(on_change)
        pending.add(future, operation.name, promise)
        glib.call_soon(self._emit_guarded, loop, future, operation, promise)
        return future


class GiEventsStrategy(AsyncioStrategy):
    """Like ``asyncio``, but asyncio runs on PyGObject's GLib loop: no second thread."""

    name = "gi-events"

    def check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if gi_events_context(loop) is None:
            raise InvalidStateError(
                "strategy 'gi-events' needs asyncio to run on gi.events' GLib loop: "
                "use aiogstwebrtc.run(main()) or gi.events.GLibEventLoopPolicy"
            )
