"""Per-address connection limits hold across the cluster: one host does not get
``max_per_address`` connections from each server behind a load balancer (issue 15 once
the cluster landed). The servers share their per-address counts on every beat."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.signalling.admission import Admission
from aiogstwebrtc.signalling.cluster.addresses import BEAT_FIELD, AddressShare
from aiogstwebrtc.signalling.cluster.wire import Keys
from aiogstwebrtc.whep import WhepEndpoint
from tests.signalling.sigtools import LOOPBACK_ADMISSION

from .clustertools import cluster, eventually

BEAT = 0.3
LIMITS = replace(LOOPBACK_ADMISSION, max_per_address=4)  # only this limit in the way


async def websocket(http: aiohttp.ClientSession, server: SignallingServer, token: str) -> int:
    """The HTTP status of a websocket upgrade with ``token`` (101 when it opened)."""
    try:
        async with http.ws_connect(f"{server.url}?token={token}"):
            return 101
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def test_an_address_limit_counts_the_connections_on_every_server() -> None:
    async with cluster(2, admission=LIMITS, cluster_heartbeat=BEAT) as (_redis, (a, b)):
        async with aiohttp.ClientSession() as http:
            held = [await http.ws_connect(a.url) for _ in range(3)]
            # B learns within a beat or two that 127.0.0.1 holds 3 on A
            await eventually(lambda: b._admission.elsewhere("127.0.0.1") == 3)
            held.append(await http.ws_connect(b.url))  # 3 + 1 = the limit of 4
            with pytest.raises(aiohttp.ClientError):
                await http.ws_connect(b.url)  # a fifth, on the other server: refused
            # (B's single connection is not shared: below SHARED_FROM, see docs/cluster.md)
            assert a._admission.elsewhere("127.0.0.1") == 0
            for ws in held[:2]:
                await ws.close()
            # the address let go of two on A: B hears it on the next beat and admits again
            await eventually(lambda: b._admission.elsewhere("127.0.0.1") == 0)
            held.append(await http.ws_connect(b.url))
            for ws in held[2:]:
                await ws.close()


async def test_a_stopped_servers_counts_no_longer_count() -> None:
    async with cluster(2, admission=LIMITS, cluster_heartbeat=BEAT) as (_redis, (a, b)):
        async with aiohttp.ClientSession() as http:
            held = [await http.ws_connect(a.url) for _ in range(4)]
            await eventually(lambda: b._admission.elsewhere("127.0.0.1") == 4)
            with pytest.raises(aiohttp.ClientError):
                await http.ws_connect(b.url)
            await a.stop()  # its connections are gone with it, and so are its counts
            for ws in held:
                await ws.close()
            await eventually(lambda: b._admission.elsewhere("127.0.0.1") == 0)
            again = [await http.ws_connect(b.url) for _ in range(4)]
            for ws in again:
                await ws.close()


async def test_connection_attempts_are_one_budget_across_the_cluster() -> None:
    """A host that used its connection attempts on one server finds them used on the
    others a beat later: N servers do not give it N times ``attempts_per_second``."""
    limits = replace(LIMITS, attempts_per_second=0.1, attempts_burst=5)
    async with cluster(2, admission=limits, cluster_heartbeat=BEAT) as (_redis, (a, b)):
        async with aiohttp.ClientSession() as http:
            assert [await websocket(http, a, "") for _ in range(5)] == [101] * 5
            with pytest.raises(aiohttp.ClientError):
                await http.ws_connect(a.url)  # the burst is used up on A
            await eventually(lambda: b._admission.attempts_left("127.0.0.1") < 1)
            with pytest.raises(aiohttp.ClientError):
                await http.ws_connect(b.url)  # and on B
            charged = b._admission.attempts_left("127.0.0.1")
            await asyncio.sleep(4 * BEAT)  # A's beat is charged once, not on every beat
            assert b._admission.attempts_left("127.0.0.1") >= charged
        # another address is not affected
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=other) as http:
            assert await websocket(http, b, "") == 101


def test_a_servers_attempts_are_charged_once_per_beat_it_wrote() -> None:
    """A server whose beat is faster than another's reads that one's attempts hash twice:
    the serial written with it makes the second read charge nothing."""
    admission = Admission(replace(LIMITS, attempts_per_second=1, attempts_burst=100))
    share = AddressShare(Keys("aiogstwebrtc:0", "b"), admission)
    beat = {b"127.0.0.9": b"30", BEAT_FIELD.encode(): b"7"}
    share._charge_attempts(["a"], [beat])
    share._charge_attempts(["a"], [beat])  # the same beat of A, read again
    assert 69 <= admission.attempts_left("127.0.0.9") < 71
    share._charge_attempts(["a"], [{**beat, BEAT_FIELD.encode(): b"8"}])  # A's next beat
    assert 39 <= admission.attempts_left("127.0.0.9") < 41


async def test_an_address_out_of_token_attempts_on_one_server_is_refused_on_all() -> None:
    limits = replace(LIMITS, token_failures_burst=3)
    async with cluster(2, admission=limits, token="right", cluster_heartbeat=BEAT) as (
        _redis,
        (a, b),
    ):
        async with aiohttp.ClientSession() as http:
            statuses = [await websocket(http, a, "wrong") for _ in range(4)]
            assert statuses == [401, 401, 401, 429]
            # B hears it on the next beat: the guesser gets no fresh guesses there
            await eventually(lambda: b._admission.token_blocked("127.0.0.1"))
            assert await websocket(http, b, "wrong") == 429
            assert await websocket(http, b, "right") == 429
        # another address is not affected, on either server
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=other) as http:
            for server in (a, b):
                async with http.ws_connect(f"{server.url}?token=right") as ws:
                    assert not ws.closed


async def test_failed_whep_tokens_and_websocket_tokens_are_one_budget_across_the_cluster() -> None:
    """A WHEP endpoint served by a signalling server counts failed bearer tokens into the
    server's own failed tokens: a host guessing on the endpoint is refused on the
    websocket and, on the next beat, on every server of the cluster (issue 15)."""
    limits = replace(LIMITS, token_failures_burst=3)
    endpoints: list[WhepEndpoint] = []

    def add_whep(server: SignallingServer) -> None:
        endpoint = WhepEndpoint(token="right")
        endpoint.share_token_failures(server.token_failures)
        endpoint.install(server.app)
        endpoints.append(endpoint)

    async with cluster(
        2, admission=limits, token="right", cluster_heartbeat=BEAT, before_start=add_whep
    ) as (_redis, (a, b)):
        try:
            async with aiohttp.ClientSession() as http:

                async def whep(server: SignallingServer, token: str) -> int:
                    url = f"http://127.0.0.1:{server.port}/whep/cam"
                    headers = {"Authorization": f"Bearer {token}", "Content-Type": "x/y"}
                    async with http.post(url, data="v=0", headers=headers) as response:
                        return response.status

                assert [await whep(a, "wrong") for _ in range(4)] == [403, 403, 403, 429]
                assert await websocket(http, a, "right") == 429  # the same budget on A
                await eventually(lambda: b.token_failures.blocked("127.0.0.1"))
                assert await websocket(http, b, "right") == 429  # and on B
                assert await whep(b, "right") == 429
        finally:
            for endpoint in endpoints:
                await endpoint.close()
