"""The signalling server over real sockets on 127.0.0.1 (ephemeral ports)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from aiogstwebrtc.errors import InvalidStateError
from aiogstwebrtc.signalling import SignallingServer

from .sigtools import (
    ANSWER_SDP,
    CANDIDATE,
    OFFER_SDP,
    WAIT,
    RawPeer,
    raw_peers,
    running_server,
    start_raw_session,
)


def sdp_msg(sid: str, kind: str) -> dict[str, object]:
    text = OFFER_SDP if kind == "offer" else ANSWER_SDP
    return {"type": "peer", "sessionId": sid, "sdp": {"type": kind, "sdp": text}}


def ice_msg(sid: str, index: int = 0) -> dict[str, object]:
    return {
        "type": "peer",
        "sessionId": sid,
        "ice": {"candidate": CANDIDATE, "sdpMLineIndex": index},
    }


async def test_start_returns_the_bound_port_and_stop_is_idempotent() -> None:
    server = SignallingServer(port=0)
    assert server.host == "127.0.0.1" and not server.running
    with pytest.raises(InvalidStateError):
        _ = server.port
    port = await server.start()
    try:
        assert port > 0 and server.port == port and server.running
        assert server.url == f"ws://127.0.0.1:{port}/"
        with pytest.raises(InvalidStateError):
            await server.start()
    finally:
        await server.stop()
    await server.stop()
    assert not server.running
    with pytest.raises(aiohttp.ClientConnectionError):
        await RawPeer.connect(f"ws://127.0.0.1:{port}/")


def test_defaults_match_gstreamer_signalling_server() -> None:
    server = SignallingServer()
    assert (server.host, server._requested_port) == ("127.0.0.1", 8443)


async def test_full_session_flow_between_raw_peers() -> None:
    async with running_server() as server, raw_peers(server.url, 3) as (prod, cons, lst):
        await lst.register("listener")
        await prod.register("producer", meta={"name": "cam"})
        # the listener hears about the producer
        assert await lst.recv_json() == {
            "type": "peerStatusChanged",
            "peerId": prod.peer_id,
            "roles": ["producer"],
            "meta": {"name": "cam"},
        }
        # gstwebrtc-api's sequence: listener, echo, list, listConsumers
        await cons.register("listener")
        assert await lst.recv_json() == {
            "type": "peerStatusChanged",
            "peerId": cons.peer_id,
            "roles": ["listener"],
            "meta": None,
        }
        assert await cons.request({"type": "list"}) == {
            "type": "list",
            "producers": [{"id": prod.peer_id, "meta": {"name": "cam"}}],
        }
        assert await cons.request({"type": "listConsumers"}) == {
            "type": "listConsumers",
            "consumers": [],
        }
        sid = await start_raw_session(cons, prod)
        await prod.send(sdp_msg(sid, "offer"))
        assert await cons.recv_json() == sdp_msg(sid, "offer")
        await cons.send(sdp_msg(sid, "answer"))
        assert await prod.recv_json() == sdp_msg(sid, "answer")
        browser_ice = {
            "candidate": CANDIDATE,
            "sdpMid": "0",
            "sdpMLineIndex": 0,
            "usernameFragment": "abcd",
        }
        await cons.send({"type": "peer", "sessionId": sid, "ice": browser_ice})
        assert await prod.recv_json() == {"type": "peer", "sessionId": sid, "ice": browser_ice}
        await prod.send(ice_msg(sid, 1))
        assert await cons.recv_json() == ice_msg(sid, 1)
        await cons.send({"type": "endSession", "sessionId": sid})
        assert await prod.recv_json() == {"type": "endSession", "sessionId": sid}
        assert server.router.sessions == {}


async def test_producer_started_session_with_passive_consumer() -> None:
    async with running_server() as server, raw_peers(server.url, 2) as (prod, cons):
        await prod.register("producer")
        await cons.register("consumer")
        assert await prod.request({"type": "listConsumers"}) == {
            "type": "listConsumers",
            "consumers": [{"id": cons.peer_id, "meta": None}],
        }
        await prod.send({"type": "startSession", "peerId": cons.peer_id})
        started = await cons.recv_json()
        assert started["type"] == "sessionStarted" and started["peerId"] == prod.peer_id
        requested = await prod.recv_json()
        assert requested == {
            "type": "startSession",
            "peerId": cons.peer_id,
            "sessionId": started["sessionId"],
        }


async def test_disconnect_cleanup_ends_sessions_and_tells_listeners() -> None:
    async with running_server() as server, raw_peers(server.url, 4) as peers:
        prod, c1, c2, lst = peers
        await prod.register("producer", meta={"name": "p"})
        await lst.register("listener")
        await c1.register("listener")
        await c2.register("listener")
        for _ in range(2):  # lst hears about c1 and c2; c1 about c2
            await lst.recv_json()
        await c1.recv_json()
        s1 = await start_raw_session(c1, prod)
        s2 = await start_raw_session(c2, prod)
        # a consumer vanishing: its producer gets endSession, the other session stays
        await c1.close()
        assert await prod.recv_json() == {"type": "endSession", "sessionId": s1}
        c1_gone = {"type": "peerStatusChanged", "peerId": c1.peer_id, "roles": [], "meta": None}
        assert await lst.recv_json() == c1_gone
        assert await c2.recv_json() == c1_gone
        assert set(server.router.sessions) == {s2}
        # the producer vanishing: its consumer gets endSession, then listeners see no roles
        await prod.close()
        assert await c2.recv_json() == {"type": "endSession", "sessionId": s2}
        gone = {
            "type": "peerStatusChanged",
            "peerId": prod.peer_id,
            "roles": [],
            "meta": {"name": "p"},
        }
        assert await c2.recv_json() == gone
        assert await lst.recv_json() == gone
        assert server.router.sessions == {}
        assert set(server.router.peers) == {c2.peer_id, lst.peer_id}
        assert server.peer_count == 2


async def test_junk_gets_errors_and_other_sessions_go_on() -> None:
    async with (
        running_server(max_message_size=64 * 1024) as server,
        raw_peers(server.url, 5) as peers,
    ):
        prod, cons, junk, prod2, cons2 = peers
        await prod.register("producer")
        await prod2.register("producer")
        sid = await start_raw_session(cons, prod)
        other = await start_raw_session(cons2, prod2)
        cases: list[tuple[str, str]] = [
            ("not json at all", "invalid JSON"),
            ("{", "invalid JSON"),
            ("[1, 2]", "expected a JSON object"),
            ('{"type": 7}', "'type' must be a string"),
            ('{"type": "launchMissiles"}', "unknown type"),
            ('{"type": "startSession", "peerId": 12}', "'peerId' must be a string"),
            ('{"type": "startSession", "peerId": "ghost"}', "no peer 'ghost'"),
            ('{"type": "setPeerStatus", "roles": ["king"]}', "unknown role"),
            ('{"type": "setPeerStatus", "roles": "producer"}', "roles must be a list"),
            ('{"type": "peer", "sessionId": "s"}', "neither 'sdp' nor 'ice'"),
            (json.dumps(ice_msg("no-such-session")), "no session 'no-such-session'"),
            (json.dumps(ice_msg(sid)), f"no session '{sid}' for this peer"),
            (json.dumps(sdp_msg(sid, "offer")), "no session"),
            (json.dumps({"type": "endSession", "sessionId": sid}), "no session"),
            ("x" * (100 * 1024), "over the limit"),  # over the limit, under the hard cap
            ('{"type":"list","pad":"' + "é" * 40_000 + '"}', "over the limit"),
            ("[" * 100_000 + "]" * 100_000, "over the limit"),
            ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
        ]
        for text, words in cases:
            await junk.send(text)
            await junk.expect_error(words)
            # other sessions carry on in between
            await prod.send(ice_msg(sid))
            assert await cons.recv_json() == ice_msg(sid)
        await junk.ws.send_bytes(b"\x00\x01binary")
        await junk.expect_error("binary frames are not supported")
        # a consumer sending the offer: refused, its session stays usable
        await cons.send(sdp_msg(sid, "offer"))
        await cons.expect_error("consumer may not send the offer")
        await prod.send(sdp_msg(sid, "offer"))
        assert await cons.recv_json() == sdp_msg(sid, "offer")
        # the junk peer still works normally afterwards
        assert (await junk.request({"type": "list"}))["type"] == "list"
        await cons2.send(sdp_msg(other, "answer"))
        assert await prod2.recv_json() == sdp_msg(other, "answer")
        assert set(server.router.sessions) == {sid, other}


async def test_frame_over_the_hard_cap_closes_only_that_connection() -> None:
    async with (
        running_server(max_message_size=16 * 1024) as server,
        raw_peers(server.url, 3) as (prod, cons, junk),
    ):
        await prod.register("producer")
        sid = await start_raw_session(cons, prod)
        await junk.send("x" * (2 * 1024 * 1024))
        assert await junk.wait_closed() == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        await prod.send(ice_msg(sid))
        assert await cons.recv_json() == ice_msg(sid)
        assert junk.peer_id not in server.router.peers


async def test_heartbeat_drops_a_peer_that_stops_answering_pings() -> None:
    async with running_server(heartbeat=0.2) as server:
        prod = await RawPeer.connect(server.url)
        dead = await RawPeer.connect(server.url, autoping=False)  # never answers pings
        try:
            await prod.register("producer")
            await dead.register("listener")
            started = await dead.request({"type": "startSession", "peerId": prod.peer_id})
            assert started["type"] == "sessionStarted"
            requested = await prod.recv_json()
            # the dead peer is dropped after a missed pong; its session ends for the producer
            assert await prod.recv_json(timeout=WAIT) == {
                "type": "endSession",
                "sessionId": requested["sessionId"],
            }
            assert dead.peer_id not in server.router.peers
            # meanwhile a live peer answering pings stays connected
            assert (await prod.request({"type": "list"}))["type"] == "list"
        finally:
            await prod.close()
            await dead.close()


@pytest.mark.parametrize(
    "limits",
    [{"send_queue_size": 32}, {"send_queue_size": 100_000, "send_queue_chars": 500_000}],
    ids=["messages", "characters"],
)
async def test_slow_reader_is_disconnected_without_stalling_others(
    limits: dict[str, int],
) -> None:
    # every status goes out at once (no coalescing): the talker's re-registrations are
    # what fills the slow reader's queue
    async with running_server(
        heartbeat=None, rate_limit=None, status_interval=0, **limits
    ) as server:
        talker = await RawPeer.connect(server.url)
        slow = await RawPeer.connect(server.url)
        try:
            await slow.register("listener")
            await talker.register("listener", "producer")
            pad = "x" * 8000  # meta stays under the 8 KiB cap
            slow_conn = server._connections[slow.peer_id]
            for batch in range(1000):  # bounded: 80 MB at most, far over any socket buffer
                for i in range(10):
                    meta = {"i": batch * 10 + i, "pad": pad}
                    await talker.send(
                        {"type": "setPeerStatus", "roles": ["listener", "producer"], "meta": meta}
                    )
                for _ in range(10):
                    assert (await talker.recv_json())["peerId"] == talker.peer_id
                if slow_conn.dropped:
                    break
            assert slow_conn.dropped, "the slow reader was never disconnected"
            # listeners then hear that it left (once its socket is closed or aborted)
            assert await talker.recv_json(timeout=WAIT) == {
                "type": "peerStatusChanged",
                "peerId": slow.peer_id,
                "roles": [],
                "meta": None,
            }
            assert slow.peer_id not in server.router.peers
            assert (await talker.request({"type": "list"}))["type"] == "list"
        finally:
            await talker.close()
            await slow.close()


async def test_session_cap_per_connection() -> None:
    async with (
        running_server(max_sessions_per_peer=2, max_sessions_per_pair=3) as server,
        raw_peers(server.url, 2) as (prod, cons),
    ):
        await prod.register("producer")
        await start_raw_session(cons, prod)
        await start_raw_session(cons, prod)
        await cons.send({"type": "startSession", "peerId": prod.peer_id})
        await cons.expect_error("you are in as many sessions as allowed")


async def test_peer_cap_refuses_extra_connections() -> None:
    async with running_server(max_peers=2) as server, raw_peers(server.url, 2):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await RawPeer.connect(server.url)
        assert info.value.status == 503


async def test_token_auth() -> None:
    token = "s3cret-token"
    async with running_server(token=token) as server:
        for kwargs in (
            {},
            {"headers": {"Authorization": "Bearer wrong"}},
            {"headers": {"Authorization": "Basic czNjcmV0"}},
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await RawPeer.connect(server.url, **kwargs)
            assert info.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await RawPeer.connect(server.url + "?token=wrong")
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await RawPeer.connect(server.url + "?token=" + token[:-1])
        by_query = await RawPeer.connect(server.url + "?token=" + token)
        by_header = await RawPeer.connect(server.url, headers={"Authorization": f"Bearer {token}"})
        await by_query.close()
        await by_header.close()
    with pytest.raises(ValueError):
        SignallingServer(token="")


async def test_allowed_origins() -> None:
    async with running_server(allowed_origins=["http://good.example"]) as server:
        ok = await RawPeer.connect(server.url, origin="http://good.example")
        no_origin = await RawPeer.connect(server.url)  # e.g. webrtcsink: no Origin header
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await RawPeer.connect(server.url, origin="http://evil.example")
        assert info.value.status == 403
        await ok.close()
        await no_origin.close()
    async with running_server(
        allowed_origins=["http://good.example"], allow_missing_origin=False
    ) as server:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await RawPeer.connect(server.url)
        assert info.value.status == 403


async def test_same_origin_pages_pass_unless_disabled() -> None:
    async with running_server(allowed_origins=()) as server:
        own = f"http://127.0.0.1:{server.port}"
        page = await RawPeer.connect(server.url, origin=own)  # the demo page served here
        await page.close()
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await RawPeer.connect(server.url, origin=f"http://127.0.0.1:{server.port + 1}")
    async with running_server(allowed_origins=(), allow_same_origin=False) as server:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await RawPeer.connect(server.url, origin=f"http://127.0.0.1:{server.port}")
        assert info.value.status == 403


async def test_static_files_share_the_port(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>demo</h1>")
    (tmp_path / "app.js").write_text("console.log(1)")
    server = SignallingServer(port=0)
    server.add_static(tmp_path)
    with pytest.raises(ValueError):
        server.add_static(tmp_path / "missing")
    async with server, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{server.port}"
        async with http.get(base + "/") as resp:
            assert resp.status == 200 and await resp.text() == "<h1>demo</h1>"
        async with http.get(base + "/app.js") as resp:
            assert resp.status == 200 and await resp.text() == "console.log(1)"
        async with http.get(base + "/nope.js") as resp:
            assert resp.status == 404
        async with http.get(base + "/../../etc/passwd") as resp:
            assert resp.status in (403, 404)
        peer = await RawPeer.connect(server.url)  # the websocket still lives at /
        await peer.close()
        with pytest.raises(InvalidStateError):
            server.add_static(tmp_path)


async def test_plain_get_without_static_says_what_this_is() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}/") as resp:
            assert resp.status == 200
            assert "signalling server" in await resp.text()


async def test_stop_closes_every_connection() -> None:
    server = SignallingServer(port=0)
    await server.start()
    peers = [await RawPeer.connect(server.url) for _ in range(3)]
    try:
        await server.stop()
        codes = await asyncio.gather(*(p.wait_closed() for p in peers))
        assert codes == [aiohttp.WSCloseCode.GOING_AWAY] * 3
        assert server.peer_count == 0
    finally:
        await asyncio.gather(*(p.close() for p in peers))


async def test_stop_is_quick_even_with_a_peer_that_reads_nothing() -> None:
    """A peer that stops reading its socket (stuck, or hostile) cannot hold the stop up."""
    async with running_server(rate_limit=None, heartbeat=None, status_interval=0) as server:
        deaf = socket.socket()
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(deaf, ("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        handshake = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(deaf, handshake.encode())
        # a masked text frame: setPeerStatus listener, so that it is sent everything
        text = b'{"type":"setPeerStatus","roles":["listener"]}'
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
        await loop.sock_sendall(deaf, bytes([0x81, 0x80 | len(text)]) + mask + masked)
        talker = await RawPeer.connect(server.url)
        try:
            pad = "x" * 7000
            for i in range(2000):  # bounded; the kernel's buffers fill long before
                meta = {"i": i, "pad": pad}
                await talker.send({"type": "setPeerStatus", "roles": ["producer"], "meta": meta})
                await talker.recv_json()
                conn = next(c for p, c in server._connections.items() if p != talker.peer_id)
                if conn._queue.qsize() > 10:  # its writer is stuck behind full buffers
                    break
            else:
                raise AssertionError("the deaf peer's buffers never filled")
            started = time.monotonic()
            await server.stop()
            took = time.monotonic() - started
            assert took < 1.5, f"stop() took {took:.2f} s"
        finally:
            await talker.close()
            deaf.close()


async def test_two_hundred_clients_with_sessions() -> None:
    producers_n, consumers_n = 10, 190
    async with (
        running_server() as server,
        raw_peers(server.url, producers_n + consumers_n) as peers,
    ):
        producers, consumers = peers[:producers_n], peers[producers_n:]
        await asyncio.gather(*(p.register("producer") for p in producers))

        async def consume(i: int, cons: RawPeer) -> None:
            prod = producers[i % producers_n]
            started = await cons.request({"type": "startSession", "peerId": prod.peer_id})
            assert started["type"] == "sessionStarted" and started["peerId"] == prod.peer_id
            sid = started["sessionId"]
            offer = await cons.recv_json(timeout=20)
            assert offer == sdp_msg(sid, "offer")
            await cons.send(sdp_msg(sid, "answer"))
            await cons.send(ice_msg(sid))

        async def produce(prod: RawPeer, expected: int) -> None:
            answers = 0
            for _ in range(expected * 3):
                msg = await prod.recv_json(timeout=20)
                if msg["type"] == "startSession":
                    assert msg["peerId"] in {c.peer_id for c in consumers}
                    await prod.send(sdp_msg(msg["sessionId"], "offer"))
                elif msg == sdp_msg(msg.get("sessionId", ""), "answer"):
                    answers += 1
                else:
                    assert msg["type"] == "peer" and "ice" in msg, msg
            assert answers == expected

        per_producer = consumers_n // producers_n
        async with asyncio.timeout(30):
            await asyncio.gather(
                *(consume(i, c) for i, c in enumerate(consumers)),
                *(produce(p, per_producer) for p in producers),
            )
        assert len(server.router.sessions) == consumers_n
        assert server.peer_count == producers_n + consumers_n
        # everyone leaves: everything is cleaned up
        await asyncio.gather(*(c.close() for c in consumers))
        ended = await asyncio.gather(
            *(
                asyncio.gather(*(p.recv_json(timeout=20) for _ in range(per_producer)))
                for p in producers
            )
        )
        assert all(m["type"] == "endSession" for batch in ended for m in batch)
        assert server.router.sessions == {}


async def test_server_survives_a_router_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server() as server, raw_peers(server.url, 1) as (peer,):
        original = server.router.receive

        def broken(peer_id: str, data: str | bytes) -> object:
            if "boom" in str(data):
                raise RuntimeError("bug")
            return original(peer_id, data)

        monkeypatch.setattr(server.router, "receive", broken)
        await peer.send({"type": "list", "boom": 1})
        await peer.expect_error("internal server error")
        assert (await peer.request({"type": "list"}))["type"] == "list"
