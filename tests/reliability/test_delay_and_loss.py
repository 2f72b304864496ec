"""50 ms delay and 5 % loss each way (a userspace relay stands in for netem)."""

from __future__ import annotations

import asyncio

from aiogstwebrtc import DataChannel, IceCandidate, PeerConnection
from tests.reliability.udp_impairment import Impairment, UdpRelay


async def _relayed_pair(
    relay: UdpRelay, **options: object
) -> tuple[PeerConnection, PeerConnection, DataChannel, DataChannel]:
    a, b = PeerConnection(), PeerConnection()

    def forward(target: PeerConnection):  # type: ignore[no-untyped-def]
        async def send(candidate: IceCandidate | None) -> None:
            if candidate is not None:
                rewritten = await relay.rewrite(candidate)
                if rewritten is not None:
                    await target.add_ice_candidate(rewritten)

        return send

    a.on("icecandidate", forward(b))
    b.on("icecandidate", forward(a))
    remote: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
    b.on("datachannel", remote.set_result)
    channel = await a.create_data_channel("lossy", **options)  # type: ignore[arg-type]
    offer = await a.create_offer()
    await a.set_local_description(offer)
    await a.set_remote_description(await b.handle_offer(offer))
    await channel.wait_open(30)
    theirs = await asyncio.wait_for(remote, 30)
    return a, b, channel, theirs


async def test_reliable_channel_over_delay_and_loss_delivers_everything_in_order() -> None:
    impairment = Impairment(delay=0.05, loss=0.05)
    relay = UdpRelay("10.213.0.1", impairment)
    a, b, channel, theirs = await _relayed_pair(relay)
    try:
        assert a.connection_state == "connected"
        count = 10_000
        for number in range(count):
            channel.send(str(number))
            if number % 1000 == 999:
                await channel.drain(timeout=60)
        received = [int(await asyncio.wait_for(theirs.recv(), 60)) for _ in range(count)]
        assert received == list(range(count))
        assert impairment.dropped > 0 and impairment.forwarded > 0  # the relay carried it
    finally:
        await asyncio.gather(a.close(), b.close())
        relay.close()


async def test_unreliable_channel_over_delay_and_loss_never_blocks() -> None:
    impairment = Impairment(delay=0.05, loss=0.05)
    relay = UdpRelay("10.213.0.1", impairment)
    a, b, channel, theirs = await _relayed_pair(relay, ordered=False, max_retransmits=0)
    try:
        got: list[int] = []
        last = asyncio.Event()
        theirs.on("message", lambda m: (got.append(int(m)), int(m) == 999 and last.set()))
        for number in range(999):
            channel.send(str(number))
            if number % 100 == 99:
                await asyncio.sleep(0.01)
        impairment.loss = 0.0
        channel.send("999")
        await asyncio.wait_for(last.wait(), 10)
        share = len([n for n in got if n < 999]) / 999
        assert 0.75 <= share < 1.0, share
    finally:
        await asyncio.gather(a.close(), b.close())
        relay.close()
