"""Three signalling servers on one real Redis behave as one server (raw websocket peers)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from aiogstwebrtc.signalling import ClusterUnavailableError, SignallingServer
from tests.signalling.sigtools import (
    ANSWER_SDP,
    CANDIDATE,
    OFFER_SDP,
    RawPeer,
    raw_peers,
    received_so_far,
    start_raw_session,
)

from .clustertools import WAIT, cluster, eventually, known_everywhere, listing
from .redis_server import free_port


async def test_listings_and_statuses_are_the_same_on_every_server() -> None:
    async with cluster(3) as (_, servers):
        a, b, c = (s.url for s in servers)
        listeners = [await RawPeer.connect(url) for url in (a, b, c)]
        try:
            for peer in listeners:
                await peer.register("listener")
            producers = []
            for n, url in enumerate((a, b, c, a)):
                producer = await RawPeer.connect(url)
                await producer.register("producer", meta={"name": f"p{n}"})
                producers.append(producer)
            consumers = []
            for url in (b, c):
                consumer = await RawPeer.connect(url)
                await consumer.register("consumer")
                consumers.append(consumer)
            expected = sorted(p.peer_id for p in producers)
            # every listener hears every producer, whichever server it is on
            everyone = {p.peer_id: ["producer"] for p in producers}
            everyone.update({c.peer_id: ["consumer"] for c in consumers})
            for peer in listeners:
                heard: dict[str, list[str]] = {}
                while not everyone.items() <= heard.items():
                    status = await peer.recv_json()
                    assert status["type"] == "peerStatusChanged", status
                    heard[status["peerId"]] = status["roles"]
            replies = [await peer.request({"type": "list"}) for peer in listeners]
            assert replies[0] == replies[1] == replies[2]
            assert [p["id"] for p in replies[0]["producers"]] == expected
            by_id = {p["id"]: p["meta"]["name"] for p in replies[0]["producers"]}
            assert by_id == {p.peer_id: f"p{n}" for n, p in enumerate(producers)}
            consumer_lists = [await listing(peer, "listConsumers") for peer in listeners]
            assert consumer_lists[0] == consumer_lists[1] == consumer_lists[2]
            assert {p["id"] for p in consumer_lists[0]} == {c.peer_id for c in consumers}

            # a producer leaving (on B) reaches the listeners of A, B and C
            await producers[1].close()
            for peer in listeners:
                gone = await peer.recv_json()
                while gone["peerId"] != producers[1].peer_id:  # another listener's status
                    assert gone["roles"] == ["listener"], gone
                    gone = await peer.recv_json()
                assert gone == {
                    "type": "peerStatusChanged",
                    "peerId": producers[1].peer_id,
                    "roles": [],
                    "meta": {"name": "p1"},
                }
            replies = [await peer.request({"type": "list"}) for peer in listeners]
            assert replies[0] == replies[1] == replies[2]
            assert len(replies[0]["producers"]) == 3
        finally:
            for peer in listeners + producers + consumers:
                await peer.close()


def ice(session_id: str, seq: int) -> dict[str, object]:
    candidate = CANDIDATE.replace("40000", str(40000 + seq))
    return {
        "type": "peer",
        "sessionId": session_id,
        "ice": {"candidate": candidate, "sdpMLineIndex": 0},
    }


async def test_a_session_across_servers_in_order_and_ended_by_either_side() -> None:
    async with cluster(3) as (_, servers), raw_peers(servers[0].url, 1) as (producer,):
        await producer.register("producer")
        async with raw_peers(servers[2].url, 1) as (consumer,):
            await known_everywhere(servers, {producer.peer_id: ("producer",)})
            session = await start_raw_session(consumer, producer)
            offer = {
                "type": "peer",
                "sessionId": session,
                "sdp": {"type": "offer", "sdp": OFFER_SDP},
            }
            await producer.send(offer)
            for n in range(50):
                await producer.send(ice(session, n))
            assert await consumer.recv_json() == offer
            for n in range(50):
                assert await consumer.recv_json() == ice(session, n)
            answer = {
                "type": "peer",
                "sessionId": session,
                "sdp": {"type": "answer", "sdp": ANSWER_SDP},
            }
            await consumer.send(answer)
            await consumer.send(ice(session, 99))
            assert await producer.recv_json() == answer
            assert await producer.recv_json() == ice(session, 99)
            # the consumer may not send an offer, whichever server the producer is on
            await consumer.send(offer)
            await consumer.expect_error("consumer may not send the offer")
            await consumer.send({"type": "endSession", "sessionId": session})
            assert await producer.recv_json() == {"type": "endSession", "sessionId": session}
            await eventually(
                lambda: not servers[0].router.sessions and not servers[2].router.sessions
            )

            # a second session, ended by the producer's side leaving
            second = await start_raw_session(consumer, producer)
            await producer.close()
            assert await consumer.recv_json() == {"type": "endSession", "sessionId": second}


async def test_a_producer_starts_a_session_with_a_passive_consumer_on_another_server() -> None:
    async with cluster(2) as (_, (a, b)):
        async with raw_peers(a.url, 1) as (producer,), raw_peers(b.url, 1) as (consumer,):
            await consumer.register("consumer")
            await producer.register("producer")
            await known_everywhere([a, b], {consumer.peer_id: ("consumer",)})
            # as on one server: the producer gets startSession, the consumer sessionStarted
            request = await producer.request({"type": "startSession", "peerId": consumer.peer_id})
            assert request["type"] == "startSession" and request["peerId"] == consumer.peer_id
            assert await consumer.recv_json() == {
                "type": "sessionStarted",
                "peerId": producer.peer_id,
                "sessionId": request["sessionId"],
            }
            offer = {
                "type": "peer",
                "sessionId": request["sessionId"],
                "sdp": {"type": "offer", "sdp": OFFER_SDP},
            }
            await producer.send(offer)
            assert await consumer.recv_json() == offer


async def test_limits_of_a_peer_hold_on_its_own_server() -> None:
    """The producer's server refuses a session beyond the producer's limit even when the
    consumer's server knows of none of its sessions: the consumer gets ``endSession``."""
    async with cluster(3, max_sessions_per_peer=1) as (_, (a, b, c)):
        async with raw_peers(a.url, 1) as (producer,), raw_peers(b.url, 1) as (first,):
            await producer.register("producer")
            await known_everywhere([a, b, c], {producer.peer_id: ("producer",)})
            await start_raw_session(first, producer)
            async with raw_peers(c.url, 1) as (second,):
                started = await second.request({"type": "startSession", "peerId": producer.peer_id})
                assert started["type"] == "sessionStarted", started  # C cannot know
                ended = await second.recv_json()
                assert ended == {"type": "endSession", "sessionId": started["sessionId"]}
                assert await received_so_far(producer) == []
                assert len(a.router.sessions) == 1 and not c.router.sessions


