"""Data channels: text and binary, order, size limits, backpressure, iteration, closing."""

from __future__ import annotations

import asyncio

import pytest

from aiogstwebrtc import (
    ClosedError,
    InvalidStateError,
    MessageTooLargeError,
    OperationTimeoutError,
    PeerConnection,
)
from aiogstwebrtc.datachannel import MAX_MESSAGE_SIZE
from tests.helpers import connected_pair, wire_trickle
from tests.leakcheck import rss_bytes
from tests.reliability.netfilter import impaired


async def test_text_and_binary_keep_their_type() -> None:
    async with connected_pair() as pair:
        for message in ("héllo ✓", b"\x00\xffbytes", b"x" * 1000):
            pair.channel.send(message)
        received = [await asyncio.wait_for(pair.remote.recv(), 10) for _ in range(3)]
        assert received == ["héllo ✓", b"\x00\xffbytes", b"x" * 1000]


async def test_empty_messages_are_refused_and_the_channel_survives() -> None:
    async with connected_pair() as pair:
        for empty in ("", b""):
            with pytest.raises(ValueError, match="empty"):
                pair.channel.send(empty)
        pair.channel.send("after")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == "after"


async def test_ten_thousand_ordered_messages_arrive_complete_and_in_order() -> None:
    async with connected_pair() as pair:
        count = 10_000
        for number in range(count):
            pair.channel.send(f"{number}")
            if number % 500 == 0:
                await pair.channel.drain()
        received = [int(await asyncio.wait_for(pair.remote.recv(), 10)) for _ in range(count)]
        assert received == list(range(count))


