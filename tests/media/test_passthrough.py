"""Encoded sources passed through without transcoding: RTSP cameras and encoded pipelines."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from aiogstwebrtc import PeerConnection, WebRTCError
from aiogstwebrtc.gst import Gst, ensure_init
from aiogstwebrtc.media import EncodedVideoSource, RtspSource, VideoSource
from tests.aiortc_peer import aiortc_peer, we_offer
from tests.media.cameras import Camera
from tests.media.walk import codec_elements, factory_names


def test_the_codec_walk_finds_decoders_and_encoders() -> None:
    ensure_init()
    pipeline = Gst.Pipeline()
    inner = Gst.Bin()
    pipeline.add(inner)
    for name in ("videotestsrc", "x264enc", "h264parse", "sctpenc", "rtph264depay"):
        pipeline.add(Gst.ElementFactory.make(name))
    for name in ("avdec_h264", "vp8enc", "decodebin", "sctpdec"):
        inner.add(Gst.ElementFactory.make(name))
    assert sorted(codec_elements(pipeline)) == ["avdec_h264", "decodebin", "vp8enc", "x264enc"]


def test_encoded_sources_are_video_sources_without_raw_media() -> None:
    source = VideoSource.encoded("filesrc location=a.mkv ! matroskademux", codec="h264")
    assert isinstance(source, VideoSource) and isinstance(source, EncodedVideoSource)
    assert source.passthrough and not VideoSource().passthrough
    assert source.encoded_description() == (
        "filesrc location=a.mkv ! matroskademux ! h264parse config-interval=-1 ! "
        "video/x-h264,stream-format=avc,alignment=au"
    )
    with pytest.raises(TypeError, match="passed through"):
        source.raw_description()
    rtsp = VideoSource.from_rtsp("rtsp://admin:secret@10.0.0.9:554/stream1", latency_ms=100)
    assert isinstance(rtsp, RtspSource) and isinstance(rtsp, VideoSource)
    assert rtsp.encoded_description().startswith(
        'rtspsrc name=rtspsrc location="rtsp://admin:secret@10.0.0.9:554/stream1" latency=100'
        " ! rtph264depay ! h264parse"
    )
    assert "secret" not in repr(rtsp) and "admin:***@10.0.0.9:554" in repr(rtsp)
    for bad in ("http://camera/stream", "/dev/video0"):
        with pytest.raises(ValueError, match="rtsp://"):
            VideoSource.from_rtsp(bad)
    with pytest.raises(ValueError, match="latency_ms"):
        VideoSource.from_rtsp("rtsp://camera/stream", latency_ms=-1)
    with pytest.raises(ValueError, match="choose one of"):
        VideoSource.encoded("videotestsrc ! avenc_mpeg4", codec="mpeg4")


@pytest.mark.parametrize("codec", ["h265", "HEVC"])
def test_h265_is_refused_by_its_codec_argument(codec: str) -> None:
    for make in (
        lambda: VideoSource.from_rtsp("rtsp://camera/stream", codec=codec),
        lambda: VideoSource.encoded("videotestsrc ! x265enc", codec=codec),
    ):
        with pytest.raises(ValueError, match=r"H\.265 \(HEVC\) cannot be passed through") as info:
            make()
        assert "browsers' WebRTC does not take it" in str(info.value)


def _errors(pc: PeerConnection) -> asyncio.Queue[Any]:
    errors: asyncio.Queue[Any] = asyncio.Queue()
    pc.on("error", errors.put_nowait)
    return errors


async def test_rtsp_h264_reaches_aiortc_without_decoding_or_encoding(
    camera: Callable[[str], Camera],
) -> None:
    url = camera("h264").url
    ours, theirs = PeerConnection(), aiortc_peer()
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    theirs.on("track", tracks.put_nowait)
    errors = _errors(ours)
    try:
        source = VideoSource.from_rtsp(url)
        sender = await ours.add_track(source)
        await source.wait_started(15)
        await we_offer(ours, theirs, trickle=False)
        local = ours.local_description
        assert local is not None
        fmtp = next(line for line in local.sdp.splitlines() if line.startswith("a=fmtp:"))
        assert "packetization-mode=1" in fmtp
        # The camera's own profile: constrained baseline (42c0), level 1.3 (0d) at 320x240.
        assert re.search(r"profile-level-id=42c00d", fmtp), fmtp
        track = await asyncio.wait_for(tracks.get(), 15)
        frames = []
        for _ in range(30):
            frames.append(await asyncio.wait_for(track.recv(), 15))
        assert {(frame.width, frame.height) for frame in frames} == {(320, 240)}

        assert await ours.run_in_glib(lambda pipeline, _webrtc: codec_elements(pipeline)) == []
        names = await ours.run_in_glib(lambda pipeline, _webrtc: set(factory_names(pipeline)))
        assert {"rtspsrc", "rtph264depay", "h264parse", "rtph264pay"} <= names
        with pytest.raises(TypeError, match="without an encoder"):
            await sender.set_bitrate(500_000)
        assert errors.empty()
    finally:
        await ours.close()
        await theirs.close()


async def test_a_camera_that_dies_is_reported_as_an_error_event(
    camera: Callable[[str], Camera],
) -> None:
    rtsp = camera("h264")
    ours = PeerConnection()
    errors = _errors(ours)
    try:
        source = VideoSource.from_rtsp(rtsp.url)
        await ours.add_track(source)
        await source.wait_started(15)
        assert errors.empty()
        rtsp.kill()
        error = await asyncio.wait_for(errors.get(), 30)
        assert isinstance(error, WebRTCError)
        assert "GstRTSPSrc:rtspsrc" in str(error), error
    finally:
        await ours.close()


async def test_a_camera_sending_h265_is_refused_with_the_reason(
    camera: Callable[[str], Camera],
) -> None:
    rtsp = camera("h265")
    ours = PeerConnection()
    errors = _errors(ours)
    try:
        await ours.add_track(VideoSource.from_rtsp(rtsp.url))
        error = await asyncio.wait_for(errors.get(), 30)
        assert isinstance(error, WebRTCError)
        assert f"the RTSP camera {rtsp.url} sends H.265" in str(error)
        assert "browsers' WebRTC does not take it" in str(error)
        assert await ours.run_in_glib(lambda pipeline, _webrtc: codec_elements(pipeline)) == []
    finally:
        await ours.close()


async def test_an_encoded_vp8_pipeline_reaches_aiortc_with_no_encoder_of_ours() -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    theirs.on("track", tracks.put_nowait)
    try:
        source = VideoSource.encoded(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
            "vp8enc deadline=1 keyframe-max-dist=30",
            codec="vp8",
        )
        sender = await ours.add_track(source)
        await we_offer(ours, theirs, trickle=False)
        track = await asyncio.wait_for(tracks.get(), 15)
        frames = []
        for _ in range(30):
            frames.append(await asyncio.wait_for(track.recv(), 15))
        assert {(frame.width, frame.height) for frame in frames} == {(320, 240)}
        # The only encoder is the one the source's own description holds.
        assert await ours.run_in_glib(lambda pipeline, _webrtc: codec_elements(pipeline)) == [
            "vp8enc"
        ]
        with pytest.raises(TypeError, match="without an encoder"):
            await sender.set_bitrate(500_000)
    finally:
        await ours.close()
        await theirs.close()