async def test_redis_unreachable_at_start_is_a_clear_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = SignallingServer("127.0.0.1", 0, redis_url=url)
    with pytest.raises(ClusterUnavailableError, match="cannot reach Redis at"):
        await server.start()
    assert not server.running

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiogstwebrtc",
        "signalling-server",
        "--port",
        "0",
        "--redis",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 1
    text = (out + err).decode()
    assert "cannot reach Redis at " + url in text, text
    assert "Traceback" not in text, text


def test_cluster_wire_rejects_malformed_messages() -> None:
    from aiogstwebrtc.signalling.cluster import wire
    from aiogstwebrtc.signalling.protocol import ProtocolError

    for bad in ["", "[]", '{"t": "peer", "s": "A"}', '{"t": "x", "s": "A", "p": "1"}']:
        with pytest.raises(ProtocolError):
            wire.decode_presence(bad)
    welcome = json.dumps({"s": "A", "to": "p", "m": {"type": "welcome", "peerId": "p"}})
    with pytest.raises(ProtocolError, match="not routed"):
        wire.decode_routed(welcome)
    with pytest.raises(ValueError):
        wire.check_server_id("a b")


async def test_a_server_stopping_cleanly_is_left_at_once() -> None:
    async with cluster(2) as (_, (a, b)):
        async with raw_peers(a.url, 2) as (listener, consumer):
            await listener.register("listener")
            producer = await RawPeer.connect(b.url)
            await producer.register("producer", meta={"name": "b"})
            await known_everywhere([a, b], {producer.peer_id: ("producer",)})
            session = await start_raw_session(consumer, producer)
            await received_so_far(listener)
            await b.stop()  # deletes its keys and says "down": no waiting for the expiry
            async with asyncio.timeout(1.5):
                gone = await listener.recv_json()
                ended = await consumer.recv_json()
            assert gone == {
                "type": "peerStatusChanged",
                "peerId": producer.peer_id,
                "roles": [],
                "meta": {"name": "b"},
            }
            assert ended == {"type": "endSession", "sessionId": session}
            assert await listing(consumer) == []
            assert a.cluster is not None and a.cluster.servers == set()
            await producer.close()
