"""Calls between homes behind NATs, through the test's own coturn (tests/nat/topology.py).

Each peer runs in its home namespace (tests/nat/peer_main.py); the selected candidate pair
is read from its ``get_stats()`` and what coturn did from its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aiogstwebrtc.icestate import candidate_types

from ..browser.firefox import require_firefox
from ..browser.pagetools import require_chromium
from .coturn import PASSWORD, PORT, RELEASED, TLS_PORT, USER, Coturn, activity
from .peers import ANSWERERS, Outcome, PeerProcess, call, selected_pair
from .topology import PUBLIC_ADDRESS, Home, Topology, netns_exec

log = logging.getLogger(__name__)

STUN = f"stun:{PUBLIC_ADDRESS}:{PORT}"


def turn(url: str, password: str = PASSWORD) -> dict[str, Any]:
    return {"urls": [url], "username": USER, "credential": password}


def pairs(outcome: Outcome) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Both sides' selected (local, remote) candidates; logs the figures."""
    found = []
    for side in ("offerer", "answerer"):
        result = getattr(outcome, side)
        assert result["connected"], f"{side}: {result}"
        local, remote = selected_pair(result["stats"])
        found.append((local, remote))
        log.warning(
            "%s connected in %.2f s: %s/%s -> %s",
            side, result["seconds"], local["candidate-type"], local.get("relay-protocol"),
            remote["candidate-type"],
        )  # fmt: skip
    return found


async def test_friendly_nats_connect_through_server_reflexive_candidates(
    topology: Topology, coturn: Coturn
) -> None:
    homes = topology.homes
    mark = coturn.mark()
    outcome = await call(homes["f1"], homes["f2"], {"ice_servers": [STUN]})
    for local, remote in pairs(outcome):
        assert "relay" not in (local["candidate-type"], remote["candidate-type"])
        # host addresses are unreachable across the NATs: one side at least is reflexive
        assert {local["candidate-type"], remote["candidate-type"]} & {"srflx", "prflx"}
    (_, a_remote), (_, b_remote) = pairs(outcome)
    assert a_remote["address"] == homes["f2"].wan_address
    assert b_remote["address"] == homes["f1"].wan_address
    assert activity(coturn.since(mark)).allocations == 0


async def test_symmetric_nats_without_turn_fail_naming_the_candidates(
    topology: Topology, coturn: Coturn
) -> None:
    homes = topology.homes
    outcome = await call(homes["s1"], homes["s2"], {"ice_servers": [STUN]}, timeout=20)
    for result in (outcome.offerer, outcome.answerer):
        log.warning("symmetric without TURN: %s", _summary(result))
        assert not result["connected"]
        assert result["error"].startswith("failed")  # not our 20 s timeout
        assert result["connection_state"] == result["ice_connection_state"] == "failed"
        assert result["ice_states"] == ["checking", "failed"]
        error = result["error_event"]
        assert "local candidates: 1 host/udp, 1 srflx/udp" in error
        assert "remote candidates: 1 host/udp, 1 srflx/udp" in error
        assert result["seconds"] < 15
    assert outcome.offerer["channel_state"] == "closed"  # closed with the ICE error


def _summary(result: dict[str, Any]) -> str:
    return json.dumps({key: value for key, value in result.items() if key != "stats"})


@pytest.mark.parametrize(
    ("url", "protocol", "port"),
    [
        (f"turn:{PUBLIC_ADDRESS}:{PORT}", "udp", PORT),
        (f"turn:{PUBLIC_ADDRESS}:{PORT}?transport=tcp", "tcp", PORT),
        (f"turns:{PUBLIC_ADDRESS}:{TLS_PORT}", "tls", TLS_PORT),
    ],
)
async def test_symmetric_nats_connect_through_turn(
    topology: Topology, coturn: Coturn, url: str, protocol: str, port: int
) -> None:
    homes = topology.homes
    mark = coturn.mark()
    outcome = await call(homes["s1"], homes["s2"], {"ice_servers": [STUN, turn(url)]})
    found = pairs(outcome)
    assert any(local["candidate-type"] == "relay" for local, _ in found)
    for local, _ in found:
        if local["candidate-type"] == "relay":
            assert local["relay-protocol"] == protocol
            assert local["address"] == PUBLIC_ADDRESS
    # close() releases the allocations at once (else they stay 600 s on coturn)
    assert coturn.wait_for(RELEASED, 2, mark) == 2
    assert "still have alive TURN refreshes" not in outcome.stderr
    seen = activity(coturn.since(mark))
    log.warning("coturn for %s: %s", url, seen.summary())
    assert seen.allocations == 2  # one per peer, over the URL's transport only
    assert not seen.unreleased
    if protocol == "udp":
        assert seen.stream_connections == 0
    else:  # TCP and TLS sessions end when the peers close (UDP ones only expire)
        assert seen.stream_connections == 2
        assert seen.closed_on == {f"{PUBLIC_ADDRESS}:{port}"}


