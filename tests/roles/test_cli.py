"""The ``signalling-server`` and ``produce`` commands: real processes, real media, clean stops."""

from __future__ import annotations

import asyncio
import signal

from aiogstwebrtc.media import VideoFrame
from aiogstwebrtc.signalling import Consumer

from .proctools import WAIT, command, read_until, stop


async def test_server_and_produce_commands_serve_a_consumer_and_stop_on_signals() -> None:
    async with command("signalling-server", "--port", "0") as server:
        url = (await read_until(server, r"signalling server: (ws://\S+)")).group(1)
        async with command(
            "produce",
            "--server",
            url,
            "--name",
            "cli",
            "--video",
            "videotestsrc is-live=true pattern=snow",
            "--audio",
            "none",
            "--width",
            "320",
            "--height",
            "240",
        ) as producer:
            await read_until(producer, r"producing as 'cli'")
            async with Consumer(url) as consumer:
                info = await consumer.wait_for_producer("cli", timeout=WAIT)
                session = await consumer.watch(info.id)
                frame = await asyncio.wait_for(
                    (await session.wait_track("video", WAIT)).recv(), WAIT
                )
                assert isinstance(frame, VideoFrame) and frame.width == 320
                channel = await session.wait_channel(WAIT)
                channel.send("hello")
                assert "Hello from Python" in await asyncio.wait_for(channel.recv(), WAIT)
                assert not any(t.kind == "audio" for t in session.tracks)
                code, output = await stop(producer, signal.SIGTERM)
                assert code == 0, output
                assert "producer stopped" in output
                assert "other side" in await session.wait_ended(WAIT)
        code, output = await stop(server, signal.SIGINT)
        assert code == 0, output
        assert "signalling server stopped" in output
        assert "Traceback" not in output


async def test_produce_reports_a_bad_source_and_an_absent_server() -> None:
    async with command("produce", "--video", "nosuchelement ! foo") as bad:
        out, _ = await asyncio.wait_for(bad.communicate(), WAIT)
        assert bad.returncode == 2
        assert "invalid video source" in out.decode()
    async with command("produce", "--server", "ws://127.0.0.1:9/", "--audio", "none") as lost:
        out, _ = await asyncio.wait_for(lost.communicate(), WAIT)
        assert lost.returncode == 1
        assert "cannot connect" in out.decode()
        assert "Traceback" not in out.decode()
