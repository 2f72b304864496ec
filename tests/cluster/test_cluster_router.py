"""The cluster router without I/O: remote peers, routed messages and what it refuses."""

from __future__ import annotations

import json

from aiogstwebrtc.signalling import (
    EndSession,
    ListProducers,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    SdpPayload,
    SessionRequested,
    SessionStarted,
)
from aiogstwebrtc.signalling.cluster import ClusterRouter
from tests.signalling.sigtools import OFFER_SDP, counter_ids

PRODUCER = (PeerRole.PRODUCER,)


def local(router: ClusterRouter, *roles: str) -> str:
    peer_id, _ = router.connect()
    if roles:
        router.receive(peer_id, json.dumps({"type": "setPeerStatus", "roles": list(roles)}))
    return peer_id


def offer(session_id: str) -> PeerSdp:
    return PeerSdp(session_id=session_id, sdp=SdpPayload(type="offer", sdp=OFFER_SDP))


def test_remote_peers_are_listed_sorted_and_announced_to_local_listeners_only() -> None:
    router = ClusterRouter(id_factory=counter_ids("m"))
    listener = local(router, "listener")
    out = router.upsert_remote("B", "b2", PRODUCER, {"name": "x"})
    assert out == [(listener, PeerStatusChanged(peer_id="b2", roles=PRODUCER, meta={"name": "x"}))]
    assert router.upsert_remote("B", "b2", PRODUCER, {"name": "x"}) == []  # no change
    assert router.upsert_remote("C", "a1", (PeerRole.LISTENER,), None) != []
    router.upsert_remote("C", "a0", PRODUCER, None)
    local(router, "producer")  # m2
    ids = [p.id for p in router.listing(ListProducers()).producers]  # type: ignore[union-attr]
    assert ids == ["a0", "b2", "m2"]
    # a remote listener is not sent anything by this server
    assert router.listeners() == [listener]
    gone = router.drop_server("B")
    assert gone == [(listener, PeerStatusChanged(peer_id="b2", roles=(), meta={"name": "x"}))]


def test_a_routed_message_is_accepted_only_from_the_server_of_the_session_member() -> None:
    router = ClusterRouter(id_factory=counter_ids("m"))
    consumer = local(router)
    router.upsert_remote("B", "b1", PRODUCER, None)
    router.upsert_remote("C", "c1", PRODUCER, None)
    out = router.receive(consumer, json.dumps({"type": "startSession", "peerId": "b1"}))
    session = out[0][1]
    assert isinstance(session, SessionStarted)
    assert out[1] == ("b1", SessionRequested(peer_id=consumer, session_id=session.session_id))
    sid = session.session_id
    # C forging a message of B's producer, or of its own producer, is dropped
    assert router.receive_routed("C", consumer, offer(sid)) == []
    assert router.receive_routed("B", "b1", offer(sid)) == []  # not for a local peer
    assert router.receive_routed("B", consumer, offer("nope")) == []
    assert router.receive_routed("B", consumer, offer(sid)) == [(consumer, offer(sid))]
    assert router.receive_routed("B", consumer, EndSession(session_id=sid)) == [
        (consumer, EndSession(session_id=sid))
    ]
    assert not router.sessions


def test_a_session_opened_elsewhere_is_checked_here() -> None:
    router = ClusterRouter(id_factory=counter_ids("m"), max_sessions_per_peer=1)
    producer = local(router, "producer")
    listener = local(router, "listener")
    router.upsert_remote("B", "b1", (), None)
    router.upsert_remote("B", "b2", (), None)
    first = SessionRequested(peer_id="b1", session_id="s1")
    assert router.receive_routed("B", producer, first) == [(producer, first)]
    # beyond the producer's limit, to a peer that is not a producer, from the wrong server
    assert router.receive_routed(
        "B", producer, SessionRequested(peer_id="b2", session_id="s2")
    ) == [("b2", EndSession(session_id="s2"))]
    assert router.receive_routed(
        "B", listener, SessionRequested(peer_id="b2", session_id="s3")
    ) == [("b2", EndSession(session_id="s3"))]
    assert (
        router.receive_routed("C", producer, SessionRequested(peer_id="b2", session_id="s4")) == []
    )
    assert set(router.sessions) == {"s1"}
    # b1's server going away ends the session with endSession to the local member
    assert router.drop_server("B") == [(producer, EndSession(session_id="s1"))]


def test_detached_peers_keep_their_sessions_until_ended() -> None:
    router = ClusterRouter(id_factory=counter_ids("m"))
    listener = local(router, "listener")
    consumer = local(router)
    router.upsert_remote("B", "b1", PRODUCER, None)
    router.upsert_remote("B", "b2", PRODUCER, None)
    s1 = router.receive(consumer, json.dumps({"type": "startSession", "peerId": "b1"}))[0][1]
    s2 = router.receive(consumer, json.dumps({"type": "startSession", "peerId": "b2"}))[0][1]
    assert isinstance(s1, SessionStarted) and isinstance(s2, SessionStarted)
    out = router.detach_remote()
    assert {m.peer_id for _, m in out if isinstance(m, PeerStatusChanged)} == {"b1", "b2"}
    assert all(to == listener for to, _ in out)
    assert router.detached == 2 and len(router.sessions) == 2
    assert not router.listing(ListProducers()).producers  # type: ignore[union-attr]
    router.upsert_remote("B", "b1", PRODUCER, None)  # came back after the re-sync
    assert router.end_detached() == [(consumer, EndSession(session_id=s2.session_id))]
    assert list(router.sessions) == [s1.session_id]
    assert router.receive_routed("B", consumer, offer(s1.session_id)) == [
        (consumer, offer(s1.session_id))
    ]


def test_a_detached_peer_back_on_another_server_is_a_new_connection() -> None:
    router = ClusterRouter(id_factory=counter_ids("m"))
    consumer = local(router)
    router.upsert_remote("B", "b1", PRODUCER, None)
    started = router.receive(consumer, json.dumps({"type": "startSession", "peerId": "b1"}))[0][1]
    assert isinstance(started, SessionStarted)
    router.detach_remote()
    out = router.upsert_remote("C", "b1", PRODUCER, None)
    assert out == [(consumer, EndSession(session_id=started.session_id))]
    assert router.peers["b1"].server == "C" and not router.peers["b1"].sessions
    assert not router.sessions and router.detached == 0


def test_cluster_messages_round_trip() -> None:
    from aiogstwebrtc.signalling.cluster import wire

    up = wire.decode_presence(wire.encode_peer("A", "p1", PRODUCER, {"name": "cam"}))
    assert up == wire.PeerUp("A", "p1", PRODUCER, {"name": "cam"})
    assert wire.decode_presence(wire.encode_gone("A", "p1")) == wire.Gone("A", "p1")
    assert wire.decode_presence(wire.encode_server_down("A")) == wire.ServerDown("A")
    assert wire.parse_peer_record(wire.peer_record((), None)) == ((), None)
    for message in (
        offer("s1"),
        EndSession(session_id="s1"),
        SessionStarted(peer_id="p1", session_id="s1"),
        SessionRequested(peer_id="p2", session_id="s1", offer=OFFER_SDP),
    ):
        assert wire.decode_routed(wire.encode_routed("A", "p9", message)) == wire.Routed(
            "A", "p9", message
        )
    keys = wire.Keys.for_database(3, "A")
    assert (keys.presence, keys.inbox("B"), keys.peers()) == (
        "aiogstwebrtc:3:presence",
        "aiogstwebrtc:3:inbox:B",
        "aiogstwebrtc:3:peers:A",
    )
