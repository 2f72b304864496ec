"""ICE restart through the NAT topology: the NAT's mappings go, ``restart_ice()`` and a new
offer/answer bring the call back, and every numbered message arrives once, in order.

Peers behind the two symmetric NATs (``masquerade random``) with STUN and TURN over UDP.
Taking the NAT's public link down and up drops its masqueraded connections (the kernel's
masquerade forgets them with the link, as on a reconnecting router), so the next packets
leave on new random ports: the TURN server drops them for the old allocation and the other
peer's packets to the old ports are dropped by the NAT. The remote relay's permission is per
IP address, so the new generation's checks from the same public address get through it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .coturn import PASSWORD, PORT, USER, Coturn
from .peers import PeerProcess, selected_pair
from .topology import PUBLIC_ADDRESS, Home, Topology, netns_exec

log = logging.getLogger(__name__)

CONFIG = {
    "ice_servers": [
        f"stun:{PUBLIC_ADDRESS}:{PORT}",
        {"urls": [f"turn:{PUBLIC_ADDRESS}:{PORT}"], "username": USER, "credential": PASSWORD},
    ]
}


def drop_nat_mappings(home: Home) -> None:
    """The NAT's public link down and up: its masqueraded connections are forgotten."""
    netns_exec(home.nat_namespace, "ip", "link", "set", "wan0", "down")
    netns_exec(home.nat_namespace, "ip", "link", "set", "wan0", "up")
    gateway = home.wan_address.rsplit(".", 1)[0] + ".1"
    netns_exec(home.nat_namespace, "ip", "route", "replace", "default", "via", gateway)


def describe(stats: dict[str, Any]) -> str:
    local, remote = selected_pair(stats)
    return (
        f"{local['candidate-type']} {local['address']}:{local['port']} -> "
        f"{remote['candidate-type']} {remote['address']}:{remote['port']}"
    )


async def test_restart_ice_recovers_after_the_nat_drops_its_mappings(
    topology: Topology, coturn: Coturn
) -> None:
    homes = topology.homes
    offerer = await PeerProcess.start(homes["s1"])
    answerer = await PeerProcess.start(homes["s2"])
    try:
        offer = await offerer.ask(cmd="offer", config=CONFIG)
        answer = await answerer.ask(cmd="answer", config=CONFIG, sdp=offer["sdp"])
        await offerer.ask(cmd="remote", sdp=answer["sdp"])
        first, second = await asyncio.gather(
            offerer.ask(wait=30, cmd="connect", timeout=20),
            answerer.ask(wait=30, cmd="connect", timeout=20),
        )
        assert first["connected"] and second["connected"], (first, second)
        before = describe(first["stats"])
        await answerer.ask(cmd="sink")
        await offerer.ask(cmd="stream", interval=0.02)
        await answerer.ask(cmd="wait_state", state="connected", timeout=1)

        drop_nat_mappings(homes["s1"])
        broken = time.monotonic()
        lost = await offerer.ask(wait=15, cmd="wait_state", state="disconnected", timeout=10)
        assert lost["reached"], lost  # the old path is gone (the liveness watch says so)

        restarted = time.monotonic()
        reoffer = await offerer.ask(cmd="restart")
        assert reoffer["negotiationneeded"] == 1
        reanswer = await answerer.ask(cmd="reanswer", sdp=reoffer["sdp"])
        await offerer.ask(cmd="remote", sdp=reanswer["sdp"])
        back = await offerer.ask(wait=15, cmd="wait_state", state="connected", timeout=10)
        assert back["reached"], back
        # libnice checked again (checking), then connected: seconds after restart_ice()
        ice = back["ice"]
        assert [state for state, _ in ice][-2:] == ["checking", "connected"], ice
        recovered = time.monotonic()

        done = await offerer.ask(cmd="finish")
        got = await answerer.ask(wait=40, cmd="received", timeout=30)
        assert got["end"], f"{len(got['received'])} of {done['sent']} messages, no end"
        assert got["received"] == [str(n) for n in range(done["sent"])]
        after = describe((await offerer.ask(cmd="stats"))["stats"])
        log.warning(
            "ICE restart behind symmetric NATs: disconnected %.2f s after the NAT dropped "
            "its mappings, ICE %s, connected again %.2f s after restart_ice(); %d messages in "
            "order; pair before %s, after %s",
            restarted - broken, ice, recovered - restarted, done["sent"], before, after,
        )  # fmt: skip
        assert after != before  # a new pair: the old NAT mapping is gone
    finally:
        for peer in (offerer, answerer):
            log.info("%s", (await peer.stop())[-2000:])
