"""Helpers for the signalling tests: a counter id factory, raw websocket peers, servers."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import aiohttp.web

from aiogstwebrtc.signalling import (
    ErrorMessage,
    ServerMessage,
    SignallingServer,
    parse_server_message,
)
from aiogstwebrtc.signalling.admission import AdmissionLimits

T = TypeVar("T")
WAIT = 5.0  # seconds any single expected event may take before a test fails

OFFER_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
ANSWER_SDP = "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = "candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host"


def counter_ids(prefix: str = "id") -> Callable[[], str]:
    """An id factory returning ``prefix1``, ``prefix2``, ... (readable router tests)."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


LOOPBACK_ADMISSION = AdmissionLimits(
    max_per_address=100_000,
    attempts_per_second=100_000,
    attempts_burst=100_000,
    max_pending=100_000,
    max_pending_per_address=100_000,
)
"""Per-address limits out of the way: most tests open many peers from 127.0.0.1 at once
(the abuse tests, which test those limits, pass their own)."""


@asynccontextmanager
async def running_server(**kwargs: Any) -> AsyncIterator[SignallingServer]:
    """A started server on 127.0.0.1, an ephemeral port, stopped afterwards (per-address
    limits out of the way unless ``admission`` is given)."""
    kwargs.setdefault("port", 0)
    kwargs.setdefault("admission", LOOPBACK_ADMISSION)
    server = SignallingServer("127.0.0.1", **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class RawPeer:
    """A websocket peer sending arbitrary text: for junk and protocol-level tests."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        own_http: bool = True,
    ) -> None:
        self.http = http
        self.ws = ws
        self.peer_id = ""
        self._own_http = own_http

    @classmethod
    async def connect(
        cls, url: str, *, http: aiohttp.ClientSession | None = None, **kwargs: Any
    ) -> RawPeer:
        """Connect and read the welcome; ``http`` shares one client session (kept open)."""
        own = http is None
        http = aiohttp.ClientSession() if http is None else http
        try:
            ws = await http.ws_connect(url, **kwargs)
        except BaseException:
            if own:
                await http.close()
            raise
        peer = cls(http, ws, own_http=own)
        welcome = await peer.recv_json()
        assert welcome["type"] == "welcome", welcome
        peer.peer_id = welcome["peerId"]
        return peer

    async def send(self, obj: Any) -> None:
        """Send ``obj`` as JSON text (or as is when it is already a string)."""
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def recv_text(self, timeout: float = WAIT) -> str:
        """The next text message (pings seen with ``autoping=False`` are skipped)."""
        async with asyncio.timeout(timeout):
            for _ in range(1000):
                msg = await self.ws.receive()
                if msg.type not in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    break
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
        assert isinstance(msg.data, str)
        return msg.data

    async def recv_json(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next text message, decoded."""
        value = json.loads(await self.recv_text(timeout))
        assert isinstance(value, dict)
        return value

    async def recv(self, timeout: float = WAIT) -> ServerMessage:
        """The next message, parsed and validated as a server message."""
        return parse_server_message(await self.recv_text(timeout))

    async def expect_error(self, contains: str = "", timeout: float = WAIT) -> str:
        """The next message must be an ``error``; return its details."""
        reply = await self.recv_json(timeout)
        assert reply["type"] == "error", reply
        assert contains in reply["details"], reply
        return str(reply["details"])

    async def request(self, obj: Any) -> dict[str, Any]:
        """Send ``obj`` and return the next message."""
        await self.send(obj)
        return await self.recv_json()

    async def register(self, *roles: str, meta: dict[str, Any] | None = None) -> None:
        """``setPeerStatus`` and consume the echo."""
        echo = await self.request({"type": "setPeerStatus", "roles": list(roles), "meta": meta})
        assert echo == {
            "type": "peerStatusChanged",
            "peerId": self.peer_id,
            "roles": list(roles),
            "meta": meta,
        }, echo

    async def wait_closed(self, timeout: float = WAIT) -> int | None:
        """Read until the server closes the socket; return the close code."""
        async with asyncio.timeout(timeout):
            for _ in range(100_000):
                msg = await self.ws.receive()
                if msg.type is aiohttp.WSMsgType.CLOSE:
                    return int(msg.data)  # the server's code (close_code may say 1006 if
                    # the server closed the TCP connection before our close reply)
                if msg.type in (
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return self.ws.close_code
        raise AssertionError("the socket never closed")

    async def close(self) -> None:
        """Close the socket and its HTTP session (unless shared)."""
        await self.ws.close()
        if self._own_http:
            await self.http.close()


@asynccontextmanager
async def raw_peers(url: str, count: int, **kwargs: Any) -> AsyncIterator[list[RawPeer]]:
    """``count`` connected raw peers, closed afterwards."""
    peers = list(await asyncio.gather(*(RawPeer.connect(url, **kwargs) for _ in range(count))))
    try:
        yield peers
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


async def start_raw_session(consumer: RawPeer, producer: RawPeer) -> str:
    """Consumer asks ``producer`` for a session; check both notices; return the session id."""
    started = await consumer.request({"type": "startSession", "peerId": producer.peer_id})
    assert started["type"] == "sessionStarted", started
    assert started["peerId"] == producer.peer_id
    request = await producer.recv_json()
    assert request == {
        "type": "startSession",
        "peerId": consumer.peer_id,
        "sessionId": started["sessionId"],
    }, request
    return str(started["sessionId"])


StubHandler = Callable[[aiohttp.web.WebSocketResponse], Any]


@asynccontextmanager
async def stub_server(handler: StubHandler) -> AsyncIterator[str]:
    """A bare websocket server running ``await handler(ws)`` per connection; yields its URL.

    For client tests that need a server misbehaving on purpose (silent, rude, foreign).
    A handler still running at the end (one that never answers, on purpose) is cancelled
    and awaited: aiohttp's shutdown only cancels it and returns.
    """
    web = aiohttp.web
    running: set[asyncio.Task[Any]] = set()

    async def serve(request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        assert task is not None
        running.add(task)
        try:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await handler(ws)
            return ws
        finally:
            running.discard(task)

    app = web.Application()
    app.router.add_get("/", serve)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await runner.cleanup()


async def received_so_far(peer: RawPeer) -> list[ServerMessage]:
    """Everything ``peer`` was sent so far: what comes before the reply to a marker."""
    marker = f"marker-{uuid.uuid4()}"
    await peer.send({"type": "startSession", "peerId": marker})
    seen: list[ServerMessage] = []
    for _ in range(10_000):
        message = await peer.recv()
        if isinstance(message, ErrorMessage) and marker in message.details:
            return seen
        seen.append(message)
    raise AssertionError("the marker never came back")


async def drain(ws: aiohttp.web.WebSocketResponse) -> None:
    """Read and ignore everything until the peer closes."""
    async for _ in ws:
        pass


# What an error reply must never show: tracebacks, exception reprs, source files, paths,
# object addresses, module names of the server's insides.
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|/usr/|/home/|/work/|/tmp/|site-packages|0x[0-9a-fA-F]{6,}"
    r"|<[\w.]+ object|\w+(Error|Exception)\(|KeyError|TypeError|AttributeError|RecursionError"
    r"|aiohttp|asyncio|json\.|sys\.|set_int_max_str_digits"
)


def assert_clean_error(details: str, sent: str = "", secrets: tuple[str, ...] = ()) -> None:
    """``details`` is short, shows no server internals, and names none of ``secrets``
    (other peers' and sessions' ids) unless the sender wrote that id itself in ``sent``.

    What the sender wrote may come back quoted: a match also found in ``sent`` (the text
    sent and, for JSON, its decoded form) is an echo, not a leak.
    """
    try:
        sent += repr(json.loads(sent))
    except (ValueError, RecursionError):
        pass
    assert len(details) < 300, details
    for match in INTERNALS.finditer(details):
        assert match.group(0) in sent, (details, sent[:200])
    for secret in secrets:
        if secret and secret in details:
            assert secret in sent, (details, sent[:200])
