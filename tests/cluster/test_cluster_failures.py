"""Failures: a server SIGKILLed, Redis restarted (with its data lost)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import pytest

from tests.signalling.sigtools import RawPeer, raw_peers, received_so_far, start_raw_session
from tests.signalling.test_sig_security import ice, sdp

from .clustertools import cluster, eventually, known_everywhere, listing, server_processes
from .redis_server import redis_server


async def statuses_until(peer: RawPeer, gone: set[str], timeout: float) -> dict[str, Any]:
    """Read ``peer``'s messages until each of ``gone`` was announced without roles; return
    the other messages by type (count)."""
    others: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while gone:
            message = await peer.recv_json(timeout)
            if message["type"] == "peerStatusChanged" and message["peerId"] in gone:
                assert message["roles"] == [], message
                gone.discard(message["peerId"])
            else:
                others.setdefault(message["type"], []).append(message)
    return others


async def test_a_killed_server_leaves_the_cluster_within_ten_seconds(tmp_path: Any) -> None:
    async with redis_server() as redis, contextlib.AsyncExitStack() as stack:
        procs = await server_processes(stack, redis.url, tmp_path)
        a, b, c = (p.url for p in procs)
        doomed = [await stack.enter_async_context(raw_peers(b, 1)) for _ in range(2)]
        doomed_ids = {p[0].peer_id for p in doomed}
        for (peer,) in doomed:
            await peer.register("producer")
        (listen_a,) = await stack.enter_async_context(raw_peers(a, 1))
        (listen_c,) = await stack.enter_async_context(raw_peers(c, 1))
        (prod_a,) = await stack.enter_async_context(raw_peers(a, 1))
        (cons_c,) = await stack.enter_async_context(raw_peers(c, 1))
        (cons_a,) = await stack.enter_async_context(raw_peers(a, 1))
        (watch_c,) = await stack.enter_async_context(raw_peers(c, 1))
        await prod_a.register("producer")
        for peer in (listen_a, listen_c):
            await peer.register("listener")
        expected = sorted(doomed_ids | {prod_a.peer_id})

        async def everyone_listed() -> None:
            while True:
                lists = [[p["id"] for p in await listing(x)] for x in (listen_a, listen_c)]
                if lists == [expected, expected]:
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(everyone_listed(), 10)
        # sessions with B's producers from A and C, and one A-C session that must survive
        doomed_sessions = {
            await start_raw_session(cons_a, doomed[0][0]): cons_a,
            await start_raw_session(cons_c, doomed[1][0]): cons_c,
        }
        kept = await start_raw_session(watch_c, prod_a)
        for peer in (listen_a, listen_c, cons_a, cons_c, prod_a, watch_c):
            await received_so_far(peer)
        sent = 0

        async def traffic() -> None:  # the A-C session relays all along
            nonlocal sent
            while True:
                await prod_a.send(ice(kept, sent))
                sent += 1
                await asyncio.sleep(0.02)  # 50 a second: well under the rate limit

        relaying = asyncio.ensure_future(traffic())
        procs[1].process.kill()
        killed_at = time.monotonic()
        for listener in (listen_a, listen_c):
            others = await statuses_until(listener, set(doomed_ids), 10)
            assert others == {}, others
        ended = {}
        for session, consumer in doomed_sessions.items():
            ended[session] = await consumer.recv_json(10)
        took = time.monotonic() - killed_at
        assert ended == {s: {"type": "endSession", "sessionId": s} for s in doomed_sessions}
        assert took < 10, took
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
        assert sent > 100
        for n in range(sent):  # every one, in order, nothing else
            assert await watch_c.recv_json() == ice(kept, n)
        for listener in (listen_a, listen_c):
            assert [p["id"] for p in await listing(listener)] == [prod_a.peer_id]
        # the A-C session is untouched, both ways
        await watch_c.send(sdp(kept, "answer"))
        assert await prod_a.recv_json() == sdp(kept, "answer")
        logged = (tmp_path / "A.log").read_text()
        assert "server B stopped heartbeating: its 2 peers dropped" in logged, logged
        assert "Traceback" not in logged
        # the clients of B lost their connection, nobody else did
        for (peer,) in doomed:
            assert await peer.wait_closed(5) is not None
        for peer in (listen_a, listen_c, prod_a, cons_a, cons_c, watch_c):
            assert not peer.ws.closed


async def test_redis_restart_keeps_clients_and_resyncs_exactly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aiogstwebrtc.signalling.cluster")
    async with cluster(3) as (redis, servers):
        a, b, c = servers
        async with (
            raw_peers(a.url, 2) as (prod_a, cons_a),
            raw_peers(b.url, 2) as (prod_b, leaves_b),
            raw_peers(c.url, 2) as (cons_c, listen_c),
        ):
            for peer in (prod_a, prod_b, leaves_b):
                await peer.register("producer")
            await listen_c.register("listener")
            everyone = (prod_a, cons_a, prod_b, leaves_b, cons_c, listen_c)
            roles = {p.peer_id: ("producer",) for p in (prod_a, prod_b, leaves_b)}
            roles.update({cons_a.peer_id: (), cons_c.peer_id: (), listen_c.peer_id: ("listener",)})
            await known_everywhere(servers, roles)
            kept = await start_raw_session(cons_c, prod_a)
            doomed = await start_raw_session(cons_c, leaves_b)
            await received_so_far(listen_c)

            await redis.stop()
            await eventually(lambda: not any(s.cluster and s.cluster.connected for s in servers))
            # local routing goes on: a session between two peers of A
            local = await start_raw_session(cons_a, prod_a)
            await prod_a.send(sdp(local, "offer"))
            assert await cons_a.recv_json() == sdp(local, "offer")
            # remote producers left the listings meanwhile; the local one stays
            assert [p["id"] for p in await listing(cons_a)] == [prod_a.peer_id]
            await leaves_b.close()  # leaves while Redis is away

            await redis.start()  # the same port, no data
            await eventually(lambda: all(s.cluster and s.cluster.connected for s in servers))
            # after the re-sync and its grace period: exactly the connected producers
            expected = sorted(p.peer_id for p in (prod_a, prod_b))
            for peer in (cons_a, cons_c, listen_c):
                remaining = 8.0
                deadline = time.monotonic() + remaining
                while [p["id"] for p in await listing(peer)] != expected:
                    assert time.monotonic() < deadline, await listing(peer)
                    await asyncio.sleep(0.1)
            # the session with the peer that left during the outage ended, after the grace
            messages = []
            async with asyncio.timeout(10):
                while {"type": "endSession", "sessionId": doomed} not in messages:
                    messages.append(await cons_c.recv_json(10))
            assert all(m["type"] == "endSession" for m in messages if "sessionId" in m), messages
            # the cross-server session kept through the outage still relays
            await prod_a.send(sdp(kept, "offer"))
            assert await cons_c.recv_json() == sdp(kept, "offer")
            await cons_c.send(sdp(kept, "answer"))
            assert await prod_a.recv_json() == sdp(kept, "answer")
            # no ghosts and no duplicates in any server's view
            connected = {p.peer_id for p in everyone} - {leaves_b.peer_id}
            for server in servers:
                assert set(server.router.peers) == connected
            for peer in (prod_a, cons_a, prod_b, cons_c, listen_c):
                assert not peer.ws.closed
    text = caplog.text
    assert text.count("lost (") == 3 and text.count("Redis is back") == 3, text
    assert "Traceback" not in text
