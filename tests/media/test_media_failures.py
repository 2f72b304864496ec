"""Media failures reach the user (an exception or an ``error`` event) and release their pads."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from aiogstwebrtc import PeerConnection, WebRTCError
from aiogstwebrtc.gst import Gst
from aiogstwebrtc.media import (
    AudioFrame,
    AudioSource,
    RemoteTrack,
    VideoFrame,
    VideoSource,
    receiver,
)
from tests.helpers import negotiate, wire_trickle


def _webrtcbin_pads(_pipeline: Gst.Pipeline, webrtc: Gst.Element) -> tuple[int, int]:
    """webrtcbin's sink pads, and the elements of the whole pipeline."""
    return webrtc.numsinkpads, len(list(_pipeline.children))


async def test_add_and_remove_cycles_give_webrtcbin_its_sink_pads_back() -> None:
    a, b = PeerConnection(), PeerConnection()
    tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    b.on("track", tracks.put_nowait)
    wire_trickle(a, b)
    try:
        await a.add_track(AudioSource())
        await negotiate(a, b)
        audio = await asyncio.wait_for(tracks.get(), 15)
        baseline = await a.run_in_glib(_webrtcbin_pads)
        for _ in range(3):
            video = await a.add_track(VideoSource(width=160, height=120))
            assert (await a.run_in_glib(_webrtcbin_pads))[0] == baseline[0] + 1
            await negotiate(a, b)
            await a.remove_track(video)
            await negotiate(a, b)
            assert await a.run_in_glib(_webrtcbin_pads) == baseline
        assert isinstance(await asyncio.wait_for(audio.recv(), 15), AudioFrame)  # still flowing
        # A track added after the cycles still reaches the other side.
        await a.add_track(VideoSource(width=160, height=120))
        await negotiate(a, b)
        while (track := await asyncio.wait_for(tracks.get(), 15)).kind != "video" or track.ended:
            pass
        assert isinstance(await asyncio.wait_for(track.recv(), 15), VideoFrame)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_a_bad_sink_description_is_an_exception_and_the_track_plays_on() -> None:
    a, b = PeerConnection(), PeerConnection()
    tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    b.on("track", tracks.put_nowait)
    wire_trickle(a, b)
    try:
        await a.add_track(VideoSource(width=160, height=120))
        await negotiate(a, b)
        track = await asyncio.wait_for(tracks.get(), 15)
        await asyncio.wait_for(track.recv(), 15)

        def tee_pads_and_branches(_pipeline: Gst.Pipeline, _webrtc: Gst.Element) -> tuple[int, int]:
            assert track._tee is not None and track._pipeline is not None
            return track._tee.numsrcpads, len(list(track._pipeline.children))

        before = await b.run_in_glib(tee_pads_and_branches)
        for description in (
            "nosuchsink",  # no such element
            "audioconvert ! fakesink",  # cannot follow a video decoder
            "videotestsrc",  # a source: nothing to feed
        ):
            with pytest.raises(ValueError, match="invalid pipeline"):
                await track.connect(description)
            assert await b.run_in_glib(tee_pads_and_branches) == before
        for _ in range(3):
            assert isinstance(await asyncio.wait_for(track.recv(), 15), VideoFrame)
    finally:
        await asyncio.gather(a.close(), b.close())


@pytest.mark.parametrize(
    ("depayloader", "message"),
    [
        ("nosuchdepay", 'no element "nosuchdepay"'),  # GLib.Error on the streaming thread
        ("capsfilter caps=video/x-raw", "link refused"),  # pad.link() fails
    ],
)
async def test_a_remote_track_that_cannot_be_built_is_an_error_event(
    monkeypatch: pytest.MonkeyPatch, depayloader: str, message: str
) -> None:
    real = receiver.codec_by_encoding

    def broken_vp8(encoding_name: str) -> Any:
        codec = real(encoding_name)
        if codec is not None and codec.name == "vp8":
            return dataclasses.replace(codec, depayloader=depayloader)
        return codec

    monkeypatch.setattr(receiver, "codec_by_encoding", broken_vp8)
    a, b = PeerConnection(), PeerConnection()
    tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    errors: asyncio.Queue[BaseException] = asyncio.Queue()
    b.on("track", tracks.put_nowait)
    b.on("error", errors.put_nowait)
    wire_trickle(a, b)
    try:
        await a.add_track(VideoSource(width=160, height=120))
        await a.add_track(AudioSource())
        await negotiate(a, b)
        error = await asyncio.wait_for(errors.get(), 15)
        assert isinstance(error, WebRTCError)
        assert "cannot receive the remote video track" in str(error) and message in str(error)
        audio = await asyncio.wait_for(tracks.get(), 15)  # the other track is unaffected
        assert audio.kind == "audio"
        assert isinstance(await asyncio.wait_for(audio.recv(), 15), AudioFrame)
        await asyncio.sleep(0.5)
        assert tracks.empty() and errors.empty()  # no video track, no second error
    finally:
        await asyncio.gather(a.close(), b.close())
