"""The signalling server's rules, without I/O: peers, sessions and who gets what.

:class:`Router` is fed events (a peer connected, sent this text, left) and answers with
the messages to send, as ``(peer_id, message)`` pairs in send order. The aiohttp server
only moves text between sockets and a router, so every routing and validation rule is
tested here synchronously.

Rules, beyond the message shapes checked by :mod:`.protocol`:

* ``setPeerStatus`` is echoed to the sender as ``peerStatusChanged`` (``gstwebrtc-api``
  waits for that echo before listing); other listeners hear about real changes only.
  A peer may not be producer and consumer at once, nor set another peer's status.
  Dropping the producer (or consumer) role ends the sessions held in that role.
* ``startSession`` towards a producer makes the sender the consumer; towards a passive
  consumer it needs the sender to be a producer; a peer with neither role is refused in
  the words used for an unknown one. The consumer gets ``sessionStarted``
  first, then the producer gets ``startSession``; both name the *other* side.
  Only the consumer side may attach an offer. Each peer is in at most
  ``max_sessions_per_peer`` sessions, and a consumer has at most
  ``max_sessions_per_pair`` with one producer (so one connection cannot take every slot
  of a producer); a refusal for a full peer says "busy", without counts.
* ``list``/``listConsumers`` replies are built once per change of the producer (consumer)
  set and reused until the next change: a burst of requests costs no more work than one.
* ``peer`` and ``endSession`` are accepted only from the two members of the session;
  the consumer may not forward an offer. Messages about a session that ended a moment
  ago (a normal race while trickling) are dropped quietly instead of refused.
* A peer that leaves ends its sessions (the other side gets ``endSession``) and, if it
  had announced roles, listeners get ``peerStatusChanged`` with no roles.

Every refusal is an ``error`` message to the sender only; nothing a peer sends changes
another peer's sessions except through the rules above.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from .protocol import (
    MAX_MESSAGE_SIZE,
    ClientMessage,
    ConsumerList,
    EndSession,
    ErrorMessage,
    ListConsumers,
    ListProducers,
    Meta,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ProducerList,
    ProtocolError,
    ServerMessage,
    SessionRequested,
    SessionStarted,
    SetPeerStatus,
    SetProtocolVersion,
    StartSession,
    Welcome,
    parse_client_message,
)

__all__ = ["Outgoing", "PeerState", "Router", "Session"]

log = logging.getLogger(__name__)

Outgoing: TypeAlias = tuple[str, ServerMessage]
"""``(peer_id, message)``: send ``message`` to the peer ``peer_id``."""

RECENTLY_ENDED_LIMIT = 4096
"""How many ended sessions are remembered to drop late messages about them quietly."""


@dataclass(frozen=True, slots=True)
class Session:
    """A session between a producer and a consumer peer."""

    id: str
    producer: str
    consumer: str

    def other(self, peer_id: str) -> str:
        """The member that is not ``peer_id``."""
        return self.consumer if peer_id == self.producer else self.producer

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in (self.producer, self.consumer)


@dataclass(slots=True)
class PeerState:
    """What the router knows about one connected peer."""

    id: str
    roles: tuple[PeerRole, ...] = ()
    meta: Meta | None = None
    sessions: set[str] = field(default_factory=set)
    protocol_version: str | None = None
    received_first_message: bool = False
    server: str | None = None
    """The cluster server holding this peer's connection; None for a peer connected here."""

    @property
    def local(self) -> bool:
        """True when this peer's connection is on this server (always, outside a cluster)."""
        return self.server is None

    @property
    def producing(self) -> bool:
        """True when registered as a producer."""
        return PeerRole.PRODUCER in self.roles

    @property
    def consuming(self) -> bool:
        """True when registered as a passive consumer."""
        return PeerRole.CONSUMER in self.roles

    @property
    def listening(self) -> bool:
        """True when registered as a listener."""
        return PeerRole.LISTENER in self.roles


