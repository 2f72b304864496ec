"""Producer and Consumer end to end through a real signalling server and real webrtcbins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest

from aiogstwebrtc.icerestart import credentials_of
from aiogstwebrtc.media import AudioSource, MediaSource, VideoFrame, VideoSource
from aiogstwebrtc.signalling import (
    Consumer,
    EndSession,
    PeerIce,
    PeerSdp,
    Producer,
    ProducerSession,
    ServerError,
    SessionRequested,
    SessionStarted,
    SignallingClient,
    SignallingServer,
)

WAIT = 15.0


def small_av() -> list[MediaSource]:
    return [
        VideoSource("videotestsrc is-live=true pattern=smpte", width=320, height=240),
        AudioSource("audiotestsrc is-live=true"),
    ]


@asynccontextmanager
async def server_and_producer(
    **options: object,
) -> AsyncIterator[tuple[SignallingServer, Producer]]:
    options.setdefault("sources", small_av)
    async with SignallingServer(port=0) as server:
        producer = Producer(server.url, meta={"name": "test"}, **options)  # type: ignore[arg-type]
        async with producer:
            yield server, producer


async def test_consumer_gets_video_audio_and_chat() -> None:
    async with server_and_producer() as (server, producer), Consumer(server.url) as consumer:
        info = await consumer.wait_for_producer("test", timeout=WAIT)
        assert info.id == producer.peer_id
        session = await consumer.watch(info.id)
        video = await session.wait_track("video", WAIT)
        frame = await asyncio.wait_for(video.recv(), WAIT)
        assert isinstance(frame, VideoFrame)
        assert frame.data.shape == (240, 320, 3)
        assert frame.data.dtype == np.uint8 and frame.data.std() > 10  # a pattern, not blank
        audio = await session.wait_track("audio", WAIT)
        sound = await asyncio.wait_for(audio.recv(), WAIT)
        assert sound.data.shape[1] == 2  # type: ignore[union-attr]
        channel = await session.wait_channel(WAIT)
        assert channel.label == "chat"
        channel.send("hello")
        assert await asyncio.wait_for(channel.recv(), WAIT) == "echo: hello"
        channel.send(b"\x00\x01")
        assert await asyncio.wait_for(channel.recv(), WAIT) == b"\x00\x01"
        await session.wait_connected(WAIT)
        assert len(producer.sessions) == 1


async def test_custom_async_chat_handler_and_session_event() -> None:
    seen: list[ProducerSession] = []

    async def shout(session: ProducerSession, message: str | bytes) -> str | None:
        return None if message == "quiet" else f"{session.peer_id[:4]}:{str(message).upper()}"

    async with server_and_producer(sources=None, chat_handler=shout) as (server, producer):
        producer.on("session", seen.append)
        async with Consumer(server.url) as consumer:
            session = await consumer.watch((await consumer.wait_for_producer()).id)
            channel = await session.wait_channel(WAIT)
            channel.send("quiet")
            channel.send("hi")
            assert await asyncio.wait_for(channel.recv(), WAIT) == f"{consumer.peer_id[:4]}:HI"
            assert [s.peer_id for s in seen] == [consumer.peer_id]
            assert session.tracks == []


async def test_consumer_leaving_ends_only_its_session() -> None:
    async with server_and_producer() as (server, producer):
        async with Consumer(server.url) as stays, Consumer(server.url) as leaves:
            producer_id = (await stays.wait_for_producer("test")).id
            kept = await stays.watch(producer_id)
            gone = await leaves.watch(producer_id)
            await asyncio.gather(kept.wait_connected(WAIT), gone.wait_connected(WAIT))
            assert len(producer.sessions) == 2
            served = producer.sessions[gone.session_id]
            pc = served.pc
            assert pc is not None

            await leaves.client.close()  # type: ignore[union-attr]  # vanishes, no endSession
            reason = await served.wait_ended(WAIT)
            assert "other side" in reason
            assert pc.connection_state == "closed"
            assert gone.session_id not in producer.sessions
            assert "closed" in await gone.wait_ended(WAIT)

            channel = await kept.wait_channel(WAIT)
            channel.send("still here?")
            assert await asyncio.wait_for(channel.recv(), WAIT) == "echo: still here?"
            track = await kept.wait_track("video", WAIT)
            await asyncio.wait_for(track.recv(), WAIT)
            assert list(producer.sessions) == [kept.session_id]


async def test_session_close_and_producer_leaving() -> None:
    async with SignallingServer(port=0) as server, Consumer(server.url) as consumer:
        producer = Producer(server.url, meta={"name": "p"}, sources=None)
        await producer.start()
        info = await consumer.wait_for_producer("p", timeout=WAIT)
        first = await consumer.watch(info.id)
        await first.wait_channel(WAIT)
        served = producer.sessions[first.session_id]
        await first.close()
        assert first.ended and first.pc is not None and first.pc.connection_state == "closed"
        assert "other side" in await served.wait_ended(WAIT)
        assert not producer.sessions

        second = await consumer.watch(info.id)
        await second.wait_channel(WAIT)
        removed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        consumer.on("producer_removed", lambda gone: removed.set_result(gone.id))
        await producer.close()
        assert "other side" in await second.wait_ended(WAIT)
        assert await asyncio.wait_for(removed, WAIT) == info.id
        assert info.id not in consumer.producers
        assert producer.closed


async def test_offer_comes_before_candidates_and_a_bad_answer_ends_that_session() -> None:
    async with server_and_producer(sources=None) as (server, producer):
        async with SignallingClient(server.url) as raw, Consumer(server.url) as good:
            session_id = await raw.start_session(producer.peer_id)  # type: ignore[arg-type]
            first = await raw.recv(timeout=WAIT)
            assert isinstance(first, PeerSdp) and first.sdp.type == "offer"
            assert "m=application" in first.sdp.sdp
            served = producer.sessions[session_id]
            await raw.send_sdp(session_id, {"type": "answer", "sdp": "v=0\r\nnonsense\r\n"})
            assert "failed" in (await served.wait_ended(WAIT))
            ended = await raw.recv_type(EndSession, timeout=WAIT)
            assert ended.session_id == session_id

            session = await good.watch(producer.peer_id)  # type: ignore[arg-type]
            channel = await session.wait_channel(WAIT)
            channel.send("ok")
            assert await asyncio.wait_for(channel.recv(), WAIT) == "echo: ok"


async def test_candidates_are_trickled_after_the_offer() -> None:
    async with server_and_producer(sources=None) as (server, producer):
        async with SignallingClient(server.url) as raw:
            session_id = await raw.start_session(producer.peer_id)  # type: ignore[arg-type]
            messages = [await raw.recv(timeout=WAIT), await raw.recv(timeout=WAIT)]
            assert isinstance(messages[0], PeerSdp)
            assert isinstance(messages[1], PeerIce)
            assert messages[1].session_id == session_id
            assert messages[1].ice.candidate.startswith("candidate:")
            # each names its ICE generation (the offer's ufrag), as browsers' candidates do
            ufrag = credentials_of(messages[0].sdp.sdp)
            assert ufrag is not None and messages[1].ice.username_fragment == ufrag.ufrag


async def test_unanswered_offer_times_out_and_sessions_are_capped() -> None:
    async with server_and_producer(sources=None, max_sessions=1, negotiation_timeout=1.0) as (
        server,
        producer,
    ):
        async with SignallingClient(server.url) as first, SignallingClient(server.url) as second:
            one = await first.start_session(producer.peer_id)  # type: ignore[arg-type]
            await first.recv_type(PeerSdp, timeout=WAIT)
            served = producer.sessions[one]
            two = await second.start_session(producer.peer_id)  # type: ignore[arg-type]
            refused = await second.recv_type(EndSession, timeout=WAIT)
            assert refused.session_id == two
            timed_out = await first.recv_type(EndSession, timeout=WAIT)
            assert timed_out.session_id == one
            assert "no answer" in await served.wait_ended(WAIT)
            assert not producer.sessions


async def test_consumer_sees_producers_and_server_loss() -> None:
    server = SignallingServer(port=0)
    await server.start()
    try:
        consumer = Consumer(server.url)
        await consumer.start()
        added: list[str] = []
        consumer.on("producer_added", lambda info: added.append((info.meta or {})["name"]))
        async with Producer(server.url, meta={"name": "late"}, sources=None):
            info = await consumer.wait_for_producer("late", timeout=WAIT)
            assert added == ["late"]
            session = await consumer.watch(info.id)
            await session.wait_channel(WAIT)
            await server.stop()
            reason = await session.wait_ended(WAIT)
            assert "signalling" in reason
            await asyncio.wait_for(consumer.wait_closed(), WAIT)
        await consumer.close()
    finally:
        await server.stop()


async def test_session_started_is_tracked_by_the_raw_client_too() -> None:
    # The roles rely on the server naming the *other* side in sessionStarted.
    async with server_and_producer(sources=None) as (server, producer):
        async with SignallingClient(server.url) as raw:
            session_id = await raw.start_session(producer.peer_id)  # type: ignore[arg-type]
            assert raw.sessions[session_id] == producer.peer_id
            assert not isinstance(await raw.recv(timeout=WAIT), SessionStarted)


async def test_consumer_sends_its_answer_before_its_candidates() -> None:
    # A browser offerer (gstwebrtc-api) closes the session on a candidate that comes
    # before the answer; under load webrtcbin gathers while the answer is on its way.
    from aiogstwebrtc import PeerConnection

    async with SignallingServer(port=0) as server, SignallingClient(server.url) as raw:
        await raw.set_peer_status(["producer"], {"name": "raw"})
        async with Consumer(server.url) as consumer, PeerConnection() as pc:
            watching = asyncio.ensure_future(consumer.watch(raw.peer_id))  # type: ignore[arg-type]
            requested = await raw.recv_type(SessionRequested, timeout=WAIT)
            await pc.create_data_channel("chat")
            await pc.set_local_description(await pc.create_offer())
            await pc.wait_for_ice_gathering_complete(WAIT)
            offer = pc.local_description  # candidates inline: nothing to trickle this way
            assert offer is not None
            await raw.send_sdp(requested.session_id, offer)
            session = await asyncio.wait_for(watching, WAIT)
            first = await raw.recv(timeout=WAIT)
            assert isinstance(first, PeerSdp) and first.sdp.type == "answer"
            second = await raw.recv(timeout=WAIT)
            assert isinstance(second, PeerIce)
            await pc.set_remote_description(first.sdp.to_dict())
            await session.wait_channel(WAIT)


async def test_roles_stay_up_while_the_server_is_silent() -> None:
    # Idle for longer than the signalling client's own wait limit: still registered.
    async with SignallingServer(port=0) as server:
        producer = Producer(server.url, meta={"name": "idle"}, sources=None, timeout=1.0)
        async with producer, Consumer(server.url, timeout=1.0) as consumer:
            await consumer.wait_for_producer("idle", timeout=WAIT)
            await asyncio.sleep(2.5)  # the behaviour under test is idleness itself
            assert not producer.closed and not consumer.closed
            session = await consumer.watch(producer.peer_id)  # type: ignore[arg-type]
            channel = await session.wait_channel(WAIT)
            channel.send("awake?")
            assert await asyncio.wait_for(channel.recv(), WAIT) == "echo: awake?"


async def test_producer_answers_a_consumer_that_offers() -> None:
    # webrtcsrc and gstwebrtc-api (with offer options) may put their offer in startSession.
    from aiogstwebrtc import PeerConnection

    async with server_and_producer() as (server, producer):
        async with SignallingClient(server.url) as raw, PeerConnection() as pc:
            channel = await pc.create_data_channel("mine")
            await pc.add_transceiver("video", direction="recvonly")
            await pc.set_local_description(await pc.create_offer())
            await pc.wait_for_ice_gathering_complete(WAIT)
            offer = pc.local_description
            assert offer is not None
            frames: asyncio.Future[VideoFrame] = asyncio.get_running_loop().create_future()

            async def first_frame(track):  # type: ignore[no-untyped-def]
                if track.kind == "video" and not frames.done():
                    frames.set_result(await track.recv())

            pc.on("track", first_frame)
            session_id = await raw.start_session(
                producer.peer_id,  # type: ignore[arg-type]
                offer=offer.sdp,
            )
            answer = await raw.recv_type(PeerSdp, timeout=WAIT)
            assert answer.sdp.type == "answer" and answer.session_id == session_id
            await pc.set_remote_description(answer.sdp.to_dict())
            await channel.wait_open(WAIT)
            channel.send("from the offerer")
            assert await asyncio.wait_for(channel.recv(), WAIT) == "echo: from the offerer"
            frame = await asyncio.wait_for(frames, WAIT)
            assert frame.data.shape == (240, 320, 3)


async def test_watching_an_unknown_producer_is_refused_and_harmless() -> None:
    async with server_and_producer(sources=None) as (server, producer):
        async with Consumer(server.url) as consumer:
            with pytest.raises(ServerError, match="no peer"):
                await consumer.watch("no-such-producer")
            assert not consumer.sessions
            session = await consumer.watch(producer.peer_id)  # type: ignore[arg-type]
            await session.wait_channel(WAIT)
