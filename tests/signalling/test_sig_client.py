"""SignallingClient against the real server and against misbehaving stub servers."""

from __future__ import annotations

import asyncio
import enum
import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest

from aiogstwebrtc.errors import ClosedError, OperationTimeoutError
from aiogstwebrtc.signalling import (
    ClientState,
    EndSession,
    ErrorMessage,
    IcePayload,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ProtocolError,
    SdpPayload,
    ServerError,
    SessionRequested,
    SignallingClient,
    SignallingClosedError,
    SignallingTimeoutError,
)

from .sigtools import ANSWER_SDP, CANDIDATE, OFFER_SDP, WAIT, drain, running_server, stub_server

ROOT = Path(__file__).resolve().parents[2]


async def test_producer_and_consumer_clients_negotiate() -> None:
    async with (
        running_server() as server,
        SignallingClient(server.url) as prod,
        SignallingClient(server.url) as cons,
    ):
        assert prod.peer_id and cons.peer_id and prod.peer_id != cons.peer_id
        assert prod.state is ClientState.OPEN
        requested: asyncio.Future[SessionRequested] = asyncio.get_running_loop().create_future()
        prod.on("session_requested", requested.set_result)

        await prod.set_peer_status([PeerRole.PRODUCER], {"name": "cam"})
        await cons.set_peer_status(["listener"])
        assert await cons.list_producers() == [PeerInfo(prod.peer_id, {"name": "cam"})]
        assert await cons.list_consumers() == []

        sid = await cons.start_session(prod.peer_id)
        assert cons.sessions == {sid: prod.peer_id}
        request = await asyncio.wait_for(requested, WAIT)
        assert request == SessionRequested(peer_id=cons.peer_id, session_id=sid)
        assert await prod.recv(timeout=WAIT) == request  # also delivered in order
        assert prod.sessions == {sid: cons.peer_id}

        await prod.send_sdp(sid, {"type": "offer", "sdp": OFFER_SDP})
        assert await cons.recv_type(PeerSdp, timeout=WAIT) == PeerSdp(
            sid, SdpPayload("offer", OFFER_SDP)
        )
        await cons.send_sdp(sid, SdpPayload("answer", ANSWER_SDP))
        await cons.send_ice(sid, {"candidate": CANDIDATE, "sdpMLineIndex": 0, "sdpMid": "0"})
        await prod.send_ice(sid, IcePayload(CANDIDATE, 1))
        assert await prod.recv(timeout=WAIT) == PeerSdp(sid, SdpPayload("answer", ANSWER_SDP))
        assert await prod.recv(timeout=WAIT) == PeerIce(sid, IcePayload(CANDIDATE, 0, "0"))
        assert await cons.recv_type(PeerIce, timeout=WAIT) == PeerIce(sid, IcePayload(CANDIDATE, 1))

        ended: asyncio.Future[EndSession] = asyncio.get_running_loop().create_future()
        prod.on("session_ended", ended.set_result)
        await cons.end_session(sid)
        assert await asyncio.wait_for(ended, WAIT) == EndSession(sid)
        assert cons.sessions == {} and prod.sessions == {}
    assert prod.closed and cons.closed


async def test_producer_starts_session_with_passive_consumer() -> None:
    async with (
        running_server() as server,
        SignallingClient(server.url) as prod,
        SignallingClient(server.url) as cons,
    ):
        await prod.set_peer_status(["producer"])
        await cons.set_peer_status(["consumer"], {"name": "sink"})
        assert await prod.list_consumers() == [PeerInfo(cons.peer_id, {"name": "sink"})]
        sid = await prod.start_session(cons.peer_id)
        started = await cons.recv(timeout=WAIT)
        assert started.TYPE == "sessionStarted" and started.session_id == sid  # type: ignore[union-attr]
        assert prod.sessions == {sid: cons.peer_id} and cons.sessions == {sid: prod.peer_id}


