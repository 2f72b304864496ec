"""WHEP playout (draft-ietf-wish-whep) of named broadcasts, in an aiohttp application.

``POST {prefix}/{stream}`` with the viewer's SDP offer (``application/sdp``) answers
``201 Created`` with our SDP answer (every candidate gathered in it); ``PATCH`` and
``DELETE`` on its ``Location`` as in :mod:`aiogstwebrtc.whep.resources`.

Each viewer gets its own :class:`~aiogstwebrtc.PeerConnection` fed by the stream's
:class:`~aiogstwebrtc.media.Broadcast`: the stream is encoded (or passed through) once for
all viewers. Its tracks are added after the viewer's offer is applied, so they answer the
offer's m-lines at the offer's payload types.

Besides the shared statuses: ``400`` an offer that does not parse, offers no audio/video to
receive, or has no codec in common with the stream; ``404`` an unknown stream; ``503`` the
stream's viewer limit reached; ``307 Temporary Redirect`` to another server of a signalling
cluster that holds the stream (see :attr:`WhepEndpoint.locate`, ``docs/cluster.md``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..config import Configuration
from ..errors import InvalidSDPError, WebRTCError
from ..peerconnection import PeerConnection
from ..sdp import SessionDescription
from .announce import StreamAnnouncer
from .quota import DEFAULT_SESSION_LIMITS, SessionLimits
from .resources import CORS_HEADERS, SDP, ResourceEndpoint, error

if TYPE_CHECKING:
    from ..media import Broadcast

__all__ = ["WhepEndpoint"]

log = logging.getLogger(__name__)

GATHERING_TIMEOUT = 5.0


class WhepEndpoint(ResourceEndpoint):
    """Serve :class:`~aiogstwebrtc.media.Broadcast` streams to WHEP players.

    ``endpoint.add_stream("cam", broadcast)``, then ``endpoint.install(app)`` on the aiohttp
    application (e.g. ``SignallingServer.app``, before it starts) and ``await
    endpoint.close()`` when done. ``token``: a bearer token every request must carry
    (default: open playback). ``configuration``: for the viewers' peer connections.

    :attr:`locate`, when set, is awaited with the name of a stream this endpoint does not
    hold and returns the base URL (``https://host:port``) of a server that does, or None:
    the viewer is then sent there with ``307 Temporary Redirect`` (a signalling cluster sets
    it, see ``docs/cluster.md``).
    """

    what = "WHEP viewer"

    def __init__(
        self,
        *,
        prefix: str = "/whep",
        token: str | None = None,
        configuration: Configuration | None = None,
        max_viewers: int = 100,
        max_body: int = 64 * 1024,
        ice_servers: Sequence[Any] = (),
        limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    ) -> None:
        super().__init__(
            prefix=prefix,
            token=token,
            configuration=configuration,
            max_body=max_body,
            ice_servers=ice_servers,
            limits=limits,
        )
        self.max_viewers = max_viewers
        self._streams: dict[str, Broadcast] = {}
        self.locate: Callable[[str], Awaitable[str | None]] | None = None
        self._announcer: StreamAnnouncer | None = None
        self._announcing: set[asyncio.Task[None]] = set()

    async def announce(self, announcer: StreamAnnouncer) -> None:
        """List every stream, now and later, as a producer on a signalling server (see
        :mod:`.announce`); :meth:`close` takes them off."""
        self._announcer = announcer
        for name, broadcast in list(self._streams.items()):
            if not broadcast.ended:
                await announcer.add(name, broadcast)

    def _announce(self, name: str, broadcast: Broadcast | None) -> None:
        announcer = self._announcer
        if announcer is None:
            return
        work = announcer.add(name, broadcast) if broadcast is not None else announcer.remove(name)
        task = asyncio.ensure_future(self._announce_safely(work, name))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    @staticmethod
    async def _announce_safely(work: Awaitable[None], name: str) -> None:
        try:
            await work
        except Exception as exc:  # the signalling server is gone: WHEP goes on without it
            log.warning("stream %r: listing it as a producer failed: %s", name, exc)

    async def close(self) -> None:
        """End every session and take the streams off the signalling server's list."""
        await super().close()
        if self._announcing:
            await asyncio.gather(*self._announcing, return_exceptions=True)
        announcer, self._announcer = self._announcer, None
        if announcer is not None:
            await announcer.close()

    def streams(self) -> list[str]:
        """The names of the streams offered now."""
        return [name for name, b in self._streams.items() if not b.ended]

    def add_stream(self, name: str, broadcast: Broadcast) -> None:
        """Offer ``broadcast`` to WHEP players at ``{prefix}/{name}``."""
        if not name or "/" in name:
            raise ValueError("a stream name is one non-empty path segment")
        self._streams[name] = broadcast
        self._announce(name, broadcast)

    async def remove_stream(self, name: str) -> None:
        """Stop offering ``name``; its viewers' sessions end."""
        if self._streams.pop(name, None) is not None:
            self._announce(name, None)
        for resource, session in list(self._sessions.items()):
            if session.stream == name:
                await self._end(resource)

    def viewers(self, stream: str | None = None) -> int:
        """Viewers playing now (of ``stream``, or of all streams)."""
        return self.sessions(stream)

    async def _post(self, request: web.Request, client: str) -> web.StreamResponse:
        name = request.match_info["stream"]
        broadcast = self._streams.get(name)
        if broadcast is None or broadcast.ended:
            base = None if self.locate is None else await self.locate(name)
            if base is not None:
                location = f"{base.rstrip('/')}{self.prefix}/{name}"
                log.debug("stream %r is at %s: redirecting", name, location)
                return web.Response(status=307, headers={"Location": location, **CORS_HEADERS})
            return error(404, f"no stream {name!r}")
        text = await self._body(request, SDP)
        if isinstance(text, web.Response):
            return text
        try:
            offer = SessionDescription("offer", text)
        except InvalidSDPError as exc:
            return error(400, f"the offer does not parse: {exc}")
        kinds = {s.kind for s in offer.media if s.kind in ("audio", "video") and s.receives}
        if not kinds:
            return error(400, "the offer receives neither audio nor video")
        if self.viewers(name) >= self.max_viewers:
            return error(503, f"stream {name!r} has its {self.max_viewers} viewers")
        pc = PeerConnection(self._configuration)
        try:
            answer = await self._answer(pc, offer, broadcast, kinds)
        except (WebRTCError, TimeoutError) as exc:
            await pc.close()
            return error(400, f"cannot answer this offer: {exc}")
        except BaseException:
            await pc.close()
            raise
        return self._created(client, name, pc, answer.sdp)

    async def _answer(
        self,
        pc: PeerConnection,
        offer: SessionDescription,
        broadcast: Broadcast,
        kinds: set[str],
    ) -> SessionDescription:
        await pc.set_remote_description(offer)
        for track in (broadcast.video, broadcast.audio):
            if track is not None and track.kind in kinds:
                await pc.add_track(track)  # after the offer: at its payload types
        await pc.set_local_description(await pc.create_answer())
        await pc.wait_for_ice_gathering_complete(GATHERING_TIMEOUT)
        local = pc.local_description
        assert local is not None
        return local
