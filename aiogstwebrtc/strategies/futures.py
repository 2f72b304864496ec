"""Solution 4: the change-func resolves an asyncio future with ``call_soon_threadsafe``."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import InvalidStateError
from ..glibloop import GLibLoop, gi_events_context
from ..gst import Gst
from ..promises import PromiseOperation
from .base import ChangeFuncStrategy

__all__ = ["AsyncioStrategy", "GiEventsStrategy"]


class AsyncioStrategy(ChangeFuncStrategy):
    """Default: the reply is read in the change-func and the future woken thread-safely."""

    name = "asyncio"

    def on_change(
        self,
        promise: Gst.Promise,
        operation: PromiseOperation,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        glib: GLibLoop,
    ) -> None:
        self._finish(loop, future, promise, operation, "the promise change-func")


class GiEventsStrategy(AsyncioStrategy):
    """Like ``asyncio``, but asyncio runs on PyGObject's GLib loop: no second thread."""

    name = "gi-events"

    def check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if gi_events_context(loop) is None:
            raise InvalidStateError(
                "strategy 'gi-events' needs asyncio to run on gi.events' GLib loop: "
                "use aiogstwebrtc.run(main()) or gi.events.GLibEventLoopPolicy"
            )