async def test_listener_sees_producers_come_and_go() -> None:
    async with running_server() as server, SignallingClient(server.url) as lst:
        changes: asyncio.Queue[PeerStatusChanged] = asyncio.Queue()
        lst.on("peer_status_changed", changes.put_nowait)
        await lst.set_peer_status(["listener"])
        prod = SignallingClient(server.url)
        await prod.connect()
        await prod.set_peer_status(["producer"], {"name": "x"})
        arrived = await asyncio.wait_for(changes.get(), WAIT)
        assert arrived == PeerStatusChanged(prod.peer_id or "", (PeerRole.PRODUCER,), {"name": "x"})
        await prod.close()
        left = await asyncio.wait_for(changes.get(), WAIT)
        assert left == PeerStatusChanged(prod.peer_id or "", (), {"name": "x"})


async def test_refused_requests_raise_server_error() -> None:
    async with running_server() as server, SignallingClient(server.url) as client:
        with pytest.raises(ServerError) as info:
            await client.start_session("no-such-peer")
        assert "no peer 'no-such-peer'" in info.value.details
        with pytest.raises(ServerError, match="both producer and consumer"):
            await client.set_peer_status(["producer", "consumer"])
        # the connection stays usable
        await client.set_peer_status(["listener"])
        assert await client.list_producers() == []


async def test_error_about_a_fire_and_forget_message_does_not_fail_a_pending_request() -> None:
    async with running_server() as server, SignallingClient(server.url) as client:
        errors: list[ServerError] = []
        client.on("error", errors.append)
        await client.send_ice("ghost-session", {"candidate": CANDIDATE, "sdpMLineIndex": 0})
        assert await client.list_producers() == []  # not failed by the "peer: ..." error
        message = await client.recv(timeout=WAIT)
        assert isinstance(message, ErrorMessage)
        assert message.details.startswith("peer: no session 'ghost-session'")
        assert len(errors) == 1 and errors[0].details == message.details


async def test_token_and_refused_handshake() -> None:
    async with running_server(token="tok") as server:
        async with SignallingClient(server.url, token="tok") as client:
            assert client.peer_id
        client = SignallingClient(server.url, token="bad")
        with pytest.raises(SignallingClosedError, match="HTTP 401"):
            await client.connect()
        assert client.closed
        assert client.closed


async def test_origin_is_sent() -> None:
    async with running_server(allowed_origins=["http://ok"]) as server:
        async with SignallingClient(server.url, origin="http://ok") as client:
            assert client.peer_id
        with pytest.raises(SignallingClosedError, match="HTTP 403"):
            await SignallingClient(server.url, origin="http://no").connect()


async def test_connect_to_a_closed_port_fails_fast() -> None:
    async with running_server() as server:
        url = server.url
    client = SignallingClient(url)
    with pytest.raises(SignallingClosedError, match="cannot connect"):
        await client.connect()
    with pytest.raises(SignallingClosedError):
        await client.connect()  # a client connects once


async def test_connect_times_out_without_welcome() -> None:
    async with stub_server(drain) as url:
        client = SignallingClient(url)
        with pytest.raises(SignallingTimeoutError) as info:
            await client.connect(timeout=0.2)
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, OperationTimeoutError)
        assert info.value.operation == "connect"
        assert client.closed


async def welcome_then_silence(ws: aiohttp.web.WebSocketResponse) -> None:
    await ws.send_str('{"type":"welcome","peerId":"me"}')
    await drain(ws)


async def test_requests_time_out_when_the_server_is_silent() -> None:
    async with stub_server(welcome_then_silence) as url, SignallingClient(url) as client:
        with pytest.raises(SignallingTimeoutError, match=r"list got no answer within 0\.2 s"):
            await client.list_producers(timeout=0.2)
        with pytest.raises(SignallingTimeoutError):
            await client.start_session("p", timeout=0.2)
        with pytest.raises(SignallingTimeoutError):
            await client.set_peer_status(["listener"], timeout=0.2)
        with pytest.raises(SignallingTimeoutError):
            await client.recv(timeout=0.2)
        # GStreamer's own server does not echo to non-listeners: confirm=False returns
        await client.set_peer_status(["producer"], confirm=False)
        assert client.state is ClientState.OPEN


async def welcome_then_deaf(ws: aiohttp.web.WebSocketResponse) -> None:
    """Never reads again: a close from the client is never answered."""
    await ws.send_str('{"type":"welcome","peerId":"me"}')
    await asyncio.Event().wait()