async def test_every_turn_url_is_allocated(topology: Topology, coturn: Coturn) -> None:
    homes = topology.homes
    mark = coturn.mark()
    urls = [
        f"turn:{PUBLIC_ADDRESS}:{PORT}",
        f"turn:{PUBLIC_ADDRESS}:{PORT}?transport=tcp",
        f"turns:{PUBLIC_ADDRESS}:{TLS_PORT}",
    ]
    config = {"ice_servers": [{"urls": urls, "username": USER, "credential": PASSWORD}]}
    outcome = await call(homes["s1"], homes["s2"], config)
    found = pairs(outcome)
    relays = [local for local, _ in found if local["candidate-type"] == "relay"]
    assert relays
    # libnice does not say which server a relay candidate came from: only UDP (type
    # preference 30) is told apart from TCP and TLS (20)
    for local in relays:
        log.warning("relay priority %d: %s", local["priority"], local["relay-protocol"])
        assert local["relay-protocol"] == ("udp" if local["priority"] >> 24 == 30 else None)
    assert coturn.wait_for(RELEASED, 6, mark) >= 6
    seen = activity(coturn.since(mark))
    log.warning("coturn for three TURN URLs: %s", seen.summary())
    assert seen.allocations == 6  # three per peer
    assert not seen.unreleased
    assert seen.stream_connections == 4  # TCP and TLS per peer
    assert seen.closed_on == {f"{PUBLIC_ADDRESS}:{PORT}", f"{PUBLIC_ADDRESS}:{TLS_PORT}"}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_aiortc_behind_a_symmetric_nat_connects_through_our_turn(
    topology: Topology, coturn: Coturn, transport: str
) -> None:
    homes = topology.homes
    mark = coturn.mark()
    url = f"turn:{PUBLIC_ADDRESS}:{PORT}?transport={transport}"
    ours = {"ice_servers": [STUN, turn(url)]}
    aiortc = [
        {"urls": [f"stun:{PUBLIC_ADDRESS}:{PORT}", url], "username": USER, "credential": PASSWORD}
    ]
    outcome = await call(
        homes["s1"], homes["s2"], ours, answerer_stack="aiortc", their_ice_servers=aiortc
    )
    assert outcome.offerer["connected"], outcome.offerer
    assert outcome.answerer["connected"], outcome.answerer
    local, remote = selected_pair(outcome.offerer["stats"])
    log.warning(
        "us -> aiortc over TURN/%s in %.2f s: %s/%s -> %s", transport, outcome.offerer["seconds"],
        local["candidate-type"], local.get("relay-protocol"), remote["candidate-type"],
    )  # fmt: skip
    assert "relay" in (local["candidate-type"], remote["candidate-type"])
    seen = activity(coturn.since(mark))
    log.warning("coturn for aiortc over %s: %s", transport, seen.summary())
    assert seen.allocations == 2  # one per peer
    assert seen.stream_connections == (2 if transport == "tcp" else 0)


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
async def test_a_browser_behind_a_symmetric_nat_connects_through_our_turn(
    topology: Topology, coturn: Coturn, browser: str
) -> None:
    require_firefox() if browser == "firefox" else require_chromium()
    homes = topology.homes
    mark = coturn.mark()
    url = f"turn:{PUBLIC_ADDRESS}:{PORT}"
    ours = {"ice_servers": [STUN, turn(url)]}
    theirs_config = [{"urls": [STUN, url], "username": USER, "credential": PASSWORD}]
    outcome = await call(
        homes["s1"], homes["s2"], ours, answerer_stack=browser, their_ice_servers=theirs_config
    )
    assert outcome.offerer["connected"], outcome.offerer
    assert outcome.answerer["connected"], outcome.answerer
    local, remote = selected_pair(outcome.offerer["stats"])
    theirs = outcome.answerer["pair"]
    log.warning(
        "us -> %s over TURN in %.2f s (%s %.2f s): ours %s -> %s, %s's %s",
        browser, outcome.offerer["seconds"], browser, outcome.answerer["seconds"],
        local["candidate-type"], remote["candidate-type"], browser, theirs,
    )  # fmt: skip
    assert "relay" in (local["candidate-type"], remote["candidate-type"])
    assert "relay" in (theirs["local"]["type"], theirs["remote"]["type"])
    # a browser without a camera in use names its host candidates with mDNS
    assert ".local " in outcome.answer_sdp
    seen = activity(coturn.since(mark))
    log.warning("coturn for %s: %s", browser, seen.summary())
    assert seen.allocations >= 2  # at least one per peer


