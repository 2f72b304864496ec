"""``wait_for`` that never loses a cancellation, on every Python we support.

Python 3.11 (Debian 12's) ``asyncio.wait_for`` swallows a cancellation that arrives as the
awaited operation completes (CPython gh-86296, fixed in 3.12 by building ``wait_for`` on
``asyncio.timeout``): the cancelled task carries on with the result, and a task that then
waits for something that never comes cannot be stopped. The library waits with
:func:`wait_for` instead; it is ``asyncio.wait_for`` from 3.12 on.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


async def wait_for(awaitable: Awaitable[T], timeout: float | None) -> T:
    """Await ``awaitable`` for at most ``timeout`` seconds (``None``: no limit); raise
    ``TimeoutError`` (and cancel it) when the time is up, as ``asyncio.wait_for`` does."""
    if sys.version_info >= (3, 12):
        return await asyncio.wait_for(awaitable, timeout)
    if timeout is None:
        return await awaitable
    async with asyncio.timeout(timeout):
        return await awaitable
