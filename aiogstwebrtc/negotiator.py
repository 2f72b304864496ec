"""The negotiation steps of one peer connection: descriptions and ICE candidates.

:class:`Negotiator` checks each description (state rules, our remote checks), hands it to
webrtcbin through the :class:`~aiogstwebrtc.pipeline.PeerPipeline`, keeps what was applied,
and then lets the parts that depend on it follow (SCTP noted, media fitted, queued remote
candidates applied). Local candidates come back here from webrtcbin's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from .certificate import with_fingerprint
from .channels import PeerChannels
from .errors import ClosedError, InvalidSDPError, InvalidStateError, NegotiationError
from .events import EventEmitter
from .icerestart import (
    MAX_TURN_SERVERS,
    IceCredentials,
    IceGenerations,
    credentials_of,
    renew_relays,
    restart_ice_streams,
    with_credentials,
)
from .iceservers import TurnServer
from .localnames import LocalNames, without_local_names
from .mdns import is_local_name
from .media.peer import PeerMedia
from .negotiation import (
    LOCAL_ALLOWED,
    REMOTE_ALLOWED,
    description_extractor,
    no_reply,
    to_gst_description,
)
from .pipeline import PeerPipeline
from .remote_checks import check_remote_description
from .sdp import IceCandidate, SessionDescription, with_candidates
from .states import PeerStates

__all__ = ["Negotiator", "as_description"]

log = logging.getLogger(__name__)

#: How long an ICE restart's new TURN allocations may keep the gathering state at
#: ``gathering`` (non-trickle signalling waits for it); an allocation answers within a few
#: round trips, a refused one only makes libnice give up after 2 s.
RELAY_RENEWAL_WAIT = 1.0


def as_description(description: SessionDescription | Mapping[str, Any]) -> SessionDescription:
    """``description`` as a :class:`SessionDescription` (a dict ``{"type", "sdp"}`` is parsed)."""
    if isinstance(description, SessionDescription):
        return description
    if isinstance(description, Mapping):
        return SessionDescription.from_dict(description)
    raise InvalidSDPError(
        f"expected a SessionDescription or a dict, not {type(description).__name__}"
    )


class Negotiator:
    """Offer, answer, local and remote descriptions, and the candidates of both sides."""

    def __init__(
        self,
        pipeline: PeerPipeline,
        states: PeerStates,
        channels: PeerChannels,
        media: PeerMedia,
        events: EventEmitter,
    ) -> None:
        """The steps run on ``pipeline``; the parts that follow a description are given."""
        self._pipeline = pipeline
        self._states = states
        self._channels = channels
        self._media = media
        self._events = events
        self.local: SessionDescription | None = None
        self.remote: SessionDescription | None = None
        self.local_candidates: list[IceCandidate] = []
        self._remote_candidates: list[IceCandidate] = []
        self._queued_candidates: list[IceCandidate] = []
        #: Remote candidates naming an mDNS host, resolved and applied again.
        self.local_names = LocalNames(self.add_remote_candidate)
        self._end_of_candidates_sent = False
        #: Both sides' ICE credentials and the restarts between them.
        self.generations = IceGenerations()
        self._local_ufrag: str | None = None  # the generation local candidates belong to
        #: New TURN allocations of an ICE restart are under way.
        self.regathering = False
        self._regathering_bound: asyncio.TimerHandle | None = None
        self._relay_renewals = 0

    # --- descriptions ------------------------------------------------------------------------

    @property
    def local_description(self) -> SessionDescription | None:
        """The local description with the candidates gathered so far (as in browsers)."""
        description = self.local
        if description is None:
            return None
        complete = self._states.ice_gathering_state == "complete"
        sdp = with_candidates(description.sdp, self.local_candidates, complete)
        return SessionDescription(description.type, sdp)

    @property
    def remote_description(self) -> SessionDescription | None:
        """The remote description, with the remote candidates added since."""
        description = self.remote
        if description is None:
            return None
        sdp = with_candidates(description.sdp, self._remote_candidates, False)
        return SessionDescription(description.type, sdp)

    async def create_offer(self) -> SessionDescription:
        """webrtcbin's offer, with our certificate's fingerprint."""
        self._require_state("create_offer", ("stable", "have-local-offer"))
        await self._media.wait_for_sender_caps()
        sdp = await self._run("create-offer", None, extract=description_extractor("offer"))
        credentials = self.generations.offer_credentials()
        if credentials is not None:  # restart_ice(): webrtcbin would reuse the last ones
            sdp = with_credentials(sdp, credentials)
        return SessionDescription("offer", self._own_fingerprint(sdp))

    async def create_answer(self) -> SessionDescription:
        """webrtcbin's answer to the remote offer, with our certificate's fingerprint."""
        self._require_state("create_answer", ("have-remote-offer", "have-local-pranswer"))
        if self.remote is not None and self.remote.type == "offer":
            mismatch = self._media.check_codecs(self.remote)  # tracks added since the offer
            if mismatch is not None:
                raise NegotiationError(
                    f"no common codec: {mismatch}",
                    operation="create-answer",
                    signaling_state=self._states.signaling_state,
                )
            await self._media.fit_to_offer(self.remote)
        await self._media.wait_for_sender_caps()
        sdp = await self._run("create-answer", None, extract=description_extractor("answer"))
        credentials = self.generations.answer_credentials()
        if credentials is not None:  # the offer restarted ICE: so does the answer
            sdp = with_credentials(sdp, credentials)
        return SessionDescription("answer", self._own_fingerprint(sdp))

    async def set_local_description(
        self, description: SessionDescription | Mapping[str, Any] | None
    ) -> None:
        """Apply a local offer or answer (created now when ``description`` is None)."""
        if description is None:
            if self._states.signaling_state in ("have-remote-offer", "have-local-pranswer"):
                description = await self.create_answer()
            else:
                description = await self.create_offer()
        description = as_description(description)
        self._require_state(
            f"set_local_description({description.type})", LOCAL_ALLOWED[description.type]
        )
        self._pipeline.require_webrtc()
        credentials = _credentials(description)
        if credentials is not None:
            self._local_ufrag = credentials.ufrag
        restarts = description.type == "offer" and self.generations.local_offer_renews(credentials)
        await self._run("set-local-description", to_gst_description(description), extract=no_reply)
        if restarts:
            # after webrtcbin applied it: webrtcbin gives libnice the remote description's
            # candidates again then, which without remote credentials fail at once
            await self._restart_ice_streams()
        self.local = description if description.type != "rollback" else None
        renewed = credentials is not None and self.generations.local not in (None, credentials)
        self.generations.local_applied(credentials)
        self._channels.note_sctp(description)
        await self._media.refresh_transceivers()
        if renewed:
            servers = self._begin_relay_renewal()
            self._announce_candidates_again()
            if servers:
                webrtc = self._pipeline.require_webrtc()
                asked = await self._pipeline.call(renew_relays, webrtc, servers)
                log.info("ICE restart: %d new TURN allocation(s) asked for", asked)

    async def set_remote_description(
        self, description: SessionDescription | Mapping[str, Any]
    ) -> None:
        """Apply the remote offer or answer, then the ICE candidates queued before it."""
        description = as_description(description)
        self._require_state(
            f"set_remote_description({description.type})", REMOTE_ALLOWED[description.type]
        )
        if description.type in ("offer", "answer", "pranswer") and not description.media:
            raise InvalidSDPError("the remote description has no media sections")
        check_remote_description(description)
        self._pipeline.require_webrtc()
        mismatch = self._media.check_codecs(description)
        if mismatch is not None:
            raise NegotiationError(
                f"no common codec: {mismatch}",
                operation="set-remote-description",
                signaling_state=self._states.signaling_state,
            )
        if any(section.kind == "application" for section in description.media):
            await self._channels.ensure_keepalive_channel()
        # mDNS-named candidates are ours to resolve (LocalNames): webrtcbin would ask DNS
        gst_description = to_gst_description(description, without_local_names(description.sdp))
        credentials = _credentials(description)
        is_offer = description.type == "offer"
        if credentials is not None and self.generations.remote not in (None, credentials):
            self._remote_candidates = []  # a new generation: the old candidates are over
        kept = self.generations.remote_kept(credentials, is_offer)
        if kept is not None:
            await self._keep_credentials(kept)
        elif self.generations.remote_renews(credentials, is_offer):
            await self._restart_ice_streams()
        await self._run("set-remote-description", gst_description, extract=no_reply)
        if description.type == "rollback":
            self.remote = None
            return
        self.remote = description
        if kept is not None:
            await self._candidates_again()
        self.generations.remote_applied(credentials)
        self.local_names.take_description(description)
        self._channels.note_sctp(description)
        await self._media.after_remote_description(description)
        queued, self._queued_candidates = self._queued_candidates, []
        for candidate in queued:
            if self._old_generation(candidate):
                continue
            if self._later_generation(candidate):
                self._queued_candidates.append(candidate)
                continue
            try:
                await self._apply_candidate(candidate)
            except InvalidSDPError as exc:
                log.warning("dropped a remote ICE candidate queued early: %s", exc)

    # --- remote candidates -------------------------------------------------------------------

    async def add_remote_candidate(self, candidate: IceCandidate) -> None:
        """Apply ``candidate``, or queue it until the remote description is set.

        A candidate naming its ICE generation (``username_fragment`` or a ``ufrag``
        extension) is ignored when that generation is over (an ICE restart followed), and
        queued when the remote description of its generation has not come yet.
        """
        if self._old_generation(candidate):
            return
        self.local_names.take(candidate)
        if self.remote is None or self._later_generation(candidate):
            self._queued_candidates.append(candidate)
            return
        await self._apply_candidate(candidate)

    def _old_generation(self, candidate: IceCandidate) -> bool:
        ufrag = candidate.ufrag
        if ufrag is None or ufrag not in self.generations.old_remote:
            return False
        if self.generations.remote is not None and ufrag == self.generations.remote.ufrag:
            return False
        log.debug("ignored a remote ICE candidate of an earlier generation (ufrag %s)", ufrag)
        return True

    def _later_generation(self, candidate: IceCandidate) -> bool:
        ufrag, remote = candidate.ufrag, self.generations.remote
        return ufrag is not None and remote is not None and ufrag != remote.ufrag

    async def _apply_candidate(self, candidate: IceCandidate) -> None:
        assert self.remote is not None
        sections = self.remote.media
        index = candidate.sdp_mline_index
        if candidate.sdp_mid is not None:
            by_mid = [section.index for section in sections if section.mid == candidate.sdp_mid]
            if by_mid:
                index = by_mid[0]
            elif index is None:
                raise InvalidSDPError(f"ICE candidate for unknown sdpMid {candidate.sdp_mid!r}")
        if index is None or index >= len(sections):
            raise InvalidSDPError(
                f"ICE candidate for m-line {index}, but the remote description has "
                f"{len(sections)} m-line(s)"
            )
        if not is_local_name(candidate.address):  # else LocalNames applies its address
            webrtc = self._pipeline.require_webrtc()
            await self._pipeline.call(webrtc.emit, "add-ice-candidate", index, candidate.candidate)
        self._remote_candidates.append(candidate)

    # --- local candidates (asyncio thread, posted from webrtcbin's) -------------------------

    def on_local_candidate(self, mline: int, text: str) -> None:
        """webrtcbin gathered a candidate for m-line ``mline``: the ``icecandidate`` event."""
        if self._pipeline.closed:
            return
        mid = None
        if self.local is not None:
            sections = self.local.media
            if mline < len(sections):
                mid = sections[mline].mid
        try:
            candidate = IceCandidate(text, mline, mid, self._local_ufrag)
        except InvalidSDPError:
            log.warning("webrtcbin produced an unusable candidate %r", text)
            return
        if candidate.is_end_of_candidates:
            # GStreamer 1.26 marks the end of gathering with an empty candidate; 1.22 does
            # not. Either way the one ``None`` comes from ice-gathering-state ``complete``.
            log.debug("webrtcbin's end-of-candidates marker on m-line %d", mline)
            self.maybe_end_candidates()
            return
        self.local_candidates.append(candidate)
        self._end_of_candidates_sent = False
        self._events.emit("icecandidate", candidate)

    def maybe_end_candidates(self) -> None:
        """Emit the one ``icecandidate`` ``None`` once gathering is complete."""
        if self._states.ice_gathering_state == "complete" and not self._end_of_candidates_sent:
            self._end_of_candidates_sent = True
            self._events.emit("icecandidate", None)

    # --- ICE restart -------------------------------------------------------------------------

    def request_ice_restart(self) -> bool:
        """``restart_ice()``: the next offer restarts ICE. True when ``negotiationneeded``
        must follow (``stable``, a session negotiated, no restart asked for already)."""
        generations = self.generations
        if generations.local is None:
            return False  # nothing negotiated yet: the first offer has fresh credentials
        already = generations.restart_requested
        generations.restart_requested = True
        return not already and self._states.signaling_state == "stable"

    async def _restart_ice_streams(self) -> None:
        """libnice's stream restarts with our credentials of the new generation."""
        credentials = self.generations.pending
        assert credentials is not None
        webrtc = self._pipeline.require_webrtc()
        streams = await self._pipeline.call(restart_ice_streams, webrtc, credentials)
        self.generations.stream_restarted()
        log.info("ICE restart: libnice stream(s) %s restarted", streams)

    def _begin_relay_renewal(self) -> list[TurnServer]:
        """The TURN servers to allocate on again for the new generation (the allocations
        may have died with a NAT mapping); ``ice_gathering_state`` is then ``gathering``
        until libnice is done."""
        servers = self._pipeline.config.ice_plan().turn_servers
        if not servers:
            return []
        if (self._relay_renewals + 2) * len(servers) > MAX_TURN_SERVERS:
            log.info("ICE restart: libnice takes no more TURN servers; no new allocation")
            return []
        self._relay_renewals += 1
        self.regathering = True
        self._states.update("ice-gathering-state", "gathering", None)
        self._regathering_bound = asyncio.get_running_loop().call_later(
            RELAY_RENEWAL_WAIT, self.end_regathering
        )
        return servers

    def end_regathering(self) -> None:
        """libnice finished gathering, or :data:`RELAY_RENEWAL_WAIT` passed: an ICE
        restart's new allocations end the gathering state (``complete``, ``icecandidate``
        ``None``). An allocation that is refused (coturn answers 437 to a second allocation
        from the same address and port) makes libnice wait 2 s for it; what comes later
        still comes as an ``icecandidate`` event."""
        if self._regathering_bound is not None:
            self._regathering_bound.cancel()
            self._regathering_bound = None
        if not self.regathering or self._pipeline.closed:
            return
        self.regathering = False
        if self._states.update("ice-gathering-state", "complete", None):
            self.maybe_end_candidates()
            self._states.check_waiters()

    async def _keep_credentials(self, credentials: IceCredentials) -> None:
        """The peer answered our restarting offer without restarting ICE (aiortc does so):
        libnice's stream, restarted for our offer, takes our earlier credentials back, which
        the peer still uses, and later descriptions carry them (the answer's candidates and
        :meth:`_candidates_again` give it the peer's candidates back)."""
        log.warning(
            "ICE restart: the remote peer answered with its old ICE credentials (it does "
            "not restart ICE); the session goes on with the old ones"
        )
        webrtc = self._pipeline.require_webrtc()
        await self._pipeline.call(partial(restart_ice_streams, restart=False), webrtc, credentials)
        self._local_ufrag = credentials.ufrag
        if self.local is not None:
            self.local = SessionDescription(
                self.local.type, with_credentials(self.local.sdp, credentials)
            )
        self.local_candidates = [
            IceCandidate(c.candidate, c.sdp_mline_index, c.sdp_mid, credentials.ufrag)
            for c in self.local_candidates
        ]

    async def _candidates_again(self) -> None:
        """The peer's trickled candidates, again: the stream restarted for our offer dropped
        them, and the peer kept its generation (webrtcbin re-adds only the answer's own)."""
        again, self._remote_candidates = self._remote_candidates, []
        for candidate in again:
            try:
                await self._apply_candidate(candidate)
            except InvalidSDPError as exc:
                log.warning("a remote ICE candidate could not be applied again: %s", exc)

    def _announce_candidates_again(self) -> None:
        """The new generation's local candidates: libnice keeps those it gathered (it does
        not gather again after a restart), so each is announced again with the new ufrag."""
        old, self.local_candidates = self.local_candidates, []
        for candidate in old:
            renewed = IceCandidate(
                candidate.candidate, candidate.sdp_mline_index, candidate.sdp_mid, self._local_ufrag
            )
            self.local_candidates.append(renewed)
            self._events.emit("icecandidate", renewed)
        self._end_of_candidates_sent = False
        self.maybe_end_candidates()

    # --- helpers -----------------------------------------------------------------------------

    async def _run(self, name: str, *args: Any, extract: Any) -> Any:
        return await self._pipeline.run(name, args, extract, lambda: self._states.signaling_state)

    def _own_fingerprint(self, sdp: str) -> str:
        """Put our certificate's real fingerprint into a description webrtcbin made."""
        certificate = self._pipeline.certificate
        if certificate is None:
            return sdp
        return with_fingerprint(sdp, certificate)

    def _require_state(self, operation: str, allowed: tuple[str, ...]) -> None:
        if self._pipeline.closed:
            raise ClosedError("the peer connection is closed")
        state = self._states.signaling_state
        if state not in allowed:
            raise InvalidStateError(
                f"{operation} is not allowed in signaling state {state!r} "
                f"(allowed: {', '.join(allowed)})"
            )


def _credentials(description: SessionDescription) -> IceCredentials | None:
    if description.type not in ("offer", "answer", "pranswer"):
        return None
    return credentials_of(description.sdp)
