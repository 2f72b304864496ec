"""Helpers for the cluster tests: N in-process signalling servers sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiogstwebrtc.signalling import SignallingServer
from tests.signalling.server_process import ServerProcess, server_process
from tests.signalling.sigtools import LOOPBACK_ADMISSION, RawPeer

from .redis_server import RedisServer, redis_server

WAIT = 10.0


@contextlib.asynccontextmanager
async def cluster(
    count: int = 3,
    *,
    redis: RedisServer | None = None,
    before_start: Callable[[SignallingServer], None] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[RedisServer, list[SignallingServer]]]:
    """``count`` started servers (ids ``A``, ``B``, ...) on one Redis, stopped afterwards;
    ``before_start(server)`` runs before each starts (to add routes to its app)."""
    async with contextlib.AsyncExitStack() as stack:
        if redis is None:
            redis = await stack.enter_async_context(redis_server())
        options.setdefault("admission", LOOPBACK_ADMISSION)
        options.setdefault("status_interval", 0)
        servers = []
        for n in range(count):
            server = SignallingServer(
                "127.0.0.1", 0, redis_url=redis.url, server_id="ABCDEFGH"[n], **options
            )
            if before_start is not None:
                before_start(server)
            await server.start()
            stack.push_async_callback(server.stop)
            servers.append(server)
        yield redis, servers


async def server_processes(
    stack: contextlib.AsyncExitStack, redis_url: str, logs: Path, **options: Any
) -> list[ServerProcess]:
    """Servers ``A``, ``B`` and ``C`` as processes of their own (to be killed) on one Redis,
    each logging to ``logs/NAME.log``; stopped (or killed) when ``stack`` closes."""
    return [
        await stack.enter_async_context(
            server_process(
                redis_url=redis_url,
                server_id=name,
                status_interval=0,
                log=str(logs / f"{name}.log"),
                **options,
            )
        )
        for name in "ABC"
    ]


async def eventually(check: Callable[[], bool], timeout: float = WAIT, what: str = "") -> None:
    """Wait until ``check()`` is true (the cluster's state settles through Redis)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)
    assert check(), what


async def known_everywhere(
    servers: list[SignallingServer], peers: dict[str, tuple[str, ...]]
) -> None:
    """Wait until every server knows each of ``peers`` (id -> roles) with those roles."""

    def known() -> bool:
        for server in servers:
            for peer_id, roles in peers.items():
                state = server.router.peers.get(peer_id)
                if state is None or tuple(str(r) for r in state.roles) != roles:
                    return False
        return True

    await eventually(known, what=f"peers {peers} not known everywhere")


async def listing(peer: RawPeer, kind: str = "list") -> list[dict[str, Any]]:
    """The ``list`` (or ``listConsumers``) reply ``peer`` gets now (a listener's statuses
    arriving meanwhile are skipped)."""
    reply = await peer.request({"type": kind})
    while reply["type"] == "peerStatusChanged":
        reply = await peer.recv_json()
    assert reply["type"] == kind, reply
    key = "producers" if kind == "list" else "consumers"
    result: list[dict[str, Any]] = reply[key]
    return result
