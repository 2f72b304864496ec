"""Our WHIP/WHEP clients trickle (RFC 9725 4.3): the offer leaves at once, later candidates
follow in PATCHes with the session's ETag, the last with ``a=end-of-candidates``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from aiogstwebrtc import Configuration, IceServer
from aiogstwebrtc.media import Broadcast, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint
from tests.whep.test_whep import WAIT

BODY = web.RequestKey("body", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def recorder(seen: list[tuple[str, str, int, str]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware keeping (method, body, status, If-Match) of every WHEP request."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        body = request.get(BODY, "")
        seen.append((request.method, body, response.status, request.headers.get("If-Match", "")))
        return response

    return record


class RecordingEndpoint(WhepEndpoint):
    """Keeps each body it read on its request (for :func:`recorder`)."""

    async def _body(self, request: web.Request, content_type: str) -> str | web.Response:
        text = await super()._body(request, content_type)
        if isinstance(text, str):
            request[BODY] = text
        return text


async def _play(trickle: bool) -> tuple[list[tuple[str, str, int, str]], str, str]:
    seen: list[tuple[str, str, int, str]] = []
    video = VideoSource("videotestsrc is-live=true pattern=ball", width=160, height=120)
    async with Broadcast(video=video) as broadcast:
        server = SignallingServer(port=0)
        server.app.middlewares.append(recorder(seen))
        endpoint = RecordingEndpoint()
        endpoint.add_stream("cam", broadcast)
        endpoint.install(server.app)
        try:
            async with server:
                return await _play_from(f"http://127.0.0.1:{server.port}/whep", trickle, seen)
        finally:
            await endpoint.close()


async def _play_from(
    base: str, trickle: bool, seen: list[tuple[str, str, int, str]]
) -> tuple[list[tuple[str, str, int, str]], str, str]:
    # A TURN server that never answers (a bound loopback socket nobody reads): libnice's
    # gathering lasts until its allocation request gives up, seconds after the host
    # candidates. A trickling client must not wait for that; one that does not trickle must.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        turn = IceServer(f"turn:127.0.0.1:{silent.getsockname()[1]}", "user", "pass")
        configuration = Configuration(ice_servers=[turn])
        return await _play_with(base, trickle, seen, configuration)


async def _play_with(
    base: str,
    trickle: bool,
    seen: list[tuple[str, str, int, str]],
    configuration: Configuration,
) -> tuple[list[tuple[str, str, int, str]], str, str]:
    async with WhepClient(
        f"{base}/cam", trickle=trickle, configuration=configuration, timeout=30
    ) as client:
        track = (await client.play(("video",)))[0]
        await asyncio.wait_for(track.recv(), WAIT)
        for _ in range(600):  # the end of candidates follows the gathering
            if not trickle or any("end-of-candidates" in s[1] for s in seen):
                break
            await asyncio.sleep(0.05)
        local = client.pc.local_description
        assert local is not None and client._etag is not None
        return seen, local.sdp, client._etag


def _candidates(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.startswith("a=candidate:")}


async def test_candidates_after_the_offer_go_in_patches_with_the_etag() -> None:
    seen, local, etag = await _play(trickle=True)
    posts = [s for s in seen if s[0] == "POST"]
    patches = [s for s in seen if s[0] == "PATCH"]
    assert len(posts) == 1 and posts[0][2] == 201
    assert "a=end-of-candidates" not in posts[0][1]  # it did not wait for the gathering
    assert patches, "no candidate was trickled"
    assert all(status == 204 and if_match == etag for _, _, status, if_match in patches)
    assert "a=end-of-candidates" in patches[-1][1]
    trickled = set().union(*(_candidates(body) for _, body, _, _ in patches))
    posted = _candidates(posts[0][1])
    assert not trickled & posted  # each candidate sent once
    assert trickled | posted == _candidates(local)  # and every one of them sent


async def test_without_trickle_the_offer_carries_every_candidate() -> None:
    seen, local, _etag = await _play(trickle=False)
    assert [s[0] for s in seen] == ["OPTIONS", "POST", "DELETE"]
    assert "a=end-of-candidates" in seen[1][1]
    assert _candidates(seen[1][1]) == _candidates(local)
