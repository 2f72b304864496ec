"""Two peers in one process connect and chat over a data channel, showing each step's thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from .config import Configuration
from .datachannel import DataChannel
from .peerconnection import PeerConnection
from .sdp import IceCandidate
from .timeouts import wait_for

__all__ = ["run_two_peers"]

log = logging.getLogger("aiogstwebrtc.demo")


def _step(started: float, text: str) -> None:
    log.info(
        "%7.1f ms  [%s]  %s",
        (time.monotonic() - started) * 1000,
        threading.current_thread().name,
        text,
    )


async def run_two_peers(messages: int = 3, strategy: str = "asyncio") -> None:
    """Connect two peer connections and exchange ``messages`` messages both ways."""
    started = time.monotonic()
    config = Configuration(strategy=strategy)
    async with PeerConnection(config) as alice, PeerConnection(config) as bob:
        _step(started, f"two webrtcbin pipelines PLAYING (strategy {strategy!r})")
        bob_channel: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()

        def forward(target: PeerConnection, name: str):  # type: ignore[no-untyped-def]
            async def on_candidate(candidate: IceCandidate | None) -> None:
                if candidate is None:
                    _step(started, f"{name}: ICE gathering complete")
                    return
                kind, address = candidate.type, candidate.address
                _step(started, f"{name}: trickling {kind} candidate {address}")
                await target.add_ice_candidate(candidate)

            return on_candidate

        alice.on("icecandidate", forward(bob, "alice"))
        bob.on("icecandidate", forward(alice, "bob"))
        bob.on("datachannel", bob_channel.set_result)
        for pc, name in ((alice, "alice"), (bob, "bob")):
            pc.on(
                "connectionstatechange",
                lambda pc=pc, name=name: _step(
                    started, f"{name}: connection {pc.connection_state}"
                ),
            )
        channel = await alice.create_data_channel("chat")
        offer = await alice.create_offer()
        _step(started, "alice: offer created")
        await alice.set_local_description(offer)
        _step(started, f"alice: local offer set, signaling {alice.signaling_state}")
        await bob.set_remote_description(offer)
        _step(started, f"bob: remote offer set, signaling {bob.signaling_state}")
        answer = await bob.create_answer()
        await bob.set_local_description(answer)
        _step(started, f"bob: answer created and set, signaling {bob.signaling_state}")
        await alice.set_remote_description(answer)
        _step(started, f"alice: remote answer set, signaling {alice.signaling_state}")
        await channel.wait_open(10)
        remote = await wait_for(bob_channel, 10)
        await remote.wait_open(10)
        _step(started, f"data channel {channel.label!r} open on both sides")
        for number in range(1, messages + 1):
            channel.send(f"hello #{number} from alice")
            text = await wait_for(remote.recv(), 10)
            _step(started, f"bob received {text!r}")
            remote.send(f"reply #{number} from bob")
            _step(started, f"alice received {await wait_for(channel.recv(), 10)!r}")
        stats = await alice.get_stats()
        _step(started, f"alice: {len(stats)} stats entries")
    _step(started, "both peers closed")
