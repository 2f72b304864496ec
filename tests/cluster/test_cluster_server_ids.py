"""Server ids are unique in a cluster: two live servers under one id would mix up their
peers and sessions, so the second is refused at its start (exit 1 from the command); a
killed server's leftover keys do not stop it from restarting under its id at once."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

import pytest
from redis.asyncio import Redis

from aiogstwebrtc.signalling import ClusterUnavailableError, SignallingServer
from aiogstwebrtc.signalling.cluster import wire

from .clustertools import WAIT, cluster, eventually
from .redis_server import redis_server

BEAT = 0.5


async def test_a_second_live_server_with_the_same_id_is_refused() -> None:
    async with cluster(1, cluster_heartbeat=BEAT) as (redis, (first,)):
        namesake = SignallingServer(
            "127.0.0.1", 0, redis_url=redis.url, server_id="A", cluster_heartbeat=BEAT
        )
        with pytest.raises(ClusterUnavailableError, match="server id 'A' is in use by another"):
            await namesake.start()
        assert not namesake.running
        assert first.cluster is not None and first.cluster.connected

        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiogstwebrtc", "signalling-server", "--port", "0",
            "--redis", redis.url, "--server-id", "A",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), WAIT)
        text = (out + err).decode()
        assert process.returncode == 1, text
        assert "give each server its own --server-id" in text and "Traceback" not in text
        assert first.cluster.connected and first.cluster.duplicates == 0


async def test_a_killed_servers_leftover_key_is_taken_over() -> None:
    async with redis_server() as redis:
        client = Redis.from_url(redis.url)
        try:
            leftover = json.dumps({"beat": time.time() - 1, "instance": "killed-one"})
            await client.set(wire.Keys.for_database(0, "A").server(), leftover, px=60_000)
            server = SignallingServer(
                "127.0.0.1", 0, redis_url=redis.url, server_id="A", cluster_heartbeat=BEAT
            )
            await server.start()
            try:
                assert server.cluster is not None and server.cluster.connected
                value = await client.get(wire.Keys.for_database(0, "A").server())
                assert value is not None and b"killed-one" not in value
            finally:
                await server.stop()
        finally:
            await client.aclose()


async def test_namesakes_started_together_are_refused_or_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="aiogstwebrtc.signalling.cluster")
    async with redis_server() as redis:
        servers = [
            SignallingServer(
                "127.0.0.1", 0, redis_url=redis.url, server_id="A", cluster_heartbeat=BEAT
            )
            for _ in range(2)
        ]
        results = await asyncio.gather(*(s.start() for s in servers), return_exceptions=True)
        try:
            refused = [r for r in results if isinstance(r, ClusterUnavailableError)]
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors == refused, errors  # nothing else went wrong
            if not refused:  # neither saw the other at its start: a beat tells them
                await eventually(
                    lambda: any(s.cluster is not None and s.cluster.duplicates for s in servers),
                    what="no server reported the other one beating under its id",
                )
                assert "is also used by another server" in caplog.text
            else:
                assert len(refused) == 1
        finally:
            for server in servers:
                if server.running:
                    await server.stop()
