"""Interop with aiortc (a real peer we did not write): data channels in both offer directions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiogstwebrtc import Configuration, DataChannel, PeerConnection
from tests.aiortc_peer import aiortc_peer, they_offer, we_offer


def _echo(channel: Any) -> None:
    @channel.on("message")
    def on_message(message: str | bytes) -> None:
        channel.send(message)


@pytest.mark.parametrize("trickle", [True, False], ids=["trickle", "non-trickle"])
async def test_we_offer_aiortc_answers(trickle: bool) -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    try:
        theirs.on("datachannel", _echo)
        text = await ours.create_data_channel("text")
        binary = await ours.create_data_channel("bin", ordered=False, max_retransmits=0)
        await we_offer(ours, theirs, trickle=trickle)
        await text.wait_open(15)
        await binary.wait_open(15)
        for number in range(200):
            text.send(f"message {number}")
        assert [await asyncio.wait_for(text.recv(), 10) for _ in range(200)] == [
            f"message {number}" for number in range(200)
        ]
        binary.send(b"\x00\x01\x02")
        assert await asyncio.wait_for(binary.recv(), 10) == b"\x00\x01\x02"
        await ours.wait_for_connection_state("connected", 10)
    finally:
        await ours.close()
        await theirs.close()


@pytest.mark.parametrize("certificate", ["ecdsa", "rsa"])
async def test_aiortc_offers_we_answer(certificate: str) -> None:
    ours, theirs = PeerConnection(Configuration(certificate=certificate)), aiortc_peer()
    try:
        channel = theirs.createDataChannel("from-aiortc")
        received: asyncio.Queue[str | bytes] = asyncio.Queue()
        channel.on("message", received.put_nowait)
        got: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        ours.on("datachannel", got.set_result)
        await they_offer(ours, theirs)
        mine = await asyncio.wait_for(got, 15)
        await mine.wait_open(15)
        assert mine.label == "from-aiortc"
        mine.send("hello aiortc")
        assert await asyncio.wait_for(received.get(), 10) == "hello aiortc"
        opened = asyncio.Event()
        channel_open = channel.readyState == "open"
        if not channel_open:
            channel.on("open", opened.set)
            await asyncio.wait_for(opened.wait(), 10)
        channel.send(b"bytes from aiortc")
        assert await asyncio.wait_for(mine.recv(), 10) == b"bytes from aiortc"
    finally:
        await ours.close()
        await theirs.close()


async def test_rsa_certificate_fails_against_aiortc_when_we_are_the_dtls_server() -> None:
    """The 1.22 problem the ECDSA certificate solves, shown to still exist with 'rsa'."""
    ours, theirs = (
        PeerConnection(Configuration(certificate="rsa", operation_timeout=8)),
        aiortc_peer(),
    )
    try:
        channel = await ours.create_data_channel("x")
        await we_offer(ours, theirs, trickle=False)
        with pytest.raises(TimeoutError):
            await channel.wait_open(6)
    finally:
        await ours.close()
        await theirs.close()


async def test_negotiated_channel_with_aiortc() -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    try:
        mine = await ours.create_data_channel("n", negotiated=True, id=5)
        their_channel = theirs.createDataChannel("n", negotiated=True, id=5)
        received: asyncio.Queue[str | bytes] = asyncio.Queue()
        their_channel.on("message", received.put_nowait)
        await we_offer(ours, theirs, trickle=True)
        await mine.wait_open(15)
        mine.send("over id 5")
        assert await asyncio.wait_for(received.get(), 10) == "over id 5"
    finally:
        await ours.close()
        await theirs.close()
