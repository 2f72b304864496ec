"""Fuzzing every signalling message: the parsers, a live server, and the client.

Valid, mutated and random messages of every type (see :mod:`.fuzzing`) go to the protocol
parsers (only :class:`ProtocolError` may come out, clean, and what parses survives a
round trip), to a live server over a socket (only clean ``error`` replies, never anything
about a session the sender is not in, while another session keeps relaying) and, as if
from a server, to :class:`SignallingClient` (it ignores junk and stays usable).

The live tests share one server, or one stub server, on an event loop in a background
thread: hypothesis drives examples from a plain test function and each example runs
there as a coroutine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp.web
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiogstwebrtc.signalling import (
    EndSession,
    ErrorMessage,
    ProtocolError,
    ServerMessage,
    SignallingClient,
    SignallingServer,
    dumps,
    parse_client_message,
    parse_server_message,
)
from aiogstwebrtc.signalling.client import ClientState

from .fuzzing import CLIENT_TEXTS, SERVER_TEXTS, substitute
from .sigtools import (
    CANDIDATE,
    LOOPBACK_ADMISSION,
    WAIT,
    RawPeer,
    assert_clean_error,
    drain,
    received_so_far,
    start_raw_session,
    stub_server,
)

T = TypeVar("T")
FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ----------------------------------------------------------------------- the parsers


def check_parse(parse: Callable[[str | bytes], Any], data: str | bytes) -> None:
    try:
        message = parse(data)
    except ProtocolError as exc:
        sent = data if isinstance(data, str) else data.decode("utf-8", "replace")
        assert_clean_error(str(exc), sent)
        return
    text = dumps(message)
    assert json.loads(text)["type"] == message.TYPE
    assert parse(text) == message


@settings(max_examples=1000, deadline=None)
@given(CLIENT_TEXTS | st.binary(max_size=40))
def test_client_message_parser_only_raises_protocol_error(data: str | bytes) -> None:
    check_parse(parse_client_message, data)


@settings(max_examples=1000, deadline=None)
@given(SERVER_TEXTS | st.binary(max_size=40))
def test_server_message_parser_only_raises_protocol_error(data: str | bytes) -> None:
    check_parse(parse_server_message, data)


# ----------------------------------------------------------------------- a loop in a thread


class Background:
    """An asyncio loop in a thread, for coroutines started from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 4 * WAIT) -> T:
        """Run ``coro`` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Cancel what is left, stop the loop and join the thread."""

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_rest(), WAIT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)
        self.loop.close()


@contextlib.contextmanager
def background(
    setup: Callable[[], contextlib.AbstractAsyncContextManager[T]],
) -> Iterator[tuple[Background, T]]:
    """A :class:`Background` loop with ``setup()`` entered on it for the whole test."""
    bg = Background()
    stack = contextlib.AsyncExitStack()
    try:

        async def enter() -> T:
            return await stack.enter_async_context(setup())

        yield bg, bg.run(enter())
    finally:
        with contextlib.suppress(Exception):
            bg.run(stack.aclose(), WAIT)
        bg.close()


# ----------------------------------------------------------------------- a live server


@dataclass
class Live:
    """A server with one healthy session the fuzzer must never disturb."""

    server: SignallingServer
    prod: RawPeer
    cons: RawPeer
    sid: str
    seq: Iterator[int] = field(default_factory=itertools.count)

    def secrets(self) -> tuple[str, ...]:
        return (self.prod.peer_id, self.cons.peer_id, self.sid)

    def ice(self, seq: int) -> dict[str, Any]:
        candidate = {"candidate": f"{CANDIDATE} {seq}", "sdpMLineIndex": 0}
        return {"type": "peer", "sessionId": self.sid, "ice": candidate}


@contextlib.asynccontextmanager
async def live_server() -> AsyncIterator[Live]:
    # the fuzzer opens a connection per exchange from 127.0.0.1: per-address limits aside
    async with SignallingServer("127.0.0.1", 0, admission=LOOPBACK_ADMISSION) as server:
        prod = await RawPeer.connect(server.url)
        cons = await RawPeer.connect(server.url)
        try:
            await prod.register("producer")
            yield Live(server, prod, cons, await start_raw_session(cons, prod))
        finally:
            await prod.close()
            await cons.close()


