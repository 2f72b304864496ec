"""What WHIP and WHEP endpoints share: session resources behind ``Location`` URLs.

A POST creates a session (one :class:`~aiogstwebrtc.PeerConnection`) and answers ``201``
with its ``Location`` and ``ETag``; ``PATCH`` adds trickled candidates (``204``; ``412``
on an ``If-Match`` mismatch) or, with new ICE credentials, restarts ICE (``200`` with ours and
a new ``ETag``, :mod:`.restart`); ``DELETE`` ends it
(``200``, then ``404``). ``OPTIONS`` answers the CORS preflight browsers send. A bearer
token, when set, is compared in constant time (``401`` missing, ``403`` wrong); bodies are
capped (``413``) and typed (``415``); other methods get ``405``.

Each client address may hold ``limits.max_per_address`` sessions and post
``limits.offers_per_second`` offers (:mod:`.quota`); beyond, ``429`` with ``Retry-After``.

``ice_servers`` go to clients as ``Link`` headers (RFC 9725 4.6, :mod:`.links`) with every
``201``, and with ``OPTIONS`` on the endpoint's URL when it carries the token (or none is
needed): TURN credentials are never given to a caller without it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from ..config import Configuration
from ..errors import InvalidSDPError, MissingComponentError, WebRTCError
from ..icerestart import credentials_of
from ..peerconnection import PeerConnection
from ..signalling.token_failures import TokenFailures
from .links import add_links, link_headers
from .quota import DEFAULT_SESSION_LIMITS, SessionLimits, SessionQuota
from .restart import answer_restart
from .sdpfrag import SDPFRAG, Fragment, parse_fragment

__all__ = ["CORS_HEADERS", "SDP", "SDPFRAG", "ResourceEndpoint", "error"]

log = logging.getLogger(__name__)

SDP = "application/sdp"
# What browser clients need, cross-origin as same-origin. Eyevinn's @eyevinn/whip-web-client
# (tests/browser/test_npm_whip_whep.py) trickles only if its OPTIONS shows PATCH in
# Access-Control-Allow-Methods (hidden from a cross-origin page unless exposed) and sends its
# ETag back in an ``ETag`` request header, not ``If-Match`` (its PATCH preflight failed
# unless allowed); such a PATCH is taken as one without ``If-Match``.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, ETag",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Access-Control-Allow-Methods",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    """One resource: its stream's name, its peer connection and its ETag."""

    stream: str
    pc: PeerConnection
    client: str  # the address it counts against (see .quota)
    etag: str = field(default_factory=lambda: new_etag())
    restarting: bool = False  # an ICE restart is being answered


def new_etag() -> str:
    """A fresh entity tag (a session's first, or the one after an ICE restart)."""
    return f'"{secrets.token_hex(8)}"'


def error(status: int, reason: str) -> web.Response:
    """A ``text/plain`` error response with the CORS headers."""
    return web.Response(status=status, text=reason + "\n", headers=CORS_HEADERS)


