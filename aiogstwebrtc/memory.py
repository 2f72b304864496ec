"""Give freed native memory back to the system after a session ends (glibc only).

A session's GStreamer streaming threads allocate from glibc's per-thread arenas (up to
8 per core). When the session ends its memory is freed but stays in those arenas, spread
over pages that also hold live data, so a producer serving churning viewers grows by
about 0.5-1 MB per session although nothing is leaked (measured with ``mallinfo2``: memory
in use stays flat, only the free part of the arenas grows; docs/operations.md).
``malloc_trim(0)`` returns every wholly free page of every arena to the kernel.

Called on the GLib thread once a pipeline is freed, at most once a second: it walks all
arenas under their locks, a few milliseconds that must not land on the asyncio thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["trim_free_memory"]

log = logging.getLogger(__name__)

#: Two trims closer than this are one: the second finds little to give back.
MIN_INTERVAL = 1.0


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim  # glibc; musl and others have no such function
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_malloc_trim = _load_malloc_trim()
_lock = threading.Lock()
_last = -MIN_INTERVAL


def trim_free_memory(now: float | None = None) -> bool:
    """Return free heap pages to the system unless done less than a second ago.

    Returns whether a trim ran. Any thread; meant for the GLib thread after a teardown.
    """
    global _last
    if _malloc_trim is None:
        return False
    now = time.monotonic() if now is None else now
    with _lock:
        if now - _last < MIN_INTERVAL:
            return False
        _last = now
    started = time.perf_counter()
    _malloc_trim(0)
    log.debug("malloc_trim took %.1f ms", (time.perf_counter() - started) * 1000)
    return True
