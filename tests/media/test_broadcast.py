"""Broadcast: one capture and one encode, any number of viewers (issue 11).

Real webrtcbin peers send a shared broadcast to real aiortc viewers in the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.errors import ClosedError, InvalidStateError
from aiogstwebrtc.media import AudioSource, Broadcast, VideoSource
from tests.aiortc_peer import aiortc_peer, we_offer
from tests.media.walk import encoders

WAIT = 15.0


@dataclass
class Viewer:
    """Our peer connection sending the broadcast, and the aiortc peer watching it."""

    broadcast: Broadcast
    ours: PeerConnection
    theirs: Any
    tracks: dict[str, Any] = field(default_factory=dict)
    got_video: asyncio.Event = field(default_factory=asyncio.Event)

    async def first_frame(self) -> Any:
        try:
            await asyncio.wait_for(self.got_video.wait(), WAIT)
            return await asyncio.wait_for(self.tracks["video"].recv(), WAIT)
        except TimeoutError:
            raise AssertionError(
                f"no frame: {self.broadcast.stats()}, ours {self.ours.connection_state}, "
                f"theirs {self.theirs.connectionState}, tracks {list(self.tracks)}"
            ) from None

    async def frames(self, count: int) -> list[Any]:
        return [await asyncio.wait_for(self.tracks["video"].recv(), WAIT) for _ in range(count)]


@contextlib.asynccontextmanager
async def viewer(broadcast: Broadcast) -> AsyncIterator[Viewer]:
    ours, theirs = PeerConnection(), aiortc_peer()
    watching = Viewer(broadcast, ours, theirs)

    @theirs.on("track")
    def on_track(track: Any) -> None:
        watching.tracks[track.kind] = track
        if track.kind == "video":
            watching.got_video.set()

    try:
        for track in (broadcast.video, broadcast.audio):
            if track is not None:
                await ours.add_track(track)
        await we_offer(ours, theirs, trickle=False)
        await ours.wait_for_connection_state("connected", WAIT)
        yield watching
    finally:
        await ours.close()
        await theirs.close()


async def encoders_of(pc: PeerConnection) -> list[str]:
    return await pc.run_in_glib(lambda pipeline, _webrtc: encoders(pipeline))  # type: ignore[no-any-return]


async def test_two_viewers_decode_one_shared_encode() -> None:
    source = VideoSource(width=320, height=240)
    async with Broadcast(video=source, audio=AudioSource()) as broadcast:
        joined: list[str] = []
        left: list[str] = []
        broadcast.on("viewer_joined", joined.append)
        broadcast.on("viewer_left", left.append)
        async with viewer(broadcast) as first, viewer(broadcast) as second:
            for watching in (first, second):
                await watching.first_frame()
                frames = await watching.frames(30)
                assert {(f.width, f.height) for f in frames} == {(320, 240)}
                audio = await asyncio.wait_for(watching.tracks["audio"].recv(), WAIT)
                assert audio.sample_rate == 48000
            assert broadcast.viewers == 2
            names = sorted(e.get_factory().get_name() for e in broadcast.encoders())
            assert names == ["opusenc", "vp8enc"], names  # one video and one audio encode
            for watching in (first, second):
                in_viewer = await encoders_of(watching.ours)
                assert in_viewer == [], f"a viewer encodes on its own: {in_viewer}"
            stats = broadcast.stats()
            assert stats["frames_in"]["video"] > 0
            assert len(stats["bytes_out"]) == 2
            assert all(count > 0 for count in stats["bytes_out"].values())
            assert stats["keyframes_forced"] >= 1
        await asyncio.sleep(0)  # the viewer_left events are posted to the loop
        for _ in range(50):
            if broadcast.viewers == 0 and len(left) == 2:
                break
            await asyncio.sleep(0.05)
        assert broadcast.viewers == 0
        assert len(joined) == 2 and sorted(joined) == sorted(left)


async def test_a_late_viewer_sees_a_picture_and_the_first_keeps_going() -> None:
    async with Broadcast(video=VideoSource(width=320, height=240)) as broadcast:
        async with viewer(broadcast) as first:
            await first.first_frame()
            await asyncio.sleep(5.0)  # the broadcast runs on; the next joins 5 s in
            async with viewer(broadcast) as late:
                frame = await late.first_frame()
                assert (frame.width, frame.height) == (320, 240)
                await first.frames(15)  # the first viewer never stopped
            assert broadcast.viewers == 1
            await first.frames(15)  # nor when the late one left


async def test_a_stopped_viewer_does_not_stop_the_broadcast() -> None:
    async with Broadcast(video=VideoSource(width=320, height=240)) as broadcast:
        async with viewer(broadcast) as steady:
            await steady.first_frame()
            for _ in range(3):  # join and leave, abruptly: our side closes at once
                async with viewer(broadcast) as passing:
                    await passing.first_frame()
            frames = await steady.frames(30)
            assert len(frames) == 30
            assert broadcast.viewers == 1


async def test_a_source_that_ends_ends_every_viewers_sender_with_the_reason() -> None:
    # 2 s of live video, then end of stream: the broadcast's source is gone for everyone.
    source = VideoSource("videotestsrc is-live=true num-buffers=60", width=320, height=240)
    async with Broadcast(video=source) as broadcast:
        async with viewer(broadcast) as first, viewer(broadcast) as second:
            await first.first_frame()
            await second.first_frame()
            senders = [first.ours.get_senders()[0], second.ours.get_senders()[0]]
            reasons: list[list[str]] = [[], []]
            for sender, seen in zip(senders, reasons, strict=True):
                sender.on("ended", seen.append)
            assert not any(sender.ended for sender in senders)
            reason = await asyncio.wait_for(broadcast.wait_ended(), WAIT)
            await asyncio.sleep(0)  # handlers run on the loop, right after the broadcast's
            assert reason == "source ended"
            assert reasons == [["source ended"], ["source ended"]]
            assert [sender.end_reason for sender in senders] == ["source ended"] * 2
            assert all(sender.ended for sender in senders)
            # The connections stay up: ending them is the application's call.
            assert first.ours.connection_state == "connected"


async def test_a_removed_sender_is_not_told_of_the_end() -> None:
    source = VideoSource("videotestsrc is-live=true num-buffers=45", width=320, height=240)
    async with Broadcast(video=source) as broadcast:
        pc = PeerConnection()
        try:
            sender = await pc.add_track(broadcast.video)  # type: ignore[arg-type]
            seen: list[str] = []
            sender.on("ended", seen.append)
            await pc.remove_track(sender)
            await asyncio.wait_for(broadcast.wait_ended(), WAIT)
            await asyncio.sleep(0)
            assert seen == [] and not sender.ended
            assert broadcast._end_watchers == {}  # nothing kept for the removed sender
        finally:
            await pc.close()


async def test_broadcast_rules() -> None:
    with pytest.raises(ValueError):
        Broadcast()
    with pytest.raises(TypeError):
        Broadcast(video=AudioSource())  # type: ignore[arg-type]
    broadcast = Broadcast(video=VideoSource(width=320, height=240))
    async with broadcast:
        pc = PeerConnection()
        try:
            sender = await pc.add_track(broadcast.video)  # type: ignore[arg-type]
            with pytest.raises(InvalidStateError):
                await sender.set_bitrate(500_000)  # the broadcast's encoder is shared
        finally:
            await pc.close()
    assert broadcast.ended
    pc = PeerConnection()
    try:
        with pytest.raises(ClosedError):
            await pc.add_track(broadcast.video)  # type: ignore[arg-type]
    finally:
        await pc.close()
    with pytest.raises(ClosedError):
        await broadcast.start()


@pytest.mark.parametrize("bad", ["videotestsrc ! no-such-element"])
async def test_a_broken_source_fails_start_with_its_name(bad: str) -> None:
    broadcast = Broadcast(video=VideoSource(bad))
    with pytest.raises(ValueError, match=r"no-such-element|no element"):
        await broadcast.start()
    assert broadcast.ended


async def test_a_viewer_without_the_codec_fails_clearly_and_others_keep_going() -> None:
    from aiortc import RTCRtpReceiver

    from aiogstwebrtc.errors import NegotiationError

    async with Broadcast(video=VideoSource(width=320, height=240)) as broadcast:  # VP8
        async with viewer(broadcast) as steady:
            await steady.first_frame()
            ours, theirs = PeerConnection(), aiortc_peer()
            try:
                await ours.add_track(broadcast.video)  # type: ignore[arg-type]
                transceiver = theirs.addTransceiver("video", direction="recvonly")
                h264 = [
                    c
                    for c in RTCRtpReceiver.getCapabilities("video").codecs
                    if c.mimeType == "video/H264"
                ]
                transceiver.setCodecPreferences(h264)
                offer = await theirs.createOffer()
                await theirs.setLocalDescription(offer)
                with pytest.raises(NegotiationError) as failure:
                    await ours.set_remote_description(
                        {"type": "offer", "sdp": theirs.localDescription.sdp}
                    )
                message = str(failure.value)
                assert "H264" in message and "VP8" in message, message
                assert failure.value.operation == "set-remote-description"
                assert ours.signaling_state == "stable"
            finally:
                await ours.close()
                await theirs.close()
            assert len(await steady.frames(10)) == 10  # the steady viewer never noticed


@pytest.mark.slow
async def test_fifty_viewers_come_and_go_while_a_steady_one_never_freezes(
    leak_check: Any,
) -> None:
    async with Broadcast(video=VideoSource(width=320, height=240)) as broadcast:
        async with viewer(broadcast) as warm_up:  # what the first viewer creates for good
            await warm_up.first_frame()
        async with viewer(broadcast) as steady:
            await steady.first_frame()
            leak_check.baseline()
            arrivals: list[float] = []

            async def watch() -> None:
                loop = asyncio.get_running_loop()
                while True:
                    await steady.tracks["video"].recv()
                    arrivals.append(loop.time())

            watching = asyncio.create_task(watch())
            try:
                for _ in range(50):
                    async with viewer(broadcast) as passing:
                        await passing.first_frame()
                await asyncio.sleep(1.0)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
            span = arrivals[-1] - arrivals[0]
            assert max(gaps) < 0.5, (
                f"the steady viewer froze for {max(gaps):.2f} s "
                f"({len(arrivals)} frames in {span:.1f} s)"
            )
            assert broadcast.viewers == 1
        leak_check.assert_back(threads=1, fds=2)


async def test_a_viewer_that_stops_reading_leaves_the_steady_one_at_its_frame_rate() -> None:
    from tests.reliability.netfilter import impaired

    async def frame_rate(watching: Viewer, seconds: float) -> float:
        loop = asyncio.get_running_loop()
        count, start = 0, loop.time()
        while loop.time() - start < seconds:
            await asyncio.wait_for(watching.tracks["video"].recv(), WAIT)
            count += 1
        return count / (loop.time() - start)

    async with Broadcast(video=VideoSource(width=320, height=240)) as broadcast:
        async with viewer(broadcast) as steady, viewer(broadcast) as stalled:
            await steady.first_frame()
            await stalled.first_frame()
            await frame_rate(steady, 2.0)  # past the catch-up burst after the first frame
            before = await frame_rate(steady, 4.0)
            gatherer = stalled.theirs.getTransceivers()[0].receiver.transport.transport.iceGatherer
            ports = [candidate.port for candidate in gatherer.getLocalCandidates()]
            with impaired() as network:
                network.block_udp_ports(ports)  # nothing reaches the stalled viewer any more
                during = await frame_rate(steady, 4.0)
                stats = broadcast.stats()
            assert abs(during - before) <= 0.1 * before, (before, during, stats)
            assert broadcast.viewers == 2
