"""Media with aiortc: our GStreamer encoders to aiortc's decoders, and back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import AudioStreamTrack, VideoStreamTrack

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import AudioSource, RemoteTrack, VideoSource
from tests.aiortc_peer import aiortc_peer, they_offer, we_offer

SECONDS = 5.0
FPS = 30


async def _count_frames(recv: Any, seconds: float) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(recv(), left)
        except TimeoutError:
            break
        sizes.append((frame.width, frame.height))
    return sizes


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_we_send_video_and_audio_to_aiortc(codec: str) -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    tracks: dict[str, Any] = {}
    got_video = asyncio.Event()

    @theirs.on("track")
    def on_track(track: Any) -> None:
        tracks[track.kind] = track
        if track.kind == "video":
            got_video.set()

    try:
        await ours.add_track(VideoSource(codec=codec, width=320, height=240, framerate=FPS))
        await ours.add_track(AudioSource())
        await we_offer(ours, theirs, trickle=False)
        await asyncio.wait_for(got_video.wait(), 15)
        await ours.wait_for_connection_state("connected", 15)
        await asyncio.wait_for(tracks["video"].recv(), 10)  # first frame: decoding started
        sizes = await _count_frames(tracks["video"].recv, SECONDS)
        assert len(sizes) >= 0.8 * SECONDS * FPS, f"only {len(sizes)} frames decoded"
        assert set(sizes) == {(320, 240)}
        audio = await asyncio.wait_for(tracks["audio"].recv(), 10)
        assert audio.sample_rate == 48000
    finally:
        await ours.close()
        await theirs.close()


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_aiortc_sends_video_and_audio_to_us(codec: str) -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    received: dict[str, RemoteTrack] = {}
    got_both = asyncio.Event()

    @ours.on("track")
    def on_track(track: RemoteTrack) -> None:
        received[track.kind] = track
        if len(received) == 2:
            got_both.set()

    try:
        from aiortc.rtcrtpsender import RTCRtpSender

        video = theirs.addTransceiver(VideoStreamTrack(), direction="sendonly")
        preferences = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == codec]
        video.setCodecPreferences(preferences)
        theirs.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await they_offer(ours, theirs)
        await asyncio.wait_for(got_both.wait(), 15)
        track = received["video"]
        assert track.codec is not None and track.codec.encoding_name == codec
        await asyncio.wait_for(track.recv(), 10)
        sizes = await _count_frames(track.recv, SECONDS)
        assert len(sizes) >= 0.8 * SECONDS * FPS, f"only {len(sizes)} frames decoded"
        assert set(sizes) == {(640, 480)}  # aiortc's test track size
        audio = await asyncio.wait_for(received["audio"].recv(), 10)
        assert audio.sample_rate == 48000 and audio.channels == 2
    finally:
        await ours.close()
        await theirs.close()


async def test_we_answer_a_recvonly_offer_with_tracks_added_after_it() -> None:
    """A viewer that offers to receive (a WHEP-style player), answered with our tracks added
    between its offer and our answer: they are what it gets, at its payload types.

    aiortc offers VP8 at payload type 97 and Opus at 96, where we default to 96 and 111;
    webrtcbin matches our tracks to its m-lines by caps, so before this it answered
    ``a=inactive`` twice."""
    from tests.aiortc_peer import from_aiortc, to_aiortc

    ours, theirs = PeerConnection(), aiortc_peer()
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    theirs.on("track", tracks.put_nowait)
    try:
        theirs.addTransceiver("video", direction="recvonly")
        theirs.addTransceiver("audio", direction="recvonly")
        await theirs.setLocalDescription(await theirs.createOffer())
        await ours.set_remote_description(from_aiortc(theirs.localDescription))
        for source in (VideoSource(width=320, height=240), AudioSource()):
            await ours.add_track(source)
        await ours.set_local_description(await ours.create_answer())
        await ours.wait_for_ice_gathering_complete(10)
        answer = ours.local_description
        assert answer is not None
        directions = [s.direction for s in answer.media]
        assert directions == ["sendonly", "sendonly"], answer.sdp
        await theirs.setRemoteDescription(to_aiortc(answer))
        received = {}
        for _ in range(2):
            track = await asyncio.wait_for(tracks.get(), 15)
            received[track.kind] = track
        frame = await asyncio.wait_for(received["video"].recv(), 15)
        assert (frame.width, frame.height) == (320, 240)
        audio = await asyncio.wait_for(received["audio"].recv(), 15)
        assert audio.sample_rate == 48000
    finally:
        await ours.close()
        await theirs.close()
