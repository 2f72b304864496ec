"""One broadcast of a producer's sources for all its consumers, restarted when it ends.

``aiogstwebrtc produce`` (unless ``--per-consumer-encode``) captures and encodes once for
every consumer through a :class:`~aiogstwebrtc.media.Broadcast`. When the source ends or
fails (an RTSP camera that goes away), every session using it is ended with the reason;
with ``retry`` the source is started again with backoff (1 s doubling to 5 s) and new
consumers are served as soon as it is back. Consumers that come while it is down are
refused with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..errors import WebRTCError

if TYPE_CHECKING:
    from aiogstwebrtc.media import Broadcast, MediaSource

__all__ = ["SharedMedia"]

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 5.0


class SharedMedia:
    """The current broadcast of ``make()``'s sources, restarted with backoff if ``retry``.

    :attr:`on_end` (``reason``) is awaited each time a running broadcast ends (the producer
    ends its sessions there). :meth:`tracks` is the producer's source factory.
    """

    def __init__(self, make: Callable[[], list[MediaSource]], *, retry: bool) -> None:
        self._make = make
        self._retry = retry
        self.on_end: Callable[[str], Awaitable[None]] | None = None
        self._broadcast: Broadcast | None = None
        self._down_reason = "not started"
        self._task: asyncio.Task[None] | None = None
        self.gave_up = asyncio.Event()  # the source ended and is not retried
        self.restarts = 0

    def tracks(self) -> list[MediaSource]:
        """The running broadcast's tracks, for one more consumer (raises while it is down)."""
        broadcast = self._broadcast
        if broadcast is None or broadcast.ended:
            raise WebRTCError(f"the source is not available: {self._down_reason}")
        return [track for track in (broadcast.video, broadcast.audio) if track is not None]

    async def start(self) -> None:
        """Start the first broadcast; with ``retry`` a failure is retried in the background."""
        try:
            await self._start_one()
        except Exception as exc:
            if not self._retry:
                raise
            self._down_reason = str(exc)
            log.warning("the source did not start (%s); retrying", exc)
        self._task = asyncio.create_task(self._keep_running())

    async def close(self) -> None:
        """Stop retrying and close the current broadcast."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        broadcast, self._broadcast = self._broadcast, None
        if broadcast is not None:
            await broadcast.close()

    async def _start_one(self) -> None:
        from aiogstwebrtc.media import AudioSource, Broadcast, VideoSource

        made = self._make()
        video = next((s for s in made if isinstance(s, VideoSource)), None)
        audio = next((s for s in made if isinstance(s, AudioSource)), None)
        broadcast = Broadcast(video=video, audio=audio)
        await broadcast.start()  # closes itself if it fails
        self._broadcast = broadcast

    async def _keep_running(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            broadcast = self._broadcast
            if broadcast is not None:
                reason = await broadcast.wait_ended()
                self._down_reason = reason
                self._broadcast = None
                log.warning("the shared source ended: %s", reason)
                await broadcast.close()
                if self.on_end is not None:
                    await self.on_end(reason)
                if not self._retry:
                    self.gave_up.set()
                    return
                backoff = FIRST_BACKOFF
            await asyncio.sleep(backoff)
            try:
                await self._start_one()
            except Exception as exc:
                self._down_reason = str(exc)
                backoff = min(backoff * 2, MAX_BACKOFF)
                log.info("the source is still down (%s); next try in %.0f s", exc, backoff)
                continue
            self.restarts += 1
            log.warning("the shared source is back (restart %d)", self.restarts)
