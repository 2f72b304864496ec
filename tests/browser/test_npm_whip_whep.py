"""Browser WHIP/WHEP client libraries from npm, in headless Chromium, against our endpoints.

Eyevinn's ``@eyevinn/whip-web-client`` publishes Chromium's fake camera and microphone to
our ``WhipEndpoint`` (our ``WhepClient`` plays it, passed through), and Eyevinn's
``@eyevinn/webrtc-player`` in WHEP mode plays a ``Broadcast`` from our ``WhepEndpoint``:
the exact versions of tests/browser/npm/package-lock.json, bundled by ``make test-setup``
(scripts/npm-clients.sh); a missing bundle fails the test, naming that command. The page
comes from the signalling server itself (``same-origin``) or from an aiohttp app of its own
on another port (``cross-origin``: every request with its CORS preflight, as from a player
embedded in someone's site). Each client is given ``iceServers: []`` (both default to
Google's public STUN server). Every request the page's client made, and every request our
server saw, is checked (and shown when an assertion fails).

Cross-origin the WHIP client used not to trickle (it looks for PATCH in the
``Access-Control-Allow-Methods`` of its OPTIONS, which we did not expose), and once it did,
the preflight of its PATCH was refused (it sends our ETag in an ``ETag`` header): see
``CORS_HEADERS`` in aiogstwebrtc/whep/resources.py and docs/whip-whep.md.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from aiogstwebrtc.media import AudioSource, Broadcast, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError, WhipEndpoint

from .pagetools import browser_pages

NPM = Path(__file__).resolve().parent / "npm"
BUNDLES = NPM / "dist"
SETUP = "make test-setup (or scripts/npm-clients.sh)"
WAIT = 15.0
ORIGINS = ["same-origin", "cross-origin"]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>npm WHIP/WHEP clients</title>
<link rel="icon" href="data:,"></head>
<body><video id="player" autoplay muted playsinline></video>
<script src="/npm/dist/whip-web-client.js"></script>
<script src="/npm/dist/webrtc-player.js"></script></body></html>
"""

# Every fetch() of the page: method, URL, request headers, status (or the error), so the
# test sees what the client library did and what it got back.
RECORD_FETCHES = """() => {
  const calls = [];
  const original = window.fetch.bind(window);
  window.fetch = async (input, init = {}) => {
    const call = {method: init.method || 'GET', url: String(input),
                  headers: Object.assign({}, init.headers || {}),
                  body: typeof init.body === 'string' ? init.body : null};
    calls.push(call);
    try {
      const response = await original(input, init);
      call.status = response.status;
      return response;
    } catch (e) {
      call.error = String(e);
      throw e;
    }
  };
  window.calls = calls;
}"""

CALLS = "JSON.parse(JSON.stringify(window.calls))"


def bundles() -> Path:
    """The bundled clients; missing ones fail the test (never skip) naming the setup."""
    missing = [
        name
        for name in ("whip-web-client.js", "webrtc-player.js")
        if not (BUNDLES / name).is_file()
    ]
    if missing:
        pytest.fail(
            f"the npm client bundles {missing} are missing from {BUNDLES}: run {SETUP}",
            pytrace=False,
        )
    return BUNDLES


def install_page(app: web.Application) -> None:
    """The test page at ``/npm/`` and the bundles under ``/npm/dist/``."""

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/npm/", index)
    app.router.add_static("/npm/dist", bundles(), follow_symlinks=False)


@asynccontextmanager
async def page_server() -> AsyncIterator[str]:
    """The page's URL on 127.0.0.1, from an aiohttp app on a port of its own."""
    app = web.Application()
    install_page(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}/npm/"
    finally:
        await runner.cleanup()


Seen = list[dict[str, Any]]


