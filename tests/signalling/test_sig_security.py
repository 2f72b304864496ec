"""Abusing the signalling server: foreign sessions, floods, origins, and what errors say.

A peer tries every client message type against sessions it is not part of (their real
ids and guessed ones) and against other peers' ids, first through the pure router (every
role it can take), then over real sockets; a flood is limited without touching other
sessions; refusals show no internals.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import ssl
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aiogstwebrtc.certificate import process_certificate
from aiogstwebrtc.signalling import (
    EndSession,
    ErrorMessage,
    PeerStatusChanged,
    ServerMessage,
    SessionRequested,
    SessionStarted,
    SignallingClient,
    SignallingServer,
    parse_server_message,
)
from aiogstwebrtc.signalling.cli import tls_context
from aiogstwebrtc.signalling.limits import (
    DEFAULT_RATE_LIMIT,
    RateLimit,
    RateLimiter,
    TokenBucket,
    Verdict,
)
from aiogstwebrtc.signalling.router import Router
from tests.helpers import Clock

from .sigtools import (
    ANSWER_SDP,
    OFFER_SDP,
    WAIT,
    RawPeer,
    assert_clean_error,
    counter_ids,
    raw_peers,
    received_so_far,
    running_server,
    start_raw_session,
)

ROLE_SETS = [(), ("listener",), ("producer",), ("consumer",), ("listener", "producer")]


def sdp(session_id: str, kind: str) -> dict[str, Any]:
    text = OFFER_SDP if kind == "offer" else ANSWER_SDP
    return {"type": "peer", "sessionId": session_id, "sdp": {"type": kind, "sdp": text}}


def ice(session_id: str, seq: int = 0) -> dict[str, Any]:
    candidate = f"candidate:{seq} 1 UDP 2122252543 127.0.0.1 {40000 + seq} typ host"
    return {
        "type": "peer",
        "sessionId": session_id,
        "ice": {"candidate": candidate, "sdpMLineIndex": 0},
    }


def guesses(real: str) -> list[str]:
    """Ids an intruder might try for ``real``: near misses and random ones."""
    return [real.upper(), real[:-1], real + "0", f" {real}", real[:8], str(uuid.uuid4()), "1"]


def attempts(sessions: Iterable[str], victims: Iterable[str], me: str) -> list[dict[str, Any]]:
    """Every client message type aimed at ``sessions`` and ``victims`` by peer ``me``."""
    out: list[dict[str, Any]] = []
    victims = list(victims)
    for sid in [s for real in sessions for s in (real, *guesses(real))]:
        out += [
            sdp(sid, "offer"),
            sdp(sid, "answer"),
            ice(sid),
            {**ice(sid), "peerId": victims[0]},
            {"type": "endSession", "sessionId": sid},
            {"type": "endSession", "sessionId": sid, "peerId": victims[0]},
        ]
    for victim in [v for real in victims for v in (real, *guesses(real)[:3])]:
        out += [
            {"type": "setPeerStatus", "roles": ["producer"], "peerId": victim},
            {"type": "setPeerStatus", "roles": [], "peerId": victim},
            {"type": "startSession", "peerId": victim, "sessionId": next(iter(sessions))},
            {"type": "startSession", "peerId": victim, "offer": OFFER_SDP},
        ]
    out += [
        {"type": "list"},
        {"type": "listConsumers"},
        {"type": "setProtocolVersion", "version": "1.0"},
        {"type": "startSession", "peerId": me},
    ]
    return out


class Isolation:
    """Checks what the server sends while ``intruder`` pokes at the victims' sessions."""

    def __init__(self, intruder: str, victims: Iterable[str], sessions: Iterable[str]) -> None:
        self.intruder = intruder
        self.victims = set(victims)
        self.foreign = set(sessions)
        self.own: set[str] = set()  # sessions the intruder opened legitimately

    def check(self, sent: str, to: str, message: ServerMessage) -> None:
        """One message the server sent to ``to`` because the intruder sent ``sent``."""
        if isinstance(message, SessionStarted | SessionRequested):
            assert self.intruder in (to, message.peer_id), (to, message)
            assert message.session_id not in self.foreign
            self.own.add(message.session_id)
        session_id = getattr(message, "session_id", None)
        if session_id is not None:
            assert session_id in self.own, f"{to} got {message} about a foreign session"
        if isinstance(message, ErrorMessage):
            assert to == self.intruder, message
            secrets = (*self.victims, *self.foreign)
            assert_clean_error(message.details, sent, secrets)
        elif to in self.victims:
            assert isinstance(
                message, PeerStatusChanged | SessionRequested | SessionStarted | EndSession
            ), (to, message)
            if isinstance(message, PeerStatusChanged):
                assert message.peer_id == self.intruder, message
        else:
            assert to == self.intruder, (to, message)


