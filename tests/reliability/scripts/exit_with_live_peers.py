"""Leaves the interpreter with connected peers (and a data-channel backlog) still alive.

``python exit_with_live_peers.py MODE`` where MODE is return, exception, sys-exit or gi-events;
``at-once`` leaves right after the first peer connection started, while GStreamer is still
making its default DTLS key on the library's warm-up thread.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading


@atexit.register  # registered before the library's own handler: runs after it
def _report_threads_left() -> None:
    """The library's threads must have ended before the interpreter finalises."""
    left = [t.name for t in threading.enumerate() if t.name.startswith("aiogstwebrtc")]
    if left:
        print(f"library threads alive after the exit handlers: {left}", file=sys.stderr)


from aiogstwebrtc import DataChannel, PeerConnection, run  # noqa: E402 (after the hook)
from tests.helpers import wire_trickle  # noqa: E402


async def main(mode: str) -> None:
    if mode == "at-once":
        started = PeerConnection()
        await started.create_data_channel("x")  # starts it: the DTLS warm-up begins
        print("leaving with live peers", flush=True)
        return
    peers = []
    for _ in range(2):
        a, b = PeerConnection(), PeerConnection()
        wire_trickle(a, b)
        channel = await a.create_data_channel("x")
        remote: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        b.on("datachannel", remote.set_result)
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        await channel.wait_open(10)
        for _ in range(50):
            channel.send(b"x" * 60000)
        peers.append((a, b))
    print("leaving with live peers", flush=True)
    if mode == "exception":
        raise RuntimeError("the program crashes with peers alive")
    if mode == "sys-exit":
        sys.exit(0)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "gi-events":
        run(main(mode), gi_events=True)
    else:
        asyncio.run(main(mode))