def record_requests(app: web.Application) -> Seen:
    """Every request ``app`` answers (CORS preflights too): method, path, the headers
    that matter here and the status."""
    seen: Seen = []
    interesting = (
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
        "Content-Type",
        "If-Match",
        "ETag",
    )

    @web.middleware
    async def recorder(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        entry: dict[str, Any] = {"method": request.method, "path": request.path}
        entry.update({h: request.headers[h] for h in interesting if h in request.headers})
        entry["authorization"] = "Authorization" in request.headers
        seen.append(entry)
        response = await handler(request)
        entry["status"] = response.status
        if response.status >= 400 and isinstance(response, web.Response):
            entry["reason"] = (response.text or "").strip()
        return response

    app.middlewares.append(recorder)
    return seen


@asynccontextmanager
async def serving(server: SignallingServer, origin: str) -> AsyncIterator[tuple[str, str]]:
    """Start ``server``; its base URL and the page's: served by the same server
    (``same-origin``) or by another on a port of its own (``cross-origin``: CORS applies)."""
    if origin == "same-origin":
        install_page(server.app)
        async with server:
            base = f"http://127.0.0.1:{server.port}"
            yield base, f"{base}/npm/"
    else:
        async with server, page_server() as page_url:
            yield f"http://127.0.0.1:{server.port}", page_url


def show(calls: Seen, seen: Seen, log: list[str]) -> str:
    lines = ["page fetches:", *map(str, calls), "server saw:", *map(str, seen), "console:"]
    return "\n".join(lines + log[-40:])


# --- WHIP: @eyevinn/whip-web-client publishes, our WhepClient plays ------------------------

PUBLISH = """async ({url, token}) => {
  const stream = await navigator.mediaDevices.getUserMedia(
    {video: {width: 640, height: 480}, audio: true});
  // 'detail': keep the resolution when the loaded machine makes Chromium shed load.
  stream.getVideoTracks()[0].contentHint = 'detail';
  const client = new WHIPClient({endpoint: url,
                                 opts: {debug: true, iceServers: [], authkey: token}});
  window.whip = {client, stream};
  await client.ingest(stream);
  const resource = await Promise.race([client.getResourceUrl(),
                                       new Promise((done) => setTimeout(done, 15000))]);
  return {resource: resource || null, etag: client.eTag || null,
          ice: client.peer.getConfiguration().iceServers};
}"""


async def play_when_live(url: str) -> tuple[WhepClient, dict[str, Any]]:
    """Our WHEP player, once the stream exists (404 until the publisher's media flows)."""
    for _ in range(75):
        viewer = WhepClient(url)
        try:
            tracks = {t.kind: t for t in await viewer.play()}
            return viewer, tracks
        except WhepError as exc:
            await viewer.close()
            if exc.status != 404:
                raise
        except BaseException:
            await viewer.close()
            raise
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never appeared")


@pytest.mark.parametrize("origin", ORIGINS)
async def test_eyevinn_whip_web_client_publishes_chromium_camera_to_our_whip_endpoint(
    origin: str,
) -> None:
    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="pub")
    whep.install(server.app)
    whip.install(server.app)
    seen = record_requests(server.app)
    log: list[str] = []
    try:
        async with serving(server, origin) as (base, page_url), browser_pages(1, log=log) as pages:
            page = pages[0]
            await page.goto(page_url)
            await page.evaluate(RECORD_FETCHES)
            published = await page.evaluate(PUBLISH, {"url": f"{base}/whip/live", "token": "pub"})
            calls = await page.evaluate(CALLS)
            assert published["resource"], show(calls, seen, log)
            assert published["resource"].startswith(f"{base}/whip/live/"), published
            assert published["ice"] == [], published  # no STUN server, as configured
            assert whip.sessions("live") == 1

            viewer, tracks = await play_when_live(f"{base}/whep/live")
            try:
                for _ in range(10):  # Chromium's fake camera, 640x480, passed through
                    frame = await asyncio.wait_for(tracks["video"].recv(), WAIT)
                    assert (frame.width, frame.height) == (640, 480)
                audio = await asyncio.wait_for(tracks["audio"].recv(), WAIT)
                assert audio.sample_rate == 48000
                assert whep.viewers("live") == 1

                await page.evaluate("window.whip.client.destroy()")  # its DELETE
                calls = await page.evaluate(CALLS)
                assert whip.sessions() == 0, show(calls, seen, log)
                assert whep.viewers() == 0  # the publisher left: so did its viewer
            finally:
                await viewer.close()

            # Its requests, the same from either origin: OPTIONS (it trickles only if it can
            # read PATCH in Access-Control-Allow-Methods), the POST at once (trickle), PATCHes
            # (with its ETag in an ETag header, not If-Match), the DELETE; none blocked by CORS.
            report = show(calls, seen, log)
            assert not [c for c in calls if "error" in c], report
            methods = [c["method"] for c in calls]
            assert methods[:2] == ["OPTIONS", "POST"] and methods[-1] == "DELETE", report
            assert [c["status"] for c in calls if c["method"] != "PATCH"] == [204, 201, 200]
            patches = [c for c in seen if c["method"] == "PATCH" and c["path"].startswith("/whip")]
            assert patches, report
            # Refused, rightly: the client writes every candidate with component 0
            # (RFC 8839: 1 to 256), and after the first refusal it stops trickling. ICE
            # still connects: we learn its address from its checks (peer-reflexive).
            for patch in patches:
                assert patch["ETag"] == published["etag"], report
                assert patch["status"] == 400, report
                assert re.match(
                    r"bad fragment: malformed ICE candidate: 'candidate:\S+ 0 ", patch["reason"]
                ), report
            assert await page.evaluate("window.whip.client.opts.noTrickleIce") is True
            assert not [line for line in log if line.startswith("pageerror")], report
    finally:
        await whep.close()
        await whip.close()


