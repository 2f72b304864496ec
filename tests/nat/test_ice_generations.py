"""The bookkeeping of ICE restarts (no GStreamer): which credentials each description
carries, when libnice's stream restarts, and the ufrag of a candidate."""

from __future__ import annotations

from aiogstwebrtc import IceCandidate
from aiogstwebrtc.icerestart import IceCredentials, IceGenerations, credentials_of, with_credentials

OURS, THEIRS = IceCredentials("ours", "o" * 22), IceCredentials("them", "t" * 22)
SDP = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\n"


def _negotiated() -> IceGenerations:
    generations = IceGenerations()
    generations.local_applied(OURS)
    generations.remote_applied(THEIRS)
    return generations


def test_credentials_are_read_and_replaced() -> None:
    replaced = with_credentials(SDP, OURS)
    assert credentials_of(SDP) == IceCredentials("x", "y")
    assert credentials_of(replaced) == OURS
    assert "a=ice-ufrag:x" not in replaced
    fresh = IceCredentials.generate()
    assert len(fresh.ufrag) >= 4 and len(fresh.pwd) >= 22 and fresh != IceCredentials.generate()


def test_the_offering_side_restarts_when_the_answer_renews() -> None:
    generations = _negotiated()
    assert generations.offer_credentials() is None  # no restart asked: webrtcbin's
    generations.restart_requested = True
    new = generations.offer_credentials()
    assert new is not None and new != OURS
    assert generations.offer_credentials() == new  # the same for a second offer
    generations.local_applied(new)
    assert not generations.restart_requested
    answer = IceCredentials("them2", "u" * 22)
    assert generations.remote_renews(answer, is_offer=False)
    generations.stream_restarted()
    generations.remote_applied(answer)
    assert generations.pending is None and generations.restarts == 1
    assert generations.old_remote == {"them"}
    assert generations.offer_credentials() is None  # over: webrtcbin's again


def test_the_answering_side_restarts_on_a_renewed_offer() -> None:
    generations = _negotiated()
    offer = IceCredentials("them2", "u" * 22)
    assert not generations.remote_renews(THEIRS, is_offer=True)  # same: no restart
    assert generations.remote_renews(offer, is_offer=True)
    generations.stream_restarted()
    generations.remote_applied(offer)
    answer = generations.answer_credentials()
    assert answer is not None and answer != OURS
    generations.local_applied(answer)
    assert generations.pending is None and generations.answer_credentials() is None


def test_a_peer_that_keeps_its_credentials_gets_ours_back() -> None:
    generations = _negotiated()
    generations.restart_requested = True
    new = generations.offer_credentials()
    generations.local_applied(new)
    assert generations.remote_kept(THEIRS, is_offer=False) == OURS
    assert not generations.remote_renews(THEIRS, is_offer=False)
    generations.remote_applied(THEIRS)
    assert generations.local == OURS and generations.restarts == 0
    assert generations.offer_credentials() == OURS  # later offers keep the old ones


def test_a_candidate_names_its_generation() -> None:
    line = "candidate:1 1 UDP 2015363327 10.0.0.1 5000 typ host"
    assert IceCandidate(line, 0).ufrag is None
    assert IceCandidate(line + " generation 0 ufrag abcd", 0).ufrag == "abcd"
    candidate = IceCandidate.from_dict(
        {"candidate": line, "sdpMLineIndex": 0, "usernameFragment": "u1"}
    )
    assert candidate.ufrag == "u1"
    assert candidate.to_dict()["usernameFragment"] == "u1"
    assert "usernameFragment" not in IceCandidate(line, 0).to_dict()


def test_credentials_the_application_changed_restart_too() -> None:
    offering = _negotiated()
    edited = IceCredentials("edit", "e" * 22)  # the application edited the offer itself
    offering.local_applied(edited)
    assert offering.remote_renews(IceCredentials("them2", "u" * 22), is_offer=False)
    assert offering.pending == edited  # libnice's stream gets the edited credentials

    answering = _negotiated()
    assert answering.remote_renews(IceCredentials("them2", "u" * 22), is_offer=True)
    answering.stream_restarted()
    answering.remote_applied(IceCredentials("them2", "u" * 22))
    answering.local_applied(edited)  # an answer edited instead of ours
    assert answering.pending is None and answering.answer_credentials() is None
