"""One Broadcast watched by three Chromium pages and two aiortc peers at once (issue 11)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import AudioSource, Broadcast, MediaSource, VideoSource
from aiogstwebrtc.signalling import Producer, SignallingServer
from aiogstwebrtc.signalling.cli import WEB_DIR
from tests.aiortc_peer import aiortc_peer, we_offer

from .pagetools import WAIT_MS, browser_pages, demo_state

WAIT = WAIT_MS / 1000


async def test_three_browsers_and_two_aiortc_peers_watch_one_encode() -> None:
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)
    source = VideoSource("videotestsrc is-live=true pattern=ball", width=320, height=240)
    async with server, Broadcast(video=source, audio=AudioSource()) as broadcast:

        def shared() -> list[MediaSource]:
            return [t for t in (broadcast.video, broadcast.audio) if t is not None]

        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(
                Producer(server.url, meta={"name": "shared"}, sources=shared)
            )
            log: list[str] = []
            pages = await stack.enter_async_context(browser_pages(3, permissions=False, log=log))
            for page in pages:
                await page.goto(f"http://127.0.0.1:{server.port}/?watch=shared")
            frames: list[asyncio.Queue[Any]] = []
            for _ in range(2):
                ours, theirs = PeerConnection(), aiortc_peer()
                stack.push_async_callback(theirs.close)
                stack.push_async_callback(ours.close)
                tracks: asyncio.Queue[Any] = asyncio.Queue()
                theirs.on(
                    "track", lambda t, q=tracks: q.put_nowait(t) if t.kind == "video" else None
                )
                for track in shared():
                    await ours.add_track(track)
                await we_offer(ours, theirs, trickle=False)
                frames.append(tracks)
            for page in pages:
                await page.wait_for_function("window.demo.framesDecoded > 30")
                state = await demo_state(page)
                assert state["connectionState"] == "connected"
                assert (state["width"], state["height"]) == (320, 240)
            for queue in frames:
                track = await asyncio.wait_for(queue.get(), WAIT)
                for _ in range(15):
                    frame = await asyncio.wait_for(track.recv(), WAIT)
                assert (frame.width, frame.height) == (320, 240)
            assert broadcast.viewers == 5
            names = sorted(e.get_factory().get_name() for e in broadcast.encoders())
            assert names == ["opusenc", "vp8enc"], names  # one encode of each kind for all five
            assert all(count > 0 for count in broadcast.stats()["bytes_out"].values())
            assert not any("pageerror" in line for line in log), log


async def test_an_rtsp_camera_broadcast_plays_in_chromium(camera: Any) -> None:
    """H.264 passed through: the offer carries the camera's profile and packetization mode,
    and Chromium decodes it (no decoder or encoder of ours)."""
    rtsp = camera("h264")
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)
    async with server, Broadcast(video=VideoSource.from_rtsp(rtsp.url)) as broadcast:
        assert broadcast.encoders() == []

        def shared() -> list[MediaSource]:
            return [broadcast.video] if broadcast.video is not None else []

        async with (
            Producer(server.url, meta={"name": "camera"}, sources=shared),
            browser_pages(1, permissions=False) as pages,
        ):
            page = pages[0]
            await page.goto(f"http://127.0.0.1:{server.port}/?watch=camera")
            await page.wait_for_function("window.demo.framesDecoded > 30")
            state = await demo_state(page)
            assert (state["width"], state["height"]) == (320, 240)
            await page.wait_for_function("window.demo.videoCodec !== null")
            codec = (await demo_state(page))["videoCodec"]
            assert codec.startswith("video/H264"), codec
            assert "packetization-mode=1" in codec and "profile-level-id=42" in codec, codec
