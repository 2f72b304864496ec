"""WHEP playout (draft-ietf-wish-whep) of named broadcasts, in an aiohttp application.

``POST {prefix}/{stream}`` with the viewer's SDP offer (``application/sdp``) answers
``201 Created`` with our SDP answer (every candidate gathered in it), the session's
``Location`` and an ``ETag``; ``PATCH {location}`` with ``application/trickle-ice-sdpfrag``
adds the viewer's trickled candidates (``204``); ``DELETE {location}`` ends the session
(``200``). ``OPTIONS`` answers the CORS preflight browsers send before each of these.

Each viewer gets its own :class:`~aiogstwebrtc.PeerConnection` fed by the stream's
:class:`~aiogstwebrtc.media.Broadcast`: the stream is encoded (or passed through) once for
all viewers. Its tracks are added after the viewer's offer is applied, so they answer the
offer's m-lines at the offer's payload types.

Errors, each with a one-line ``text/plain`` reason: ``400`` an offer that does not parse,
offers no audio/video to receive, or has no codec in common with the stream; ``401`` no
bearer token where one is required, ``403`` a wrong one (compared in constant time);
``404`` an unknown stream or session; ``405`` another method; ``412`` a PATCH whose
``If-Match`` is not the session's ETag; ``413`` a body over ``max_body`` bytes; ``415``
another content type; ``503`` the stream's viewer limit reached. An ICE restart by PATCH
is not supported (``405``, as the draft allows).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ..config import Configuration
from ..errors import InvalidSDPError, WebRTCError
from ..peerconnection import PeerConnection
from ..sdp import IceCandidate, SessionDescription

if TYPE_CHECKING:
    from ..media import Broadcast

__all__ = ["WhepEndpoint"]

log = logging.getLogger(__name__)

SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link",
}
GATHERING_TIMEOUT = 5.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Session:
    stream: str
    pc: PeerConnection
    etag: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)


def _error(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n", headers=CORS_HEADERS)


class WhepEndpoint:
    """Serve :class:`~aiogstwebrtc.media.Broadcast` streams to WHEP players.

    ``endpoint.add_stream("cam", broadcast)``, then ``endpoint.install(app)`` on the aiohttp
    application (e.g. ``SignallingServer.app``, before it starts) and ``await
    endpoint.close()`` when done. ``token``: a bearer token every request must carry
    (default: open playback). ``configuration``: for the viewers' peer connections.
    """

    def __init__(
        self,
        *,
        prefix: str = "/whep",
        token: str | None = None,
        configuration: Configuration | None = None,
        max_viewers: int = 100,
        max_body: int = 64 * 1024,
    ) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError("prefix must start with '/' and not end with one")
        self.prefix = prefix
        self._token = token
        self._configuration = configuration
        self.max_viewers = max_viewers
        self.max_body = max_body
        self._streams: dict[str, Broadcast] = {}
        self._sessions: dict[str, _Session] = {}
        self._ending: set[asyncio.Task[None]] = set()

    # --- streams and sessions ----------------------------------------------------------------

    def add_stream(self, name: str, broadcast: Broadcast) -> None:
        """Offer ``broadcast`` to WHEP players at ``{prefix}/{name}``."""
        if not name or "/" in name:
            raise ValueError("a stream name is one non-empty path segment")
        self._streams[name] = broadcast

    async def remove_stream(self, name: str) -> None:
        """Stop offering ``name``; its viewers' sessions end."""
        self._streams.pop(name, None)
        for resource, session in list(self._sessions.items()):
            if session.stream == name:
                await self._end(resource)

    def viewers(self, stream: str | None = None) -> int:
        """Sessions open now (of ``stream``, or of all streams)."""
        return sum(1 for s in self._sessions.values() if stream in (None, s.stream))

    async def close(self) -> None:
        """End every session."""
        for resource in list(self._sessions):
            await self._end(resource)
        if self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)

    def install(self, app: web.Application) -> None:
        """Add the WHEP routes to ``app`` (before it starts)."""
        stream = f"{self.prefix}/{{stream}}"
        resource = f"{stream}/{{resource}}"
        app.router.add_route("POST", stream, self._guarded(self._post))
        app.router.add_route("OPTIONS", stream, self._preflight)
        app.router.add_route("PATCH", resource, self._guarded(self._patch))
        app.router.add_route("DELETE", resource, self._guarded(self._delete))
        app.router.add_route("OPTIONS", resource, self._preflight)
        for path in (stream, resource):
            app.router.add_route("*", path, self._not_allowed)

    # --- HTTP --------------------------------------------------------------------------------

    async def _preflight(self, _request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS_HEADERS)

    async def _not_allowed(self, request: web.Request) -> web.Response:
        return _error(405, f"{request.method} is not a WHEP method here")

    def _guarded(self, handler: Handler) -> Handler:
        """The bearer token, the body size and the content type, before ``handler``."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if self._token is not None:
                given = request.headers.get("Authorization", "")
                if not given.startswith("Bearer "):
                    return _error(401, "a bearer token is required")
                if not hmac.compare_digest(given[7:].encode(), self._token.encode()):
                    return _error(403, "wrong token")
            if (request.content_length or 0) > self.max_body:
                return _error(413, f"the body is over {self.max_body} bytes")
            return await handler(request)

        return guarded

    async def _body(self, request: web.Request, content_type: str) -> str | web.Response:
        if request.content_type != content_type:
            return _error(415, f"expected {content_type}, not {request.content_type}")
        body = await request.content.read(self.max_body + 1)
        if len(body) > self.max_body:
            return _error(413, f"the body is over {self.max_body} bytes")
        try:
            return body.decode()
        except UnicodeDecodeError:
            return _error(400, "the body is not UTF-8 text")

    async def _post(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["stream"]
        broadcast = self._streams.get(name)
        if broadcast is None or broadcast.ended:
            return _error(404, f"no stream {name!r}")
        text = await self._body(request, SDP)
        if isinstance(text, web.Response):
            return text
        try:
            offer = SessionDescription("offer", text)
        except InvalidSDPError as exc:
            return _error(400, f"the offer does not parse: {exc}")
        kinds = {s.kind for s in offer.media if s.kind in ("audio", "video") and s.receives}
        if not kinds:
            return _error(400, "the offer receives neither audio nor video")
        if self.viewers(name) >= self.max_viewers:
            return _error(503, f"stream {name!r} has its {self.max_viewers} viewers")
        pc = PeerConnection(self._configuration)
        try:
            answer = await self._answer(pc, offer, broadcast, kinds)
        except (WebRTCError, TimeoutError) as exc:
            await pc.close()
            return _error(400, f"cannot answer this offer: {exc}")
        except BaseException:
            await pc.close()
            raise
        resource = secrets.token_urlsafe(18)
        session = _Session(name, pc, f'"{secrets.token_hex(8)}"')
        self._sessions[resource] = session
        pc.on("connectionstatechange", lambda: self._on_state(resource, session))
        location = f"{self.prefix}/{name}/{resource}"
        log.info("WHEP viewer %s on %r", resource[:8], name)
        headers = dict(CORS_HEADERS, Location=location, ETag=session.etag)
        return web.Response(status=201, text=answer.sdp, content_type=SDP, headers=headers)

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

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        resource = request.match_info["resource"]
        session = self._sessions.get(resource)
        if session is None or session.stream != request.match_info["stream"]:
            return _error(404, "no such session")
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match not in ("*", session.etag):
            return _error(412, "If-Match is not this session's ETag")
        text = await self._body(request, SDPFRAG)
        if isinstance(text, web.Response):
            return text
        remote = session.pc.remote_description
        ufrag = _field(text, "a=ice-ufrag:")
        if remote is not None and ufrag is not None and ufrag != _field(remote.sdp, "a=ice-ufrag:"):
            return _error(405, "ICE restart is not supported")
        try:
            for candidate in _candidates(text):
                await session.pc.add_ice_candidate(candidate)
        except InvalidSDPError as exc:
            return _error(400, f"bad candidate: {exc}")
        return web.Response(status=204, headers=CORS_HEADERS)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        resource = request.match_info["resource"]
        session = self._sessions.get(resource)
        if session is None or session.stream != request.match_info["stream"]:
            return _error(404, "no such session")
        await self._end(resource)
        return web.Response(status=200, headers=CORS_HEADERS)

    # --- sessions ----------------------------------------------------------------------------

    def _on_state(self, resource: str, session: _Session) -> None:
        if session.pc.connection_state in ("failed", "closed") and resource in self._sessions:
            task = asyncio.ensure_future(self._end(resource))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def _end(self, resource: str) -> None:
        session = self._sessions.pop(resource, None)
        if session is not None:
            log.info("WHEP viewer %s on %r ended", resource[:8], session.stream)
            await session.pc.close()


def _field(sdp: str, prefix: str) -> str | None:
    for line in sdp.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def _candidates(fragment: str) -> list[IceCandidate]:
    """The candidates of a trickle-ice-sdpfrag, each with its m-section's mid and index."""
    found: list[IceCandidate] = []
    index, mid = -1, None
    for raw in fragment.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            index, mid = index + 1, None
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=candidate:"):
            found.append(IceCandidate(line[2:], max(index, 0), mid))
    return found