# ----------------------------------------------------------------------- the pure router


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(r) or "none")
def test_router_never_lets_a_peer_into_a_foreign_session(roles: tuple[str, ...]) -> None:
    router = Router(id_factory=counter_ids("id"))

    def join(*roles: str) -> str:
        peer_id, _ = router.connect()
        if roles:
            router.receive(peer_id, json.dumps({"type": "setPeerStatus", "roles": roles}))
        return peer_id

    prod, cons, passive = join("producer"), join("listener"), join("consumer")
    s1 = router.receive(cons, json.dumps({"type": "startSession", "peerId": prod}))[0][1]
    s2 = router.receive(prod, json.dumps({"type": "startSession", "peerId": passive}))[0][1]
    assert isinstance(s1, SessionStarted) and isinstance(s2, SessionStarted)
    sessions = {s: router.sessions[s] for s in (s1.session_id, s2.session_id)}
    intruder = join(*roles)
    check = Isolation(intruder, (prod, cons, passive), sessions)
    for attempt in attempts(sessions, (prod, cons, passive), intruder):
        sent = json.dumps(attempt)
        for to, message in router.receive(intruder, sent):
            check.check(sent, to, message)
    # the victims' sessions are untouched and still relay between their own members only
    assert {s: router.sessions[s] for s in sessions} == sessions
    for sid, session in sessions.items():
        assert router.receive(session.producer, json.dumps(sdp(sid, "offer"))) == [
            (session.consumer, parse_server_message(json.dumps(sdp(sid, "offer"))))
        ]
    # once it leaves, only sessions it opened itself end
    for to, message in router.disconnect(intruder):
        check.check("", to, message)
    assert {s: router.sessions[s] for s in sessions} == sessions


# ----------------------------------------------------------------------- over sockets


@pytest.mark.parametrize("roles", [(), ("producer",), ("consumer",)], ids=["none", "P", "C"])
async def test_server_never_lets_a_peer_into_a_foreign_session(roles: tuple[str, ...]) -> None:
    async with running_server() as server, raw_peers(server.url, 4) as peers:
        prod, cons, passive, intruder = peers
        await prod.register("producer")
        await cons.register("listener")
        await passive.register("consumer")
        await cons.recv_json()  # the listener hears of the passive consumer
        if roles:
            await intruder.register(*roles)
            await cons.recv_json()  # the listener hears of the intruder's roles
        s1 = await start_raw_session(cons, prod)
        await prod.send({"type": "startSession", "peerId": passive.peer_id})
        s2 = (await passive.recv_json())["sessionId"]
        assert (await prod.recv_json())["sessionId"] == s2
        victims = (prod.peer_id, cons.peer_id, passive.peer_id)
        check = Isolation(intruder.peer_id, victims, (s1, s2))
        sent_texts = [json.dumps(a) for a in attempts((s1, s2), victims, intruder.peer_id)]
        for text in sent_texts:
            await intruder.send(text)
        # Everything the intruder got back, in order; errors are checked against all it sent.
        everything = "".join(sent_texts)
        for message in await received_so_far(intruder):
            check.check(everything, intruder.peer_id, message)
        for victim in (prod, cons, passive):
            for message in await received_so_far(victim):
                check.check(everything, victim.peer_id, message)
        # the sessions still relay, to their members only
        await prod.send(sdp(s1, "offer"))
        assert await cons.recv_json() == sdp(s1, "offer")
        await cons.send(sdp(s1, "answer"))
        assert await prod.recv_json() == sdp(s1, "answer")
        await prod.send(ice(s2, 7))
        assert await passive.recv_json() == ice(s2, 7)
        assert await received_so_far(intruder) == []
        assert {s1, s2} <= set(server.router.sessions)


