"""A server SIGKILLed while the cluster carries a negotiation load: the sessions between
the surviving servers lose, duplicate, reorder and misroute nothing, and the sessions with
the killed server's peers end on the surviving side (issue 12, "SIGKILL one server
mid-load")."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from bench.cluster_routing import LoadResult, routing_load
from tests.signalling.sigtools import raw_peers

from .clustertools import listing, server_processes
from .redis_server import redis_server


async def test_a_server_killed_mid_load_leaves_the_other_servers_sessions_whole(
    tmp_path: Path,
) -> None:
    async with redis_server() as redis, contextlib.AsyncExitStack() as stack:
        procs = await server_processes(stack, redis.url, tmp_path, rate_limit=None)
        a, b, c = (p.url for p in procs)
        (producer_b,) = await stack.enter_async_context(raw_peers(b, 1))
        await producer_b.register("producer")
        (consumer_a,) = await stack.enter_async_context(raw_peers(a, 1))
        for _ in range(200):  # A learns of B's producer through Redis
            if producer_b.peer_id in [p["id"] for p in await listing(consumer_a)]:
                break
            await asyncio.sleep(0.05)
        started = await consumer_a.request({"type": "startSession", "peerId": producer_b.peer_id})
        assert started["type"] == "sessionStarted", started
        doomed = started["sessionId"]
        assert (await producer_b.recv_json())["sessionId"] == doomed

        rounds: list[tuple[float, float, LoadResult]] = []
        stop = asyncio.Event()

        async def load() -> None:  # rounds of cross-server negotiations between A and C
            while not stop.is_set():
                began = time.monotonic()
                result = await routing_load([a, c], clients=60, sessions=12, messages=30)
                rounds.append((began, time.monotonic(), result))

        loading = asyncio.ensure_future(load())
        await asyncio.sleep(0.3)  # the first round is under way
        procs[1].process.kill()
        killed_at = time.monotonic()
        ended = await consumer_a.recv_json(10)
        assert ended == {"type": "endSession", "sessionId": doomed}, ended
        dropped_at = time.monotonic()  # A dropped B's peers (7 s measured)
        assert dropped_at - killed_at < 10
        while not any(began < dropped_at < done for began, done, _ in rounds):
            await asyncio.sleep(0.05)  # a round ran while A and C dropped B
            assert not loading.done(), loading.exception()
        stop.set()
        await asyncio.wait_for(loading, 60)

        assert any(began < killed_at < done for began, done, _ in rounds), rounds
        assert len(rounds) > 10  # 0.2 s each, from before the kill to after the drop
        for _, _, result in rounds:
            assert (result.lost, result.duplicated, result.reordered, result.misrouted) == (
                0, 0, 0, 0,
            ), result.summary()  # fmt: skip
            assert result.delivered == result.expected == 2 * 12 * 31
        for name in "AC":
            logged = (tmp_path / f"{name}.log").read_text()
            assert "server B stopped heartbeating" in logged, logged
            assert "Traceback" not in logged, logged
        assert not consumer_a.ws.closed
