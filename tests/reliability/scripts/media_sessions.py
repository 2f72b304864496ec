"""Child process: short media sessions with aiortc, resources counted after each one.

    python media_sessions.py SCENARIO COUNT

Each session: our PeerConnection sends VP8 + Opus and a "chat" data channel to an aiortc
peer (we offer), aiortc decodes video frames, then the session ends as SCENARIO says:

- ``clean``: aiortc closes (DTLS close, SCTP shutdown), then we close;
- ``crash``: aiortc's sockets vanish without a word (a killed process), we close at once
  (as the signalling server's endSession makes a producer do);
- ``hang``: aiortc stops answering but keeps its sockets (a stopped process): the
  dead-peer timeout fails the connection, then we close;
- ``renegotiate``: we remove the audio track and renegotiate, then both close.

One warm-up session first, then COUNT sessions. After each, with no garbage collection,
one JSON line: ``{"session": i, "udp": ..., "fds": ..., "eventfds": ..., "threads": ...,
"gst": {type: count} | null}``. Run with ``tests.leakcheck.leak_tracer_env`` for ``gst``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from aiogstwebrtc import Configuration, PeerConnection
from aiogstwebrtc.media import AudioSource, VideoSource
from tests.aiortc_peer import aiortc_peer, from_aiortc, to_aiortc, we_offer
from tests.leakcheck import gst_live_objects, snapshot

WAIT = 15.0
DEAD_PEER_TIMEOUT = 2.0


def _aiortc_protocols(theirs: Any) -> list[Any]:
    """aiortc's ICE datagram protocols (private attributes: a test-only reach-in)."""
    protocols = []
    for transport in theirs._RTCPeerConnection__iceTransports:
        protocols.extend(transport._connection._protocols)
    return protocols


def _vanish(theirs: Any) -> None:
    """aiortc's sockets close with nothing sent: what a SIGKILLed peer looks like."""
    for protocol in _aiortc_protocols(theirs):
        protocol.transport.abort()


def _freeze(theirs: Any) -> None:
    """aiortc neither reads nor sends any more, sockets open: a SIGSTOPped peer."""
    for protocol in _aiortc_protocols(theirs):
        protocol.transport.pause_reading()
        protocol.transport.sendto = lambda *_args, **_kwargs: None


async def session(scenario: str) -> None:
    ours = PeerConnection(Configuration(dead_peer_timeout=DEAD_PEER_TIMEOUT))
    theirs = aiortc_peer()
    first_frame = asyncio.get_running_loop().create_future()
    pullers: list[asyncio.Task[None]] = []

    @theirs.on("track")
    def on_track(track: Any) -> None:
        async def pull() -> None:
            while True:
                await track.recv()
                if track.kind == "video" and not first_frame.done():
                    first_frame.set_result(None)

        pullers.append(asyncio.ensure_future(pull()))

    try:
        await ours.add_track(VideoSource(width=320, height=240))
        audio = await ours.add_track(AudioSource())
        channel = await ours.create_data_channel("chat")
        await we_offer(ours, theirs, trickle=False)
        await ours.wait_for_connection_state("connected", WAIT)
        await asyncio.wait_for(first_frame, WAIT)
        await channel.wait_open(WAIT)
        channel.send("hello")
        if scenario == "clean":
            await theirs.close()
        elif scenario == "crash":
            _vanish(theirs)
        elif scenario == "hang":
            _freeze(theirs)
            await ours.wait_for_connection_state("failed", 4 * DEAD_PEER_TIMEOUT)
        elif scenario == "renegotiate":
            await ours.remove_track(audio)
            offer = await ours.create_offer()
            await ours.set_local_description(offer)
            await theirs.setRemoteDescription(to_aiortc(offer))
            await theirs.setLocalDescription(await theirs.createAnswer())
            await ours.set_remote_description(from_aiortc(theirs.localDescription))
            assert ours.signaling_state == "stable"
        else:
            raise ValueError(f"unknown scenario {scenario!r}")
    finally:
        await ours.close()
        for puller in pullers:
            puller.cancel()
        await asyncio.gather(*pullers, return_exceptions=True)
        await theirs.close()


async def settle() -> None:
    """Let asyncio run the socket closes aiortc scheduled (call_soon), then a little more."""
    for _ in range(5):
        await asyncio.sleep(0.05)


#: Seconds the child waits at the end for the last DTLS timers (they double from 1 s).
DRAIN_LIMIT = 30.0


async def main(scenario: str, count: int) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for number in range(-1, count):
        await session(scenario)
        await settle()
        now = snapshot()
        gst = gst_live_objects()
        record = {
            "session": number,
            "udp": now.udp,
            "fds": now.fds,
            "eventfds": now.eventfds,
            "threads": now.threads,
            "rss": now.rss,
            "gst": None if gst is None else dict(gst),
        }
        print(json.dumps(record), flush=True)
    # DTLS connections outlive their session while a DTLS timer of theirs is pending (the
    # clock's async wait holds a reference until it fires; 1 s, doubling with each
    # retransmission): they must all go once the timers have fired.
    waited = 0.0
    while waited < DRAIN_LIMIT:
        gst = gst_live_objects()
        if gst is None or gst.get("GstDtlsConnection", 0) == 0:
            break
        await asyncio.sleep(0.2)
        waited += 0.2
    gst = gst_live_objects()
    drained = {"session": "drained", "waited": round(waited, 1)}
    print(json.dumps({**drained, "gst": None if gst is None else dict(gst)}), flush=True)


if __name__ == "__main__":
    asyncio.new_event_loop().run_until_complete(main(sys.argv[1], int(sys.argv[2])))
