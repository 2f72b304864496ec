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


def test_the_offering_side_restarts_with_its_offer() -> None:
    """libnice's stream restarts when our restarting offer is applied, not at the answer:
    a peer that checks (and nominates) as soon as it has the offer reaches the new
    generation (Firefox does; restarting at the answer lost its nomination)."""
    generations = _negotiated()
    assert generations.offer_credentials() is None  # no restart asked: webrtcbin's
    assert not generations.local_offer_renews(OURS)  # the same credentials: no restart
    generations.restart_requested = True
    new = generations.offer_credentials()
    assert new is not None and new != OURS
    assert generations.offer_credentials() == new  # the same for a second offer
    assert generations.local_offer_renews(new)
    generations.stream_restarted()
    generations.local_applied(new)
    assert not generations.restart_requested
    assert generations.pending == new  # not over until the answer
    assert not generations.local_offer_renews(new)  # offered again: restarted already
    answer = IceCredentials("them2", "u" * 22)
    assert not generations.remote_renews(answer, is_offer=False)  # restarted already
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
    assert generations.local_offer_renews(new)
    generations.stream_restarted()
    generations.local_applied(new)
    assert generations.remote_kept(THEIRS, is_offer=False) == OURS
    assert not generations.remote_renews(THEIRS, is_offer=False)
    generations.remote_applied(THEIRS)
    assert generations.local == OURS and generations.pending is None
    assert generations.offer_credentials() == OURS  # later offers keep the old ones
    assert not generations.local_offer_renews(OURS)


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
    assert offering.local_offer_renews(edited)
    assert offering.pending == edited  # libnice's stream gets the edited credentials

    answering = _negotiated()
    assert answering.remote_renews(IceCredentials("them2", "u" * 22), is_offer=True)
    answering.stream_restarted()
    answering.remote_applied(IceCredentials("them2", "u" * 22))
    answering.local_applied(edited)  # an answer edited instead of ours
    assert answering.pending is None and answering.answer_credentials() is None
