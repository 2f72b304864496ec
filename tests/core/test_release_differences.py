"""What users see is the same on GStreamer 1.22 and 1.26 (docs/gstreamer-versions.md).

1.26 ends gathering with an empty ``on-ice-candidate`` and stopped refusing remote offers
without ``a=fingerprint``; 1.22 did neither. These tests assert the library's behaviour,
which must not depend on the release.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from aiogstwebrtc import InvalidSDPError, PeerConnection
from aiogstwebrtc.sdp import IceCandidate
from tests.helpers import connected_pair


def _without(sdp: str, pattern: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not re.match(pattern, line))


async def test_candidate_events_are_candidates_then_exactly_one_none() -> None:
    events: dict[str, list[IceCandidate | None]] = {"a": [], "b": []}
    a, b = PeerConnection(), PeerConnection()
    forwarding: set[asyncio.Future[None]] = set()
    try:
        for name, ours, theirs in (("a", a, b), ("b", b, a)):

            def record(candidate: IceCandidate | None, name: str = name, theirs=theirs) -> None:  # type: ignore[no-untyped-def]
                events[name].append(candidate)
                if candidate is not None:
                    task = asyncio.ensure_future(theirs.add_ice_candidate(candidate))
                    forwarding.add(task)
                    task.add_done_callback(forwarding.discard)

            ours.on("icecandidate", record)
        channel = await a.create_data_channel("chat")
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        await channel.wait_open(15)
        await a.wait_for_ice_gathering_complete(10)
        await b.wait_for_ice_gathering_complete(10)
        await asyncio.sleep(0.5)  # anything webrtcbin still had to say has arrived
        for name, pc in (("a", a), ("b", b)):
            sequence = events[name]
            assert sequence, f"{name} gathered nothing"
            assert sequence[-1] is None, f"{name}: the last event is not None: {sequence}"
            assert sequence.count(None) == 1, f"{name}: more than one None: {sequence}"
            candidates = [c for c in sequence if c is not None]
            assert candidates, f"{name}: no candidate before the end"
            assert all(c.candidate.startswith("candidate:") for c in candidates), candidates
            assert not any(c.is_end_of_candidates for c in candidates)
            local = pc.local_description
            assert local is not None
            assert local.sdp.count("a=candidate:") == len(candidates)
            assert "a=candidate:\r\n" not in local.sdp
            assert local.sdp.count("a=end-of-candidates") == len(local.media)
        # the other side counts exactly the candidates that were sent to it
        remote = b.remote_description
        assert remote is not None
        sent = [c for c in events["a"] if c is not None]
        assert remote.sdp.count("a=candidate:") == len(sent)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_end_of_candidates_given_as_text_is_not_a_candidate() -> None:
    async with connected_pair() as pair:
        before = pair.answerer.remote_description
        assert before is not None
        count = before.sdp.count("a=candidate:")
        for text in ("", "end-of-candidates", "a=end-of-candidates"):
            await pair.answerer.add_ice_candidate({"candidate": text, "sdpMLineIndex": 0})
        after = pair.answerer.remote_description
        assert after is not None and after.sdp.count("a=candidate:") == count
        assert IceCandidate("a=end-of-candidates", 0).is_end_of_candidates


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda sdp: _without(sdp, r"a=fingerprint:"), "no a=fingerprint"),
        (
            lambda sdp: re.sub(r"a=fingerprint:sha-256 \S+", "a=fingerprint:sha-256 AB:CD", sdp),
            "malformed a=fingerprint",
        ),
        (
            lambda sdp: re.sub(r"a=fingerprint:sha-256 ", "a=fingerprint:sha-999 ", sdp),
            "unknown or refused hash",
        ),
        (
            lambda sdp: re.sub(r"a=fingerprint:sha-256 ", "a=fingerprint:md5 ", sdp),
            "unknown or refused hash",
        ),
        (lambda sdp: sdp.replace("a=setup:actpass", "a=setup:bogus"), "invalid a=setup"),
        (lambda sdp: _without(sdp, r"a=ice-(ufrag|pwd):"), "a=ice-ufrag/a=ice-pwd"),
        (lambda sdp: re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:short", sdp), "malformed a=ice-pwd"),
    ],
    ids=["no-fingerprint", "short-fingerprint", "unknown-hash", "md5", "bad-setup", "no-ice",
         "short-pwd"],
)  # fmt: skip
async def test_an_unauthenticated_remote_offer_is_refused_on_every_release(
    mutate,
    expected: str,  # type: ignore[no-untyped-def]
) -> None:
    a, b = PeerConnection(), PeerConnection()
    try:
        await a.create_data_channel("chat")
        offer = await a.create_offer()
        bad = {"type": "offer", "sdp": mutate(offer.sdp)}
        assert bad["sdp"] != offer.sdp
        with pytest.raises(InvalidSDPError, match=re.escape(expected)):
            await b.set_remote_description(bad)
        with pytest.raises(InvalidSDPError, match=re.escape(expected)):
            await b.handle_offer(bad)
        assert b.signaling_state == "stable"
        assert b.remote_description is None
        # the refused offer left nothing behind: the real one still works
        await a.set_local_description(offer)
        answer = await b.handle_offer(offer)
        assert "a=fingerprint:sha-256 " in answer.sdp
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_an_answer_without_fingerprint_is_refused() -> None:
    a, b = PeerConnection(), PeerConnection()
    try:
        await a.create_data_channel("chat")
        offer = await a.create_offer()
        await a.set_local_description(offer)
        answer = await b.handle_offer(offer)
        with pytest.raises(InvalidSDPError, match="no a=fingerprint"):
            await a.set_remote_description(
                {"type": "answer", "sdp": _without(answer.sdp, r"a=fingerprint:")}
            )
        with pytest.raises(InvalidSDPError, match="must not use a=setup:actpass"):
            await a.set_remote_description(
                {"type": "answer", "sdp": re.sub(r"a=setup:\w+", "a=setup:actpass", answer.sdp)}
            )
        assert a.signaling_state == "have-local-offer"
        await a.set_remote_description(answer)
        assert a.signaling_state == "stable"
    finally:
        await asyncio.gather(a.close(), b.close())


def test_the_release_flags_match_what_raw_webrtcbin_does_here() -> None:
    """compat's flags (what the doctor reports) agree with a live probe of this release."""
    import json
    import subprocess
    import sys

    from aiogstwebrtc import compat
    from tests.conftest import ROOT

    probe = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "probe_webrtcbin.py")],
        capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    measured = json.loads(probe.stdout)
    assert measured["end_of_candidates"]["gathering_completed"]
    assert (
        measured["end_of_candidates"]["empty_candidate_emitted"]
        == compat.emits_empty_end_of_candidates()
    )
    assert measured["fingerprint_required"]["refused"] == compat.webrtcbin_checks_fingerprints()
    # still refused by webrtcbin itself on both releases (the library checks them too)
    assert measured["setup_checked"]["refused"]
    assert measured["ice_credentials_required"]["refused"]
    # the fingerprint rewrite is still needed: webrtcbin hashes more than the certificate
    assert not measured["pem_fingerprint"]["correct"]
    listed = {item.name: item.applied for item in compat.workarounds()}
    assert listed["end-of-candidates-marker"] == compat.emits_empty_end_of_candidates()
    assert listed["own-fingerprint-check"] == (not compat.webrtcbin_checks_fingerprints())