# ----------------------------------------------------------------------- rate limits


def test_token_bucket_bursts_then_refills_at_its_rate() -> None:
    clock = Clock(100.0)
    bucket = TokenBucket(rate=10, capacity=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.25  # 2.5 tokens
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 60  # never more than the capacity
    assert bucket.tokens == 5
    clock.now -= 10  # a clock going backwards adds nothing
    assert bucket.tokens == 5


def test_rate_limiter_drops_then_closes_after_drops_in_a_row() -> None:
    clock = Clock(100.0)
    limiter = RateLimiter(RateLimit(rate=10, burst=3, max_dropped=4), clock=clock)
    assert [limiter.check() for _ in range(3)] == [Verdict.ACCEPT] * 3
    assert [limiter.check() for _ in range(3)] == [Verdict.DROP] * 3
    clock.now += 0.1  # one token: the run of drops is over
    assert limiter.check() is Verdict.ACCEPT and limiter.dropped_in_a_row == 0
    assert [limiter.check() for _ in range(4)] == [Verdict.DROP] * 3 + [Verdict.CLOSE]
    assert limiter.dropped_total == 7
    # a sender pacing itself at the rate is never dropped
    paced = RateLimiter(RateLimit(rate=10, burst=1, max_dropped=1), clock=clock)
    for _ in range(1000):
        assert paced.check() is Verdict.ACCEPT
        clock.now += 0.1
    for bad in ({"rate": 0}, {"burst": 0}, {"max_dropped": 0}):
        with pytest.raises(ValueError):
            RateLimit(**bad)


async def test_a_flood_is_limited_then_closed_and_other_sessions_go_on() -> None:
    limit = RateLimit(rate=50, burst=100, max_dropped=50)
    async with (
        running_server(rate_limit=limit) as server,
        raw_peers(server.url, 3) as (prod, cons, flooder),
    ):
        await prod.register("producer")
        sid = await start_raw_session(cons, prod)
        got: list[dict[str, Any]] = []

        async def read_flooder() -> int | None:
            async for msg in flooder.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(msg.data))
            return flooder.ws.close_code

        async def flood() -> int:
            sent = 0
            for _ in range(5000):  # bounded; the server closes us long before
                if flooder.ws.closed:
                    break
                try:
                    await flooder.ws.send_str('{"type":"list"}')
                except (ConnectionError, aiohttp.ClientError):
                    break
                sent += 1
            return sent

        async def talk() -> list[float]:
            delays = []
            for seq in range(100):
                started = time.monotonic()
                sender, receiver = (prod, cons) if seq % 2 else (cons, prod)
                await sender.send(ice(sid, seq))
                assert await receiver.recv_json() == ice(sid, seq)  # none lost, in order
                delays.append(time.monotonic() - started)
            return delays

        start = time.monotonic()
        reader = asyncio.ensure_future(read_flooder())
        sent, delays = await asyncio.gather(flood(), talk())
        code = await asyncio.wait_for(reader, WAIT)
        elapsed = time.monotonic() - start
        assert code == aiohttp.WSCloseCode.POLICY_VIOLATION
        replies = [m for m in got if m["type"] == "list"]
        errors = [m["details"] for m in got if m["type"] == "error"]
        assert len(replies) <= limit.burst + limit.rate * elapsed + 1, (len(replies), elapsed)
        assert len(replies) >= limit.burst
        assert errors and all(e.startswith("rate limit: too many messages") for e in errors)
        assert "closing the connection" in errors[-1]
        assert len(errors) <= limit.max_dropped
        for details in errors:
            assert_clean_error(details)
        assert flooder.peer_id not in server.router.peers
        assert sid in server.router.sessions
        print(
            f"\nflood: {sent} sent, {len(replies)} handled, {len(errors)} refused, closed "
            f"after {elapsed:.2f} s; other session's round trip max {max(delays) * 1000:.1f} ms"
        )


