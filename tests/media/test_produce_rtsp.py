"""``aiogstwebrtc produce --rtsp``: one camera passed through to every consumer, and the
camera going away and coming back (issue 11)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiogstwebrtc.media import VideoFrame
from aiogstwebrtc.signalling import Consumer
from tests.media.cameras import Camera
from tests.roles.proctools import WAIT, command, read_until, stop


async def test_produce_passes_a_camera_through_and_serves_again_once_it_is_back(
    camera: Callable[..., Camera],
) -> None:
    rtsp = camera("h264")
    async with command("signalling-server", "--port", "0") as server:
        url = (await read_until(server, r"signalling server: (ws://\S+)")).group(1)
        async with command(
            "produce", "--server", url, "--name", "cam", "--rtsp", rtsp.url
        ) as producer:
            await read_until(producer, r"producing as 'cam'")
            async with Consumer(url) as first, Consumer(url) as second:
                producer_id = (await first.wait_for_producer("cam", timeout=WAIT)).id
                sessions = [await first.watch(producer_id), await second.watch(producer_id)]
                tracks = [await s.wait_track("video", WAIT) for s in sessions]
                for track in tracks:
                    frame = await asyncio.wait_for(track.recv(), WAIT)
                    assert isinstance(frame, VideoFrame) and frame.width == 320
                assert not any(t.kind == "audio" for s in sessions for t in s.tracks)

                rtsp.kill()  # the camera vanishes: every session ends (endSession carries
                for session in sessions:  # no reason: the producer logs it)
                    assert "other side" in await session.wait_ended(WAIT)
                assert all(track.ended for track in tracks)

                camera("h264", rtsp.port)  # back at the same address
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10.0  # retries are at most 5 s apart
                while True:  # consumers are refused while the producer retries
                    session = await first.watch(producer_id)
                    try:
                        track = await session.wait_track("video", 3.0)
                        frame = await asyncio.wait_for(track.recv(), WAIT)
                        break
                    except (TimeoutError, Exception):
                        await session.close()
                        if loop.time() > deadline:
                            raise
                        await asyncio.sleep(0.5)
                assert frame.width == 320
            code, output = await stop(producer, signal.SIGTERM)
            assert code == 0, output
            assert "the shared source ended: source failed" in output
            assert "the shared source is back" in output
            assert "Traceback" not in output
        await stop(server, signal.SIGINT)
