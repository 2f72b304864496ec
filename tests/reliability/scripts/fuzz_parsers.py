"""Feeds random and mutated SDP and candidates to our parsers (GStreamer's SDP parser
included). Run as a child process by the tests, so that a crash in C shows as a signal
instead of killing the test run. Exit 0 means: only documented errors came out."""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiogstwebrtc import IceCandidate, InvalidSDPError, SessionDescription

VALID = (
    "v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n"
)
LINES = VALID.rstrip("\r\n").split("\r\n")


@st.composite
def mutated_sdp(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["drop", "dup", "garbage", "truncate", "swap", "value"]))
        index = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if not lines:
            break
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "garbage":
            lines.insert(index, draw(st.text(max_size=40)))
        elif action == "truncate":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            key = lines[index].split("=", 1)[0]
            lines[index] = key + "=" + draw(st.text(max_size=60))
    return "\r\n".join(lines) + "\r\n"


def check_description(kind: object, text: object) -> None:
    try:
        SessionDescription(kind, text)  # type: ignore[arg-type]
    except InvalidSDPError:
        pass


def check_candidate(data: object) -> None:
    try:
        IceCandidate.from_dict(data)  # type: ignore[arg-type]
    except InvalidSDPError:
        pass


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(
    st.sampled_from(["offer", "answer", "pranswer", "bogus"]), st.one_of(mutated_sdp(), st.text())
)
def fuzz_descriptions(kind: str, text: str) -> None:
    check_description(kind, text)


@SETTINGS
@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["candidate", "sdpMLineIndex", "sdpMid", "x"]),
            st.one_of(st.text(), st.integers(), st.none(), st.booleans(), st.floats()),
        ),
        st.builds(
            lambda parts, index: {
                "candidate": "candidate:" + " ".join(parts),
                "sdpMLineIndex": index,
            },
            st.lists(st.text(alphabet="0123456789abcdefUDPtcpyhosrlx.:", max_size=12), max_size=10),
            st.integers(-2, 2000),
        ),
        st.text(),
        st.none(),
    )
)
def fuzz_candidates(data: object) -> None:
    check_candidate(data)


if __name__ == "__main__":
    fuzz_descriptions()
    fuzz_candidates()
    sys.stdout.write("fuzzed\n")