async def test_pings_count_against_the_rate_limit() -> None:
    limit = RateLimit(rate=10, burst=20, max_dropped=30)
    async with running_server(rate_limit=limit) as server:
        pinger = await RawPeer.connect(server.url, autoping=False)
        try:
            await pinger.ws.ping(b"one")
            pong = await pinger.ws.receive(timeout=WAIT)
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"one")
            for i in range(1000):  # bounded: closed after 19 + 30 of them
                if pinger.ws.closed:
                    break
                try:
                    await pinger.ws.ping(str(i).encode())
                except (ConnectionError, aiohttp.ClientError):
                    break
            pongs, errors = 0, []
            async with asyncio.timeout(WAIT):
                while (msg := await pinger.ws.receive()).type is not aiohttp.WSMsgType.CLOSE:
                    if msg.type is aiohttp.WSMsgType.PONG:
                        pongs += 1
                    elif msg.type is aiohttp.WSMsgType.TEXT:
                        errors.append(json.loads(msg.data)["details"])
            assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            assert limit.burst - 1 <= pongs <= limit.burst + 5  # a little refill meanwhile
            assert len(errors) == 1 and "closing the connection" in errors[0]
        finally:
            await pinger.close()


async def test_default_rate_limit_lets_a_busy_producer_through() -> None:
    """Forty consumers at the same moment: the producer sends 40 offers and 400 candidates
    at once, all within the default limits (a browser's one session is ~20 messages)."""
    consumers_n, candidates = 40, 10
    assert consumers_n * (1 + candidates) < DEFAULT_RATE_LIMIT.burst
    async with running_server() as server, raw_peers(server.url, consumers_n + 1) as peers:
        prod, consumers = peers[0], peers[1:]
        await prod.register("producer")
        sids = [await start_raw_session(c, prod) for c in consumers]
        for sid in sids:
            await prod.send(sdp(sid, "offer"))
            for seq in range(candidates):
                await prod.send(ice(sid, seq))

        async def consume(cons: RawPeer, sid: str) -> None:
            assert await cons.recv_json() == sdp(sid, "offer")
            for seq in range(candidates):
                assert await cons.recv_json() == ice(sid, seq)
            await cons.send(sdp(sid, "answer"))
            for seq in range(candidates):
                await cons.send(ice(sid, seq))

        await asyncio.gather(*(consume(c, s) for c, s in zip(consumers, sids, strict=True)))
        answered = [await prod.recv_json() for _ in range(consumers_n * (1 + candidates))]
        assert not [m for m in answered if m["type"] == "error"]


# ----------------------------------------------------------------------- origins and token


