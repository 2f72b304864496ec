"""Ending the cluster's Redis tasks for sure, on every Python we support.

On Python 3.11 (Debian 12) ``asyncio.wait_for`` loses a cancellation that arrives as the
operation it waits for completes (CPython gh-86296, fixed in 3.12). redis-py wraps every
socket write in ``wait_for`` when a socket timeout is set, so a task cancelled at that
moment carries on as if nothing happened: a cluster server's writer then waited forever
for its next command, and ``stop()`` (or the reconnection after a Redis outage) with it.
:func:`cancel_and_wait` repeats the cancellation until the tasks have really ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]

_RETRY = 0.1  # seconds between repeated cancellations of a task that is still running


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and return once every one of them has ended.

    Their outcomes are consumed (no "exception was never retrieved"). If the caller is
    cancelled meanwhile, the tasks are still ended first, then the cancellation is raised.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=_RETRY)
        except asyncio.CancelledError:
            interrupted = True
            pending = {task for task in pending if not task.done()}
    for task in tasks:
        if not task.cancelled():
            task.exception()
    if interrupted:
        raise asyncio.CancelledError
