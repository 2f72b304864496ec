"""Routing rules of the signalling server, fed through the pure Router (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiogstwebrtc.signalling.protocol import (
    ConsumerList,
    EndSession,
    ErrorMessage,
    IcePayload,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ProducerList,
    SdpPayload,
    SessionRequested,
    SessionStarted,
    Welcome,
    dumps,
)
from aiogstwebrtc.signalling.router import RECENTLY_ENDED_LIMIT, Outgoing, Router

from .fuzzing import CLIENT_TEXTS, substitute
from .sigtools import ANSWER_SDP, CANDIDATE, OFFER_SDP, counter_ids

P, C, L = PeerRole.PRODUCER, PeerRole.CONSUMER, PeerRole.LISTENER


class Harness:
    """A router plus shorthands: ``send(peer, obj)`` returns the outgoing pairs."""

    def __init__(self, **kwargs: Any) -> None:
        self.router = Router(id_factory=counter_ids("x"), **kwargs)

    def join(self, *roles: PeerRole, meta: dict[str, Any] | None = None) -> str:
        peer_id, out = self.router.connect()
        assert out == [(peer_id, Welcome(peer_id))]
        if roles:
            out = self.send(peer_id, {"type": "setPeerStatus", "roles": roles, "meta": meta})
            assert out[0] == (peer_id, PeerStatusChanged(peer_id, tuple(roles), meta))
        return peer_id

    def send(self, peer_id: str, obj: Any) -> list[Outgoing]:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        out = self.router.receive(peer_id, text)
        for _, message in out:  # everything the router emits must serialise
            dumps(message)
        return out

    def session(self, consumer: str, producer: str) -> str:
        out = self.send(consumer, {"type": "startSession", "peerId": producer})
        assert len(out) == 2, out
        (to_consumer, started), (to_producer, requested) = out
        assert to_consumer == consumer and isinstance(started, SessionStarted)
        assert to_producer == producer and isinstance(requested, SessionRequested)
        return started.session_id


def errors(out: list[Outgoing], peer_id: str) -> list[str]:
    """Details of the error messages in ``out``, checking they all go to ``peer_id``."""
    found = [(to, m) for to, m in out if isinstance(m, ErrorMessage)]
    assert all(to == peer_id for to, _ in found)
    return [m.details for _, m in found]


def the_error(out: list[Outgoing], peer_id: str) -> str:
    assert len(out) == 1, out
    (details,) = errors(out, peer_id)
    return details


def sdp(session_id: str, kind: str = "offer") -> dict[str, Any]:
    text = OFFER_SDP if kind == "offer" else ANSWER_SDP
    return {"type": "peer", "sessionId": session_id, "sdp": {"type": kind, "sdp": text}}


def ice(session_id: str, index: int = 0) -> dict[str, Any]:
    return {
        "type": "peer",
        "sessionId": session_id,
        "ice": {"candidate": CANDIDATE, "sdpMLineIndex": index},
    }


# ----------------------------------------------------------------------- registration


def test_connect_welcomes_with_a_fresh_id() -> None:
    h = Harness()
    a, b = h.join(), h.join()
    assert a != b and set(h.router.peers) == {a, b}
    with pytest.raises(ValueError):
        h.router.connect(a)


def test_set_peer_status_is_echoed_to_the_sender_even_when_not_a_listener() -> None:
    h = Harness()
    a = h.join()
    out = h.send(a, {"type": "setPeerStatus", "roles": ["producer"], "meta": {"name": "cam"}})
    assert out == [(a, PeerStatusChanged(a, (P,), {"name": "cam"}))]
    # unchanged status: echoed again (gstwebrtc-api waits for it), nobody else told
    assert h.send(a, {"type": "setPeerStatus", "roles": ["producer"], "meta": {"name": "cam"}}) == [
        (a, PeerStatusChanged(a, (P,), {"name": "cam"}))
    ]


def test_listeners_hear_real_changes_only_and_not_twice() -> None:
    h = Harness()
    l1, l2 = h.join(L), h.join(L)
    quiet = h.join()
    prod = h.join()
    out = h.send(prod, {"type": "setPeerStatus", "roles": ["producer"], "meta": {"name": "n"}})
    status = PeerStatusChanged(prod, (P,), {"name": "n"})
    assert sorted(out, key=lambda o: o[0]) == sorted(
        [(prod, status), (l1, status), (l2, status)], key=lambda o: o[0]
    )
    assert all(to != quiet for to, _ in out)
    # a listener registering itself: echoed once, other listener told once
    l3 = h.join()
    out = h.send(l3, {"type": "setPeerStatus", "roles": ["listener"]})
    targets = [to for to, _ in out]
    assert sorted(targets) == sorted([l3, l1, l2])
    # same status again: only the echo
    out = h.send(prod, {"type": "setPeerStatus", "roles": ["producer"], "meta": {"name": "n"}})
    assert out == [(prod, status)]
    # listener + producer (gstwebrtc-api's producer): the echo is sent once, not twice
    lp = h.join(L)
    out = h.send(lp, {"type": "setPeerStatus", "roles": ["listener", "producer"]})
    assert [to for to, _ in out].count(lp) == 1


def test_status_refusals() -> None:
    h = Harness()
    a, b = h.join(), h.join()
    assert "both producer and consumer" in the_error(
        h.send(a, {"type": "setPeerStatus", "roles": ["producer", "consumer"]}), a
    )
    assert "another peer" in the_error(
        h.send(a, {"type": "setPeerStatus", "roles": ["producer"], "peerId": b}), a
    )
    # own peerId (as webrtcsink sends it) is fine
    out = h.send(a, {"type": "setPeerStatus", "roles": ["producer"], "peerId": a})
    assert out == [(a, PeerStatusChanged(a, (P,), None))]
    assert h.router.peers[a].roles == (P,)


def test_list_and_list_consumers() -> None:
    h = Harness()
    p1 = h.join(P, meta={"name": "one"})
    h.join(L)
    c1 = h.join(C, meta={"name": "watcher"})
    p2 = h.join(L, P)
    asker = h.join()
    assert h.send(asker, {"type": "list"}) == [
        (asker, ProducerList((PeerInfo(p1, {"name": "one"}), PeerInfo(p2, None))))
    ]
    assert h.send(asker, {"type": "listConsumers"}) == [
        (asker, ConsumerList((PeerInfo(c1, {"name": "watcher"}),)))
    ]


def test_protocol_version_only_as_first_message() -> None:
    h = Harness()
    a = h.join()
    assert h.send(a, {"type": "setProtocolVersion", "version": "1.1"}) == []
    assert h.router.peers[a].protocol_version == "1.1"
    assert "first message" in the_error(
        h.send(a, {"type": "setProtocolVersion", "version": "1.0"}), a
    )


# ----------------------------------------------------------------------- sessions


def test_consumer_starts_a_session_with_a_producer() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join(L)
    out = h.send(cons, {"type": "startSession", "peerId": prod})
    # sessionStarted first (before anything the producer may send), peerId = other side
    assert out == [
        (cons, SessionStarted(peer_id=prod, session_id="x3")),
        (prod, SessionRequested(peer_id=cons, session_id="x3")),
    ]
    session = h.router.sessions["x3"]
    assert (session.producer, session.consumer) == (prod, cons)


def test_consumer_offer_is_forwarded_in_start_session() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join()
    out = h.send(cons, {"type": "startSession", "peerId": prod, "offer": OFFER_SDP})
    assert out[1] == (prod, SessionRequested(peer_id=cons, session_id="x3", offer=OFFER_SDP))


def test_producer_starts_a_session_with_a_passive_consumer() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join(C)
    out = h.send(prod, {"type": "startSession", "peerId": cons})
    assert out == [
        (cons, SessionStarted(peer_id=prod, session_id="x3")),
        (prod, SessionRequested(peer_id=cons, session_id="x3")),
    ]
    other = h.join(L)
    assert "only a producer" in the_error(
        h.send(other, {"type": "startSession", "peerId": cons}), other
    )
    assert "only the consumer side may attach an offer" in the_error(
        h.send(prod, {"type": "startSession", "peerId": cons, "offer": OFFER_SDP}), prod
    )


def test_start_session_refusals() -> None:
    h = Harness()
    prod, cons, nobody = h.join(P), h.join(L), h.join()
    assert "no peer 'ghost'" in the_error(
        h.send(cons, {"type": "startSession", "peerId": "ghost"}), cons
    )
    assert "oneself" in the_error(h.send(prod, {"type": "startSession", "peerId": prod}), prod)
    assert "no peer 'x3' to start a session with" in the_error(
        h.send(prod, {"type": "startSession", "peerId": nobody}), prod
    )
    assert h.router.sessions == {}
    details = the_error(h.send(cons, {"type": "startSession", "peerId": "ghost"}), cons)
    assert details.startswith("startSession: ")


def test_session_cap_per_peer_counts_both_sides() -> None:
    h = Harness(max_sessions_per_peer=2)
    prod = h.join(P)
    c1, c2, c3 = h.join(), h.join(), h.join()
    h.session(c1, prod)
    h.session(c2, prod)
    assert "peer 'x1' is busy" in the_error(
        h.send(c3, {"type": "startSession", "peerId": prod}), c3
    )
    other = h.join(P)
    h.session(c1, other)
    assert "you are in as many sessions as allowed" in the_error(
        h.send(c1, {"type": "startSession", "peerId": other}), c1
    )
    with pytest.raises(ValueError):
        Router(max_sessions_per_peer=0)


def test_peer_messages_are_forwarded_to_the_other_side_only() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join(L)
    sid = h.session(cons, prod)
    assert h.send(prod, sdp(sid)) == [(cons, PeerSdp(sid, SdpPayload("offer", OFFER_SDP)))]
    assert h.send(cons, sdp(sid, "answer")) == [
        (prod, PeerSdp(sid, SdpPayload("answer", ANSWER_SDP)))
    ]
    assert h.send(prod, ice(sid, 1)) == [(cons, PeerIce(sid, IcePayload(CANDIDATE, 1)))]
    assert h.send(cons, ice(sid)) == [(prod, PeerIce(sid, IcePayload(CANDIDATE, 0)))]


def test_consumer_may_not_send_the_offer() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join()
    sid = h.session(cons, prod)
    assert "consumer may not send the offer" in the_error(h.send(cons, sdp(sid)), cons)
    # in a producer-initiated session too
    passive = h.join(C)
    out = h.send(prod, {"type": "startSession", "peerId": passive})
    sid2 = out[0][1].session_id  # type: ignore[union-attr]
    assert "consumer may not send the offer" in the_error(h.send(passive, sdp(sid2)), passive)
    assert h.send(prod, sdp(sid2)) == [(passive, PeerSdp(sid2, SdpPayload("offer", OFFER_SDP)))]


def test_a_peer_may_only_talk_in_its_own_sessions() -> None:
    h = Harness()
    prod, cons, intruder = h.join(P), h.join(), h.join(P)
    sid = h.session(cons, prod)
    for message in (
        sdp(sid),
        sdp(sid, "answer"),
        ice(sid),
        {"type": "endSession", "sessionId": sid},
    ):
        details = the_error(h.send(intruder, message), intruder)
        assert f"no session '{sid}' for this peer" in details
    # unknown session ids get the very same words
    assert "no session 'nope' for this peer" in the_error(h.send(cons, ice("nope")), cons)
    assert "no session 'nope' for this peer" in the_error(
        h.send(cons, {"type": "endSession", "sessionId": "nope"}), cons
    )
    assert sid in h.router.sessions  # untouched


def test_end_session_notifies_the_other_side_and_frees_the_slot() -> None:
    h = Harness(max_sessions_per_peer=1)
    prod, cons = h.join(P), h.join()
    sid = h.session(cons, prod)
    assert h.send(cons, {"type": "endSession", "sessionId": sid}) == [(prod, EndSession(sid))]
    assert h.router.sessions == {}
    sid2 = h.session(cons, prod)  # the cap slot is free again
    assert h.send(prod, {"type": "endSession", "sessionId": sid2}) == [(cons, EndSession(sid2))]


def test_late_messages_about_a_just_ended_session_are_dropped_quietly() -> None:
    h = Harness()
    prod, cons, stranger = h.join(P), h.join(), h.join()
    sid = h.session(cons, prod)
    h.send(cons, {"type": "endSession", "sessionId": sid})
    # the producer was still trickling: no error (it would stop webrtcsink), nothing sent
    assert h.send(prod, ice(sid)) == []
    assert h.send(prod, {"type": "endSession", "sessionId": sid}) == []
    # a peer that was never in it still gets an error
    assert "no session" in the_error(h.send(stranger, ice(sid)), stranger)


def test_recently_ended_memory_is_bounded() -> None:
    h = Harness(max_sessions_per_peer=1)
    prod, cons = h.join(P), h.join()
    first = h.session(cons, prod)
    h.send(cons, {"type": "endSession", "sessionId": first})
    for _ in range(RECENTLY_ENDED_LIMIT):
        sid = h.session(cons, prod)
        h.send(cons, {"type": "endSession", "sessionId": sid})
    assert len(h.router._recently_ended) == RECENTLY_ENDED_LIMIT
    assert "no session" in the_error(h.send(prod, ice(first)), prod)


def test_dropping_the_producer_role_ends_its_sessions() -> None:
    h = Harness()
    prod, c1, c2, l1 = h.join(L, P), h.join(), h.join(), h.join(L)
    s1, s2 = h.session(c1, prod), h.session(c2, prod)
    out = h.send(prod, {"type": "setPeerStatus", "roles": ["listener"]})
    assert (c1, EndSession(s1)) in out and (c2, EndSession(s2)) in out
    assert (l1, PeerStatusChanged(prod, (L,), None)) in out
    assert h.router.sessions == {}


def test_dropping_the_consumer_role_ends_sessions_held_as_consumer() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join(C)
    out = h.send(prod, {"type": "startSession", "peerId": cons})
    sid = out[0][1].session_id  # type: ignore[union-attr]
    out = h.send(cons, {"type": "setPeerStatus", "roles": []})
    assert (prod, EndSession(sid)) in out
    assert h.router.sessions == {}


# ----------------------------------------------------------------------- disconnects


def test_consumer_leaving_ends_its_sessions() -> None:
    h = Harness()
    prod, cons, other = h.join(P), h.join(L), h.join()
    sid = h.session(cons, prod)
    kept = h.session(other, prod)
    out = h.router.disconnect(cons)
    # it was a listener: remaining listeners (none) hear nothing; producer gets endSession
    assert out == [(prod, EndSession(sid))]
    assert set(h.router.sessions) == {kept}
    assert h.router.peers[prod].sessions == {kept}


def test_producer_leaving_ends_all_sessions_and_tells_listeners() -> None:
    h = Harness()
    prod = h.join(P, meta={"name": "cam"})
    consumers = [h.join(L) for _ in range(3)]
    sessions = [h.session(c, prod) for c in consumers]
    out = h.router.disconnect(prod)
    gone = PeerStatusChanged(prod, (), {"name": "cam"})
    for cons, sid in zip(consumers, sessions, strict=True):
        assert (cons, EndSession(sid)) in out
        assert (cons, gone) in out
        # endSession comes before the status change for each peer
        assert out.index((cons, EndSession(sid))) < out.index((cons, gone))
    assert h.router.sessions == {}
    assert all(not p.sessions for p in h.router.peers.values())
    assert h.router.disconnect(prod) == []  # twice: nothing


def test_peer_without_roles_leaving_is_not_announced() -> None:
    h = Harness()
    h.join(L)
    quiet = h.join()
    assert h.router.disconnect(quiet) == []


def test_messages_from_unknown_peers_are_a_programming_error() -> None:
    h = Harness()
    with pytest.raises(KeyError):
        h.router.receive("ghost", '{"type":"list"}')


def test_invalid_text_gets_an_error_and_changes_nothing() -> None:
    h = Harness()
    prod, cons = h.join(P), h.join()
    sid = h.session(cons, prod)
    for junk in ("", "{", "[]", '{"type":"peer"}', '{"type":"bogus"}', "x" * 300_000):
        assert len(errors(h.send(cons, junk), cons)) == 1
    assert h.send(prod, sdp(sid)) == [(cons, PeerSdp(sid, SdpPayload("offer", OFFER_SDP)))]


# ----------------------------------------------------------------------- fuzzing


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([2, 3]), CLIENT_TEXTS), max_size=12))
def test_fuzzed_messages_never_break_routing_of_others(script: list[tuple[int, str]]) -> None:
    h = Harness()
    prod, cons = h.join(P), h.join()  # x1, x2: a healthy session the fuzzers do not touch
    sid = h.session(cons, prod)
    fuzzers = {2: h.join(L), 3: h.join(P)}  # x4, x5 (x3 is the session)
    for who, text in script:
        ids = {"@prod": prod, "@cons": cons, "@sid": sid, "@self": fuzzers[who]}
        ids["@other"] = fuzzers[5 - who]
        out = h.router.receive(fuzzers[who], substitute(text, ids))
        for to, message in out:
            dumps(message)
            if to in (prod, cons):  # status news and new sessions only: never about ``sid``
                assert isinstance(
                    message,
                    PeerStatusChanged
                    | SessionRequested
                    | SessionStarted
                    | PeerSdp
                    | PeerIce
                    | EndSession,
                ), (to, message)
                assert getattr(message, "session_id", None) != sid, (to, message)
    assert sid in h.router.sessions
    assert h.send(prod, sdp(sid)) == [(cons, PeerSdp(sid, SdpPayload("offer", OFFER_SDP)))]
    assert h.send(cons, sdp(sid, "answer"))[0][0] == prod
