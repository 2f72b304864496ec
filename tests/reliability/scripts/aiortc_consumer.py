"""Child process: an aiortc consumer of ``aiogstwebrtc produce`` over the signalling server.

    python aiortc_consumer.py URL PRODUCER_NAME SECONDS {clean|forever}

It starts a session with the producer, answers its offer with aiortc (no STUN: the
producer's trickled candidates are added as they come), decodes the video, prints
``watching`` at the first decoded frame and ``frames N`` at the end. ``clean``: after
SECONDS of video it ends the session (``endSession``) and exits 0; ``forever``: it watches
until it is killed or stopped (the test does the rest with signals).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from aiogstwebrtc.signalling.client import SignallingClient
from aiogstwebrtc.signalling.protocol import EndSession, PeerIce, PeerRole, PeerSdp

WAIT = 20.0


async def consume(url: str, name: str, seconds: float, mode: str) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    frames = 0
    first = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: Any) -> None:
        async def pull() -> None:
            nonlocal frames
            while True:
                await track.recv()
                if track.kind == "video":
                    frames += 1
                    first.set()

        tasks.append(asyncio.ensure_future(pull()))

    @pc.on("datachannel")
    def on_channel(channel: Any) -> None:
        channel.on("open", lambda: channel.send("hello"))
        if channel.readyState == "open":
            channel.send("hello")

    async with SignallingClient(url) as client:
        await client.set_peer_status([PeerRole.LISTENER])
        producers = [p for p in await client.list_producers() if (p.meta or {}).get("name") == name]
        session_id = await client.start_session(producers[0].id)

        async def signalling() -> None:
            async for message in client:
                if isinstance(message, PeerSdp) and message.session_id == session_id:
                    offer = RTCSessionDescription(sdp=message.sdp.sdp, type=message.sdp.type)
                    await pc.setRemoteDescription(offer)
                    await pc.setLocalDescription(await pc.createAnswer())
                    local = pc.localDescription
                    await client.send_sdp(session_id, {"type": local.type, "sdp": local.sdp})
                elif isinstance(message, PeerIce) and message.session_id == session_id:
                    if message.ice.candidate:
                        candidate = candidate_from_sdp(
                            message.ice.candidate.removeprefix("candidate:")
                        )
                        candidate.sdpMLineIndex = message.ice.sdp_m_line_index
                        candidate.sdpMid = message.ice.sdp_mid
                        await pc.addIceCandidate(candidate)
                elif isinstance(message, EndSession) and message.session_id == session_id:
                    return

        reader = asyncio.ensure_future(signalling())
        await asyncio.wait_for(first.wait(), WAIT)
        print("watching", flush=True)
        if mode == "forever":
            await reader
        else:
            await asyncio.sleep(seconds)
            await client.end_session(session_id)
            reader.cancel()
        print(f"frames {frames}", flush=True)
        for task in tasks:
            task.cancel()
        await pc.close()


if __name__ == "__main__":
    asyncio.run(consume(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
