"""Trickle ICE in both directions with aiortc, on every GStreamer release.

aiortc puts all its candidates into its SDP; here they are cut out and trickled to us one by
one (some before, some after its description), while ours trickle to aiortc as we gather them.
On 1.26 webrtcbin ends gathering with an empty candidate, which aiortc's parser refuses: none
may reach it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from aiogstwebrtc import DataChannel, IceCandidate, PeerConnection, SessionDescription
from tests.aiortc_peer import aiortc_peer


def _split(sdp: str) -> tuple[str, list[IceCandidate]]:
    """``sdp`` without candidates, and its candidates as trickle messages."""
    lines, candidates, mline = [], [], -1
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            mline += 1
        if line.startswith("a=candidate:"):
            candidates.append(IceCandidate(line[2:], mline))
        elif line != "a=end-of-candidates" and line:
            lines.append(line)
    return "\r\n".join(lines) + "\r\n", candidates


class _ToAiortc:
    """Forwards our trickled candidates to aiortc, recording every event we emitted."""

    def __init__(self, theirs: Any) -> None:
        self.theirs = theirs
        self.events: list[IceCandidate | None] = []
        self.tasks: set[asyncio.Future[None]] = set()
        self.ready = asyncio.Event()  # aiortc has our description

    def __call__(self, candidate: IceCandidate | None) -> None:
        self.events.append(candidate)
        if candidate is not None:
            task = asyncio.ensure_future(self._add(candidate))
            self.tasks.add(task)

    async def _add(self, candidate: IceCandidate) -> None:
        await self.ready.wait()
        parsed = candidate_from_sdp(candidate.candidate.removeprefix("candidate:"))
        parsed.sdpMid = candidate.sdp_mid
        parsed.sdpMLineIndex = candidate.sdp_mline_index
        await self.theirs.addIceCandidate(parsed)

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)
        assert self.events and self.events[-1] is None and self.events.count(None) == 1
        assert all(c is not None and c.candidate for c in self.events[:-1]), self.events


async def _round_trip(mine: DataChannel, theirs_channel: Any) -> None:
    received: asyncio.Queue[str | bytes] = asyncio.Queue()
    theirs_channel.on("message", received.put_nowait)
    mine.send("over trickled candidates")
    assert await asyncio.wait_for(received.get(), 10) == "over trickled candidates"


async def test_aiortc_offers_both_sides_trickle() -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    forward = _ToAiortc(theirs)
    ours.on("icecandidate", forward)
    try:
        their_channel = theirs.createDataChannel("trickled")
        got: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        ours.on("datachannel", got.set_result)
        await theirs.setLocalDescription(await theirs.createOffer())
        bare, candidates = _split(theirs.localDescription.sdp)
        assert candidates, "aiortc gathered no candidate in the namespace"
        half = len(candidates) // 2
        for candidate in candidates[:half]:  # before the offer: queued
            await ours.add_ice_candidate(candidate.to_dict())
        answer = await ours.handle_offer(SessionDescription("offer", bare))
        for candidate in candidates[half:]:
            await ours.add_ice_candidate(candidate)
        await ours.add_ice_candidate({"candidate": "", "sdpMLineIndex": 0})
        await theirs.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        forward.ready.set()
        mine = await asyncio.wait_for(got, 15)
        await mine.wait_open(15)
        await ours.wait_for_ice_gathering_complete(10)
        await forward.settle()
        await _round_trip(mine, their_channel)
        remote = ours.remote_description
        assert remote is not None and remote.sdp.count("a=candidate:") == len(candidates)
    finally:
        await ours.close()
        await theirs.close()


async def test_we_offer_both_sides_trickle() -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    forward = _ToAiortc(theirs)
    ours.on("icecandidate", forward)
    try:
        opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        theirs.on("datachannel", opened.set_result)
        mine = await ours.create_data_channel("trickled")
        offer = await ours.create_offer()
        await ours.set_local_description(offer)
        assert "a=candidate:" not in offer.sdp
        await theirs.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
        forward.ready.set()
        await theirs.setLocalDescription(await theirs.createAnswer())
        bare, candidates = _split(theirs.localDescription.sdp)
        await ours.set_remote_description(SessionDescription("answer", bare))
        for candidate in candidates:
            await ours.add_ice_candidate(candidate)
        await mine.wait_open(15)
        await ours.wait_for_ice_gathering_complete(10)
        await forward.settle()
        await _round_trip(mine, await asyncio.wait_for(opened, 10))
    finally:
        await ours.close()
        await theirs.close()
