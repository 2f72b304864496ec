"""Helpers for the doctor's tests: running the command, and an offering peer on a websocket."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from aiogstwebrtc import Configuration, IceCandidate, PeerConnection

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def doctor_env(*, new_namespaces: bool = False, **extra: str) -> dict[str, str]:
    """The environment for a doctor subprocess.

    With ``new_namespaces`` the doctor does not know it already runs in an isolated
    namespace, so it makes a fresh one per approach (as on a user's machine).
    """
    env = dict(os.environ)
    if new_namespaces:
        env.pop("AIOGST_NETNS", None)
    env.update(extra)
    return env


def run_doctor(
    *args: str, stdin: str = "", timeout: float = 80, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m aiogstwebrtc doctor ARGS`` to completion (bounded)."""
    return subprocess.run(
        [sys.executable, "-m", "aiogstwebrtc", "doctor", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or doctor_env(),
        cwd=ROOT,
    )


def run_doctor_json(*args: str, timeout: float = 80, **env: Any) -> tuple[int, dict[str, Any]]:
    """``doctor --json ARGS``: its exit status and parsed report."""
    result = run_doctor("--json", *args, timeout=timeout, env=doctor_env(**env))
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


Then = Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]] | None


class WebsocketOfferer:
    """An offering peer (aiortc, or webrtcbin on loopback) talking to the example's websocket."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.echoes: asyncio.Queue[str] = asyncio.Queue()

    async def exchange(self, url: str, text: str, timeout: float = 15, then: Then = None) -> str:
        """Offer, answer, trickle, open the channel, send ``text``; return what comes back.

        ``then(ws)``, when given, runs after the echo while the connection is still open
        (the websocket is no longer read by this peer).
        """
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            if self.kind == "aiortc":
                return await asyncio.wait_for(self._aiortc(ws, text, then), timeout)
            return await asyncio.wait_for(self._webrtcbin(ws, text, then), timeout)

    async def _aiortc(self, ws: aiohttp.ClientWebSocketResponse, text: str, then: Then) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
        from aiortc.sdp import candidate_from_sdp

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            channel = pc.createDataChannel("chat")
            opened = asyncio.Event()
            channel.on("open", opened.set)
            channel.on("message", self.echoes.put_nowait)
            await pc.setLocalDescription(await pc.createOffer())
            await ws.send_json({"type": "offer", "sdp": pc.localDescription.sdp})

            async def read() -> None:
                async for message in ws:
                    data = json.loads(message.data)
                    if data["type"] == "answer":
                        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))
                    elif data["type"] == "candidate" and data["candidate"]:
                        candidate = candidate_from_sdp(data["candidate"].removeprefix("candidate:"))
                        candidate.sdpMid = data.get("sdpMid")
                        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
                        await pc.addIceCandidate(candidate)

            reader = asyncio.ensure_future(read())
            try:
                await opened.wait()
                channel.send(text)
                echo = await self.echoes.get()
            finally:
                reader.cancel()
                await asyncio.wait({reader})
            if then is not None:
                await then(ws)
            return echo
        finally:
            await pc.close()

    async def _webrtcbin(self, ws: aiohttp.ClientWebSocketResponse, text: str, then: Then) -> str:
        pc = PeerConnection(Configuration(local_addresses=["127.0.0.1"]))
        try:

            async def send_candidate(candidate: IceCandidate | None) -> None:
                if candidate is not None and candidate.address == "127.0.0.1":
                    await ws.send_json({"type": "candidate", **candidate.to_dict()})

            pc.on("icecandidate", send_candidate)
            channel = await pc.create_data_channel("chat")
            offer = await pc.create_offer()
            await pc.set_local_description(offer)
            await ws.send_json({"type": "offer", "sdp": offer.sdp})

            async def read() -> None:
                async for message in ws:
                    data = json.loads(message.data)
                    if data["type"] == "answer":
                        await pc.set_remote_description({"type": "answer", "sdp": data["sdp"]})
                    elif data["type"] == "candidate" and data["candidate"]:
                        candidate = IceCandidate.from_dict(data)
                        if candidate.address == "127.0.0.1":
                            await pc.add_ice_candidate(candidate)

            reader = asyncio.ensure_future(read())
            try:
                await channel.wait_open(10)
                channel.send(text)
                reply = await channel.recv()
            finally:
                reader.cancel()
                await asyncio.wait({reader})
            if then is not None:
                await then(ws)
            return reply if isinstance(reply, str) else reply.decode()
        finally:
            await pc.close()
