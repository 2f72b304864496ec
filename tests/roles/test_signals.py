"""SIGINT and SIGTERM to every command-line program: sessions end cleanly, exit within 2 s.

Each program runs as a subprocess on 127.0.0.1 with a free port and a peer connected
through it (a Python :class:`Consumer` watching ``produce`` and the demo, signalling
clients in a session through ``signalling-server``, a webrtcbin peer with an open data
channel on the example answerer). The time from the signal to the process's exit is
measured and printed.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import aiohttp
import aiohttp.web
import pytest

from aiogstwebrtc import Configuration
from aiogstwebrtc.signalling import (
    Consumer,
    SignallingClient,
    SignallingClosedError,
    SignallingServer,
)

from ..doctor.tools import WebsocketOfferer
from ..signalling.sigtools import stub_server
from .proctools import WAIT, command, program, read_until, stop_timed

LIMIT = 2.0  # seconds from the signal to the exit
SIGNALS = [signal.SIGINT, signal.SIGTERM]


def check_exit(name: str, signum: signal.Signals, code: int, output: str, took: float) -> None:
    print(f"\n{name}: {signum.name} -> exit {code} in {took:.2f} s")
    assert code == 0, output
    assert "Traceback" not in output, output
    assert took < LIMIT, f"{name} took {took:.2f} s to stop after {signum.name}"


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
async def test_signalling_server_closes_every_connection_and_exits(
    signum: signal.Signals,
) -> None:
    async with command("signalling-server", "--port", "0") as server:
        url = (await read_until(server, r"signalling server: (ws://\S+)")).group(1)
        async with SignallingClient(url) as prod, SignallingClient(url) as cons:
            await prod.set_peer_status(["producer"], {"name": "p"})
            sid = await cons.start_session(prod.peer_id or "")
            assert sid in cons.sessions
            code, output, took = await stop_timed(server, signum)
            for client in (prod, cons):  # told the server is going away, not dropped
                with pytest.raises(SignallingClosedError):
                    for _ in range(10):  # the session's start, then the end
                        await client.recv(timeout=WAIT)
                assert client.close_code == aiohttp.WSCloseCode.GOING_AWAY
    check_exit("signalling-server", signum, code, output, took)
    assert "signalling server stopped" in output


async def watched_session(url: str, name: str, consumer: Consumer) -> Any:
    """Watch the producer called ``name`` until its data channel answers; the session."""
    info = await consumer.wait_for_producer(name, timeout=WAIT)
    session = await consumer.watch(info.id)
    channel = await session.wait_channel(WAIT)
    channel.send("hello")
    assert "Hello from Python" in await asyncio.wait_for(channel.recv(), WAIT)
    return session


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
async def test_produce_ends_its_sessions_and_exits(signum: signal.Signals) -> None:
    async with SignallingServer(port=0) as server:
        args = ["--server", server.url, "--name", "sig", "--audio", "none"]
        args += ["--video", "videotestsrc is-live=true", "--width", "160", "--height", "120"]
        async with command("produce", *args) as producer:
            await read_until(producer, r"producing as 'sig'")
            async with Consumer(server.url) as consumer:
                session = await watched_session(server.url, "sig", consumer)
                code, output, took = await stop_timed(producer, signum)
                assert "other side" in await session.wait_ended(WAIT)
                assert not consumer.closed  # only the producer left
        assert server.router.sessions == {}
    check_exit("produce", signum, code, output, took)
    assert "producer stopped" in output


async def registers_then_goes_deaf(ws: aiohttp.web.WebSocketResponse) -> None:
    """A server that welcomes, echoes the registration, then never reads again."""
    await ws.send_str('{"type":"welcome","peerId":"me"}')
    status = json.loads((await ws.receive()).data)
    echo = {"type": "peerStatusChanged", "peerId": "me", "roles": status["roles"]}
    await ws.send_str(json.dumps({**echo, "meta": status.get("meta")}))
    await asyncio.Event().wait()  # the producer's close is never answered


async def test_produce_exits_in_time_when_the_server_does_not_answer_its_close() -> None:
    async with stub_server(registers_then_goes_deaf) as url:
        async with command("produce", "--server", url, "--name", "deaf", "--audio", "none") as prod:
            await read_until(prod, r"producing as 'deaf'")
            code, output, took = await stop_timed(prod, signal.SIGTERM)
    check_exit("produce (deaf server)", signal.SIGTERM, code, output, took)


async def test_produce_stops_while_still_waiting_for_a_server_that_never_welcomes() -> None:
    connected = asyncio.Event()

    async def accept_then_nothing(ws: aiohttp.web.WebSocketResponse) -> None:
        connected.set()
        await asyncio.Event().wait()

    async with stub_server(accept_then_nothing) as url:
        async with command("produce", "--server", url, "--audio", "none") as prod:
            await asyncio.wait_for(connected.wait(), WAIT)  # it now waits for the welcome
            code, output, took = await stop_timed(prod, signal.SIGINT)
    check_exit("produce (no welcome)", signal.SIGINT, code, output, took)
    assert "producer stopped" in output


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
async def test_demo_ends_its_sessions_and_exits(signum: signal.Signals) -> None:
    async with command("demo", "--port", "0") as demo:
        page = (await read_until(demo, r"open (http://\S+) in a browser")).group(1)
        url = page.replace("http", "ws", 1)
        # the demo's producer gathers only loopback addresses (for a browser on this host)
        loopback = Configuration(local_addresses=["127.0.0.1"])
        async with Consumer(url, configuration=loopback) as consumer:
            session = await watched_session(url, "aiogstwebrtc demo", consumer)
            code, output, took = await stop_timed(demo, signum)
            await session.wait_ended(WAIT)
            await asyncio.wait_for(consumer.wait_closed(), WAIT)  # the server went away
    check_exit("demo", signum, code, output, took)
    assert "demo stopped" in output


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
async def test_example_answerer_closes_its_peers_and_exits(signum: signal.Signals) -> None:
    script = "examples/webrtc_promise_fix_solution.py"
    async with program(script, "--port", "0", "--loopback") as example:
        url = (await read_until(example, r"listening on (ws://\S+)")).group(1)
        stopped: list[tuple[int, str, float]] = []

        async def signal_while_connected(ws: aiohttp.ClientWebSocketResponse) -> None:
            stopped.append(await stop_timed(example, signum))
            async with asyncio.timeout(WAIT):  # candidates still on their way, then the close
                while (message := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                    pass
            # the example's own close code (ws.close_code may read 1006: it does not wait
            # for our reply before closing the connection)
            assert message.type is aiohttp.WSMsgType.CLOSE, message
            assert message.data == aiohttp.WSCloseCode.OK

        offerer = WebsocketOfferer("webrtcbin")
        assert await offerer.exchange(url, "still there?", then=signal_while_connected) == (
            "still there?"
        )
    ((code, output, took),) = stopped
    check_exit("example answerer", signum, code, output, took)
    assert "shut down cleanly" in output
