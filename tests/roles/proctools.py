"""Command-line programs as subprocesses: start, read their output, stop them with a signal."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


@asynccontextmanager
async def program(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``python ARGV`` (stdout and stderr together); kill it if the test did not stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def command(*args: str) -> AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """Run ``python -m aiogstwebrtc ARGS`` like :func:`program`."""
    return program("-m", "aiogstwebrtc", *args)


async def read_until(
    process: asyncio.subprocess.Process, pattern: str, timeout: float = WAIT
) -> re.Match[str]:
    """Read the process's output until a line matches ``pattern`` (within ``timeout`` s)."""
    assert process.stdout is not None
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"process ended before {pattern!r}; output: {seen}")
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match


async def stop(process: asyncio.subprocess.Process, signum: signal.Signals) -> tuple[int, str]:
    """Send ``signum`` and return the exit code and the rest of the output."""
    code, output, _ = await stop_timed(process, signum)
    return code, output


async def stop_timed(
    process: asyncio.subprocess.Process, signum: signal.Signals
) -> tuple[int, str, float]:
    """Send ``signum``; return the exit code, the rest of the output and the seconds it took."""
    started = time.monotonic()
    process.send_signal(signum)
    out, _ = await asyncio.wait_for(process.communicate(), WAIT)
    took = time.monotonic() - started
    assert process.returncode is not None
    return process.returncode, out.decode(), took
