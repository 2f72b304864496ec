#!/usr/bin/env python3
"""A complete WebRTC answerer on webrtcbin, for the "WebRTC Promise Callback Fix" write-up.

Every solution of the write-up is here, chosen with ``--strategy``:

* ``sync`` (Solution 1): ``Gst.Promise.new()`` + ``wait()`` on the GLib thread;
* ``--init-data-channel`` (Solution 2): a "control" data channel made before any offer;
* ``callback`` (Solution 3): change-funcs that reschedule onto the GLib thread;
* ``asyncio`` (Solution 4, the default): futures woken with ``call_soon_threadsafe``;
* ``gi-events``: asyncio itself runs on GLib's main loop.

Run it, then let a peer connect to its websocket::

    python examples/webrtc_promise_fix_solution.py --strategy sync --port 8765

Signalling is one websocket per peer at ``ws://HOST:PORT/ws``, JSON text messages::

    peer -> here   {"type": "offer", "sdp": "v=0..."}
    here -> peer   {"type": "answer", "sdp": "v=0..."}
    both ways      {"type": "candidate", "candidate": "candidate:...", "sdpMLineIndex": 0,
                    "sdpMid": "0"}      (trickle ICE; an empty candidate ends the list)

The pipeline is PLAYING before any offer is handled, candidates that arrive before the offer
are held until it is applied, every message received on a data channel the peer opens is sent
back (echo), and Ctrl-C or SIGTERM closes every peer connection and exits cleanly. Each step is
logged with its signaling state and the thread it ran on (the write-up's debugging tips);
``--trace-threads`` also logs every GStreamer-side callback with its thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

try:
    import aiogstwebrtc
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import aiogstwebrtc

from aiogstwebrtc import (
    STRATEGIES,
    Configuration,
    DataChannel,
    IceCandidate,
    PeerConnection,
    WebRTCError,
)

log = logging.getLogger("webrtc_promise_fix")


def thread() -> str:
    """The current thread's name, for the log (the write-up's first debugging tip)."""
    return threading.current_thread().name


class Session:
    """One websocket peer: a PeerConnection that answers its offer and echoes its messages."""

    def __init__(self, ws: web.WebSocketResponse, config: Configuration, number: int) -> None:
        self.ws = ws
        self.config = config
        self.name = f"peer {number}"
        self.pc: PeerConnection | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(message))

    async def run(self) -> None:
        # The pipeline goes to PLAYING here, before any offer is handled (best practice 4).
        async with PeerConnection(self.config) as pc:
            self.pc = pc
            log.info("%s: webrtcbin pipeline PLAYING [%s]", self.name, thread())
            pc.on("icecandidate", self.on_local_candidate)
            pc.on("datachannel", self.on_data_channel)
            pc.on(
                "connectionstatechange",
                lambda: log.info("%s: connection %s", self.name, pc.connection_state),
            )
            async for message in self.ws:
                if message.type != WSMsgType.TEXT:
                    break
                try:
                    await self.handle(json.loads(message.data))
                except (ValueError, KeyError, TypeError, WebRTCError) as exc:
                    log.warning("%s: %s", self.name, exc)
                    await self.send({"type": "error", "error": str(exc)})
        log.info("%s: closed", self.name)

    async def handle(self, message: dict[str, Any]) -> None:
        assert self.pc is not None
        kind = message.get("type")
        if kind == "offer":
            await self.answer(message["sdp"])
        elif kind == "candidate":
            # Before the offer is applied, candidates are held (best practice 5).
            await self.pc.add_ice_candidate(
                None
                if not message.get("candidate")
                else IceCandidate(
                    message["candidate"], message.get("sdpMLineIndex"), message.get("sdpMid")
                )
            )
        else:
            raise ValueError(f"unknown message type {kind!r}")

    async def answer(self, sdp: str) -> None:
        """The write-up's offer handling, one awaited step at a time."""
        pc = self.pc
        assert pc is not None
        strategy = self.config.strategy
        log.info("%s: offer received, signaling %s [%s]", self.name, pc.signaling_state, thread())
        await pc.set_remote_description({"type": "offer", "sdp": sdp})
        log.info("%s: remote offer set (%s), signaling %s", self.name, strategy, pc.signaling_state)
        answer = await pc.create_answer()
        log.info("%s: answer created (%s) [%s]", self.name, strategy, thread())
        await pc.set_local_description(answer)
        log.info("%s: local answer set, signaling %s", self.name, pc.signaling_state)
        await self.send({"type": "answer", "sdp": answer.sdp})

    async def on_local_candidate(self, candidate: IceCandidate | None) -> None:
        if candidate is None:
            await self.send({"type": "candidate", "candidate": "", "sdpMLineIndex": 0})
        else:
            await self.send({"type": "candidate", **candidate.to_dict()})

    def on_data_channel(self, channel: DataChannel) -> None:
        log.info("%s: data channel %r from the peer [%s]", self.name, channel.label, thread())

        def echo(data: str | bytes) -> None:
            try:
                channel.send(data)
            except WebRTCError as exc:
                log.warning("%s: echo on %r failed: %s", self.name, channel.label, exc)

        channel.on("message", echo)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()


async def serve(args: argparse.Namespace) -> int:
    config = Configuration(
        strategy=args.strategy,
        init_data_channel=args.init_data_channel,
        local_addresses=["127.0.0.1"] if args.loopback else None,
    )
    sessions: set[Session] = set()
    counter = 0

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        nonlocal counter
        ws = web.WebSocketResponse(heartbeat=30, timeout=2.0)
        await ws.prepare(request)
        counter += 1
        session = Session(ws, config, counter)
        sessions.add(session)
        log.info("%s connected from %s", session.name, request.remote)
        try:
            await session.run()
        finally:
            sessions.discard(session)
        return ws

    app = web.Application()
    app.router.add_get("/ws", websocket)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"listening on ws://{host}:{port}/ws (strategy {args.strategy})", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down: closing %d peer connection(s)", len(sessions))
    await asyncio.gather(*(session.close() for session in list(sessions)))
    await runner.cleanup()
    print("shut down cleanly", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    parser.add_argument(
        "--strategy", choices=sorted(STRATEGIES), default="asyncio", help="the promise strategy"
    )
    parser.add_argument(
        "--init-data-channel", action="store_true", help="Solution 2: an early control channel"
    )
    parser.add_argument(
        "--loopback", action="store_true", help="also gather 127.0.0.1 (peers on this machine)"
    )
    parser.add_argument(
        "--trace-threads", action="store_true", help="log every GStreamer callback's thread"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.trace_threads:
        aiogstwebrtc.enable_thread_tracing()
    return aiogstwebrtc.run(serve(args), gi_events=args.strategy == "gi-events")


if __name__ == "__main__":
    sys.exit(main())
