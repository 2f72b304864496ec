"""Helpers to drive a real aiortc peer (no STUN: iceServers=[])."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from aiogstwebrtc import PeerConnection, SessionDescription


def aiortc_peer() -> RTCPeerConnection:
    """An aiortc peer that never contacts a STUN server."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def to_aiortc(description: SessionDescription) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=description.sdp, type=description.type)


def from_aiortc(description: Any) -> SessionDescription:
    return SessionDescription(description.type, description.sdp)


async def we_offer(ours: PeerConnection, theirs: RTCPeerConnection, *, trickle: bool) -> None:
    """Negotiate with us offering. With ``trickle`` our candidates follow the offer."""
    offer = await ours.create_offer()
    await ours.set_local_description(offer)
    if trickle:
        pending: list[Any] = []

        async def add(candidate: Any) -> None:
            if candidate is None:
                return
            from aiortc.sdp import candidate_from_sdp

            parsed = candidate_from_sdp(candidate.candidate.removeprefix("candidate:"))
            parsed.sdpMid = candidate.sdp_mid
            parsed.sdpMLineIndex = candidate.sdp_mline_index
            await theirs.addIceCandidate(parsed)

        for candidate in ours._negotiator.local_candidates:  # gathered before the handler existed
            pending.append(asyncio.ensure_future(add(candidate)))
        ours.on("icecandidate", add)
        await theirs.setRemoteDescription(to_aiortc(offer))
        await asyncio.gather(*pending)
    else:
        await ours.wait_for_ice_gathering_complete(10)
        local = ours.local_description
        assert local is not None
        await theirs.setRemoteDescription(to_aiortc(local))
    await theirs.setLocalDescription(await theirs.createAnswer())
    await ours.set_remote_description(from_aiortc(theirs.localDescription))


async def they_offer(ours: PeerConnection, theirs: RTCPeerConnection) -> None:
    """Negotiate with aiortc offering (it gathers everything before its offer)."""
    await theirs.setLocalDescription(await theirs.createOffer())
    answer = await ours.handle_offer(from_aiortc(theirs.localDescription))
    await ours.wait_for_ice_gathering_complete(10)
    local = ours.local_description
    assert local is not None and local.type == answer.type
    await theirs.setRemoteDescription(to_aiortc(local))
