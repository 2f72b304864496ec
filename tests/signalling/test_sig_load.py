"""Load: 1,000 websocket clients on one server, 200 sessions negotiating through it.

The server runs in a process of its own (so its memory is measured alone and it has a
core to itself); the clients share this test's event loop and one HTTP client session.
Every relayed message carries its sender's id and a sequence number, so the receiving
side checks that nothing was lost, reordered or delivered to the wrong peer. The figures
(memory per idle client, times, message rate) are printed; ``docs/security.md`` quotes
them.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from .server_process import server_process
from .sigtools import RawPeer

CLIENTS = 1000
PRODUCERS = 100
SESSIONS = 200  # two consumers per producer
LISTENERS = 50
CANDIDATES = 10  # each side of each session trickles this many, then an empty one
CONNECTING_AT_ONCE = 50


def offer_or_answer(kind: str, sender: str) -> dict[str, Any]:
    sdp = f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns={sender}\r\nt=0 0\r\n"
    return {"type": kind, "sdp": sdp}


def candidate(sender: str, seq: int) -> dict[str, Any]:
    """ICE candidate ``seq`` of ``sender`` (the empty one ends the list)."""
    text = "" if seq == CANDIDATES else f"candidate:{seq} 1 UDP 1 127.0.0.1 {9000 + seq} typ host"
    return {"candidate": text, "sdpMLineIndex": 0, "usernameFragment": sender}


async def trickle(peer: RawPeer, sid: str) -> None:
    for seq in range(CANDIDATES + 1):
        await peer.send({"type": "peer", "sessionId": sid, "ice": candidate(peer.peer_id, seq)})


def expect_ice(message: dict[str, Any], sid: str, sender: str, seq: int) -> None:
    assert message == {"type": "peer", "sessionId": sid, "ice": candidate(sender, seq)}, (
        f"lost, reordered or misrouted: expected candidate {seq} of {sender} in {sid}, "
        f"got {message}"
    )


async def consume(cons: RawPeer, prod: RawPeer) -> str:
    """Open a session with ``prod``, take its offer, answer, trickle; end it when done."""
    started = await cons.request({"type": "startSession", "peerId": prod.peer_id})
    assert started["type"] == "sessionStarted" and started["peerId"] == prod.peer_id, started
    sid = str(started["sessionId"])
    offer = await cons.recv_json(timeout=30)
    assert offer == {
        "type": "peer",
        "sessionId": sid,
        "sdp": offer_or_answer("offer", prod.peer_id),
    }
    await cons.send(
        {"type": "peer", "sessionId": sid, "sdp": offer_or_answer("answer", cons.peer_id)}
    )
    await trickle(cons, sid)
    for seq in range(CANDIDATES + 1):
        expect_ice(await cons.recv_json(timeout=30), sid, prod.peer_id, seq)
    return sid


async def produce(prod: RawPeer, consumers: set[str]) -> set[str]:
    """Serve the sessions ``consumers`` start: offer, trickle, take the answer and theirs."""
    progress: dict[str, int] = {}  # session -> messages received from its consumer
    peer_of: dict[str, str] = {}
    done: set[str] = set()
    for _ in range(len(consumers) * (CANDIDATES + 3)):
        if len(done) == len(consumers):
            break
        message = await prod.recv_json(timeout=30)
        sid = str(message.get("sessionId"))
        if message["type"] == "startSession":
            assert message["peerId"] in consumers and message["peerId"] not in peer_of.values()
            peer_of[sid], progress[sid] = message["peerId"], 0
            sdp = offer_or_answer("offer", prod.peer_id)
            await prod.send({"type": "peer", "sessionId": sid, "sdp": sdp})
            await trickle(prod, sid)
            continue
        assert sid in peer_of, f"{prod.peer_id} got a message about a session not its own"
        if progress[sid] == 0:
            sdp = offer_or_answer("answer", peer_of[sid])
            assert message == {"type": "peer", "sessionId": sid, "sdp": sdp}, message
        else:
            expect_ice(message, sid, peer_of[sid], progress[sid] - 1)
        progress[sid] += 1
        if progress[sid] == CANDIDATES + 2:
            done.add(sid)
    assert set(peer_of.values()) == consumers
    return done


async def listen(peer: RawPeer, producers: set[str]) -> None:
    """Hear every producer announced (other listeners' news is allowed in between)."""
    heard: set[str] = set()
    while heard != producers:
        message = await peer.recv_json(timeout=30)
        assert message["type"] == "peerStatusChanged", message
        if message["roles"] == ["producer"]:
            assert message["peerId"] in producers and message["peerId"] not in heard
            heard.add(message["peerId"])


async def bounded_gather(jobs: list[Callable[[], Awaitable[Any]]], at_once: int) -> list[Any]:
    semaphore = asyncio.Semaphore(at_once)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted, "cannot open enough sockets"


async def test_a_thousand_clients_and_two_hundred_sessions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    raise_fd_limit(CLIENTS + 500)
    report: list[str] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        asyncio.timeout(60),
        aiohttp.ClientSession(connector=connector) as http,
        server_process(max_peers=CLIENTS + 10) as server,
    ):
        # Warm the server up (imports, first allocations), then take its baseline.
        warm = await bounded_gather(
            [lambda: RawPeer.connect(server.url, http=http) for _ in range(20)], 20
        )
        await asyncio.gather(*(p.close() for p in warm))
        base = await server.stats()
        assert base["peers"] == 0

        started = time.monotonic()
        peers: list[RawPeer] = await bounded_gather(
            [lambda: RawPeer.connect(server.url, http=http) for _ in range(CLIENTS)],
            CONNECTING_AT_ONCE,
        )
        connect_time = time.monotonic() - started
        idle = await server.stats()
        assert idle["peers"] == CLIENTS
        per_client = (idle["rss_kib"] - base["rss_kib"]) / CLIENTS
        report.append(
            f"{CLIENTS} clients connected in {connect_time:.1f} s; server RSS "
            f"{base['rss_kib'] / 1024:.1f} -> {idle['rss_kib'] / 1024:.1f} MiB: "
            f"{per_client:.1f} KiB per idle client"
        )

        try:
            producers = peers[:PRODUCERS]
            consumers = peers[PRODUCERS : PRODUCERS + SESSIONS]
            listeners = peers[PRODUCERS + SESSIONS : PRODUCERS + SESSIONS + LISTENERS]
            for listener in listeners:  # one by one: each echo comes before any news
                await listener.register("listener")
            producer_ids = {p.peer_id for p in producers}
            hearing = asyncio.gather(*(listen(p, producer_ids) for p in listeners))
            await asyncio.gather(*(p.register("producer") for p in producers))
            await hearing

            started = time.monotonic()
            pairs = [(c, producers[i % PRODUCERS]) for i, c in enumerate(consumers)]
            served = asyncio.gather(
                *(produce(p, {c.peer_id for c, q in pairs if q is p}) for p in producers)
            )
            sids = await asyncio.gather(*(consume(c, p) for c, p in pairs))
            done = await served
            negotiate_time = time.monotonic() - started
            assert len(set(sids)) == SESSIONS
            assert set().union(*done) == set(sids)
            during = await server.stats()
            assert (during["peers"], during["sessions"]) == (CLIENTS, SESSIONS)
            relayed = SESSIONS * 2 * (1 + CANDIDATES + 1)
            report.append(
                f"{SESSIONS} sessions negotiated in {negotiate_time:.2f} s: {relayed} offers, "
                f"answers and candidates relayed ({relayed / negotiate_time:.0f}/s), none "
                f"lost or misrouted; server RSS {during['rss_kib'] / 1024:.1f} MiB"
            )

            # Consumers end their sessions; each producer hears of exactly its own.
            for cons, sid in zip(consumers, sids, strict=True):
                await cons.send({"type": "endSession", "sessionId": sid})

            async def ended(prod: RawPeer) -> list[dict[str, Any]]:
                return [await prod.recv_json(timeout=30) for _ in range(SESSIONS // PRODUCERS)]

            ends = await asyncio.gather(*(ended(p) for p in producers))
            assert {m["sessionId"] for batch in ends for m in batch} == set(sids)
            assert all(m["type"] == "endSession" for batch in ends for m in batch)
            assert (await server.stats())["sessions"] == 0
        finally:
            await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    with capsys.disabled():  # the figures docs/security.md quotes, shown in every run
        print("\nload: " + "\nload: ".join(report))
