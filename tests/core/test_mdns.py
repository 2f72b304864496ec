"""mDNS names of remote candidates: what is a name, what an answer says, junk from the link
ignored, no responder costs one short timeout, and the candidate gets the address."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from aiogstwebrtc.localnames import (
    MAX_NAMES,
    LocalNames,
    candidates_in,
    with_address,
    without_local_names,
)
from aiogstwebrtc.mdns import is_local_name, parse_answer, resolve_local_name
from aiogstwebrtc.sdp import IceCandidate, SessionDescription

NAME = "4fb9e425-4a72-4a8c-b88d-2b5d1ccd8443.local"
LINE = f"candidate:3387436252 1 udp 2113937151 {NAME} 55508 typ host generation 0"


def _labels(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def _response(name: str, records: list[tuple[int, bytes]]) -> bytes:
    """An mDNS response: the name once, then pointers to it (as responders compress)."""
    out = struct.pack("!HHHHHH", 0, 0x8400, 0, len(records), 0, 0)
    first = True
    for rtype, rdata in records:
        owner = _labels(name) if first else struct.pack("!H", 0xC000 | 12)
        first = False
        out += owner + struct.pack("!HHIH", rtype, 0x8001, 120, len(rdata)) + rdata
    return out


def test_only_the_names_browsers_use_are_resolved() -> None:
    assert is_local_name(NAME) and is_local_name(NAME.upper()) and is_local_name(NAME + ".")
    # not the LAN's named hosts: a remote peer cannot make us look those up
    for other in ("printer.local", "host.local.", "192.168.1.2", "fe80::1", "example.com"):
        assert not is_local_name(other)


def test_an_answer_gives_its_address_and_the_unspecified_one_is_no_answer() -> None:
    a = (1, bytes([192, 168, 1, 2]))
    unspecified = (28, bytes(16))  # Chromium answers AAAA with ::
    assert parse_answer(_response(NAME, [unspecified, a]), NAME) == "192.168.1.2"
    assert parse_answer(_response(NAME, [unspecified]), NAME) is None
    assert parse_answer(_response("other.local", [a]), NAME) is None
    v6 = (28, bytes([0xFD] + [0] * 14 + [1]))
    assert parse_answer(_response(NAME, [v6]), NAME) == "fd00::1"


def test_junk_from_the_link_is_ignored() -> None:
    good = _response(NAME, [(1, bytes([10, 0, 0, 1]))])
    query = bytearray(good)
    query[2:4] = b"\0\0"  # a query, not a response
    for junk in (b"", b"\x00" * 5, good[:20], good[:-2], bytes(query), b"\xff" * 64):
        assert parse_answer(junk, NAME) is None


async def test_no_responder_costs_one_short_timeout() -> None:
    started = time.monotonic()
    assert await resolve_local_name(NAME, timeout=0.3) is None
    assert time.monotonic() - started < 2
    with pytest.raises(ValueError, match="not an mDNS name"):
        await resolve_local_name("printer.local")


def test_the_resolved_candidate_keeps_everything_but_the_name() -> None:
    candidate = IceCandidate(LINE, 0, "0", "ufrag1")
    resolved = with_address(candidate, "192.168.1.2")
    assert resolved.address == "192.168.1.2"
    assert resolved.candidate == LINE.replace(NAME, "192.168.1.2")
    assert (resolved.sdp_mline_index, resolved.sdp_mid, resolved.ufrag) == (0, "0", "ufrag1")
    sdp = (
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
        f"a=mid:0\r\na={LINE}\r\na=candidate:junk\r\n"
    )
    assert candidates_in(SessionDescription("answer", sdp)) == [IceCandidate(LINE, 0, "0")]


def test_webrtcbin_gets_no_mdns_named_candidate_to_resolve_through_dns() -> None:
    """webrtcbin hands a candidate's host name to the system resolver, which asks the unicast
    DNS server for ``UUID.local`` (seen leaving a test's namespace): such lines are kept
    from it; every other line stays as it was."""
    other = "candidate:2 1 udp 2113937151 192.168.1.2 50000 typ host"
    sdp = f"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na={LINE}\r\na={other}\r\n"
    assert without_local_names(sdp) == sdp.replace(f"a={LINE}\r\n", "")
    assert without_local_names(sdp.replace("\r\n", "\n")) == sdp.replace(
        f"a={LINE}\r\n", ""
    ).replace("\r\n", "\n")
    plain = sdp.replace(f"a={LINE}\r\n", "")
    assert without_local_names(plain) is plain


async def test_closing_stops_the_resolutions_under_way() -> None:
    applied: list[IceCandidate] = []

    async def apply(candidate: IceCandidate) -> None:
        applied.append(candidate)

    names = LocalNames(apply)
    names.take(IceCandidate(LINE, 0, "0"))
    names.take(IceCandidate(LINE.replace("55508", "55509"), 0, "0"))  # same name, one query
    names.take(IceCandidate(LINE.replace(NAME, "192.168.1.2"), 0, "0"))  # not a name
    await asyncio.sleep(0.05)
    assert len(names._names) == 1
    await names.close()
    assert applied == [] and not names._tasks
    names.take(IceCandidate(LINE, 0, "0"))  # after close: nothing starts
    assert not names._tasks


async def test_a_peer_sending_many_names_gets_a_bounded_number_of_queries() -> None:
    async def apply(candidate: IceCandidate) -> None:
        pass

    names = LocalNames(apply)
    for n in range(MAX_NAMES + 10):
        names.take(IceCandidate(LINE.replace(NAME[:8], f"{n:08x}"), 0, "0"))
    assert len(names._names) == MAX_NAMES
    await names.close()
