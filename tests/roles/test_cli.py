"""The ``signalling-server`` and ``produce`` commands: real processes, real media, clean stops."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogstwebrtc.media import VideoFrame
from aiogstwebrtc.signalling import Consumer

WAIT = 20.0


@asynccontextmanager
async def command(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``python -m aiogstwebrtc ARGS``; kill it if the test did not stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiogstwebrtc",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process: asyncio.subprocess.Process, pattern: str) -> re.Match[str]:
    """Read the process's output until a line matches ``pattern``."""
    assert process.stdout is not None
    seen = []
    async with asyncio.timeout(WAIT):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"process ended before {pattern!r}; output: {seen}")
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match


async def stop(process: asyncio.subprocess.Process, signum: signal.Signals) -> tuple[int, str]:
    """Send ``signum`` and return the exit code and the rest of the output."""
    process.send_signal(signum)
    out, _ = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, out.decode()


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
