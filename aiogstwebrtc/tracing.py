"""Thread tracing: the seed's debugging tip, switchable for any program using the library.

Set ``AIOGSTWEBRTC_TRACE_THREADS=1`` (or call :func:`enable_thread_tracing`) and every callback
the library handles is logged with the thread it ran on, on the ``aiogstwebrtc.threads`` logger.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["enable_thread_tracing", "thread_label", "thread_tracing_enabled", "trace"]

log = logging.getLogger("aiogstwebrtc.threads")
_enabled = os.environ.get("AIOGSTWEBRTC_TRACE_THREADS", "") not in ("", "0", "false", "no")


def enable_thread_tracing(enabled: bool = True) -> None:
    """Turn thread tracing on or off for this process."""
    global _enabled
    _enabled = enabled
    if enabled and not log.isEnabledFor(logging.INFO):
        log.setLevel(logging.INFO)


def thread_tracing_enabled() -> bool:
    """True when callbacks are being logged with their thread."""
    return _enabled


def thread_label() -> str:
    """The current thread's name; threads GStreamer started are labelled as such."""
    thread = threading.current_thread()
    if isinstance(thread, threading._DummyThread):
        return f"GStreamer thread {threading.get_native_id()}"
    return thread.name


def trace(what: str) -> None:
    """Log ``what`` with the current thread when tracing is on."""
    if _enabled:
        log.info("%s  [%s]", what, thread_label())
