"""ICE restart over WHIP/WHEP (RFC 9725 4.4): a ``PATCH`` whose fragment has new credentials.

Neither side renegotiates SDP: the client sends its new ``ice-ufrag``/``ice-pwd`` (and
candidates) in a trickle-ice-sdpfrag, the server answers ``200`` with its own new ones.
Both sides run it through their peer connection's ICE restart (:mod:`aiogstwebrtc.icerestart`)
as if it were one: the server applies the client's last offer with the new credentials and
answers it; the client makes a restarting offer and applies the server's last answer with the
server's new credentials. No media section changes.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import OperationTimeoutError
from ..peerconnection import PeerConnection
from ..sdp import SessionDescription
from .sdpfrag import Fragment, fragment_of, renewed_description

__all__ = ["answer_restart", "finish_restart", "start_restart"]

log = logging.getLogger(__name__)

#: How long the side of a restart waits for its candidates of the new generation.
CANDIDATES_WAIT = 3.0


async def _candidates_of_now(pc: PeerConnection) -> str:
    """The fragment of our local description once the new generation's candidates are in."""
    try:
        await pc.wait_for_ice_gathering_complete(CANDIDATES_WAIT)
    except (OperationTimeoutError, TimeoutError):
        log.info("ICE restart: candidates still being gathered; sending those there are")
    local = pc.local_description
    assert local is not None
    return fragment_of(local.sdp)


async def answer_restart(pc: PeerConnection, fragment: Fragment) -> str:
    """Server side: restart ICE with the client's new credentials; our fragment to send back.

    The client's last offer is applied again with its new credentials (no candidates, no
    other change) and answered: the answer has our new credentials and libnice's stream
    restarts. The fragment's candidates are then added.
    """
    credentials = fragment.credentials
    remote = pc.remote_description
    if credentials is None or remote is None:
        raise ValueError("an ICE restart needs a=ice-ufrag and a=ice-pwd, after an offer")
    offer_type = remote.type
    if offer_type != "offer":
        raise ValueError(f"the last remote description is an {offer_type}, not an offer")
    await pc.set_remote_description(
        SessionDescription("offer", renewed_description(remote.sdp, credentials))
    )
    answer = await pc.create_answer()
    await pc.set_local_description(answer)
    for candidate in fragment.candidates:
        await pc.add_ice_candidate(candidate)
    return await _candidates_of_now(pc)


async def start_restart(pc: PeerConnection) -> str:
    """Client side: a restarting offer made and applied; the fragment to PATCH."""
    await pc.restart_ice()
    await asyncio.sleep(0)  # let restart_ice's negotiationneeded go before the offer
    await pc.set_local_description(await pc.create_offer())
    return await _candidates_of_now(pc)


async def finish_restart(pc: PeerConnection, answer: SessionDescription, reply: Fragment) -> None:
    """Client side: the server's ``200`` fragment applied as the answer to our restarting
    offer (its last answer with the new credentials), then its candidates."""
    credentials = reply.credentials
    if credentials is None:
        raise ValueError("the server's restart answer has no a=ice-ufrag/a=ice-pwd")
    await pc.set_remote_description(
        SessionDescription("answer", renewed_description(answer.sdp, credentials))
    )
    for candidate in reply.candidates:
        await pc.add_ice_candidate(candidate)
