"""WHIP ingest (RFC 9725): a publisher's stream becomes a WHEP stream, passed through.

``POST {prefix}/{stream}`` with the publisher's SDP offer answers ``201`` with our answer
(every candidate in it); ``PATCH``/``DELETE`` as in :mod:`aiogstwebrtc.whep.resources`.
Once the publisher's media arrives, its tracks feed a
:class:`~aiogstwebrtc.media.Broadcast` (:class:`~aiogstwebrtc.media.RelayedVideoSource`,
no decoder, no encoder) that the :class:`~aiogstwebrtc.whep.WhepEndpoint` serves under
the same stream name; a viewer's key-unit request reaches the publisher as a PLI. When the
publisher leaves (DELETE, or its connection fails) the stream and its viewers' sessions
end, and a new publisher may take the name.

Ingest requires a bearer token unless ``open=True`` (for local testing). A second
publisher on a live stream gets ``409``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..config import Configuration
from ..errors import InvalidSDPError, WebRTCError
from ..peerconnection import PeerConnection
from ..sdp import SessionDescription
from .quota import DEFAULT_SESSION_LIMITS, SessionLimits
from .resources import SDP, ResourceEndpoint, Session, error

if TYPE_CHECKING:
    from ..media import Broadcast, RemoteTrack
    from .endpoint import WhepEndpoint

__all__ = ["WhipEndpoint"]

log = logging.getLogger(__name__)

GATHERING_TIMEOUT = 5.0
MEDIA_TIMEOUT = 15.0


class WhipEndpoint(ResourceEndpoint):
    """Take WHIP publishers' streams and serve them through ``whep`` under their names."""

    what = "WHIP publisher"

    def __init__(
        self,
        whep: WhepEndpoint,
        *,
        prefix: str = "/whip",
        token: str | None = None,
        open: bool = False,
        configuration: Configuration | None = None,
        max_body: int = 64 * 1024,
        ice_servers: Sequence[Any] = (),
        limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    ) -> None:
        if token is None and not open:
            raise ValueError("WHIP ingest needs a token (or open=True for local testing)")
        super().__init__(
            prefix=prefix,
            token=token,
            configuration=configuration,
            max_body=max_body,
            ice_servers=ice_servers,
            limits=limits,
        )
        self._whep = whep
        self._live: dict[str, asyncio.Task[None]] = {}  # stream -> its relay's task
        self._broadcasts: dict[str, Broadcast] = {}

    async def _post(self, request: web.Request, client: str) -> web.StreamResponse:
        name = request.match_info["stream"]
        if "/" in name or not name:
            return error(404, "no such stream")
        text = await self._body(request, SDP)
        if isinstance(text, web.Response):
            return text
        try:
            offer = SessionDescription("offer", text)
        except InvalidSDPError as exc:
            return error(400, f"the offer does not parse: {exc}")
        kinds = [s.kind for s in offer.media if s.kind in ("audio", "video") and s.sends]
        if not kinds:
            return error(400, "the offer sends neither audio nor video")
        if name in self._live:
            return error(409, f"stream {name!r} already has a publisher")
        pc = PeerConnection(self._configuration)
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        pc.on("track", tracks.put_nowait)
        try:
            await pc.set_remote_description(offer)
            await pc.set_local_description(await pc.create_answer())
            await pc.wait_for_ice_gathering_complete(GATHERING_TIMEOUT)
        except (WebRTCError, TimeoutError) as exc:
            await pc.close()
            return error(400, f"cannot answer this offer: {exc}")
        except BaseException:
            await pc.close()
            raise
        answer = pc.local_description
        assert answer is not None
        self._live[name] = asyncio.create_task(self._relay(name, tracks, len(kinds)))
        return self._created(client, name, pc, answer.sdp)

    async def _relay(self, name: str, tracks: asyncio.Queue[RemoteTrack], count: int) -> None:
        """The publisher's tracks, once arrived, as the WHEP stream ``name``."""
        from ..media import Broadcast, RelayedAudioSource, RelayedVideoSource

        try:
            async with asyncio.timeout(MEDIA_TIMEOUT):
                arrived = [await tracks.get() for _ in range(count)]
            video = next((t for t in arrived if t.kind == "video" and t.codec), None)
            audio = next((t for t in arrived if t.kind == "audio" and t.codec), None)
            video_source = RelayedVideoSource(video) if video is not None else None
            audio_source = RelayedAudioSource(audio) if audio is not None else None
            for source in (video_source, audio_source):
                if source is not None:
                    await source.start()
            broadcast = Broadcast(video=video_source, audio=audio_source)
            await broadcast.start()
        except (WebRTCError, TimeoutError, ValueError) as exc:
            log.warning("WHIP stream %r: the publisher's media did not come: %s", name, exc)
            return
        self._broadcasts[name] = broadcast
        self._whep.add_stream(name, broadcast)
        log.info("WHIP stream %r is live", name)

    async def _ended(self, session: Session) -> None:
        name = session.stream
        task = self._live.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        broadcast = self._broadcasts.pop(name, None)
        await self._whep.remove_stream(name)
        if broadcast is not None:
            await broadcast.close()