# --- WHEP: @eyevinn/webrtc-player plays a Broadcast ----------------------------------------

PLAY = """async ({url, key}) => {
  const video = document.getElementById('player');
  const player = new WebRTCPlayer({video, type: 'whep', iceServers: [], debug: true});
  window.play = {player, frames: 0};
  const count = () => {
    window.play.frames += 1;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
  await player.load(new URL(url), key);  // sent as the Authorization header, verbatim
}"""

PLAYED = """async () => {
  const {player, frames} = window.play;
  const video = document.getElementById('player');
  const found = {frames, width: video.videoWidth, height: video.videoHeight,
                 ice: player.peer.getConfiguration().iceServers,
                 connection: player.peer.connectionState, decoded: 0};
  (await player.peer.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') found.decoded = s.framesDecoded || 0;
  });
  return found;
}"""


@pytest.mark.parametrize("origin", ORIGINS)
async def test_eyevinn_webrtc_player_plays_a_broadcast_from_our_whep_endpoint(origin: str) -> None:
    server = SignallingServer(port=0)
    endpoint = WhepEndpoint(token="view")  # playback behind a token: one more CORS header
    endpoint.install(server.app)
    seen = record_requests(server.app)
    log: list[str] = []
    source = Broadcast(video=VideoSource(width=320, height=240), audio=AudioSource())
    try:
        async with source as broadcast:
            endpoint.add_stream("cam", broadcast)
            async with (
                serving(server, origin) as (base, page_url),
                browser_pages(1, log=log) as pages,
            ):
                page = pages[0]
                await page.goto(page_url)
                await page.evaluate(RECORD_FETCHES)
                await page.evaluate(PLAY, {"url": f"{base}/whep/cam", "key": "Bearer view"})
                played: dict[str, Any] = {}
                for _ in range(200):  # the page's counters, polled from here
                    played = await page.evaluate(PLAYED)
                    if played["frames"] > 30 and played["decoded"] > 30:
                        break
                    await asyncio.sleep(0.1)
                calls = await page.evaluate(CALLS)
                assert played["frames"] > 30 and played["decoded"] > 30, (
                    f"{played}\n{show(calls, seen, log)}"
                )
                assert (played["width"], played["height"]) == (320, 240), played
                assert played["ice"] == [], played  # no STUN server, as configured
                assert endpoint.viewers("cam") == 1

                await page.evaluate("window.play.player.unload()")  # its DELETE
                calls = await page.evaluate(CALLS)
                assert endpoint.viewers() == 0, show(calls, seen, log)
                failed = [c for c in calls if "error" in c or c.get("status", 0) >= 300]
                assert not failed, show(calls, seen, log)
                assert [c["method"] for c in calls] == ["POST", "DELETE"], show(calls, seen, log)
                assert not [line for line in log if line.startswith("pageerror")], log
    finally:
        await endpoint.close()
