"""Media between two of our peers: numpy frames, recording, renegotiation, bounded queues."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import AudioSource, RemoteTrack, VideoFrame, VideoSource
from aiogstwebrtc.media.frames import rgb_stride
from tests.helpers import connected_pair, media_pair, negotiate
from tests.leakcheck import rss_bytes


# 322 pixels: RGB rows of 966 bytes that GStreamer pads to 968 (a wrong stride on either
# side shifts each row by 2 bytes more than the last and mixes the colour channels).
@pytest.mark.parametrize(("width", "height"), [(320, 240), (322, 240)])
async def test_numpy_frames_arrive_with_their_size_and_colour(width: int, height: int) -> None:
    source = VideoSource.from_frames(width, height, framerate=30)
    a, b, tracks = await media_pair(source)
    colour = np.array([200, 40, 40], dtype=np.uint8)
    frame = np.broadcast_to(colour, (height, width, 3)).copy()

    async def pump() -> None:
        while True:
            source.push(frame)
            await asyncio.sleep(1 / 30)

    pumping = asyncio.ensure_future(pump())  # nothing is sent until frames are pushed
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        try:
            received: VideoFrame | None = None
            for _ in range(10):  # the first frames may predate the first keyframe
                candidate = await asyncio.wait_for(track.recv(), 15)
                assert isinstance(candidate, VideoFrame)
                received = candidate
            assert received is not None
            assert (received.width, received.height) == (width, height)
            mean = received.data.reshape(-1, 3).mean(axis=0)
            assert np.all(np.abs(mean - colour) < 25), mean
        finally:
            pumping.cancel()
        with pytest.raises(ValueError):
            source.push(np.zeros((10, 10, 3), dtype=np.uint8))
    finally:
        await asyncio.gather(a.close(), b.close())


@pytest.mark.parametrize(
    ("codec", "suffix", "container"), [("vp8", ".webm", "webm"), ("h264", ".mkv", "matroska")]
)
async def test_record_writes_a_file_discoverer_reads(
    tmp_path: Path, codec: str, suffix: str, container: str
) -> None:
    a, b, tracks = await media_pair(VideoSource(codec=codec, width=320, height=240))
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        path = await track.record(tmp_path / f"out{suffix}", duration=2.0)
    finally:
        await asyncio.gather(a.close(), b.close())
    info = subprocess.run(
        ["gst-discoverer-1.0", "-v", str(path)], capture_output=True, text=True, timeout=30
    ).stdout
    assert container in info.lower()
    assert f"video/x-{codec}" in info.lower()
    duration_line = next(line for line in info.splitlines() if "Duration:" in line)
    hours, minutes, seconds = duration_line.split("Duration:")[1].strip().split(":")
    duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    assert 1.0 <= duration <= 3.5, duration_line


async def test_record_leaves_no_ended_handler_behind(tmp_path: Path) -> None:
    a, b, tracks = await media_pair(VideoSource(width=320, height=240))
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        handlers_before = len(track._events._handlers.get("ended", []))
        for number in range(3):
            await track.record(tmp_path / f"part{number}.webm", duration=0.3)
        assert len(track._events._handlers.get("ended", [])) == handlers_before
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_renegotiation_keeps_the_data_channel_in_order() -> None:
    async with connected_pair() as pair:
        a, b = pair.offerer, pair.answerer
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        b.on("track", tracks.put_nowait)
        needed = asyncio.Event()
        a.on("negotiationneeded", needed.set)
        sent = 0
        stop = asyncio.Event()

        async def chatter() -> None:
            nonlocal sent
            while not stop.is_set():
                pair.channel.send(json.dumps(sent))
                sent += 1
                await asyncio.sleep(0.005)

        chatting = asyncio.ensure_future(chatter())
        try:
            video = await a.add_track(VideoSource(width=320, height=240))
            await asyncio.wait_for(needed.wait(), 10)
            await negotiate(a, b)
            video_track = await asyncio.wait_for(tracks.get(), 15)
            assert video_track.kind == "video"
            await asyncio.wait_for(video_track.recv(), 15)

            needed.clear()
            await a.add_track(AudioSource())
            await asyncio.wait_for(needed.wait(), 10)
            await negotiate(a, b)
            audio_track = await asyncio.wait_for(tracks.get(), 15)
            assert audio_track.kind == "audio"
            await asyncio.wait_for(audio_track.recv(), 15)

            ended = asyncio.Event()
            video_track.on("ended", ended.set)
            needed.clear()
            await a.remove_track(video)
            await asyncio.wait_for(needed.wait(), 10)
            await negotiate(a, b)
            await asyncio.wait_for(ended.wait(), 10)
            await asyncio.wait_for(audio_track.recv(), 15)  # audio goes on
        finally:
            stop.set()
            await chatting
        received = []
        while len(received) < sent:
            received.append(json.loads(await asyncio.wait_for(pair.remote.recv(), 10)))
        assert received == list(range(sent))
        assert sent > 50


async def test_a_slow_consumer_does_not_grow_memory() -> None:
    a, b, tracks = await media_pair(VideoSource(width=320, height=240, framerate=30))
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        await asyncio.wait_for(track.recv(), 15)
        consumed = 1
        await asyncio.sleep(1.5)  # nobody reads: the queue fills to its bound
        baseline = rss_bytes()
        for _ in range(6):  # the slow consumer: one frame every half second
            await asyncio.sleep(0.5)
            await asyncio.wait_for(track.recv(), 15)
            consumed += 1
        received, dropped, queued = track._frames.counts()  # read together, under its lock
        assert queued <= 30
        assert received == consumed + queued + dropped  # nothing unaccounted
        assert dropped > 0
        # 30 queued 320x240 frames are ~7 MB; that bound was reached before the baseline.
        assert rss_bytes() - baseline < 10 * 1024 * 1024
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_a_blocked_loop_does_not_pile_up_720p_frames() -> None:
    a, b, tracks = await media_pair(VideoSource(width=1280, height=720, framerate=30))
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        for _ in range(10):  # decoder, converter and pools at their working size
            frame = await asyncio.wait_for(track.recv(), 15)
        assert isinstance(frame, VideoFrame) and (frame.width, frame.height) == (1280, 720)
        del frame
        consumed = 10
        baseline = rss_bytes()
        received_before, _, _ = track._frames.counts()
        time.sleep(5)  # the asyncio loop is blocked; GStreamer keeps decoding
        growth = rss_bytes() - baseline
        received, dropped, queued = track._frames.counts()  # read together, under its lock
        assert growth < 50 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"
        assert received - received_before > queued  # more frames came than the queue keeps...
        assert received == consumed + queued + dropped  # ...and dropped counts the rest
        assert dropped > 0
        for _ in range(queued):  # what was kept decodes
            assert isinstance(await asyncio.wait_for(track.recv(), 5), VideoFrame)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_bad_sources_are_refused() -> None:
    with pytest.raises(ValueError):
        VideoSource(codec="nope")
    with pytest.raises(ValueError):
        AudioSource(codec="vp8")
    with pytest.raises(ValueError):
        VideoSource(width=321)
    pc = PeerConnection()
    try:
        with pytest.raises(ValueError, match="invalid source pipeline"):
            await pc.add_track(VideoSource(pipeline="nosuchelement ! fakesink"))
        with pytest.raises(TypeError):
            await pc.add_track("videotestsrc")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await pc.add_transceiver("text")
        transceiver = await pc.add_transceiver("video", direction="recvonly")
        offer = await pc.create_offer()
        assert "a=recvonly" in offer.sdp and "VP8/90000" in offer.sdp and "H264/90000" in offer.sdp
        assert transceiver.kind == "video"
    finally:
        await pc.close()


def test_rgb_rows_are_padded_to_four_bytes() -> None:
    assert [rgb_stride(width) for width in (1, 2, 4, 320, 322)] == [4, 8, 12, 960, 968]