async def connect_status(url: str, **kwargs: Any) -> int:
    """The HTTP status of a websocket handshake (101 when it is accepted)."""
    try:
        peer = await RawPeer.connect(url, **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await peer.close()
    return 101


async def test_pages_of_other_origins_are_refused_by_default() -> None:
    async with running_server() as server:
        port = server.port
        assert await connect_status(server.url) == 101  # webrtcsink & co: no Origin
        # this server's own page, by address or by localhost
        assert await connect_status(server.url, origin=f"http://127.0.0.1:{port}") == 101
        local = f"ws://localhost:{port}/"
        assert await connect_status(local, origin=f"http://localhost:{port}") == 101
        # a stranger's page opened in a browser on this machine
        assert await connect_status(server.url, origin="https://evil.example") == 403
        assert await connect_status(server.url, origin="null") == 403
        # DNS rebinding: evil.example now resolves to 127.0.0.1, Origin matches Host
        rebound = {"Host": f"evil.example:{port}"}
        status = await connect_status(
            server.url, origin=f"http://evil.example:{port}", headers=rebound
        )
        assert status == 403


async def test_listed_and_any_origins() -> None:
    async with running_server(allowed_origins=["https://App.Example/"]) as server:
        assert await connect_status(server.url, origin="https://app.example") == 101
        assert await connect_status(server.url, origin="https://app.example.evil") == 403
    for anything in (["*"], None):
        async with running_server(allowed_origins=anything) as server:
            assert await connect_status(server.url, origin="https://evil.example") == 101


async def test_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with running_server(token="right") as server:
        assert await connect_status(server.url + "?token=wrong-and-much-longer") == 401
        assert await connect_status(server.url + "?token=right") == 101
    assert compared and all(pair == (32, 32) for pair in compared)  # digests, equal length


async def test_refusals_over_http_say_nothing_internal() -> None:
    async with (
        running_server(token="t", max_peers=1) as server,
        aiohttp.ClientSession() as http,
    ):
        base = f"http://127.0.0.1:{server.port}"
        first = await RawPeer.connect(server.url + "?token=t")
        try:
            for status, kwargs in (
                (401, {}),
                (403, {"origin": "https://evil.example", "url": server.url + "?token=t"}),
                (503, {"url": server.url + "?token=t"}),
            ):
                url = kwargs.pop("url", server.url)
                with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                    await http.ws_connect(url, **kwargs)
                assert info.value.status == status
            for path in ("/nope", "/../etc/passwd", "/%00", "/" + "a" * 5000):
                async with http.get(base + path) as resp:
                    assert resp.status >= 400
                    assert_clean_error((await resp.text())[:299])
        finally:
            await first.close()


async def test_every_refusal_over_a_socket_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    async with (
        running_server(max_sessions_per_peer=1, max_message_size=8192) as server,
        raw_peers(server.url, 3) as (prod, cons, other),
    ):
        await prod.register("producer")
        sid = await start_raw_session(cons, prod)
        secrets = (prod.peer_id, cons.peer_id, sid)
        refused = [
            "", "{", "[]", '{"type":1}', '{"type":"x"}', "9" * 5000,
            '{"type":"list","n":' + "9" * 4400 + "}",
            json.dumps({"type": "startSession", "peerId": prod.peer_id}),  # prod is busy
            json.dumps({"type": "startSession", "peerId": cons.peer_id}),  # no roles
            json.dumps({"type": "setPeerStatus", "roles": [], "peerId": cons.peer_id}),
            json.dumps({"type": "setPeerStatus", "roles": ["producer", "consumer"]}),
            json.dumps(ice(sid)), json.dumps(sdp(sid, "offer")),
            json.dumps({"type": "endSession", "sessionId": sid}),
            json.dumps({"type": "setPeerStatus", "roles": [], "meta": {"a": "b" * 9000}}),
        ]  # fmt: skip
        for text in refused:
            await other.send(text)
            assert_clean_error(await other.expect_error(), text, secrets)
        await other.ws.send_bytes(b"\x00")
        assert_clean_error(await other.expect_error())
        # a bug in the router: the peer hears only that something went wrong
        original = server.router.receive

        def broken(peer_id: str, data: str | bytes) -> Any:
            raise RuntimeError(f"secret state of {sid} in /work/main/router.py")

        monkeypatch.setattr(server.router, "receive", broken)
        await other.send({"type": "list"})
        assert await other.expect_error() == "internal server error"
        monkeypatch.setattr(server.router, "receive", original)


async def test_tls_serves_wss_and_refuses_plain_websockets(tmp_path: Path) -> None:
    # the library's own self-signed DTLS certificate will do: key and certificate, one PEM
    pem = tmp_path / "both.pem"
    pem.write_text(process_certificate().pem)
    cert = key = pem
    context = tls_context(str(cert), str(key))
    async with running_server(ssl_context=context) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert))
        trusting.check_hostname = False  # it names no host; its chain is still verified
        peer = await RawPeer.connect(server.url, ssl=trusting)
        await peer.close()
        connector = aiohttp.TCPConnector(ssl=trusting)
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            SignallingClient(server.url, session=http) as client,
        ):
            assert await client.list_producers() == []
        with pytest.raises(aiohttp.ClientError):  # plain websocket on the TLS port
            await RawPeer.connect(server.url.replace("wss:", "ws:"))
        with pytest.raises(aiohttp.ClientConnectorCertificateError):  # an unknown certificate
            await RawPeer.connect(server.url)
    with pytest.raises(ValueError, match="go together"):
        tls_context(str(cert), None)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot use"):
        tls_context(str(tmp_path / "junk.pem"), str(key))


def test_server_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        SignallingServer(max_peers=0)
    with pytest.raises(ValueError):
        SignallingServer(token="")
