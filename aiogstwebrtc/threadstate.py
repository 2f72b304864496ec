"""A Python thread state kept for the GStreamer threads that call into Python often.

PyGObject enters Python from a thread Python did not start (a GStreamer streaming thread,
webrtcbin's data-channel thread) with ``PyGILState_Ensure`` and leaves with
``PyGILState_Release``. A thread without a thread state of its own gets a new one at each
``Ensure`` and loses it at each ``Release``: every callback then creates and destroys a
thread state and maps and unmaps the 16 KiB stack of its frames (``mmap``/``munmap``, page
faults). Measured: ~7 % of the CPU of a broadcast passing an RTSP camera through to 5
viewers (30 callbacks a second); on a data channel it is paid per message, and keeping the
state took 1 KiB messages from 16.6-17.6 to 23.6-29.0 MB/s (docs/performance.md).

:func:`keep_thread_state`, called at the start of such a callback, counts the callbacks of
the calling thread; from the :data:`HOT_AFTER`-th on it takes one ``PyGILState_Ensure`` more
that is never released, so the thread keeps its state for the callbacks that follow. Python
cannot free a kept state when its thread ends (GStreamer's pooled threads do end), so at
most :data:`MAX_KEPT` states are ever kept in a process (a few KiB each): a bound, not a
cost per session. Past it, callbacks run as before, only slower.

This is safe for the same reason any callback is: our exit handler stops every pipeline
before the interpreter finalises (:mod:`.exits`), so no GStreamer thread enters Python
after that. Described in docs/architecture.md (Threads).
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict

__all__ = ["HOT_AFTER", "MAX_KEPT", "keep_thread_state", "kept"]

HOT_AFTER = 100
"""Callbacks a thread makes before its thread state is kept."""

MAX_KEPT = 64
"""Thread states kept at most in a process's life."""

_THREADS_COUNTED = 256  # threads whose callbacks are counted at once (the least recent go)

_local = threading.local()  # lives in the thread state: only a kept state remembers it
_lock = threading.Lock()
_calls: OrderedDict[int, int] = OrderedDict()  # native thread id -> callbacks counted
_kept = 0
_full = False

_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.argtypes = []
_ensure.restype = ctypes.c_int


def keep_thread_state() -> None:
    """Count a callback of the calling thread; keep its thread state once it is a busy one
    (see the module's docstring). Cheap: a thread-local read once kept or once full."""
    global _kept, _full
    if _full or getattr(_local, "kept", False):
        return
    thread = threading.get_native_id()
    with _lock:
        if _kept >= MAX_KEPT:
            _full = True
            return
        calls = _calls.pop(thread, 0) + 1
        if calls < HOT_AFTER:
            _calls[thread] = calls
            if len(_calls) > _THREADS_COUNTED:
                _calls.popitem(last=False)
            return
        _kept += 1
    _ensure()  # the GIL is held: this only counts one more user of the thread state
    _local.kept = True


def kept() -> int:
    """How many thread states have been kept so far."""
    return _kept
