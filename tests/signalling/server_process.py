"""A signalling server in a process of its own, for load tests.

    python -m tests.signalling.server_process '{"max_peers": 1100}'
    python -m tests.signalling.server_process '{"admission": {"max_per_address": 8}}'

Starts a :class:`SignallingServer` on 127.0.0.1 with those keyword arguments and an
ephemeral port, prints ``port N``, then answers each ``stats`` line on its stdin with a
JSON line (peers, sessions, RSS in KiB after a garbage collection). It stops on ``stop``,
on the end of stdin (so it never outlives the test that started it), on SIGTERM or
SIGINT, and, on Linux, when its parent dies.

:func:`server_process` runs it from a test and always kills it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def rss_kib() -> int:
    """This process's resident set size in KiB (Linux ``/proc``)."""
    from tests.leakcheck import rss_bytes

    return rss_bytes() // 1024


async def _main(kwargs: dict[str, Any]) -> None:
    from aiogstwebrtc.signalling import SignallingServer
    from aiogstwebrtc.signalling.admission import AdmissionLimits
    from tests.signalling.sigtools import LOOPBACK_ADMISSION

    # ``admission``: AdmissionLimits fields as JSON; per-address limits out of the way
    # by default (load tests connect every client from 127.0.0.1)
    admission = kwargs.pop("admission", None)
    kwargs["admission"] = LOOPBACK_ADMISSION if admission is None else AdmissionLimits(**admission)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async with SignallingServer("127.0.0.1", 0, **kwargs) as server:

        async def commands() -> None:
            while line := (await stdin.readline()).decode().strip():
                if line == "stop":
                    break
                if line == "stats":
                    gc.collect()
                    stats = {
                        "peers": server.peer_count,
                        "sessions": len(server.router.sessions),
                        "rss_kib": rss_kib(),
                    }
                    sys.stdout.write(json.dumps(stats) + "\n")
                    sys.stdout.flush()
            stop.set()

        reader = asyncio.ensure_future(commands())
        sys.stdout.write(f"port {server.port}\n")
        sys.stdout.flush()
        await stop.wait()
        reader.cancel()


def main() -> None:
    """Run the server until told to stop."""
    if sys.platform == "linux":  # die with the parent even if it is killed
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    kwargs = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    log = kwargs.pop("log", None)  # a file for the server's log, INFO and above
    if log is not None:
        logging.basicConfig(filename=log, level=logging.INFO, format="%(levelname)s %(message)s")
    fd_limit = kwargs.pop("fd_limit", None)  # soft and hard RLIMIT_NOFILE, to run out of fds
    if fd_limit is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
    asyncio.run(_main(kwargs))


@dataclass
class ServerProcess:
    """A running :func:`server_process`: its URL and its statistics on demand."""

    process: asyncio.subprocess.Process
    url: str

    async def stats(self) -> dict[str, int]:
        """Peers, sessions and RSS (KiB) as the server process sees them now."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), 10)
        stats: dict[str, int] = json.loads(line)
        return stats


@contextlib.asynccontextmanager
async def server_process(**kwargs: Any) -> AsyncIterator[ServerProcess]:
    """Start the server process with ``kwargs``; stop it (or kill it) afterwards.

    Besides the server's keyword arguments: ``log`` (a file path for its log),
    ``fd_limit`` (its limit on open files), ``admission`` (AdmissionLimits fields).
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.signalling.server_process",
        json.dumps(kwargs),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("port "), line
        yield ServerProcess(process, f"ws://127.0.0.1:{int(line.split()[1])}/")
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


if __name__ == "__main__":
    main()
