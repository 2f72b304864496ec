"""Received frames are read-only views of the decoded memory, not copies (``frame.copy()``
for a writable one), and holding them neither stalls a track nor keeps memory mapped."""

from __future__ import annotations

import asyncio
import gc

import numpy as np
import pytest

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.gst import Gst, ensure_init
from aiogstwebrtc.media import AudioSource, RemoteTrack, VideoFrame, VideoSource
from aiogstwebrtc.media.frames import AudioFrame
from aiogstwebrtc.media.mapped import read_only_array
from tests.helpers import media_pair
from tests.reliability.scripts import run_script


def _lock_count(memory: Gst.Memory) -> int:
    """How many mappings hold ``memory`` (GstMiniObject's lock state counts them from bit 8;
    the share count above it is left out)."""
    return int(memory.mini_object.lockstate) & 0xFF00


def test_an_array_is_the_buffer_memory_itself_until_its_last_view_goes() -> None:
    ensure_init()
    buffer = Gst.Buffer.new_allocate(None, 64, None)
    buffer.fill(0, bytes(range(64)))
    memory = buffer.peek_memory(0)
    unmapped = _lock_count(memory)

    array = read_only_array(buffer)
    assert not array.flags.writeable
    with pytest.raises(ValueError):
        array[0] = 1
    again = read_only_array(buffer)
    assert np.shares_memory(array, again)  # two at once in the same place: neither a copy
    del again
    view = array[8:16].reshape(2, 4)
    del array
    gc.collect()
    assert _lock_count(memory) > unmapped  # the view keeps it mapped
    assert view.tolist() == [[8, 9, 10, 11], [12, 13, 14, 15]]
    buffer.fill(8, b"\xff")  # a later write goes to a copy GStreamer makes: held views hold
    assert view[0, 0] == 8
    del view
    gc.collect()
    assert _lock_count(memory) == unmapped  # the last view went: unmapped


def test_an_empty_buffer_gives_an_empty_array() -> None:
    ensure_init()
    assert read_only_array(Gst.Buffer.new_allocate(None, 0, None)).size == 0


async def _receiving(
    source: VideoSource | AudioSource,
) -> tuple[PeerConnection, PeerConnection, RemoteTrack]:
    a, b, tracks = await media_pair(source)
    return a, b, await asyncio.wait_for(tracks.get(), 15)


# 322 pixels wide: RGB rows padded from 966 to 968 bytes, so the frame is a strided view.
async def test_a_video_frame_is_read_only_and_copy_gives_a_writable_one() -> None:
    a, b, track = await _receiving(VideoSource(width=322, height=240, framerate=30))
    try:
        frame = await asyncio.wait_for(track.recv(), 15)
        assert isinstance(frame, VideoFrame) and frame.data.shape == (240, 322, 3)
        assert not frame.data.flags.writeable
        with pytest.raises(ValueError):
            frame.data[0, 0, 0] = 1
        own = frame.copy()
        assert own.data.flags.writeable and own.data.flags.c_contiguous
        assert own.pts == frame.pts and np.array_equal(own.data, frame.data)
        assert not np.shares_memory(own.data, frame.data)
        own.data[0, 0, 0] ^= 0xFF  # the copy is the caller's: the frame does not change
        assert own.data[0, 0, 0] != frame.data[0, 0, 0]
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_an_audio_frame_is_read_only_and_copy_gives_a_writable_one() -> None:
    a, b, track = await _receiving(AudioSource())
    try:
        frame = await asyncio.wait_for(track.recv(), 15)
        assert isinstance(frame, AudioFrame) and frame.data.dtype == np.int16
        assert not frame.data.flags.writeable
        own = frame.copy()
        assert own.data.flags.writeable and np.array_equal(own.data, frame.data)
        assert (own.sample_rate, own.pts) == (frame.sample_rate, frame.pts)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_holding_many_frames_does_not_stall_the_track() -> None:
    # Each frame held keeps its decoded buffer: the pools behind the decoder and the
    # converter must not run dry and stop the stream while a user keeps frames around.
    moving = VideoSource("videotestsrc is-live=true pattern=ball", width=320, height=240)
    a, b, track = await _receiving(moving)
    try:
        held = [await asyncio.wait_for(track.recv(), 15) for _ in range(90)]  # 3 s of video
        stamps = [frame.pts for frame in held if frame.pts is not None]
        assert len(stamps) == len(held) and stamps == sorted(stamps)
        later = await asyncio.wait_for(track.recv(), 5)  # still flowing, 90 frames held
        assert later.pts is not None and later.pts > stamps[-1]
        first = held[0].data.copy()
        for _ in range(30):  # newer frames never reuse the memory of one still held
            await asyncio.wait_for(track.recv(), 5)
        assert np.array_equal(held[0].data, first)
    finally:
        await asyncio.gather(a.close(), b.close())


@pytest.mark.parametrize("mode", ["closed", "exit"])
def test_frames_held_past_their_peer_connection_stay_readable(mode: str) -> None:
    # A frame's buffer stays mapped after the pipeline that decoded it is gone (closed), and
    # frames still held when the interpreter exits are unmapped then without a crash (exit).
    result = run_script("frames_outlive_peers.py", mode, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Segmentation" not in result.stderr and "CRITICAL" not in result.stderr
    if mode == "closed":
        assert "unchanged after close" in result.stdout, result.stdout + result.stderr[-2000:]
        assert "frames released" in result.stdout
    else:
        assert "leaving with frames held" in result.stdout, result.stderr[-2000:]