async def test_close_does_not_wait_long_for_a_server_that_never_answers() -> None:
    async with stub_server(welcome_then_deaf) as url:
        client = SignallingClient(url, timeout=30)
        await client.connect()
        started = time.monotonic()
        await client.close()
        assert time.monotonic() - started < 1.5  # a program stopping on SIGTERM must not hang
        assert client.closed


async def foreign_errors(ws: aiohttp.web.WebSocketResponse) -> None:
    """Like gst-plugins-rs' server: error details without a message-type prefix."""
    await ws.send_str('{"type":"welcome","peerId":"me"}')
    async for msg in ws:
        request = json.loads(msg.data)
        if request["type"] == "startSession":
            details = f"Peer with ID '{request['peerId']}' not found"
            await ws.send_str(json.dumps({"type": "error", "details": details}))
        elif request["type"] == "list":
            await ws.send_str('{"type":"list","producers":[{"id":"p","meta":null}],"x":1}')
            await ws.send_str('{"type":"bogus-from-the-future"}')  # ignored, logged


async def test_errors_without_prefix_fail_the_oldest_request() -> None:
    async with stub_server(foreign_errors) as url, SignallingClient(url) as client:
        with pytest.raises(ServerError, match="Peer with ID 'ghost' not found"):
            await client.start_session("ghost")
        assert await client.list_producers() == [PeerInfo("p")]


async def close_on_first_request(ws: aiohttp.web.WebSocketResponse) -> None:
    await ws.send_str('{"type":"welcome","peerId":"me"}')
    await ws.receive()
    await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER, message=b"bye")


async def test_server_closing_fails_pending_requests() -> None:
    async with stub_server(close_on_first_request) as url:
        client = SignallingClient(url)
        closed = asyncio.Event()
        client.on("close", closed.set)
        await client.connect()
        with pytest.raises(SignallingClosedError) as info:
            await client.list_producers()
        assert isinstance(info.value, ClosedError)
        assert info.value.code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
        await asyncio.wait_for(closed.wait(), WAIT)
        assert client.closed and client.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
        with pytest.raises(SignallingClosedError):
            await client.recv(timeout=WAIT)
        with pytest.raises(SignallingClosedError):  # abnormal code: iteration raises
            async for _ in client:
                pass
        with pytest.raises(SignallingClosedError):
            await client.send_ice("s", {"candidate": "", "sdpMLineIndex": 0})
        await client.close()
        await client.close()


async def test_iteration_ends_cleanly_when_the_server_stops() -> None:
    server_cm = running_server()
    server = await server_cm.__aenter__()
    try:
        prod = SignallingClient(server.url)
        cons = SignallingClient(server.url)
        await prod.connect()
        await cons.connect()
        await prod.set_peer_status(["producer"])
        sid = await cons.start_session(prod.peer_id or "")
        arrived = asyncio.Event()
        cons.on("sdp", lambda _: arrived.set())
        await prod.send_sdp(sid, {"type": "offer", "sdp": OFFER_SDP})
        await asyncio.wait_for(arrived.wait(), WAIT)
        await server.stop()
        seen = [message async for message in cons]  # messages first, then a clean end
        assert seen == [PeerSdp(sid, SdpPayload("offer", OFFER_SDP))]
        assert cons.close_code == aiohttp.WSCloseCode.GOING_AWAY
        await prod.close()
        await cons.close()
    finally:
        await server_cm.__aexit__(None, None, None)


async def test_own_close_ends_iteration_and_is_idempotent() -> None:
    async with running_server() as server:
        client = SignallingClient(server.url)
        await client.connect()

        async def consume() -> list[object]:
            return [m async for m in client]

        task = asyncio.create_task(consume())
        await client.close()
        assert await asyncio.wait_for(task, WAIT) == []
        await client.close()
        assert client.state is ClientState.CLOSED


async def test_recv_queue_is_bounded() -> None:
    async with (
        running_server() as server,
        SignallingClient(server.url) as prod,
        SignallingClient(server.url, queue_size=2) as cons,
    ):
        await prod.set_peer_status(["producer"])
        sid = await cons.start_session(prod.peer_id or "")
        got_three = asyncio.Event()
        count = 0

        def on_ice(_: PeerIce) -> None:
            nonlocal count
            count += 1
            if count == 3:
                got_three.set()

        cons.on("ice", on_ice)
        for index in range(3):
            await prod.send_ice(sid, {"candidate": CANDIDATE, "sdpMLineIndex": index})
        await asyncio.wait_for(got_three.wait(), WAIT)
        first = await cons.recv(timeout=WAIT)
        second = await cons.recv(timeout=WAIT)
        assert [first.ice.sdp_m_line_index, second.ice.sdp_m_line_index] == [1, 2]  # type: ignore[union-attr]


