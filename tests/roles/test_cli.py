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


async def test_produce_shares_one_capture_of_a_source_only_one_may_open() -> None:
    """Two consumers of a source that can be opened once (a UDP port bound without reuse,
    as a camera device): both receive, because ``produce`` captures it once for all."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rtp = "application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96"
    camera = (
        f'udpsrc address=127.0.0.1 port={port} reuse=false caps="{rtp}" ! '
        "rtpjitterbuffer latency=50 ! rtpvp8depay ! vp8dec ! videoconvert"
    )
    sender = await asyncio.create_subprocess_exec(
        "gst-launch-1.0",
        "-q",
        "videotestsrc",
        "is-live=true",
        "!",
        "video/x-raw,width=320,height=240,framerate=30/1",
        "!",
        "vp8enc",
        "deadline=1",
        "keyframe-max-dist=30",
        "!",
        "rtpvp8pay",
        "!",
        "udpsink",
        "host=127.0.0.1",
        f"port={port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with command("signalling-server", "--port", "0") as server:
            url = (await read_until(server, r"signalling server: (ws://\S+)")).group(1)
            async with command(
                "produce",
                "--server",
                url,
                "--name",
                "cam",
                "--video",
                camera,
                "--audio",
                "none",
            ) as producer:
                await read_until(producer, r"producing as 'cam'")
                async with Consumer(url) as first, Consumer(url) as second:
                    producer_id = (await first.wait_for_producer("cam", timeout=WAIT)).id
                    sessions = [await first.watch(producer_id), await second.watch(producer_id)]
                    for session in sessions:
                        track = await session.wait_track("video", WAIT)
                        frame = await asyncio.wait_for(track.recv(), WAIT)
                        assert isinstance(frame, VideoFrame) and frame.width == 640
                code, output = await stop(producer, signal.SIGTERM)
                assert code == 0, output
                assert "Traceback" not in output and "Address already in use" not in output
            await stop(server, signal.SIGINT)
    finally:
        sender.terminate()
        await sender.wait()
