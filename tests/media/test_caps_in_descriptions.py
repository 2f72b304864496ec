"""An offer or answer names what each sender sends: its SSRC and codec parameters.

webrtcbin takes them from the caps on the sender's pad, which come with its first buffer.
A passthrough viewer of a camera gets its first key unit up to a GOP after it joins; a
description made before that had no ``a=ssrc`` and no H.264 ``profile-level-id`` /
``sprop-parameter-sets``, and Chromium then decoded nothing (issue 18's WHEP player).
The camera here sends a key unit every 5 s and ignores requests for one (as many do), so
nothing waits for one by chance.
"""

from __future__ import annotations

from typing import Any

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import Broadcast, VideoSource
from tests.aiortc_peer import aiortc_peer

FIVE_SECONDS_GOP = 150  # frames at 30 fps


def names_the_stream(sdp: str) -> list[str]:
    """What a description lacks of the stream's identity (empty: nothing)."""
    wanted = ("a=ssrc:", "profile-level-id=", "sprop-parameter-sets=", "packetization-mode=1")
    return [part for part in wanted if part not in sdp]


async def test_an_answer_to_a_recvonly_offer_names_the_passed_through_stream(
    camera: Any,
) -> None:
    rtsp = camera("h264", gop=FIVE_SECONDS_GOP, deaf=True)
    async with Broadcast(video=VideoSource.from_rtsp(rtsp.url)) as broadcast:
        ours, theirs = PeerConnection(), aiortc_peer()
        try:
            theirs.addTransceiver("video", direction="recvonly")
            await theirs.setLocalDescription(await theirs.createOffer())
            await ours.set_remote_description({"type": "offer", "sdp": theirs.localDescription.sdp})
            await ours.add_track(broadcast.video)  # type: ignore[arg-type]
            answer = await ours.create_answer()
            assert names_the_stream(answer.sdp) == [], answer.sdp
        finally:
            await ours.close()
            await theirs.close()


async def test_an_offer_names_the_passed_through_stream(camera: Any) -> None:
    rtsp = camera("h264", gop=FIVE_SECONDS_GOP, deaf=True)
    async with Broadcast(video=VideoSource.from_rtsp(rtsp.url)) as broadcast:
        pc = PeerConnection()
        try:
            await pc.add_track(broadcast.video)  # type: ignore[arg-type]
            offer = await pc.create_offer()
            assert names_the_stream(offer.sdp) == [], offer.sdp
        finally:
            await pc.close()