async def test_a_64_kib_message_and_the_limit() -> None:
    async with connected_pair() as pair:
        payload = bytes(range(256)) * (MAX_MESSAGE_SIZE // 256)
        assert len(payload) == 65536
        pair.channel.send(payload)
        assert await asyncio.wait_for(pair.remote.recv(), 10) == payload
        with pytest.raises(MessageTooLargeError):
            pair.channel.send(payload + b"!")
        with pytest.raises(MessageTooLargeError):
            pair.channel.send("é" * 40000)  # 80,000 bytes once encoded
        pair.channel.send("still usable")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == "still usable"


async def test_drain_sends_50_mb_with_bounded_memory() -> None:
    async with connected_pair() as pair:
        chunk = b"\xab" * 65536
        total = 50 * 1024 * 1024
        pair.channel.buffered_amount_low_threshold = 512 * 1024
        received = 0
        done = asyncio.Event()

        def count(message: str | bytes) -> None:
            nonlocal received
            received += len(message)
            if received >= total:
                done.set()

        pair.remote.on("message", count)
        start_rss = rss_bytes()
        peak_buffered = 0
        for _ in range(total // len(chunk)):
            pair.channel.send(chunk)
            peak_buffered = max(peak_buffered, pair.channel.buffered_amount)
            await pair.channel.drain(timeout=20)
        await asyncio.wait_for(done.wait(), 60)
        assert received == total
        assert peak_buffered <= 512 * 1024 + len(chunk)
        assert rss_bytes() - start_rss < 40 * 1024 * 1024


async def test_drain_alone_keeps_what_webrtcbin_holds_at_the_threshold() -> None:
    """An application that only calls drain() (never reads buffered_amount): after every
    drain, webrtcbin holds at most the threshold. drain() skips asking webrtcbin while its
    own bound (last amount read plus bytes sent since) is under the threshold; a bound that
    missed bytes, binary or text, would let the amount run far past it here."""
    async with connected_pair() as pair:
        threshold = 256 * 1024
        pair.channel.buffered_amount_low_threshold = threshold
        binary, text = b"\xab" * 65536, "é" * 30000  # 64 KiB, and 60,000 bytes as UTF-8
        rounds = 200
        total = rounds // 2 * (len(binary) + len(text.encode()))
        received = 0
        done = asyncio.Event()

        def count(message: str | bytes) -> None:
            nonlocal received
            received += len(message.encode() if isinstance(message, str) else message)
            if received >= total:
                done.set()

        pair.remote.on("message", count)
        webrtcbin_channel = pair.channel._channel  # read directly: no refresh of the bound
        assert webrtcbin_channel is not None
        most = 0
        for number in range(rounds):
            pair.channel.send(binary if number % 2 else text)
            await pair.channel.drain(timeout=20)
            most = max(most, webrtcbin_channel.get_property("buffered-amount"))
        await asyncio.wait_for(done.wait(), 60)
        assert received == total
        assert most <= threshold


async def test_async_iteration_ends_when_the_channel_closes() -> None:
    async with connected_pair() as pair:
        for word in ("a", "b", "c"):
            pair.channel.send(word)
        closed = asyncio.Event()
        pair.remote.on("close", closed.set)
        got = []

        async def consume() -> None:
            async for message in pair.remote:
                got.append(message)
                if len(got) == 3:
                    await pair.channel.close()

        await asyncio.wait_for(consume(), 10)
        assert got == ["a", "b", "c"]
        assert closed.is_set()
        assert pair.channel.ready_state == pair.remote.ready_state == "closed"
        with pytest.raises(ClosedError):
            pair.channel.send("too late")
        with pytest.raises(ClosedError):
            await pair.remote.recv()
        await pair.channel.close()  # twice is fine


async def test_messages_wait_for_a_late_handler() -> None:
    async with connected_pair() as pair:
        for number in range(5):
            pair.channel.send(str(number))
        # Wait until they are all here and queued, with no handler yet.
        first = await asyncio.wait_for(pair.remote.recv(), 10)
        got = [first]
        done = asyncio.Event()

        def on_message(message: str | bytes) -> None:
            got.append(message)
            if len(got) == 5:
                done.set()

        pair.remote.on("message", on_message)
        await asyncio.wait_for(done.wait(), 10)
        assert got == ["0", "1", "2", "3", "4"]


async def test_send_before_open_is_an_invalid_state() -> None:
    pc = PeerConnection()
    try:
        channel = await pc.create_data_channel("early")
        assert channel.ready_state == "connecting"
        with pytest.raises(InvalidStateError):
            channel.send("nobody there yet")
        with pytest.raises(TypeError):
            channel.send(42)  # type: ignore[arg-type]
    finally:
        await pc.close()
    assert channel.ready_state == "closed"


async def test_unordered_and_partially_reliable_options_are_negotiated() -> None:
    async with connected_pair(ordered=False, max_retransmits=0, protocol="chat-v1") as pair:
        for side in (pair.channel, pair.remote):
            assert side.ordered is False
            assert side.max_retransmits == 0
            assert side.protocol == "chat-v1"
        assert pair.channel.id == pair.remote.id is not None
        pair.channel.send("lossy but here")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == "lossy but here"


async def test_negotiated_channels_pair_by_id() -> None:
    a, b = PeerConnection(), PeerConnection()
    try:
        wire_trickle(a, b)
        mine = await a.create_data_channel("n", negotiated=True, id=42)
        theirs = await b.create_data_channel("n", negotiated=True, id=42)
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        await mine.wait_open(10)
        await theirs.wait_open(10)
        mine.send("by id")
        assert await asyncio.wait_for(theirs.recv(), 10) == "by id"
        assert mine.id == theirs.id == 42
        # webrtcbin 1.22 cannot add negotiated ids once SCTP is up: a clear error, no CRITICAL.
        with pytest.raises(ValueError, match="before the first offer/answer"):
            await a.create_data_channel("late", negotiated=True, id=43)
        mine.send("still fine")
        assert await asyncio.wait_for(theirs.recv(), 10) == "still fine"
    finally:
        await asyncio.gather(a.close(), b.close())


@pytest.mark.parametrize(
    "kwargs",
    [{"negotiated": True}, {"id": 70000}, {"max_retransmits": 1, "max_packet_lifetime": 5}],
)
async def test_bad_channel_options_are_refused(kwargs: dict[str, object]) -> None:
    pc = PeerConnection()
    try:
        with pytest.raises(ValueError):
            await pc.create_data_channel("bad", **kwargs)  # type: ignore[arg-type]
    finally:
        await pc.close()


async def test_a_timed_out_wait_open_leaves_no_waiter_behind() -> None:
    pc = PeerConnection()
    try:
        channel = await pc.create_data_channel("never-negotiated")
        for _ in range(3):
            with pytest.raises(OperationTimeoutError):
                await channel.wait_open(timeout=0.05)
        assert channel._open_waiters == []
    finally:
        await pc.close()


async def test_a_timed_out_drain_leaves_no_waiter_behind() -> None:
    async with connected_pair() as pair:
        pair.channel.buffered_amount_low_threshold = 0
        with impaired() as network:
            network.outage()  # nothing leaves: what is sent stays buffered
            for _ in range(64):
                pair.channel.send(b"\x00" * 65536)
            assert pair.channel.buffered_amount > 0
            for _ in range(3):
                with pytest.raises(OperationTimeoutError):
                    await pair.channel.drain(timeout=0.05)
            assert pair.channel._drain_waiters == []
