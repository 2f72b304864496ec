"""Solution 3: the change-func reschedules the rest of the work onto the GLib thread."""

from __future__ import annotations

import asyncio
from typing import Any

from ..glibloop import GLibLoop
from ..gst import Gst
from ..promises import PromiseOperation
from .base import ChangeFuncStrategy

__all__ = ["CallbackStrategy"]


class CallbackStrategy(ChangeFuncStrategy):
    """The change-func only posts an idle callback to the GLib thread, which reads the reply."""

    name = "callback"

    def on_change(
        self,
        promise: Gst.Promise,
        operation: PromiseOperation,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        glib: GLibLoop,
    ) -> None:
        # The promise stays referenced by the scheduled call until the idle runs.
        glib.call_soon(self._finish, loop, future, promise, operation, "a GLib idle callback")
