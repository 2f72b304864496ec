"""One peer of a NAT test, run in a home namespace: ``python -m tests.nat.peer_main``.

It speaks JSON lines: commands on stdin, one reply line each on stdout (logs go to
stderr). Nothing crosses between namespaces but these pipes.

- ``{"cmd": "offer", "config": {...}}`` → ``{"sdp": ..., "type": "offer"}`` (all candidates
  gathered: no trickle across the pipe)
- ``{"cmd": "answer", "config": {...}, "sdp": ...}`` → the answer, likewise
- ``{"cmd": "remote", "sdp": ...}`` → ``{"ok": true}`` (the offerer takes the answer)
- ``{"cmd": "connect", "timeout": s}`` → ``{"connected": bool, "seconds": ..., "stats": ...,
  "states": [...], "error": ...}``: the offerer sends ``hello`` on its channel and waits
  for ``echo``; the answerer answers ``hello`` with ``echo``
- ``{"cmd": "close"}`` → ``{"closed": true}`` once closed and TURN allocations released,
  then the process ends

For an ICE restart (tests/nat/test_ice_restart.py), once connected:

- ``{"cmd": "stream", "interval": s}`` (offerer) → sends ``"0"``, ``"1"``, ... on its channel
  every ``interval`` seconds until ``finish``; ``{"cmd": "sink"}`` (answerer) → records them
- ``{"cmd": "wait_state", "state": ..., "timeout": s[, "ice": state]}`` → ``{"reached": bool,
  "seconds", "ice"}`` (the connection state, from the command on; with ``ice``, also until
  the ICE connection state is that, within the same timeout)
- ``{"cmd": "restart"}`` (offerer) → ``restart_ice()`` then a new offer, set locally, with
  every candidate (and whether ``negotiationneeded`` fired); ``{"cmd": "reanswer", "sdp"}``
  (answerer) → the answer to it
- ``{"cmd": "finish"}`` (offerer) → stops sending, sends ``"end"``: ``{"sent": n}``;
  ``{"cmd": "received", "timeout": s}`` (answerer) → ``{"received": [...]}`` once ``"end"``
  came
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from aiogstwebrtc import Configuration, DataChannel, PeerConnection, SessionDescription
from aiogstwebrtc.gst import TURN_RELEASE_GRACE
from tests.nat.lines import serve_lines


class Peer:
    def __init__(self) -> None:
        self.pc: PeerConnection | None = None
        self.channel: DataChannel | None = None
        self.remote_channel: asyncio.Future[DataChannel] | None = None
        self.states: list[str] = []
        self.ice_states: list[str] = []
        self.error: str | None = None
        self.started = 0.0
        self.sent = 0
        self.sender: asyncio.Task[None] | None = None
        self.received: list[str] = []
        self.end: asyncio.Future[None] | None = None
        self.negotiation_needed = 0
        self.ice_times: list[tuple[str, float]] = []
        self.restarted_at = 0.0

    def _on_error(self, error: Exception) -> None:
        self.error = str(error)

    def _on_ice_state(self, state: str) -> None:
        self.ice_states.append(state)
        self.ice_times.append((state, time.monotonic()))

    def _on_negotiation_needed(self) -> None:
        self.negotiation_needed += 1

    def _make(self, config: dict[str, Any]) -> PeerConnection:
        pc = PeerConnection(Configuration(**config))
        self.failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_connection_state() -> None:
            self.states.append(pc.connection_state)
            if pc.connection_state == "failed" and not self.failed.done():
                self.failed.set_result(self.error or "failed")

        pc.on("connectionstatechange", on_connection_state)
        pc.on("iceconnectionstatechange", lambda: self._on_ice_state(pc.ice_connection_state))
        pc.on("error", self._on_error)
        pc.on("negotiationneeded", self._on_negotiation_needed)
        self.remote_channel = asyncio.get_running_loop().create_future()
        future = self.remote_channel
        pc.on("datachannel", lambda ch: future.done() or future.set_result(ch))
        self.pc = pc
        return pc

    async def _local(self, pc: PeerConnection) -> dict[str, Any]:
        await pc.wait_for_ice_gathering_complete(20)
        local = pc.local_description
        assert local is not None
        return {"type": local.type, "sdp": local.sdp}

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command["cmd"]
        if cmd == "offer":
            pc = self._make(command["config"])
            self.started = time.monotonic()
            self.channel = await pc.create_data_channel("nat")
            await pc.set_local_description(await pc.create_offer())
            return await self._local(pc)
        if cmd == "answer":
            pc = self._make(command["config"])
            self.started = time.monotonic()
            await pc.handle_offer(SessionDescription("offer", command["sdp"]))
            return await self._local(pc)
        if cmd == "remote":
            assert self.pc is not None
            await self.pc.set_remote_description(SessionDescription("answer", command["sdp"]))
            return {"ok": True}
        if cmd == "connect":
            return await self.connect(float(command["timeout"]))
        if cmd == "stats":
            assert self.pc is not None
            return {"stats": await self.pc.get_stats()}
        if cmd in RESTART_COMMANDS:
            return await RESTART_COMMANDS[cmd](self, command)
        if cmd == "close":
            if self.pc is not None:
                await self.pc.close()
                # Live on as an application would while libnice releases the TURN
                # allocations from its thread (close() does not wait for it).
                await asyncio.sleep(TURN_RELEASE_GRACE)
            return {"closed": True}
        raise ValueError(f"unknown command {cmd!r}")

    async def _exchange(self, timeout: float) -> None:
        assert self.remote_channel is not None
        if self.channel is not None:  # the offerer
            await self.channel.wait_open(timeout)
            self.channel.send("hello")
            assert await self.channel.recv() == "echo"
        else:
            channel = await self.remote_channel
            assert await channel.recv() == "hello"
            channel.send("echo")

    async def connect(self, timeout: float) -> dict[str, Any]:
        pc = self.pc
        assert pc is not None and self.remote_channel is not None
        result: dict[str, Any] = {"connected": False}
        exchange = asyncio.ensure_future(self._exchange(timeout))
        done, _ = await asyncio.wait(
            [exchange, self.failed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if exchange in done and exchange.exception() is None:
            result["connected"] = True
        elif self.failed.done():
            result["error"] = f"failed: {self.failed.result()}"
        elif exchange in done:
            result["error"] = repr(exchange.exception())
        else:
            result["error"] = f"no outcome within {timeout} s"
        if not exchange.done():
            exchange.cancel()
        if self.channel is not None:
            result["channel_state"] = self.channel.ready_state
        result["seconds"] = round(time.monotonic() - self.started, 3)
        result["connection_state"] = pc.connection_state
        result["ice_connection_state"] = pc.ice_connection_state
        result["states"] = self.states
        result["ice_states"] = self.ice_states
        result["error_event"] = self.error
        try:
            result["stats"] = await pc.get_stats()
        except Exception as exc:
            result["stats_error"] = f"{type(exc).__name__}: {exc}"
        return result


async def _stream(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    channel = peer.channel
    assert channel is not None
    interval = float(command["interval"])

    async def send() -> None:
        while True:
            channel.send(str(peer.sent))
            peer.sent += 1
            await asyncio.sleep(interval)

    peer.sender = asyncio.ensure_future(send())
    return {"ok": True}


async def _sink(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    assert peer.remote_channel is not None
    channel = await peer.remote_channel
    end = peer.end = asyncio.get_running_loop().create_future()

    def on_message(message: str) -> None:
        if message == "end":
            end.done() or end.set_result(None)
        else:
            peer.received.append(message)

    channel.on("message", on_message)
    return {"ok": True}


async def _wait_state(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    pc = peer.pc
    assert pc is not None
    started = time.monotonic()
    try:
        await pc.wait_for_connection_state(command["state"], float(command["timeout"]))
    except Exception as exc:  # the state a test waits for may never come: say so
        return {"reached": False, "state": pc.connection_state, "why": repr(exc)}
    # The connection state and the ICE connection state are separate events: after a path
    # came back, the liveness watch can say "connected" before webrtcbin's ICE state does.
    ice_state = command.get("ice")
    deadline = started + float(command["timeout"])
    while ice_state and pc.ice_connection_state != ice_state and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    since = peer.restarted_at
    ice = [(s, round(t - since, 3)) for s, t in peer.ice_times if t >= since > 0]
    return {"reached": True, "seconds": round(time.monotonic() - started, 3), "ice": ice}


async def _restart(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    pc = peer.pc
    assert pc is not None
    before = peer.negotiation_needed
    peer.restarted_at = time.monotonic()
    await pc.restart_ice()
    await asyncio.sleep(0)  # negotiationneeded is emitted on the next loop iteration
    await pc.set_local_description(await pc.create_offer())
    reply = await peer._local(pc)
    reply["negotiationneeded"] = peer.negotiation_needed - before
    return reply


async def _reanswer(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    pc = peer.pc
    assert pc is not None
    await pc.handle_offer(SessionDescription("offer", command["sdp"]))
    return await peer._local(pc)


async def _finish(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    assert peer.sender is not None and peer.channel is not None
    peer.sender.cancel()
    peer.channel.send("end")
    return {"sent": peer.sent}


async def _received(peer: Peer, command: dict[str, Any]) -> dict[str, Any]:
    assert peer.end is not None
    try:
        await asyncio.wait_for(peer.end, float(command["timeout"]))
    except TimeoutError:
        return {"received": peer.received, "end": False}
    return {"received": peer.received, "end": True}


RESTART_COMMANDS = {
    "stream": _stream,
    "sink": _sink,
    "wait_state": _wait_state,
    "restart": _restart,
    "reanswer": _reanswer,
    "finish": _finish,
    "received": _received,
}


async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="peer %(message)s")
    await serve_lines(Peer().handle)


if __name__ == "__main__":
    asyncio.run(main())
