"""What code ported from aiortc relies on: its method names and a close() it need not await.

The table of the remaining differences is docs/aiortc-porting.md.
"""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from aiogstwebrtc import ClosedError, PeerConnection
from aiogstwebrtc.media import VideoSource
from tests.helpers import connected_pair


async def test_a_data_channel_closes_without_await() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
        async with connected_pair() as pair:
            remote_closed = asyncio.Event()
            pair.remote.on("close", remote_closed.set)
            pair.channel.close()  # as in aiortc: no await
            assert pair.channel.ready_state == "closing"
            with pytest.raises(ClosedError):
                pair.channel.send("too late")
            await asyncio.wait_for(remote_closed.wait(), 10)  # it really closes
            for _ in range(100):
                if pair.channel.ready_state == "closed":
                    break
                await asyncio.sleep(0.02)
            assert pair.channel.ready_state == "closed"
            await pair.channel.close()  # awaiting it later (or twice) is fine too
        gc.collect()  # a coroutine never awaited would warn when collected


async def test_an_awaited_close_waits_until_closed_and_repeats_share_it() -> None:
    async with connected_pair() as pair:
        first, second = pair.channel.close(), pair.channel.close()
        assert first is second
        await asyncio.wait_for(first, 5)
        assert pair.channel.ready_state == "closed"
        await asyncio.wait_for(pair.channel.close(), 1)  # closed: done at once


async def test_close_without_await_then_closing_the_peer_leaves_no_task() -> None:
    async with connected_pair() as pair:
        closing = pair.channel.close()
    # The peer closed under the channel's close: it finished, nothing pending (the autouse
    # fixture fails the test on a pending task).
    await asyncio.wait_for(closing, 5)
    assert pair.channel.ready_state == "closed"


async def test_get_transceivers_and_senders_list_what_was_added() -> None:
    pc = PeerConnection()
    try:
        assert pc.get_transceivers() == [] and pc.get_senders() == [] == pc.get_receivers()
        receiving = await pc.add_transceiver("audio", direction="recvonly")
        sender = await pc.add_track(VideoSource(width=160, height=120))
        assert pc.get_transceivers() == [receiving, sender.transceiver]
        assert pc.get_senders() == [sender]
        await pc.remove_track(sender)
        assert pc.get_senders() == [sender] and not sender.active  # kept, as in aiortc
        assert sender.transceiver in pc.get_transceivers()
        assert sender.transceiver.direction == "recvonly"
    finally:
        await pc.close()


async def test_the_low_threshold_reaches_webrtcbin_from_the_glib_thread() -> None:
    async with connected_pair() as pair:
        pair.channel.buffered_amount_low_threshold = 12345
        assert pair.channel.buffered_amount_low_threshold == 12345  # drain() uses it at once

        def gst_threshold(*_: object) -> int:
            channel = pair.channel._channel
            assert channel is not None
            return int(channel.get_property("buffered-amount-low-threshold"))

        # Set on the GLib thread, queued before this read on the same context: webrtcbin
        # already has it (it fires bufferedamountlow at this threshold).
        assert await pair.offerer.run_in_glib(gst_threshold) == 12345
