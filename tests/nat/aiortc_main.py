"""An aiortc answerer in a home namespace: ``python -m tests.nat.aiortc_main``.

It speaks the JSON lines of :mod:`tests.nat.peer_main` (``answer``, ``connect``, ``close``);
its ``iceServers`` are only those the test passes (our coturn), never a public server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)

from tests.nat.lines import serve_lines


class AiortcPeer:
    def __init__(self) -> None:
        self.pc: RTCPeerConnection | None = None
        self.channel: asyncio.Future[RTCDataChannel] | None = None
        self.started = 0.0

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command["cmd"]
        if cmd == "answer":
            servers = [RTCIceServer(**server) for server in command["ice_servers"]]
            policy = command.get("ice_transport_policy", "all")
            pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
            if policy == "relay":
                raise ValueError("aiortc has no relay-only policy")
            self.pc = pc
            self.started = time.monotonic()
            channel: asyncio.Future[RTCDataChannel] = asyncio.get_running_loop().create_future()
            pc.on("datachannel", lambda ch: channel.done() or channel.set_result(ch))
            self.channel = channel
            await pc.setRemoteDescription(RTCSessionDescription(command["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return {"type": "answer", "sdp": pc.localDescription.sdp}
        if cmd == "connect":
            return await self.connect(float(command["timeout"]))
        if cmd == "close":
            if self.pc is not None:
                await self.pc.close()
            return {"closed": True}
        raise ValueError(f"unknown command {cmd!r}")

    async def connect(self, timeout: float) -> dict[str, Any]:
        assert self.channel is not None and self.pc is not None
        result: dict[str, Any] = {"connected": False}
        try:
            async with asyncio.timeout(timeout):
                channel = await self.channel
                message: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                channel.on("message", lambda m: message.done() or message.set_result(m))
                assert await message == "hello"
                channel.send("echo")
            result["connected"] = True
        except Exception as exc:
            result["error"] = repr(exc)
        result["seconds"] = round(time.monotonic() - self.started, 3)
        result["ice_connection_state"] = self.pc.iceConnectionState
        return result


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="aiortc %(message)s")
    await serve_lines(AiortcPeer().handle)


if __name__ == "__main__":
    asyncio.run(main())