class Kind(enum.Enum):
    OFFER = "offer"


@dataclass
class CoreLikeDescription:
    type: Kind
    sdp: str


async def test_send_sdp_accepts_description_objects_and_validates_locally() -> None:
    async with (
        running_server() as server,
        SignallingClient(server.url) as prod,
        SignallingClient(server.url, max_message_size=2048) as cons,
    ):
        await prod.set_peer_status(["producer"])
        sid = await cons.start_session(prod.peer_id or "")
        await prod.send_sdp(sid, CoreLikeDescription(Kind.OFFER, OFFER_SDP))
        assert await cons.recv_type(PeerSdp, timeout=WAIT) == PeerSdp(
            sid, SdpPayload("offer", OFFER_SDP)
        )
        with pytest.raises(ProtocolError):
            await cons.send_sdp(sid, {"type": "pranswer", "sdp": ANSWER_SDP})
        with pytest.raises(ProtocolError):
            await cons.send_ice(sid, {"candidate": CANDIDATE})
        with pytest.raises(ProtocolError, match="over the limit"):
            await cons.send_sdp(sid, {"type": "answer", "sdp": "a" * 4096})
        with pytest.raises(ProtocolError):
            await cons.set_peer_status(["boss"])


async def test_async_event_handlers_and_off() -> None:
    async with (
        running_server() as server,
        SignallingClient(server.url) as prod,
        SignallingClient(server.url) as cons,
    ):
        await prod.set_peer_status(["producer"])
        seen: asyncio.Queue[str] = asyncio.Queue()

        async def on_message(message: object) -> None:
            await seen.put(type(message).__name__)

        prod.on("message", on_message)
        sid = await cons.start_session(prod.peer_id or "")
        assert await asyncio.wait_for(seen.get(), WAIT) == "SessionRequested"
        prod.off("message", on_message)
        await cons.end_session(sid)
        assert isinstance(await prod.recv_type(EndSession, timeout=WAIT), EndSession)
        assert seen.empty()
        with pytest.raises(ValueError):
            prod.on("no-such-event", on_message)


def test_signalling_modules_import_without_gstreamer() -> None:
    """protocol, router, server and client must not need gi (the package root may)."""
    code = textwrap.dedent(
        f"""
        import sys, types
        sys.modules["gi"] = None  # any "import gi" now raises ImportError
        pkg = types.ModuleType("aiogstwebrtc")
        pkg.__path__ = [{str(ROOT / "aiogstwebrtc")!r}]
        sys.modules["aiogstwebrtc"] = pkg  # skip the package root's own imports
        import aiogstwebrtc.signalling as s
        assert s.SignallingServer and s.SignallingClient
        assert not any(m == "gi" or m.startswith("gi.") for m in sys.modules if sys.modules[m])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


async def test_async_for_waits_through_quiet_periods_longer_than_the_timeout() -> None:
    """A producer nobody watches must not die: iteration has no timeout of its own."""
    async with running_server() as server, SignallingClient(server.url, timeout=0.2) as lst:
        await lst.set_peer_status(["listener"])
        seen: asyncio.Queue[object] = asyncio.Queue()

        async def iterate() -> None:
            async for message in lst:
                await seen.put(message)

        iterating = asyncio.ensure_future(iterate())
        quiet = asyncio.ensure_future(asyncio.sleep(0.8))  # four client timeouts of silence
        await asyncio.wait({iterating, quiet}, return_when=asyncio.FIRST_COMPLETED)
        assert not iterating.done(), iterating
        prod = SignallingClient(server.url)
        await prod.connect()
        await prod.set_peer_status(["producer"], {"name": "late"})
        message = await asyncio.wait_for(seen.get(), WAIT)
        assert isinstance(message, PeerStatusChanged) and message.meta == {"name": "late"}
        await prod.close()
        iterating.cancel()
