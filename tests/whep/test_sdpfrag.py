"""trickle-ice-sdpfrag bodies: what clients send us and what we answer a restart with."""

from __future__ import annotations

import pytest

from aiogstwebrtc import InvalidSDPError
from aiogstwebrtc.icerestart import IceCredentials, credentials_of
from aiogstwebrtc.whep.sdpfrag import fragment_of, parse_fragment, renewed_description

OFFER = (
    "v=0\r\no=- 4611 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0 audio1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=ice-ufrag:oldufrag\r\na=ice-pwd:oldpwdoldpwdoldpwdoldpw\r\n"
    "a=mid:video0\r\na=candidate:1 1 UDP 2015363327 10.213.0.2 40798 typ host\r\n"
    "a=end-of-candidates\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 97\r\n"
    "a=ice-ufrag:oldufrag\r\na=ice-pwd:oldpwdoldpwdoldpwdoldpw\r\n"
    "a=mid:audio1\r\n"
)


def test_candidates_get_their_section_mid_and_the_fragment_ufrag() -> None:
    # a browser's fragment: LF lines, a=mid after the candidate, two sections
    text = (
        "a=ice-ufrag:EsAw\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\n"
        "m=audio 9 RTP/AVP 0\na=candidate:1 1 udp 2130706431 10.0.0.5 5000 typ host\na=mid:0\n"
        "m=video 9 RTP/AVP 0\na=mid:1\na=candidate:2 1 udp 2130706431 10.0.0.5 5002 typ host\n"
    )
    fragment = parse_fragment(text)
    assert fragment.credentials == IceCredentials("EsAw", "P2uYro0UCOQ4zxjKXaWCBui1")
    assert [(c.sdp_mline_index, c.sdp_mid, c.username_fragment) for c in fragment.candidates] == [
        (0, "0", "EsAw"),
        (1, "1", "EsAw"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a=ice-ufrag:a b\r\n",  # a space is no ice-char
        "a=ice-ufrag:abc\r\n",  # shorter than 4
        "a=ice-ufrag:abcd\r\na=ice-pwd:short\r\n",  # pwd shorter than 22
        "a=mid:0\r\na=candidate:junk\r\n",
    ],
)
def test_malformed_fragments_raise_invalid_sdp(text: str) -> None:
    with pytest.raises(InvalidSDPError):
        parse_fragment(text)


def test_a_restart_answer_fragment_and_the_renewed_description() -> None:
    fragment = fragment_of(OFFER)
    assert fragment == (
        "a=ice-ufrag:oldufrag\r\na=ice-pwd:oldpwdoldpwdoldpwdoldpw\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:video0\r\n"
        "a=candidate:1 1 UDP 2015363327 10.213.0.2 40798 typ host\r\na=end-of-candidates\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=mid:audio1\r\n"
    )
    new = IceCredentials.generate()
    renewed = renewed_description(OFFER, new)
    assert credentials_of(renewed) == new
    assert "oldufrag" not in renewed and "oldpwd" not in renewed
    assert "a=candidate" not in renewed and "a=end-of-candidates" not in renewed
    assert "o=- 4611 3 IN IP4" in renewed  # the session version one higher
    assert renewed.count("\r\nm=") == 2 and "a=mid:audio1\r\n" in renewed