@contextlib.contextmanager
def no_unicast_dns(home: Home) -> Iterator[None]:
    """Count the DNS queries (UDP/TCP port 53, not to loopback) the home's processes send;
    none may have gone out when the block ends. A browser's ``UUID.local`` candidate name
    given to webrtcbin used to go to the system resolver and so to the DNS server."""
    table = ["nft", "add", "table", "inet", "dnswatch"]
    netns_exec(home.namespace, *table)
    netns_exec(
        home.namespace, "nft", "add chain inet dnswatch out { type filter hook output priority 0; }"
    )
    netns_exec(home.namespace, "nft", "add rule inet dnswatch out oif != lo th dport 53 counter")
    try:
        yield
        listed = netns_exec(home.namespace, "nft", "list", "table", "inet", "dnswatch").stdout
        sent = re.search(r"counter packets (\d+)", listed)
        assert sent is not None and sent[1] == "0", f"DNS queries left the home: {listed}"
    finally:
        netns_exec(home.namespace, "nft", "delete", "table", "inet", "dnswatch", check=False)


async def test_chromium_on_the_same_lan_is_reached_at_its_mdns_named_host(
    topology: Topology,
) -> None:
    require_chromium()
    home = topology.homes["f1"]  # both peers on the home's LAN, no STUN or TURN
    with no_unicast_dns(home):
        await _chromium_on_the_lan(home)


async def _chromium_on_the_lan(home: Home) -> None:
    ours = await PeerProcess.start(home)
    chromium = await PeerProcess.start(home, ANSWERERS["chromium"])
    try:
        offer = await ours.ask(cmd="offer", config={})
        answer = await chromium.ask(cmd="answer", ice_servers=[], sdp=offer["sdp"])
        assert ".local " in answer["sdp"]  # Chromium named its host candidate
        assert home.address not in answer["sdp"]  # and hid its address
        await ours.ask(cmd="remote", sdp=answer["sdp"])
        connected = await asyncio.gather(
            ours.ask(cmd="connect", timeout=10), chromium.ask(cmd="connect", timeout=10)
        )
        assert all(result["connected"] for result in connected), connected
        at_connect = selected_pair(connected[0]["stats"])[1]["candidate-type"]
        # its name resolves over mDNS: the remote candidate is Chromium's host candidate at
        # its real address (before, libnice knew it only as peer-reflexive)
        remote: dict[str, Any] = {}
        async with asyncio.timeout(5):
            while remote.get("candidate-type") != "host":
                await asyncio.sleep(0.1)
                remote = selected_pair((await ours.ask(cmd="stats"))["stats"])[1]
        assert remote["address"] == home.address
        log.warning(
            "us -> Chromium on one LAN: connected in %.2f s (remote %s then), its mDNS host "
            "candidate resolved to %s",
            connected[0]["seconds"], at_connect, remote["address"],
        )  # fmt: skip
    finally:
        for peer in (ours, chromium):
            await peer.stop()


OBFUSCATE = "media.peerconnection.ice.obfuscate_host_addresses"


