"""STUN/TURN servers handed to WHIP/WHEP clients in ``Link`` headers (RFC 9725 4.6).

The endpoint advertises a coturn the test starts on this namespace's own address; our
WhepClient asks for it (``OPTIONS`` with its token) and uses it: with a relay-only policy
it can connect only through that TURN server, which must log the allocation.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from aiogstwebrtc import Configuration
from aiogstwebrtc.config import IceServer
from aiogstwebrtc.errors import OperationTimeoutError, WebRTCError
from aiogstwebrtc.whep import WhepClient, ice_servers_from_links, link_headers
from tests.nat.coturn import PASSWORD, PORT, USER, Coturn, activity
from tests.whep.test_whep import WAIT, whep_server

TURN_ADDRESS = "10.213.0.1"  # scripts/in-netns.sh's wrtc0, inside the test's namespace
TURN = {"urls": [f"turn:{TURN_ADDRESS}:{PORT}?transport=udp"], "username": USER,
        "credential": PASSWORD}  # fmt: skip


@pytest.fixture
def coturn() -> Iterator[Coturn]:
    with tempfile.TemporaryDirectory(prefix="aiogst-turn-") as directory:
        server = Coturn(None, Path(directory), address=TURN_ADDRESS).start()
        try:
            yield server
        finally:
            server.stop()


def test_links_carry_every_url_and_quoted_credentials() -> None:
    servers = [
        "stun:stun.example.net",
        IceServer(["turn:t.example.net?transport=udp", "turns:t.example.net:5349"], 'a"b', "c\\d"),
    ]
    values = link_headers(servers)
    assert values[0] == '<stun:stun.example.net>; rel="ice-server"'
    assert values[1] == (
        '<turn:t.example.net?transport=udp>; rel="ice-server"; username="a\\"b"; '
        'credential="c\\\\d"; credential-type="password"'
    )
    back = ice_servers_from_links([values[0], ", ".join(values[1:])])  # one header, two links
    assert [(s.urls, s.username, s.credential) for s in back] == [
        ("stun:stun.example.net", None, None),
        ("turn:t.example.net?transport=udp", 'a"b', "c\\d"),
        ("turns:t.example.net:5349", 'a"b', "c\\d"),
    ]
    # Other relations, other schemes and junk are skipped, not errors.
    assert ice_servers_from_links(['<https://x>; rel="next"', "<http://y>; rel=ice-server",
                                   "garbage", '<stun:s>; rel="ice-server"']) == [
        IceServer("stun:s")
    ]  # fmt: skip
    with pytest.raises(ValueError, match="ice_servers"):
        link_headers(["turn:t.example.net"])  # TURN without credentials


async def test_a_whep_client_gets_the_endpoints_turn_server_and_plays_through_it(
    coturn: Coturn,
) -> None:
    async with whep_server(token="s3cret", ice_servers=[TURN]) as (base, _endpoint, _b):
        async with aiohttp.ClientSession() as http:
            async with http.options(f"{base}/cam") as anonymous:
                assert anonymous.status == 204
                assert anonymous.headers.getall("Link", []) == []  # no credentials for strangers
            headers = {"Authorization": "Bearer s3cret"}
            async with http.options(f"{base}/cam", headers=headers) as allowed:
                links = allowed.headers.getall("Link", [])
        assert [s.urls for s in ice_servers_from_links(links)] == TURN["urls"]
        mark = coturn.mark()
        relay_only = Configuration(ice_transport_policy="relay")
        async with WhepClient(f"{base}/cam", token="s3cret", configuration=relay_only) as client:
            tracks = {track.kind: track for track in await client.play(("video",))}
            frame = await asyncio.wait_for(tracks["video"].recv(), WAIT)
            assert (frame.width, frame.height) == (320, 240)
            assert [s.urls for s in client.ice_servers_offered] == TURN["urls"]
            offer = client.pc.local_description
            assert offer is not None and "typ relay" in offer.sdp
            assert "typ host" not in offer.sdp
        assert activity(coturn.since(mark)).allocations >= 1, coturn.since(mark)[-2000:]


async def test_without_asking_the_client_has_no_relay_and_says_why() -> None:
    # The control: the same relay-only client that does not ask has no candidate at all.
    async with whep_server(ice_servers=[TURN]) as (base, _endpoint, _b):
        relay_only = Configuration(ice_transport_policy="relay")
        client = WhepClient(f"{base}/cam", configuration=relay_only, ask_ice_servers=False)
        try:
            with pytest.raises(WebRTCError, match="failed") as failure:
                await client.play(("video",))
            assert not isinstance(failure.value, OperationTimeoutError), failure.value
            assert client.ice_servers_offered == []
        finally:
            await client.close()
