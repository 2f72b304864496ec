"""Pokes the dead-peer keepalive channel before the SCTP transport exists.

The liveness monitor can find a connection silent between ``connected`` and the SCTP
association (a loaded machine): its poke must then be skipped. Run as a child process
because, done wrong, it crashes the process (webrtcbin 1.22 and 1.26 dereference the
channel's missing SCTP transport). Prints ``keepalives sent: N``.
"""

from __future__ import annotations

import asyncio

from aiogstwebrtc import Configuration, PeerConnection


async def main() -> None:
    async with PeerConnection(Configuration(dead_peer_timeout=2)) as pc:
        await pc.create_data_channel("chat")  # also makes the hidden keepalive channel
        monitor = pc._pipeline.liveness
        assert monitor is not None
        for _ in range(3):
            await pc._pipeline.call(monitor._poke)  # on the GLib thread, as the monitor does
        print(f"keepalives sent: {monitor.keepalives_sent}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