class _Refused(Exception):
    """A request the rules refuse; becomes an ``error`` message to its sender."""


def _new_id() -> str:
    return str(uuid.uuid4())


class Router:
    """Peer registry, sessions and routing of the signalling server, free of I/O.

    ``max_sessions_per_peer`` caps the sessions one peer can be in (either side),
    ``max_sessions_per_pair`` those between one consumer and one producer;
    ``max_message_size`` is the largest accepted text in bytes; ``id_factory`` makes
    peer and session ids (random UUIDs by default; tests pass a counter).
    """

    def __init__(
        self,
        *,
        max_sessions_per_peer: int = 64,
        max_sessions_per_pair: int = 2,
        max_message_size: int = MAX_MESSAGE_SIZE,
        id_factory: Callable[[], str] = _new_id,
        sort_listings: bool = False,
    ) -> None:
        if max_sessions_per_peer < 1 or max_sessions_per_pair < 1:
            raise ValueError("max_sessions_per_peer and max_sessions_per_pair must be >= 1")
        self.max_sessions_per_peer = max_sessions_per_peer
        self.max_sessions_per_pair = max_sessions_per_pair
        self._listings: dict[PeerRole, ProducerList | ConsumerList] = {}
        self.max_message_size = max_message_size
        self._new_id = id_factory
        self._sort_listings = sort_listings
        self._peers: dict[str, PeerState] = {}
        self._sessions: dict[str, Session] = {}
        self._recently_ended: OrderedDict[str, Session] = OrderedDict()

    # ------------------------------------------------------------------ views

    @property
    def peers(self) -> Mapping[str, PeerState]:
        """Connected peers by id (read-only view)."""
        return MappingProxyType(self._peers)

    @property
    def sessions(self) -> Mapping[str, Session]:
        """Open sessions by id (read-only view)."""
        return MappingProxyType(self._sessions)

    def listeners(self) -> list[str]:
        """The ids of the peers connected here and registered as listeners."""
        return [p.id for p in self._peers.values() if p.listening and p.local]

    def sessions_of(self, peer_id: str) -> list[Session]:
        """The open sessions ``peer_id`` is in."""
        peer = self._peers.get(peer_id)
        return [] if peer is None else [self._sessions[s] for s in sorted(peer.sessions)]

    # ------------------------------------------------------------------ connection events

    def connect(self, peer_id: str | None = None) -> tuple[str, list[Outgoing]]:
        """Register a new connection; return its peer id and the ``welcome`` to send."""
        if peer_id is None:
            peer_id = self._unused_id(self._peers)
        elif peer_id in self._peers:
            raise ValueError(f"peer id {peer_id!r} is already connected")
        self._peers[peer_id] = PeerState(id=peer_id)
        log.debug("peer %s connected (%d peers)", peer_id, len(self._peers))
        return peer_id, [(peer_id, Welcome(peer_id=peer_id))]

    def disconnect(self, peer_id: str) -> list[Outgoing]:
        """Forget ``peer_id``: end its sessions and tell listeners it has no roles left."""
        peer = self._peers.pop(peer_id, None)
        if peer is None:
            return []
        out: list[Outgoing] = []
        for session_id in sorted(peer.sessions):
            out.extend(self._end(session_id, by=peer_id))
        self._listed_changed(peer.roles)
        if peer.roles:
            gone = PeerStatusChanged(peer_id=peer_id, roles=(), meta=peer.meta)
            out.extend((p, gone) for p in self.listeners())
        log.debug(
            "peer %s left (%d peers, %d sessions)", peer_id, len(self._peers), len(self._sessions)
        )
        return out

    def receive(self, peer_id: str, data: str | bytes) -> list[Outgoing]:
        """Handle the text ``peer_id`` sent; invalid text gets an ``error`` reply."""
        try:
            message = parse_client_message(data, max_size=self.max_message_size)
        except ProtocolError as exc:
            log.debug("peer %s sent an invalid message: %s", peer_id, exc)
            return [(peer_id, ErrorMessage(details=str(exc)))]
        return self.handle(peer_id, message)

    def handle(self, peer_id: str, message: ClientMessage) -> list[Outgoing]:
        """Apply one parsed ``message`` from ``peer_id``; refusals become ``error`` replies."""
        peer = self._peers.get(peer_id)
        if peer is None:
            raise KeyError(f"peer {peer_id!r} is not connected")
        try:
            out = self._dispatch(peer, message)
        except _Refused as exc:
            details = f"{message.TYPE}: {exc}"
            log.debug("refused from peer %s: %s", peer_id, details)
            out = [(peer_id, ErrorMessage(details=details))]
        peer.received_first_message = True
        return out

    # ------------------------------------------------------------------ handlers

    def _dispatch(self, peer: PeerState, message: ClientMessage) -> list[Outgoing]:
        match message:
            case SetPeerStatus():
                return self._set_peer_status(peer, message)
            case StartSession():
                return self._start_session(peer, message)
            case PeerSdp() | PeerIce():
                return self._forward(peer, message)
            case EndSession():
                return self._end_session(peer, message)
            case ListProducers() | ListConsumers():
                return [(peer.id, self.listing(message))]
            case SetProtocolVersion():
                return self._set_protocol_version(peer, message)
        raise _Refused("unsupported message")  # pragma: no cover - exhaustive above

    def _set_protocol_version(self, peer: PeerState, msg: SetProtocolVersion) -> list[Outgoing]:
        if peer.received_first_message:
            raise _Refused("must be the first message of the connection")
        peer.protocol_version = msg.version
        log.debug("peer %s speaks protocol version %s", peer.id, msg.version)
        return []

    def _set_peer_status(self, peer: PeerState, msg: SetPeerStatus) -> list[Outgoing]:
        if msg.peer_id is not None and msg.peer_id != peer.id:
            raise _Refused(f"cannot set the status of another peer ({msg.peer_id!r})")
        if PeerRole.PRODUCER in msg.roles and PeerRole.CONSUMER in msg.roles:
            raise _Refused("a peer cannot be both producer and consumer")
        changed = (set(msg.roles), msg.meta) != (set(peer.roles), peer.meta)
        out: list[Outgoing] = []
        if peer.producing and PeerRole.PRODUCER not in msg.roles:
            for s in self.sessions_of(peer.id):
                if s.producer == peer.id:
                    out.extend(self._end(s.id, by=peer.id))
        if peer.consuming and PeerRole.CONSUMER not in msg.roles:
            for s in self.sessions_of(peer.id):
                if s.consumer == peer.id:
                    out.extend(self._end(s.id, by=peer.id))
        if changed:
            self._listed_changed(peer.roles, msg.roles)
        peer.roles, peer.meta = msg.roles, msg.meta
        status = PeerStatusChanged(peer_id=peer.id, roles=peer.roles, meta=peer.meta)
        out.append((peer.id, status))
        if changed:
            out.extend((p, status) for p in self.listeners() if p != peer.id)
            log.debug(
                "peer %s registered as %s", peer.id, [str(r) for r in peer.roles] or "nothing"
            )
        return out

    def _start_session(self, peer: PeerState, msg: StartSession) -> list[Outgoing]:
        target = self._peers.get(msg.peer_id)
        if target is None or not (target.producing or target.consuming):
            # The same words for a peer with no roles: its existence is not revealed.
            raise _Refused(f"no peer {msg.peer_id!r} to start a session with")
        if target.id == peer.id:
            raise _Refused("cannot start a session with oneself")
        if target.producing:
            producer, consumer = target, peer
        else:
            if not peer.producing:
                raise _Refused(
                    f"peer {target.id!r} is a consumer and only a producer may "
                    "start a session with it"
                )
            if msg.offer is not None:
                raise _Refused("only the consumer side may attach an offer")
            producer, consumer = peer, target
        if len(peer.sessions) >= self.max_sessions_per_peer:
            raise _Refused("you are in as many sessions as allowed")
        together = sum(1 for s in peer.sessions if s in target.sessions)
        if len(target.sessions) >= self.max_sessions_per_peer or (
            together >= self.max_sessions_per_pair
        ):
            raise _Refused(f"peer {target.id!r} is busy")
        session = Session(
            id=self._unused_id(self._sessions), producer=producer.id, consumer=consumer.id
        )
        self._sessions[session.id] = session
        producer.sessions.add(session.id)
        consumer.sessions.add(session.id)
        log.debug("session %s: producer %s, consumer %s", session.id, producer.id, consumer.id)
        return [
            (consumer.id, SessionStarted(peer_id=producer.id, session_id=session.id)),
            (
                producer.id,
                SessionRequested(peer_id=consumer.id, session_id=session.id, offer=msg.offer),
            ),
        ]

    def _member_session(self, peer: PeerState, session_id: str) -> Session | None:
        """The session if ``peer`` is in it; None if it ended recently; refuse otherwise."""
        session = self._sessions.get(session_id)
        if session is not None and peer.id in session:
            return session
        ended = self._recently_ended.get(session_id)
        if session is None and ended is not None and peer.id in ended:
            log.debug("dropping a late message from %s about ended session %s", peer.id, session_id)
            return None
        # Same words whether it does not exist or is someone else's: ids are not leaked.
        raise _Refused(f"no session {session_id!r} for this peer")

    def _forward(self, peer: PeerState, msg: PeerSdp | PeerIce) -> list[Outgoing]:
        session = self._member_session(peer, msg.session_id)
        if session is None:
            return []
        if isinstance(msg, PeerSdp) and msg.sdp.type == "offer" and peer.id == session.consumer:
            raise _Refused("the consumer may not send the offer")
        return [(session.other(peer.id), msg)]

    def _end_session(self, peer: PeerState, msg: EndSession) -> list[Outgoing]:
        session = self._member_session(peer, msg.session_id)
        return [] if session is None else self._end(session.id, by=peer.id)

    # ------------------------------------------------------------------ helpers

    def _end(self, session_id: str, *, by: str) -> list[Outgoing]:
        session = self._sessions.pop(session_id)
        for member in (session.producer, session.consumer):
            state = self._peers.get(member)
            if state is not None:
                state.sessions.discard(session_id)
        self._recently_ended[session_id] = session
        while len(self._recently_ended) > RECENTLY_ENDED_LIMIT:
            self._recently_ended.popitem(last=False)
        log.debug("session %s ended by %s", session_id, by)
        other = session.other(by)
        if other not in self._peers:
            return []
        return [(other, EndSession(session_id=session_id))]

    def listing(self, request: ListProducers | ListConsumers) -> ProducerList | ConsumerList:
        """The reply to ``list``/``listConsumers``: the same object until the set changes
        (the server serialises it once per object, see ``_deliver``)."""
        role = PeerRole.PRODUCER if isinstance(request, ListProducers) else PeerRole.CONSUMER
        cached = self._listings.get(role)
        if cached is None:
            listed = [p for p in self._peers.values() if role in p.roles]
            if self._sort_listings:  # the same order on every server of a cluster
                listed.sort(key=lambda p: p.id)
            peers = tuple(PeerInfo(id=p.id, meta=p.meta) for p in listed)
            cached = self._listings[role] = (
                ProducerList(producers=peers)
                if role is PeerRole.PRODUCER
                else ConsumerList(consumers=peers)
            )
        return cached

    def _listed_changed(self, *role_sets: tuple[PeerRole, ...]) -> None:
        for roles in role_sets:
            for role in roles:
                self._listings.pop(role, None)

    def _unused_id(self, taken: Mapping[str, object]) -> str:
        for _ in range(16):
            new = self._new_id()
            if new not in taken and new not in self._recently_ended:
                return new
        raise RuntimeError("id_factory keeps returning ids already in use")
