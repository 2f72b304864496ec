"""WHEP streams listed as webrtcsink-protocol producers on a signalling server.

A stream a WHIP publisher sends (or one the server serves with ``--whep``) is then also
watched the signalling way: ``gstwebrtc-api``, ``webrtcsrc`` or our
:class:`~aiogstwebrtc.signalling.Consumer` find a producer whose ``meta`` is
``{"name": NAME, "whep": PATH}`` and start a session with it; each session is fed by the
stream's :class:`~aiogstwebrtc.media.Broadcast` like a WHEP viewer (no transcoding). One
:class:`~aiogstwebrtc.signalling.Producer` per stream, connected to the server's websocket;
it leaves the list when the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..config import Configuration

if TYPE_CHECKING:
    from ..media import Broadcast, MediaSource
    from ..signalling import Producer

__all__ = ["StreamAnnouncer"]

log = logging.getLogger(__name__)


class StreamAnnouncer:
    """Lists streams as producers on the signalling server at ``url`` (its websocket URL).

    ``token``: the server's token, if it has one. ``max_sessions``: sessions each stream's
    producer serves at once (more are refused with ``endSession``).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        configuration: Configuration | None = None,
        max_sessions: int = 100,
        prefix: str = "/whep",
    ) -> None:
        self.url = url
        self._token = token
        self._configuration = configuration
        self._max_sessions = max_sessions
        self._prefix = prefix
        self._producers: dict[str, Producer] = {}
        self._lock = asyncio.Lock()  # adds and removes happen in the order they were asked

    def names(self) -> list[str]:
        """The streams listed now."""
        return list(self._producers)

    async def add(self, name: str, broadcast: Broadcast) -> None:
        """List ``name`` (replacing an earlier listing of the same name)."""
        from ..signalling import Producer

        async with self._lock:
            await self._remove(name)
            await self._add(name, broadcast, Producer)

    async def _add(self, name: str, broadcast: Broadcast, kind: type[Producer]) -> None:
        def sources() -> list[MediaSource]:
            return [t for t in (broadcast.video, broadcast.audio) if t is not None]

        producer = kind(
            self.url,
            meta={"name": name, "whep": f"{self._prefix}/{name}"},
            sources=sources,
            data_channel=None,
            chat_handler=None,
            configuration=self._configuration,
            token=self._token,
            max_sessions=self._max_sessions,
        )
        await producer.start()
        self._producers[name] = producer
        log.info("stream %r listed as producer %s", name, producer.peer_id)

    async def remove(self, name: str) -> None:
        """Take ``name`` off the list (its sessions end)."""
        async with self._lock:
            await self._remove(name)

    async def _remove(self, name: str) -> None:
        producer = self._producers.pop(name, None)
        if producer is not None:
            await producer.close()
            log.info("stream %r no longer listed", name)

    async def close(self) -> None:
        """Take every stream off the list."""
        for name in list(self._producers):
            await self.remove(name)
