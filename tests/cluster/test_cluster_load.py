"""A small version of ``bench/cluster_routing.py``: 150 clients over three servers, 30
sessions negotiating across servers with sequence-numbered messages."""

from __future__ import annotations

from bench.cluster_routing import routing_load

from .clustertools import cluster, eventually


async def test_cross_server_negotiations_lose_duplicate_reorder_and_misroute_nothing() -> None:
    async with cluster(3, rate_limit=None) as (_, servers):
        result = await routing_load(
            [s.url for s in servers], clients=150, sessions=30, messages=20, timeout=30
        )
        assert result.expected == 2 * 30 * 21
        assert (result.lost, result.duplicated, result.reordered, result.misrouted) == (0, 0, 0, 0)
        assert result.delivered == result.expected
        assert 0 < result.percentile(0.5) <= result.percentile(0.99) < 5000
        # the clients left: no session, no local or remote peer is left on any server
        await eventually(lambda: not any(s.router.peers or s.router.sessions for s in servers))
