"""Redis restarted (its data lost) under a crowd of clients: nobody is disconnected, peers
come and go during the outage, and after the re-sync every server lists exactly the
producers connected then (issue 12, "Redis restart mid-load")."""

from __future__ import annotations

import asyncio
import contextlib

from tests.signalling.sigtools import RawPeer, start_raw_session
from tests.signalling.test_sig_security import ice

from .clustertools import cluster, eventually

PER_SERVER = 50
RELAYED = 100  # messages per local session, 2 s of them


async def test_redis_restart_under_load_keeps_everyone_and_resyncs_exactly() -> None:
    async with (
        cluster(3, rate_limit=None) as (redis, servers),
        contextlib.AsyncExitStack() as stack,
    ):
        peers: list[RawPeer] = []
        for server in servers:
            for _ in range(PER_SERVER):
                peer = await RawPeer.connect(server.url)
                stack.push_async_callback(peer.close)
                peers.append(peer)
        producers = peers[::3]  # a third of each server's clients produce
        await asyncio.gather(*(p.register("producer") for p in producers))

        def listed() -> set[str]:
            ids = [
                {p.id for p in s.router.peers.values() if "producer" in map(str, p.roles)}
                for s in servers
            ]
            return ids[0] if all(x == ids[0] for x in ids) else set()

        await eventually(lambda: listed() == {p.peer_id for p in producers})

        # sessions between peers of one server relay numbered messages through the outage
        local = []
        for k in range(3):
            mine = peers[k * PER_SERVER : (k + 1) * PER_SERVER]
            theirs = [p for p in mine if p in producers][-3:]  # not among those that leave
            others = [p for p in mine if p not in producers][-3:]  # nor those that arrive
            for producer, consumer in zip(theirs, others, strict=True):
                local.append((producer, consumer, await start_raw_session(consumer, producer)))

        async def relay(producer: RawPeer, session: str) -> None:
            for n in range(RELAYED):
                await producer.send(ice(session, n))
                await asyncio.sleep(0.02)

        relaying = asyncio.gather(*(relay(p, s) for p, _, s in local))
        await redis.stop()
        await eventually(lambda: not any(s.cluster and s.cluster.connected for s in servers))
        leaving = producers[:10]  # leave while Redis is away
        for peer in leaving:
            await peer.close()
        arriving = [p for p in peers if p not in producers][:10]  # start producing meanwhile
        await asyncio.gather(*(p.register("producer") for p in arriving))
        await redis.start()  # the same port, empty
        await eventually(lambda: all(s.cluster and s.cluster.connected for s in servers))

        await relaying
        for _, consumer, session in local:
            for n in range(RELAYED):  # every one, in order
                assert await consumer.recv_json() == ice(session, n)
        expected = {p.peer_id for p in producers + arriving} - {p.peer_id for p in leaving}
        await eventually(lambda: listed() == expected, timeout=15)
        # no ghost and no duplicate anywhere, and every client that did not leave is connected
        connected = {p.peer_id for p in peers} - {p.peer_id for p in leaving}
        for server in servers:
            assert set(server.router.peers) == connected
        assert not any(p.ws.closed for p in peers if p not in leaving)
