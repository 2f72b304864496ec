"""The demo page in real headless Chromium: watching, chatting, failures, and sharing a camera.

Everything runs inside the test suite's network namespace; the page's RTCPeerConnections
have no ICE servers.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from aiogstwebrtc.media import MediaSource, VideoFrame, VideoSource
from aiogstwebrtc.signalling import Consumer, Producer, SignallingServer
from aiogstwebrtc.signalling.cli import WEB_DIR

from .pagetools import WAIT_MS, browser_page, command, demo_state, read_until

WAIT = WAIT_MS / 1000


async def test_demo_page_plays_the_demo_producer_and_chats(artifacts_dir: Path) -> None:
    log: list[str] = []
    async with command("demo", "--port", "0") as demo:
        url = (await read_until(demo, r"open (http://\S+) in a browser")).group(1)
        async with browser_page(log=log) as page:
            await page.goto(url)
            await page.wait_for_function("window.demo.signalling === 'connected'")
            await page.wait_for_function(
                "window.demo.producers.some(p => p.name === 'aiogstwebrtc demo')"
            )
            await page.get_by_role("button", name="aiogstwebrtc demo").click()

            # Video plays: frames are decoded, and keep being decoded.
            await page.wait_for_function("window.demo.framesDecoded > 30")
            first = (await demo_state(page))["framesDecoded"]
            await page.wait_for_function(f"window.demo.framesDecoded > {first + 30}")
            await page.wait_for_function(
                "document.getElementById('remote').videoWidth === 640 && "
                "document.getElementById('remote').currentTime > 0.5"
            )
            state = await demo_state(page)
            assert state["connectionState"] == "connected"
            assert state["session"] == "streaming"
            assert (state["width"], state["height"]) == (640, 360)
            assert state["iceServers"] == 0  # no STUN/TURN configured on the page

            # Chat over the producer's data channel.
            await page.wait_for_function("window.demo.channel === 'open'")
            for text in ("hello", "is anyone there?"):
                await page.fill("#chat-input", text)
                await page.press("#chat-input", "Enter")
            await page.wait_for_function(
                "window.demo.chat.filter(m => m.kind === 'them').length >= 2"
            )
            replies = [m["text"] for m in (await demo_state(page))["chat"] if m["kind"] == "them"]
            assert replies[0].startswith("Hello from Python")
            assert replies[1] == "echo: is anyone there?"

            # Live statistics.
            await page.wait_for_function(
                "window.demo.bitrateKbps > 50 && window.demo.rttMs !== null"
            )
            await page.wait_for_function(
                "document.getElementById('st-bitrate').textContent.endsWith('kbit/s')"
            )
            assert not (await demo_state(page))["errors"], log
            await page.screenshot(path=str(artifacts_dir / "demo-page.png"))

        demo.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(demo.communicate(), WAIT)
        assert demo.returncode == 0, out.decode()
        assert "demo stopped" in out.decode()


async def test_page_says_when_the_producer_and_the_server_go_away() -> None:
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)
    await server.start()
    try:
        producer = Producer(server.url, meta={"name": "short-lived"}, sources=None)
        await producer.start()
        async with browser_page() as page:
            await page.goto(f"http://127.0.0.1:{server.port}/?watch=short-lived")
            await page.wait_for_function("window.demo.channel === 'open'")

            # Stop ends the session on the producer too; watching again works.
            ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            producer.on("session_ended", lambda s: ended.done() or ended.set_result(s.end_reason))
            await page.click("#stop")
            assert "other side" in await asyncio.wait_for(ended, WAIT)
            assert not producer.sessions
            await page.get_by_role("button", name="short-lived").click()
            await page.wait_for_function("window.demo.channel === 'open'")
            assert len(producer.sessions) == 1

            await producer.close()
            await page.wait_for_function("window.demo.session === 'closed'")
            banner = page.locator("#error")
            assert "short-lived left" in await banner.text_content()
            await page.wait_for_function("window.demo.producers.length === 0")

            await server.stop()
            await page.wait_for_function("window.demo.signalling === 'disconnected'")
            assert await banner.is_visible()
            assert "Cannot reach the signalling server" in await banner.text_content()
    finally:
        await server.stop()


async def test_browser_camera_is_received_by_a_python_consumer() -> None:
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)
    async with server, browser_page() as page:
        await page.goto(f"http://127.0.0.1:{server.port}/?name=fakecam")
        await page.wait_for_function("window.demo.signalling === 'connected'")
        await page.click("#share")
        await page.wait_for_function("window.demo.sharing === 'streaming'")
        async with Consumer(server.url) as consumer:
            info = await consumer.wait_for_producer("fakecam", timeout=WAIT)
            session = await consumer.watch(info.id)
            track = await session.wait_track("video", WAIT)
            assert track.codec is not None, track.encoding_name  # one we can decode
            print(f"browser camera arrives as {track.encoding_name}")
            frames = [await asyncio.wait_for(track.recv(), WAIT) for _ in range(10)]
            assert all(isinstance(f, VideoFrame) for f in frames)
            assert frames[-1].data.std() > 5  # Chromium's fake camera pattern, not blank
            assert frames[-1].width >= 160
            await page.wait_for_function("window.demo.consumers === 1")
            await session.close()
            await page.wait_for_function("window.demo.consumers === 0")
        await page.click("#share")  # stop sharing
        await page.wait_for_function("window.demo.sharing === 'off'")


async def test_a_viewer_without_camera_permission_plays_too() -> None:
    # Real viewers grant no camera permission: Chromium then offers no host candidates
    # of its own, and the connection comes up through peer-reflexive candidates.
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)

    def video() -> list[MediaSource]:
        return [VideoSource("videotestsrc is-live=true", width=320, height=240)]

    async with server, Producer(server.url, meta={"name": "plain"}, sources=video):
        async with browser_page(permissions=False) as page:
            await page.goto(f"http://127.0.0.1:{server.port}/?watch=plain")
            await page.wait_for_function("window.demo.framesDecoded > 20")
            await page.wait_for_function("window.demo.channel === 'open'")
            assert (await demo_state(page))["connectionState"] == "connected"


async def test_page_passes_the_token_from_its_url() -> None:
    server = SignallingServer(port=0, token="s3cret")
    server.add_static(WEB_DIR)
    async with server, browser_page() as page:
        await page.goto(f"http://127.0.0.1:{server.port}/")  # the page itself is public
        await page.wait_for_function("window.demo.signalling === 'disconnected'")
        assert "Cannot reach the signalling server" in await page.locator("#error").text_content()
        await page.goto(f"http://127.0.0.1:{server.port}/?token=s3cret")
        await page.wait_for_function("window.demo.signalling === 'connected'")