class ResourceEndpoint:
    """Sessions at ``{prefix}/{stream}/{id}``; subclasses answer the POST."""

    what = "session"

    def __init__(
        self,
        *,
        prefix: str,
        token: str | None,
        configuration: Configuration | None,
        max_body: int,
        ice_servers: Sequence[Any] = (),
        limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    ) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError("prefix must start with '/' and not end with one")
        self.prefix = prefix
        self._links = link_headers(ice_servers)  # checked now: a bad entry raises here
        self._quota = SessionQuota(limits)
        self._token = token
        self._configuration = configuration
        self.max_body = max_body
        self._sessions: dict[str, Session] = {}
        self._ending: set[asyncio.Task[None]] = set()

    def share_token_failures(self, failures: TokenFailures) -> None:
        """Count failed bearer tokens into ``failures`` instead of this endpoint's own:
        a :class:`~aiogstwebrtc.signalling.SignallingServer`'s
        (:attr:`~aiogstwebrtc.signalling.SignallingServer.token_failures`) gives a host one
        budget for its websocket and every endpoint on it, shared by its cluster. Call it
        before the endpoint serves; the limits of ``failures`` apply."""
        self._quota.share_token_failures(failures)

    def sessions(self, stream: str | None = None) -> int:
        """Sessions open now (of ``stream``, or of all streams)."""
        return sum(1 for s in self._sessions.values() if stream in (None, s.stream))

    async def close(self) -> None:
        """End every session."""
        for resource in list(self._sessions):
            await self._end(resource)
        if self._ending:
            await asyncio.gather(*self._ending, return_exceptions=True)

    def install(self, app: web.Application) -> None:
        """Add the routes to ``app`` (before it starts)."""
        stream = f"{self.prefix}/{{stream}}"
        resource = f"{stream}/{{resource}}"
        app.router.add_route("POST", stream, self._guarded(self._post_within_quota))
        app.router.add_route("OPTIONS", stream, self._endpoint_options)
        app.router.add_route("PATCH", resource, self._guarded(self._patch))
        app.router.add_route("DELETE", resource, self._guarded(self._delete))
        app.router.add_route("OPTIONS", resource, self._preflight)
        for path in (stream, resource):
            app.router.add_route("*", path, self._not_allowed)

    async def _post(self, request: web.Request, client: str) -> web.StreamResponse:
        """Answer a POST from ``client`` (the address its session counts against)."""
        raise NotImplementedError

    async def _post_within_quota(self, request: web.Request) -> web.StreamResponse:
        """:meth:`_post`, if the client's address may open one more session now."""
        client = self._quota.client(request.remote, request.headers)
        refused = self._quota.reserve(client)
        if refused is not None:
            reason, retry_after = refused
            refusal = error(429, reason)
            refusal.headers["Retry-After"] = str(retry_after)
            return refusal
        made = False
        try:
            response = await self._post(request, client)
            made = response.status == 201
            return response
        finally:
            if not made:
                self._quota.release(client)

    # --- HTTP --------------------------------------------------------------------------------

    async def _preflight(self, _request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS_HEADERS)

    async def _endpoint_options(self, request: web.Request) -> web.Response:
        """The CORS preflight, and the ICE servers for a caller with the token."""
        headers = CIMultiDict(CORS_HEADERS)
        if self._links and self._authorised(request):
            add_links(headers, self._links)
        return web.Response(status=204, headers=headers)

    def _authorised(self, request: web.Request) -> bool:
        # a preflight may carry no token: it is not a failed attempt
        return self._token_refusal(request, count=False) is None

    def _token_refusal(self, request: web.Request, count: bool = True) -> web.Response | None:
        """``401``/``403`` for a request without the bearer token, ``429`` for an address
        out of failed attempts (counted unless ``count`` is false); None if it may pass."""
        if self._token is None:
            return None
        client = self._quota.client(request.remote, request.headers)
        wait = self._quota.token_blocked(client)
        if wait is not None:
            refusal = error(429, "too many failed token attempts from your address")
            refusal.headers["Retry-After"] = str(wait)
            return refusal
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer "):
            refusal = error(401, "a bearer token is required")
        elif not hmac.compare_digest(given[7:].encode(), self._token.encode()):
            refusal = error(403, "wrong token")
        else:
            return None
        if count:
            self._quota.token_failed(client)
        return refusal

    async def _not_allowed(self, request: web.Request) -> web.Response:
        return error(405, f"{request.method} is not allowed here")

    def _guarded(self, handler: Handler) -> Handler:
        """The bearer token and the body size, before ``handler``."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            refusal = self._token_refusal(request)
            if refusal is not None:
                return refusal
            if (request.content_length or 0) > self.max_body:
                return error(413, f"the body is over {self.max_body} bytes")
            return await handler(request)

        return guarded

    async def _body(self, request: web.Request, content_type: str) -> str | web.Response:
        if request.content_type != content_type:
            return error(415, f"expected {content_type}, not {request.content_type}")
        body = await request.content.read(self.max_body + 1)
        if len(body) > self.max_body:
            return error(413, f"the body is over {self.max_body} bytes")
        try:
            return body.decode()
        except UnicodeDecodeError:
            return error(400, "the body is not UTF-8 text")

    def _created(self, client: str, name: str, pc: PeerConnection, answer_sdp: str) -> web.Response:
        """Register the new session of stream ``name``: its ``201``."""
        resource = secrets.token_urlsafe(18)
        session = Session(name, pc, client)
        self._sessions[resource] = session
        pc.on("connectionstatechange", lambda: self._on_state(resource, session))
        log.info("%s %s on %r", self.what, resource[:8], name)
        location = f"{self.prefix}/{name}/{resource}"
        headers = CIMultiDict(CORS_HEADERS, Location=location, ETag=session.etag)
        add_links(headers, self._links)
        return web.Response(status=201, text=answer_sdp, content_type=SDP, headers=headers)

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        resource = request.match_info["resource"]
        session = self._sessions.get(resource)
        if session is None or session.stream != request.match_info["stream"]:
            return error(404, "no such session")
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match not in ("*", session.etag):
            return error(412, "If-Match is not this session's ETag")
        text = await self._body(request, SDPFRAG)
        if isinstance(text, web.Response):
            return text
        try:
            fragment = parse_fragment(text)
        except InvalidSDPError as exc:
            return error(400, f"bad fragment: {exc}")
        remote = session.pc.remote_description
        current = credentials_of(remote.sdp) if remote is not None else None
        if fragment.ufrag is not None and current is not None and fragment.ufrag != current.ufrag:
            return await self._restart(session, fragment)
        try:
            for candidate in fragment.candidates:
                await session.pc.add_ice_candidate(candidate)
        except InvalidSDPError as exc:
            return error(400, f"bad candidate: {exc}")
        return web.Response(status=204, headers=CORS_HEADERS)

    async def _restart(self, session: Session, fragment: Fragment) -> web.StreamResponse:
        """An ICE restart (RFC 9725 4.4): ``200`` with our new credentials and candidates
        and a new ETag; ``409`` while another is under way. (RFC 9725 wants ``If-Match``
        on a restart; one without it is taken, as some clients send none.)"""
        if fragment.credentials is None:
            return error(400, "an ICE restart needs a=ice-ufrag and a=ice-pwd")
        if session.restarting:
            return error(409, "an ICE restart of this session is under way")
        session.restarting = True
        try:
            reply = await answer_restart(session.pc, fragment)
        except (InvalidSDPError, ValueError) as exc:
            return error(400, f"ICE restart refused: {exc}")
        except MissingComponentError as exc:
            return error(405, f"ICE restart is not supported here: {exc}")
        except WebRTCError as exc:
            log.warning("%s ICE restart failed: %s", self.what, exc)
            return error(500, f"ICE restart failed: {exc}")
        finally:
            session.restarting = False
        session.etag = new_etag()
        log.info("%s on %r: ICE restarted", self.what, session.stream)
        headers = CIMultiDict(CORS_HEADERS, ETag=session.etag)
        return web.Response(status=200, text=reply, content_type=SDPFRAG, headers=headers)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        resource = request.match_info["resource"]
        session = self._sessions.get(resource)
        if session is None or session.stream != request.match_info["stream"]:
            return error(404, "no such session")
        await self._end(resource)
        return web.Response(status=200, headers=CORS_HEADERS)

    # --- sessions ----------------------------------------------------------------------------

    def _on_state(self, resource: str, session: Session) -> None:
        if session.pc.connection_state in ("failed", "closed") and resource in self._sessions:
            task = asyncio.ensure_future(self._end(resource))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    async def _end(self, resource: str) -> None:
        session = self._sessions.pop(resource, None)
        if session is not None:
            self._quota.release(session.client)
            log.info("%s %s on %r ended", self.what, resource[:8], session.stream)
            await session.pc.close()
            await self._ended(session)

    async def _ended(self, session: Session) -> None:
        """A session ended (subclasses release what it fed)."""
