"""A real ``redis-server`` for the cluster tests: loopback, a temporary directory, no
persistence, a free port; stopped (killed if need be) by the test that started it.

The tests run inside the network namespace of ``scripts/in-netns.sh``, so 127.0.0.1 here
is the namespace's own loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; :meth:`stop` and :meth:`start` again
    keep its port (a restart, with its data lost: nothing is persisted)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it and wait until it answers."""
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    assert self.process.returncode is None, "redis-server exited"
                    await asyncio.sleep(0.05)
                    continue
                writer.write(b"PING\r\n")
                await writer.drain()
                writer.close()
                return

    async def stop(self) -> None:
        """Kill it (SIGKILL: a crash, nothing saved) and reap it."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[RedisServer]:
    """A started :class:`RedisServer`, stopped afterwards even on failure."""
    with tempfile.TemporaryDirectory(prefix="aiogst-redis-") as directory:
        server = RedisServer(Path(directory))
        try:
            await server.start()
            yield server
        finally:
            await server.stop()
