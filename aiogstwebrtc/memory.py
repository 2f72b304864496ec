"""Keep a long-running process's native memory flat under session churn (glibc only).

A session's GStreamer streaming threads allocate from glibc's per-thread arenas (up to
8 per core). When the session ends its memory is freed but stays in those arenas, spread
over pages that also hold live data, so a producer serving churning viewers grows by
about 0.5-1 MB per session although nothing is leaked (measured with ``mallinfo2``: memory
in use stays flat, only the free part of the arenas grows; docs/operations.md).
Two remedies, both measured on a ``produce`` soak (docs/operations.md):

- :func:`limit_arenas`: at most 2 arenas (``M_ARENA_MAX``, as ``MALLOC_ARENA_MAX=2``
  would), set when the first peer connection starts unless ``MALLOC_ARENA_MAX`` is in the
  environment (then glibc already follows the user's choice). Alone with the trim below
  it took the soak's RSS slope from +159 MB/h to +2.6 MB/h.
- :func:`trim_free_memory`: ``malloc_trim(0)`` returns every wholly free page of every
  arena to the kernel. Called on the GLib thread once a pipeline is freed, at most once a
  second: it walks all arenas under their locks, a few milliseconds that must not land on
  the asyncio thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ARENA_MAX", "limit_arenas", "trim_free_memory"]

log = logging.getLogger(__name__)

#: The arena limit set by :func:`limit_arenas`.
ARENA_MAX = 2
_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)

#: Two trims closer than this are one: the second finds little to give back.
MIN_INTERVAL = 1.0


def _load_libc(function: str, argtypes: list[Any]) -> Callable[..., int] | None:
    """A glibc function, or None elsewhere (musl and others have neither of ours)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        found = getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):
        return None
    found.argtypes = argtypes
    found.restype = ctypes.c_int
    return found  # type: ignore[no-any-return]


_malloc_trim = _load_libc("malloc_trim", [ctypes.c_size_t])
_mallopt = _load_libc("mallopt", [ctypes.c_int, ctypes.c_int])
_lock = threading.Lock()
_last = -MIN_INTERVAL
_arenas_limited = False


def limit_arenas() -> bool:
    """Cap glibc's malloc arenas at :data:`ARENA_MAX`, once per process.

    Does nothing when ``MALLOC_ARENA_MAX`` is set in the environment or the C library is
    not glibc. Takes effect for arenas created from now on: call it before many threads
    have allocated (the library does when its first peer connection starts). Returns
    whether the limit was set by this call.
    """
    global _arenas_limited
    with _lock:
        if _arenas_limited or _mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
            return False
        _arenas_limited = True
    if _mallopt(_M_ARENA_MAX, ARENA_MAX) != 1:
        log.debug("mallopt(M_ARENA_MAX) refused")
        return False
    log.debug("glibc malloc arenas limited to %d", ARENA_MAX)
    return True


def trim_free_memory(now: float | None = None) -> bool:
    """Return free heap pages to the system unless done less than a second ago.

    Returns whether a trim ran. Any thread; meant for the GLib thread after a teardown.
    """
    global _last
    if _malloc_trim is None:
        return False
    now = time.monotonic() if now is None else now
    with _lock:
        if 0 <= now - _last < MIN_INTERVAL:  # a time before the last: trim anyway
            return False
        _last = now
    started = time.perf_counter()
    _malloc_trim(0)
    log.debug("malloc_trim took %.1f ms", (time.perf_counter() - started) * 1000)
    return True
