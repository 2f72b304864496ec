"""Messages a remote sends the moment its channel opens: ``python -m bench.first_messages``.

Each round connects a pair of ours. Before the offer, the offerer's webrtcbin gets a bare
channel (``create-data-channel``, announced to the answerer by DCEP, no library wrapper)
whose ``on-open`` handler sends ``--count`` numbered strings at once, on GStreamer's
thread: the earliest any peer can send. The answerer is the library; its application
counts what its ``"datachannel"``'s ``"message"`` handler receives, in order.

This is the check for the receive-path change of ``bench/gstreamer/build-webrtcbin.sh``:
emitting a message on the thread that received it (``direct``) lets it overtake the
queued task that announces its channel (``on-data-channel``), so an application that
hooks the channel there never sees it. Run it against a variant with
``GST_PLUGIN_SYSTEM_PATH_1_0=$OUT/<variant>/plugins GST_REGISTRY_1_0=$OUT/<variant>/registry.bin``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from .common import ensure_namespace

__all__ = ["main", "one_round"]

LABEL = "burst"
#: How long the answerer waits for the rest once its channel is open.
SETTLE = 2.0


def _create_burst_channel(_pipeline: Any, webrtcbin: Any, count: int) -> Any:
    """GLib thread: a bare DCEP channel that sends ``count`` strings from its ``on-open``."""

    def on_open(channel: Any) -> None:  # webrtcbin's thread
        for i in range(count):
            channel.emit("send-string", str(i))

    channel = webrtcbin.emit("create-data-channel", LABEL, None)
    channel.connect("on-open", on_open)
    return channel


async def one_round(count: int, timeout: float = 10.0) -> list[str]:
    """Connect a pair; return what the answerer's application received, in order."""
    from aiogstwebrtc import DataChannel, PeerConnection

    async with AsyncExitStack() as stack:
        offerer = await stack.enter_async_context(PeerConnection())
        answerer = await stack.enter_async_context(PeerConnection())
        await offerer.run_in_glib(_create_burst_channel, count)
        received: list[str] = []
        loop = asyncio.get_running_loop()
        remote: asyncio.Future[DataChannel] = loop.create_future()

        def on_channel(channel: DataChannel) -> None:
            if channel.label != LABEL or remote.done():
                return
            channel.on("message", lambda message: received.append(str(message)))
            remote.set_result(channel)

        answerer.on("datachannel", on_channel)
        offerer.on("icecandidate", lambda c: answerer.add_ice_candidate(c) if c else None)
        answerer.on("icecandidate", lambda c: offerer.add_ice_candidate(c) if c else None)
        offer = await offerer.create_offer()
        await offerer.set_local_description(offer)
        await offerer.set_remote_description(await answerer.handle_offer(offer))
        channel = await asyncio.wait_for(remote, timeout)
        await channel.wait_open(timeout)
        deadline = loop.time() + SETTLE
        while len(received) < count and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return received


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.first_messages", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--count", type=int, default=20, help="messages sent at open")
    args = parser.parse_args(args_list)
    ensure_namespace(args_list, module="bench.first_messages")
    lost_rounds = reordered = lost = 0
    for _ in range(args.rounds):
        received = asyncio.run(one_round(args.count))
        expected = [str(i) for i in range(args.count)]
        missing = len(expected) - len(received)
        lost += missing
        lost_rounds += missing > 0
        reordered += sorted(received, key=int) != received
    print(
        f"{args.rounds} rounds of {args.count} messages sent at open: {lost} lost, "
        f"{lost_rounds} rounds with a loss, {reordered} rounds out of order"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
