"""SessionDescription and IceCandidate: validation and the browser's JSON shapes."""

from __future__ import annotations

import pytest

from aiogstwebrtc import IceCandidate, InvalidSDPError, SessionDescription
from aiogstwebrtc.sdp import media_sections, with_candidates

SDP = (
    "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
)
CANDIDATE = "candidate:1 1 UDP 2015363327 10.213.0.1 40000 typ host"


def test_description_round_trips_through_the_browser_shape() -> None:
    description = SessionDescription.from_dict({"type": "offer", "sdp": SDP})
    assert description.to_dict() == {"type": "offer", "sdp": SDP}
    assert [(m.index, m.kind, m.mid) for m in description.media] == [
        (0, "application", "0"),
        (1, "audio", "1"),
    ]


def test_line_endings_are_normalised() -> None:
    description = SessionDescription("answer", SDP.replace("\r\n", "\n"))
    assert description.sdp == SDP


@pytest.mark.parametrize(
    ("kind", "sdp", "message"),
    [
        ("offer", "garbage", "v=0"),
        ("offer", "", "v=0"),
        ("offer", "v=0\r\nthis is not sdp\r\n", "line 2"),
        ("offer", "v=0\r\ns=-\r\nt=0 0\r\n", "'o='"),
        ("offer", SDP.replace("m=audio 9 UDP/TLS/RTP/SAVPF 96", "m=audio nine"), "media line"),
        ("bogus", SDP, "type"),
        (None, SDP, "type"),
        ("offer", b"v=0", "text"),
    ],
)
def test_malformed_descriptions_raise_invalid_sdp(kind: object, sdp: object, message: str) -> None:
    with pytest.raises(InvalidSDPError, match=message):
        SessionDescription(kind, sdp)  # type: ignore[arg-type]


def test_invalid_sdp_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        SessionDescription("offer", "nonsense")


@pytest.mark.parametrize("data", [{"sdp": SDP}, {"type": "offer"}, "offer", None])
def test_description_from_bad_dicts(data: object) -> None:
    with pytest.raises(InvalidSDPError):
        SessionDescription.from_dict(data)  # type: ignore[arg-type]


def test_candidate_round_trips_and_exposes_its_fields() -> None:
    candidate = IceCandidate.from_dict({"candidate": CANDIDATE, "sdpMLineIndex": 0, "sdpMid": "0"})
    assert candidate.to_dict() == {"candidate": CANDIDATE, "sdpMLineIndex": 0, "sdpMid": "0"}
    assert (candidate.address, candidate.port, candidate.type, candidate.protocol) == (
        "10.213.0.1",
        40000,
        "host",
        "udp",
    )


def test_candidate_accepts_a_prefix_and_end_of_candidates() -> None:
    assert IceCandidate("a=" + CANDIDATE, 0).candidate == CANDIDATE
    assert IceCandidate("", 0).is_end_of_candidates


@pytest.mark.parametrize(
    ("candidate", "index", "mid"),
    [
        ("hello", 0, None),
        ("candidate:1 1 UDP 1 10.0.0.1 99999 typ host", 0, None),
        ("candidate:1 1 SCTP 1 10.0.0.1 1 typ host", 0, None),
        ("candidate:1 1 UDP 1 10.0.0.1 1 typ nonsense", 0, None),
        (CANDIDATE, -1, None),
        (CANDIDATE, "0", None),
        (CANDIDATE, None, None),
        (CANDIDATE, None, 5),
        (42, 0, None),
    ],
)
def test_malformed_candidates_raise_invalid_sdp(
    candidate: object, index: object, mid: object
) -> None:
    with pytest.raises(InvalidSDPError):
        IceCandidate(candidate, index, mid)  # type: ignore[arg-type]


def test_with_candidates_puts_lines_in_their_sections() -> None:
    candidates = [
        IceCandidate(CANDIDATE, 0, "0"),
        IceCandidate(CANDIDATE.replace("40000", "40001"), None, "1"),
    ]
    text = with_candidates(SDP, candidates, complete=True)
    sections = text.split("m=")
    assert f"a={CANDIDATE}" in sections[1] and "a=end-of-candidates" in sections[1]
    assert "40001 typ host" in sections[2] and "a=end-of-candidates" in sections[2]
    assert text.count("a=candidate") == 2
    assert media_sections(text) == media_sections(SDP)
    # Adding the same candidates again does not duplicate them.
    assert with_candidates(text, candidates, complete=True) == text
