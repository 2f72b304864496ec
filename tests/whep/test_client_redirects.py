"""Our WHIP/WHEP clients follow 307/308 themselves: the bearer token goes on to the same
host or over HTTPS (aiohttp would drop it on any change of origin, and a cluster sends a
viewer to another server), never down to HTTP; a redirect loop ends with a clear error."""

from __future__ import annotations

import pytest
from aiohttp import web

from aiogstwebrtc.whep import WhepClient, WhepError
from aiogstwebrtc.whep.client import MAX_REDIRECTS, may_carry_token


@pytest.mark.parametrize(
    ("origin", "target", "carried"),
    [
        ("http://127.0.0.1:8443/whep/cam", "http://127.0.0.1:9443/whep/cam", True),
        ("https://a.example/whep/cam", "https://b.example/whep/cam", True),
        ("http://a.example/whep/cam", "https://b.example/whep/cam", True),
        ("https://a.example/whep/cam", "http://a.example/whep/cam", False),
        ("http://a.example/whep/cam", "http://b.example/whep/cam", False),
    ],
)
def test_which_redirects_carry_the_token(origin: str, target: str, carried: bool) -> None:
    assert may_carry_token(origin, target) is carried


async def test_a_redirect_loop_is_a_clear_error() -> None:
    posts = 0

    async def loop_back(request: web.Request) -> web.Response:
        nonlocal posts
        posts += 1
        return web.Response(status=307, headers={"Location": str(request.url)})

    async def no_links(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/whep/cam", loop_back)
    app.router.add_route("OPTIONS", "/whep/cam", no_links)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with pytest.raises(WhepError, match="redirects") as error:
            async with WhepClient(f"http://127.0.0.1:{port}/whep/cam") as client:
                await client.play(("video",))
        assert error.value.status == 307
        assert posts == MAX_REDIRECTS + 1
    finally:
        await runner.cleanup()