async def _firefox_on_the_lan(home: Home, prefs: dict[str, object]) -> tuple[float, str, str]:
    """Us offering, Firefox answering on one LAN: (seconds from its answer to a message
    each way, Firefox's answer, the address of the remote candidate we end up using)."""
    ours = await PeerProcess.start(home)
    firefox = await PeerProcess.start(home, ANSWERERS["firefox"], json.dumps(prefs))
    try:
        offer = await ours.ask(cmd="offer", config={})
        answer = await firefox.ask(cmd="answer", ice_servers=[], sdp=offer["sdp"], wait=60)
        await ours.ask(cmd="remote", sdp=answer["sdp"])
        started = time.monotonic()
        connected = await asyncio.gather(
            ours.ask(cmd="connect", timeout=15), firefox.ask(cmd="connect", timeout=15)
        )
        seconds = time.monotonic() - started
        assert all(result["connected"] for result in connected), connected
        remote: dict[str, Any] = {}
        async with asyncio.timeout(5):
            while remote.get("candidate-type") != "host":
                remote = selected_pair((await ours.ask(cmd="stats"))["stats"])[1]
                await asyncio.sleep(0.1)
        return seconds, answer["sdp"], remote["address"]
    finally:
        for peer in (ours, firefox):
            await peer.stop()


async def test_firefox_on_the_same_lan_connects_at_its_mdns_name_as_fast_as_without(
    topology: Topology,
) -> None:
    """Firefox as installed names its host candidates ``UUID.local``; libnice alone knew it
    only as peer-reflexive and waited 5-6 s before nominating (0.4 s with plain addresses).
    We resolve the name over mDNS: connected about as fast as with the name switched off."""
    require_firefox()
    home = topology.homes["f1"]  # both peers on the home's LAN, no STUN or TURN
    with no_unicast_dns(home):
        plain, plain_sdp, plain_remote = await _firefox_on_the_lan(home, {OBFUSCATE: False})
        named, named_sdp, named_remote = await _firefox_on_the_lan(home, {})
    assert ".local " not in plain_sdp and home.address in plain_sdp
    assert ".local " in named_sdp and home.address not in named_sdp  # Firefox hid it
    assert plain_remote == named_remote == home.address  # its name resolved to its address
    log.warning(
        "us -> Firefox on one LAN: connected in %.2f s with mDNS host names, %.2f s without",
        named, plain,
    )  # fmt: skip
    assert named < 2 * plain + 0.5, (named, plain)


async def test_relay_policy_uses_only_relay_on_an_open_path(
    topology: Topology, coturn: Coturn
) -> None:
    homes = topology.homes
    config = {
        "ice_servers": [STUN, turn(f"turn:{PUBLIC_ADDRESS}:{PORT}")],
        "ice_transport_policy": "relay",
    }
    outcome = await call(homes["f1"], homes["f2"], config)
    for local, remote in pairs(outcome):
        assert local["candidate-type"] == "relay" and remote["candidate-type"] == "relay"
    # only relay candidates were gathered (with "all" each side also has host and srflx)
    assert candidate_types(outcome.offer_sdp) == candidate_types(outcome.answer_sdp)
    assert candidate_types(outcome.offer_sdp) == "1 relay/udp"


async def test_wrong_turn_credentials_fail_within_a_bound(
    topology: Topology, coturn: Coturn
) -> None:
    homes = topology.homes
    mark = coturn.mark()
    config = {
        "ice_servers": [turn(f"turn:{PUBLIC_ADDRESS}:{PORT}", password="wrong")],
        "ice_transport_policy": "relay",
    }
    outcome = await call(homes["s1"], homes["s2"], config, timeout=20)
    for result in (outcome.offerer, outcome.answerer):
        log.warning("wrong credentials: %s", _summary(result))
        assert not result["connected"]
        assert result["connection_state"] == result["ice_connection_state"] == "failed"
        assert "check their credentials" in result["error_event"]
        assert f"{PUBLIC_ADDRESS}:{PORT} over udp" in result["error_event"]
        assert result["seconds"] < 5
        assert "relay" not in json.dumps(result["stats"])
    seen = activity(coturn.since(mark))
    log.warning("wrong credentials: coturn %s", seen.summary())
    assert seen.unauthorized >= 2 and seen.allocations == 0
