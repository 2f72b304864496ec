"""More of the media API: files as sources, VP9, bitrate changes, playing to a GStreamer sink."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.gst import Gst
from aiogstwebrtc.media import AudioFrame, AudioSource, RemoteTrack, VideoFrame, VideoSource
from tests.helpers import wire_trickle


async def _send(
    *sources: VideoSource | AudioSource,
) -> tuple[PeerConnection, PeerConnection, asyncio.Queue[RemoteTrack], list[Any]]:
    a, b = PeerConnection(), PeerConnection()
    tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    b.on("track", tracks.put_nowait)
    wire_trickle(a, b)
    senders = [await a.add_track(source) for source in sources]
    offer = await a.create_offer()
    await a.set_local_description(offer)
    await a.set_remote_description(await b.handle_offer(offer))
    return a, b, tracks, senders


def _make_file(path: Path) -> None:
    subprocess.run(
        [
            "gst-launch-1.0", "-q",
            "videotestsrc", "num-buffers=150", "pattern=smpte", "!",
            "video/x-raw,width=320,height=240,framerate=30/1", "!", "vp8enc", "deadline=1", "!",
            "webmmux", "name=mux", "!", "filesink", f"location={path}",
            "audiotestsrc", "num-buffers=250", "!", "audioconvert", "!", "opusenc", "!", "mux.",
        ],
        check=True,
        timeout=60,
    )  # fmt: skip


async def test_a_file_is_sent_as_video_and_audio(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    _make_file(path)
    a, b, tracks, _ = await _send(
        VideoSource.from_file(path, width=320, height=240), AudioSource.from_file(path)
    )
    try:
        kinds = {}
        for _ in range(2):
            track = await asyncio.wait_for(tracks.get(), 15)
            kinds[track.kind] = track
        frame = await asyncio.wait_for(kinds["video"].recv(), 15)
        assert isinstance(frame, VideoFrame) and (frame.width, frame.height) == (320, 240)
        sound = await asyncio.wait_for(kinds["audio"].recv(), 15)
        assert isinstance(sound, AudioFrame) and sound.sample_rate == 48000
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_vp9_and_a_bitrate_change() -> None:
    a, b, tracks, senders = await _send(VideoSource(codec="vp9", width=320, height=240))
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        assert track.codec is not None and track.codec.name == "vp9"
        frame = await asyncio.wait_for(track.recv(), 15)
        assert (frame.width, frame.height) == (320, 240)
        await senders[0].set_bitrate(250_000)

        def encoder_bitrate(pipeline: Gst.Pipeline, _webrtc: Gst.Element) -> int:
            found = []
            iterator = pipeline.iterate_recurse()
            while True:
                result, element = iterator.next()
                if result != Gst.IteratorResult.OK:
                    break
                if element.get_name() == "encoder":
                    found.append(element.get_property("target-bitrate"))
            return int(found[0])

        assert await a.run_in_glib(encoder_bitrate) == 250_000
        await asyncio.wait_for(track.recv(), 15)  # still flowing
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_connect_plays_a_track_into_a_gstreamer_sink() -> None:
    a, b, tracks, _ = await _send(VideoSource(width=320, height=240))
    try:
        track = await asyncio.wait_for(tracks.get(), 15)
        assert b.get_receivers() == [track]  # aiortc's getReceivers(): the remote tracks
        assert a.get_receivers() == []
        played = asyncio.Event()
        loop = asyncio.get_running_loop()
        await track.connect("fakesink name=played signal-handoffs=true sync=false")

        def watch(pipeline: Gst.Pipeline, _webrtc: Gst.Element) -> None:
            iterator = pipeline.iterate_recurse()
            while True:
                result, element = iterator.next()
                if result != Gst.IteratorResult.OK:
                    break
                if element.get_name() == "played":
                    element.connect("handoff", lambda *_: loop.call_soon_threadsafe(played.set))

        await b.run_in_glib(watch)
        await asyncio.wait_for(played.wait(), 15)
    finally:
        await asyncio.gather(a.close(), b.close())
