"""The newest decoded frames of a track, bounded on GStreamer's side, handed to asyncio.

A streaming thread puts each sample in as it is decoded; when the buffer is full (in frames
or in bytes) the oldest sample is dropped and counted, there and then. asyncio is woken
once per batch: a put posts a wake-up only when none is pending, so a blocked loop finds
one callback waiting, not one per frame, and memory stays bounded whatever the loop does.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_FRAMES", "FrameBuffer"]

#: Frames kept for a consumer that reads slower than they arrive (1 s of 30 fps video).
DEFAULT_MAX_FRAMES = 30
#: Bytes kept at most (six 720p RGB frames); the newest frame is always kept.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

T = TypeVar("T")


class FrameBuffer(Generic[T]):
    """A drop-oldest queue bounded in items and bytes, filled from any thread.

    ``wake`` is called from the putting thread, at most once until :meth:`woken` is called
    on the consumer's side; it must only schedule (e.g. ``loop.call_soon_threadsafe``).
    """

    def __init__(
        self,
        wake: Callable[[], None],
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_frames < 1 or max_bytes < 1:
            raise ValueError("a frame buffer keeps at least one frame")
        self._wake = wake
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: collections.deque[tuple[T, int]] = collections.deque()
        self._bytes = 0
        self._wake_pending = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T, size: int) -> None:
        """Any thread: keep ``item`` (``size`` bytes), dropping the oldest beyond the bounds."""
        with self._lock:
            self.received += 1
            self._items.append((item, size))
            self._bytes += size
            while len(self._items) > 1 and (
                len(self._items) > self._max_frames or self._bytes > self._max_bytes
            ):
                _, dropped_size = self._items.popleft()
                self._bytes -= dropped_size
                self.dropped += 1
            if self._wake_pending:
                return
            self._wake_pending = True
        self._wake()  # outside the lock: it may take the loop's own lock

    def woken(self) -> None:
        """Consumer side, first thing in the wake-up callback: the next put wakes again."""
        with self._lock:
            self._wake_pending = False

    def take(self) -> T | None:
        """The oldest item kept, or None when empty."""
        with self._lock:
            if not self._items:
                return None
            item, size = self._items.popleft()
            self._bytes -= size
            return item

    def clear(self) -> None:
        """Forget every item kept (their memory is released with them)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def counts(self) -> tuple[int, int, int]:
        """``(received, dropped, queued)`` read together."""
        with self._lock:
            return self.received, self.dropped, len(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
