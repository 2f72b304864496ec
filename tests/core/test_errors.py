"""Every documented error is raised where it should be, and the peer stays usable."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aiogstwebrtc import (
    ClosedError,
    Configuration,
    DataChannel,
    IceCandidate,
    InvalidSDPError,
    InvalidStateError,
    NegotiationError,
    OperationTimeoutError,
    PeerConnection,
    SessionDescription,
)
from tests.helpers import connected_pair, wire_trickle


async def _offer() -> tuple[PeerConnection, SessionDescription]:
    pc = PeerConnection()
    await pc.create_data_channel("x")
    offer = await pc.create_offer()
    await pc.set_local_description(offer)
    return pc, offer


async def test_malformed_sdp_is_invalid_sdp_and_the_peer_stays_usable() -> None:
    a, offer = await _offer()
    b = PeerConnection()
    try:
        for bad in ("nonsense", {"type": "offer"}, {"type": "offer", "sdp": 5}, 42):
            with pytest.raises(InvalidSDPError):
                await b.set_remote_description(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidSDPError, match="no media"):
            await b.set_remote_description(
                SessionDescription("offer", "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
            )
        with pytest.raises(InvalidSDPError, match="needs an offer"):
            await b.handle_offer(SessionDescription("answer", offer.sdp))
        assert b.signaling_state == "stable"
        answer = await b.handle_offer(offer)
        assert answer.type == "answer"
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_sdp_webrtcbin_rejects_is_a_negotiation_error() -> None:
    a, offer = await _offer()
    b = PeerConnection()
    try:
        # Passes our own checks (remote_checks.py); webrtcbin refuses it on 1.22 and 1.26.
        no_mid = "\r\n".join(
            line for line in offer.sdp.split("\r\n") if not line.startswith("a=mid")
        )
        with pytest.raises(NegotiationError, match="mid") as caught:
            await b.set_remote_description(SessionDescription("offer", no_mid))
        assert caught.value.operation == "set-remote-description"
        assert caught.value.signaling_state == "stable"
        await b.handle_offer(offer)  # still usable
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_operations_in_the_wrong_signaling_state() -> None:
    a, offer = await _offer()
    b = PeerConnection()
    try:
        with pytest.raises(InvalidStateError, match=r"create_answer.*stable"):
            await b.create_answer()
        with pytest.raises(InvalidStateError, match="have-local-offer"):
            await a.set_remote_description(offer)  # an offer while we have a local offer
        with pytest.raises(InvalidStateError):
            await b.set_remote_description(SessionDescription("answer", offer.sdp))
        await b.set_remote_description(offer)
        with pytest.raises(InvalidStateError):
            await b.create_offer()
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_bad_candidates_raise_and_nothing_else_breaks() -> None:
    async with connected_pair() as pair:
        b = pair.answerer
        with pytest.raises(InvalidSDPError, match="malformed"):
            await b.add_ice_candidate({"candidate": "candidate:garbage", "sdpMLineIndex": 0})
        with pytest.raises(InvalidSDPError, match="m-line 7"):
            await b.add_ice_candidate(
                IceCandidate("candidate:1 1 UDP 1 10.213.0.9 9 typ host", sdp_mline_index=7)
            )
        with pytest.raises(InvalidSDPError, match="sdpMid"):
            await b.add_ice_candidate(
                IceCandidate("candidate:1 1 UDP 1 10.213.0.9 9 typ host", sdp_mid="nope")
            )
        with pytest.raises(InvalidSDPError):
            await b.add_ice_candidate({"sdpMLineIndex": 0})
        await b.add_ice_candidate(None)  # end of candidates: accepted
        pair.channel.send("alive")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == "alive"


async def test_timeouts_name_the_operation_and_state() -> None:
    pc = PeerConnection(Configuration(operation_timeout=1e-6))
    try:
        with pytest.raises(OperationTimeoutError) as caught:
            await pc.create_data_channel("x")
            await pc.create_offer()
        assert caught.value.operation == "create-offer"
        assert "stable" in str(caught.value)
    finally:
        await pc.close()
    waiting = PeerConnection()
    try:
        with pytest.raises(OperationTimeoutError, match="connection state 'connected'"):
            await waiting.wait_for_connection_state("connected", timeout=0.2)
        with pytest.raises(TimeoutError):  # OperationTimeoutError is a TimeoutError
            await waiting.wait_for_ice_gathering_complete(timeout=0.1)
    finally:
        await waiting.close()


async def test_everything_on_a_closed_peer_is_closed_error() -> None:
    pc = PeerConnection()
    await pc.create_data_channel("x")
    await pc.close()
    await pc.close()  # idempotent
    assert pc.signaling_state == pc.connection_state == "closed"
    for call in (
        pc.create_offer(),
        pc.create_answer(),
        pc.create_data_channel("y"),
        pc.get_stats(),
        pc.wait_for_connection_state("connected"),
        pc.add_ice_candidate(IceCandidate("candidate:1 1 UDP 1 10.213.0.9 9 typ host", 0)),
    ):
        with pytest.raises(ClosedError):
            await call


async def test_handler_errors_are_logged_and_do_not_break_the_peer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("user bug")

    async def broken_async(*_: object) -> None:
        raise RuntimeError("async user bug")

    def logged(message: str) -> list[logging.LogRecord]:
        """The records logging a handler's RuntimeError(message), with its traceback."""
        return [
            record
            for record in caplog.records
            if record.levelno == logging.ERROR
            and record.exc_info is not None
            and isinstance(record.exc_info[1], RuntimeError)
            and str(record.exc_info[1]) == message
        ]

    a = PeerConnection()
    b = PeerConnection()
    try:
        for pc in (a, b):  # broken handlers first: the ones after them must still run
            pc.on("signalingstatechange", broken)
            pc.on("icecandidate", broken_async)
        wire_trickle(a, b)
        remote: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        b.on("datachannel", remote.set_result)
        channel = await a.create_data_channel("x")
        offer = await a.create_offer()
        await a.set_local_description(offer)
        answer = await b.handle_offer(offer)
        await a.set_remote_description(answer)
        await channel.wait_open(10)
        theirs = await asyncio.wait_for(remote, 10)
        await a.wait_for_ice_gathering_complete(10)
        assert a.signaling_state == b.signaling_state == "stable"
        assert logged("user bug") and logged("async user bug")
        # A broken message handler neither loses the message for the next handler nor
        # closes the channel.
        received: asyncio.Queue[str | bytes] = asyncio.Queue()
        theirs.on("message", broken)
        theirs.on("message", received.put_nowait)
        before = len(logged("user bug"))
        for text in ("first", "second"):
            channel.send(text)
            assert await asyncio.wait_for(received.get(), 10) == text
        assert len(logged("user bug")) == before + 2
        assert theirs.ready_state == channel.ready_state == "open"
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_unknown_event_names_are_refused() -> None:
    pc = PeerConnection()
    with pytest.raises(ValueError, match="unknown event"):
        pc.on("datachanel", print)
    await pc.close()
