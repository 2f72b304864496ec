"""Our WhipClient publishes; three players at once — two WhepClients and Chromium — all
decode it, and the server neither decodes nor encodes (issue 18's "3 viewers at once")."""

from __future__ import annotations

import asyncio

from aiogstwebrtc.media import AudioSource, RemoteTrack, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.signalling.cli import WEB_DIR
from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError, WhipClient, WhipEndpoint
from tests.media.walk import ingest_codec_elements

from .pagetools import browser_pages
from .test_whep_browser import DECODED, PLAYER, STATE

WAIT = 15.0


async def _play(url: str) -> tuple[WhepClient, dict[str, RemoteTrack]]:
    """A WhepClient playing ``url`` once the ingested stream exists (404 until then)."""
    for _ in range(75):
        player = WhepClient(url)
        try:
            return player, {t.kind: t for t in await player.play()}
        except WhepError as exc:
            await player.close()
            assert exc.status == 404, exc
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never appeared")


async def test_a_whip_stream_reaches_two_whep_clients_and_chromium_at_once() -> None:
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="pub")
    whep.install(server.app)
    whip.install(server.app)
    players: list[WhepClient] = []
    try:
        async with server, browser_pages(1) as pages:
            base = f"http://127.0.0.1:{server.port}"
            async with WhipClient(f"{base}/whip/show", token="pub") as publisher:
                await publisher.publish(VideoSource(width=320, height=240), AudioSource())
                tracks = []
                for _ in range(2):
                    player, kinds = await _play(f"{base}/whep/show")
                    players.append(player)
                    tracks.append(kinds)
                page = pages[0]
                await page.goto(f"{base}/")
                assert await page.evaluate(PLAYER, f"{base}/whep/show") == 201
                assert whep.viewers("show") == 3
                decoded = 0
                for _ in range(200):  # all three at once: Chromium's count, then ours
                    decoded = await page.evaluate(DECODED)
                    if decoded > 30:
                        break
                    await asyncio.sleep(0.1)
                assert decoded > 30, await page.evaluate(STATE)
                for kinds in tracks:
                    frame = await asyncio.wait_for(kinds["video"].recv(), WAIT)
                    assert (frame.width, frame.height) == (320, 240)
                    audio = await asyncio.wait_for(kinds["audio"].recv(), WAIT)
                    assert audio.sample_rate == 48000
                assert await ingest_codec_elements(whip) == []  # no decoder, no encoder
    finally:
        for player in players:
            await player.close()
        await whep.close()
        await whip.close()