async def fuzz_once(live: Live, items: list[str | bytes]) -> None:
    fuzzer = await RawPeer.connect(live.server.url)
    try:
        ids = {
            "@prod": live.prod.peer_id,
            "@cons": live.cons.peer_id,
            "@sid": live.sid,
            "@self": fuzzer.peer_id,
            "@other": live.cons.peer_id,
        }
        sent: list[str] = []
        for item in items:
            if isinstance(item, bytes):
                await fuzzer.ws.send_bytes(item)
            else:
                sent.append(substitute(item, ids))
                await fuzzer.send(sent[-1])
        for reply in await received_so_far(fuzzer):  # each one parsed as a server message
            if isinstance(reply, ErrorMessage):
                assert reply.details != "internal server error", sent
                assert_clean_error(reply.details, "".join(sent), live.secrets())
            assert getattr(reply, "session_id", None) != live.sid, reply
        assert not fuzzer.ws.closed
    finally:
        await fuzzer.close()
    # The healthy session goes on: nothing lost, nothing foreign about it either way.
    seq = next(live.seq)
    await live.prod.send(live.ice(seq))
    assert await live.cons.recv_json() == live.ice(seq)
    await live.cons.send(live.ice(seq))
    for _ in range(1000):
        message = await live.prod.recv()
        if getattr(message, "session_id", None) == live.sid:
            assert dumps(message) == json.dumps(live.ice(seq), separators=(",", ":"))
            break
        assert message.TYPE in ("startSession", "endSession"), message  # the fuzzer's own
    assert live.server.router.sessions[live.sid].consumer == live.cons.peer_id


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Background, Live]]:
    with background(live_server) as pair:
        yield pair


@FUZZ_SETTINGS
@given(st.lists(CLIENT_TEXTS | st.binary(max_size=16), min_size=1, max_size=5))
def test_live_server_answers_fuzz_with_clean_errors_only(
    live: tuple[Background, Live], items: list[str | bytes]
) -> None:
    bg, state = live
    bg.run(fuzz_once(state, items))


# ----------------------------------------------------------------------- the client


@dataclass
class Stubbed:
    """A client connected to a stub server that sends whatever the test queues."""

    client: SignallingClient
    outbox: asyncio.Queue[str]
    markers: Iterator[int] = field(default_factory=itertools.count)


@contextlib.asynccontextmanager
async def stubbed_client() -> AsyncIterator[Stubbed]:
    outbox: asyncio.Queue[str] = asyncio.Queue()

    async def serve(ws: aiohttp.web.WebSocketResponse) -> None:
        async def send_queued() -> None:
            while True:
                await ws.send_str(await outbox.get())

        await ws.send_str('{"type":"welcome","peerId":"me"}')
        sender = asyncio.ensure_future(send_queued())
        try:
            await drain(ws)  # until the client closes
        finally:
            sender.cancel()

    async with stub_server(serve) as url, SignallingClient(url, heartbeat=None) as client:
        yield Stubbed(client, outbox)


async def feed_client(stub: Stubbed, texts: list[str]) -> None:
    marker = f"marker-{next(stub.markers)}"
    for text in texts:
        stub.outbox.put_nowait(text)
    stub.outbox.put_nowait(dumps(EndSession(session_id=marker)))
    for _ in range(len(texts) + 1):
        message = await stub.client.recv(timeout=WAIT)
        assert isinstance(message, ServerMessage)
        if isinstance(message, EndSession) and message.session_id == marker:
            break
    else:
        raise AssertionError("the marker never came")
    assert stub.client.state is ClientState.OPEN


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[Background, Stubbed]]:
    with background(stubbed_client) as pair:
        yield pair


@FUZZ_SETTINGS
@given(st.lists(SERVER_TEXTS, min_size=1, max_size=5))
def test_client_ignores_fuzz_from_a_server_and_stays_usable(
    stub: tuple[Background, Stubbed], texts: list[str]
) -> None:
    bg, state = stub
    bg.run(feed_client(state, texts))
