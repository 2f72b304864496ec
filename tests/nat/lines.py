"""The JSON-lines loop of the peers a NAT test runs in its home namespaces: one command per
line on stdin, one reply per line on stdout, until ``close``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def serve_lines(handle: Handler) -> None:
    """Answer each command with ``handle(command)``; an exception becomes ``{"error": ...}``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        try:
            reply = await handle(command)
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply, default=str) + "\n")
        sys.stdout.flush()
        if command["cmd"] == "close":
            break
