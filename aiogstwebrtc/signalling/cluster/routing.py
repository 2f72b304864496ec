"""The router of a cluster server: the local :class:`~..router.Router` plus remote peers.

A peer connected to another server of the cluster is held here as a
:class:`~..router.PeerState` whose ``server`` names that server, so every rule of the
router (roles, sessions, limits, isolation) applies to it unchanged: a local peer may start
a session with it, and the router's answers name it like any peer. The server hands the
messages addressed to remote peers to the cluster bus instead of a websocket.

What arrives from other servers comes in through two doors, both still without I/O:

* presence (:meth:`ClusterRouter.upsert_remote`, :meth:`~ClusterRouter.drop_remote`,
  :meth:`~ClusterRouter.drop_server`): a remote peer connected, changed its status, left,
  or its whole server is gone. Local listeners are told, sessions with a peer that left
  end with ``endSession`` to the local member.
* routed messages (:meth:`ClusterRouter.receive_routed`): ``sessionStarted`` /
  ``startSession`` open the session on this side too (the local peer's role and limits are
  checked here, by the server that holds it), ``peer`` and ``endSession`` are accepted only
  for a session this router holds between the local addressee and a peer of the sending
  server, and go through the same checks as if that peer had sent them here.

During a Redis outage remote peers are *detached* (:meth:`ClusterRouter.detach_remote`):
gone from listings, but their sessions are kept, so a short outage does not end media
sessions that no longer need signalling; after the re-sync, a peer that is still listed is
attached again and :meth:`ClusterRouter.end_detached` ends the sessions of the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..protocol import (
    MAX_MESSAGE_SIZE,
    EndSession,
    Meta,
    PeerIce,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    SessionRequested,
    SessionStarted,
)
from ..router import Outgoing, PeerState, Router, Session, _new_id

__all__ = ["ClusterRouter", "RoutedMessage"]

log = logging.getLogger(__name__)

RoutedMessage = SessionStarted | SessionRequested | PeerSdp | PeerIce | EndSession
"""The messages that travel between the servers of a cluster."""


class ClusterRouter(Router):
    """A :class:`Router` that also knows the peers connected to the other servers.

    Listings are sorted by peer id, so every server of a cluster answers ``list`` and
    ``listConsumers`` with the same text.
    """

    def __init__(
        self,
        *,
        max_sessions_per_peer: int = 64,
        max_sessions_per_pair: int = 2,
        max_message_size: int = MAX_MESSAGE_SIZE,
        id_factory: Callable[[], str] = _new_id,
    ) -> None:
        super().__init__(
            max_sessions_per_peer=max_sessions_per_peer,
            max_sessions_per_pair=max_sessions_per_pair,
            max_message_size=max_message_size,
            id_factory=id_factory,
            sort_listings=True,
        )
        self._detached: dict[str, PeerState] = {}

    # ------------------------------------------------------------------ views

    def remote_peers(self, server: str | None = None) -> list[str]:
        """Ids of the attached remote peers (of ``server`` only, when given)."""
        return [
            p.id
            for p in self._peers.values()
            if p.server is not None and (server is None or p.server == server)
        ]

    def remote_servers(self) -> set[str]:
        """The servers holding at least one attached or detached peer."""
        servers = {p.server for p in self._peers.values() if p.server is not None}
        servers.update(p.server for p in self._detached.values() if p.server is not None)
        return servers

    @property
    def detached(self) -> int:
        """How many remote peers are detached (Redis was lost; see :meth:`end_detached`)."""
        return len(self._detached)

    # ------------------------------------------------------------------ presence

    def upsert_remote(
        self, server: str, peer_id: str, roles: Iterable[PeerRole], meta: Meta | None
    ) -> list[Outgoing]:
        """Peer ``peer_id`` of ``server`` is connected with ``roles``: add or update it."""
        roles = tuple(roles)
        peer = self._peers.get(peer_id)
        if peer is not None and peer.server != server:
            if peer.local:
                log.warning("server %s announced peer %s, connected here: ignored", server, peer_id)
                return []
            # it reconnected to another server before its old one said it left
            return self.drop_remote(peer_id) + self.upsert_remote(server, peer_id, roles, meta)
        out: list[Outgoing] = []
        if peer is None:
            peer = self._detached.pop(peer_id, None)
            if peer is not None and peer.server == server:  # back after a Redis outage
                peer.sessions &= set(self._sessions)
            else:
                if peer is not None:  # came back on another server: a new connection
                    out = self._end_all(peer)
                peer = PeerState(id=peer_id, server=server)
            old: tuple[PeerRole, ...] = ()
            self._peers[peer_id] = peer
        else:
            old = peer.roles
            if set(old) == set(roles) and peer.meta == meta:
                return []
        self._listed_changed(old, roles)
        peer.roles, peer.meta = roles, meta
        if not roles and not old:
            return out
        status = PeerStatusChanged(peer_id=peer_id, roles=roles, meta=meta)
        return out + [(p, status) for p in self.listeners()]

    def drop_remote(self, peer_id: str) -> list[Outgoing]:
        """Remote peer ``peer_id`` left: end its sessions here, tell local listeners."""
        peer = self._peers.get(peer_id)
        detached = self._detached.pop(peer_id, None)
        if peer is None or peer.local:
            if detached is None:
                return []
            return self._end_all(detached)
        return self.disconnect(peer_id)

    def drop_server(self, server: str) -> list[Outgoing]:
        """Every peer of ``server`` left (it stopped, or stopped heartbeating)."""
        out: list[Outgoing] = []
        for peer_id in self.remote_peers(server):
            out.extend(self.drop_remote(peer_id))
        for peer_id in [p for p, s in self._detached.items() if s.server == server]:
            out.extend(self.drop_remote(peer_id))
        return out

    def detach_remote(self) -> list[Outgoing]:
        """Redis is lost: remote peers leave the listings, their sessions stay."""
        out: list[Outgoing] = []
        for peer_id in self.remote_peers():
            peer = self._peers.pop(peer_id)
            self._detached[peer_id] = peer
            self._listed_changed(peer.roles)
            if peer.roles:
                gone = PeerStatusChanged(peer_id=peer_id, roles=(), meta=peer.meta)
                out.extend((p, gone) for p in self.listeners())
        return out

    def end_detached(self) -> list[Outgoing]:
        """End the sessions of the peers still detached after a re-sync, and forget them."""
        out: list[Outgoing] = []
        for peer in list(self._detached.values()):
            out.extend(self._end_all(peer))
        self._detached.clear()
        return out

    def _end_all(self, peer: PeerState) -> list[Outgoing]:
        out: list[Outgoing] = []
        for session_id in sorted(peer.sessions):
            if session_id in self._sessions:
                out.extend(self._end(session_id, by=peer.id))
        peer.sessions.clear()
        return out

    # ------------------------------------------------------------------ routed messages

    def receive_routed(self, origin: str, to: str, message: RoutedMessage) -> list[Outgoing]:
        """``message`` for local peer ``to``, sent by server ``origin``: check and apply it."""
        target = self._peers.get(to)
        if target is None or not target.local:
            log.debug("routed %s for %s, not connected here: dropped", message.TYPE, to)
            return []
        if isinstance(message, SessionStarted | SessionRequested):
            return self._adopt(origin, target, message)
        session = self._sessions.get(message.session_id)
        if session is None or to not in session:
            log.debug("routed %s about session %s: not open here", message.TYPE, message.session_id)
            return []
        sender = self._peers.get(session.other(to))
        if sender is None or sender.server != origin:
            log.warning(
                "server %s sent %s for session %s, whose other member it does not hold: dropped",
                origin,
                message.TYPE,
                message.session_id,
            )
            return []
        return self.handle(sender.id, message)

    def _adopt(
        self, origin: str, target: PeerState, message: SessionStarted | SessionRequested
    ) -> list[Outgoing]:
        """Open on this side the session another server opened with local peer ``target``."""
        remote = self._peers.get(message.peer_id)
        if remote is None or remote.server != origin:
            log.warning(
                "server %s opened session %s for unknown peer %s: dropped",
                origin,
                message.session_id,
                message.peer_id,
            )
            return []
        refusal: list[Outgoing] = [(remote.id, EndSession(session_id=message.session_id))]
        if isinstance(message, SessionRequested):
            producer, consumer, allowed = target, remote, target.producing
        else:
            producer, consumer, allowed = remote, target, target.consuming
        together = sum(1 for s in target.sessions if s in remote.sessions)
        if (
            not allowed
            or message.session_id in self._sessions
            or message.session_id in self._recently_ended
            or len(target.sessions) >= self.max_sessions_per_peer
            or together >= self.max_sessions_per_pair
        ):
            log.debug("session %s from server %s refused here", message.session_id, origin)
            return refusal
        session = Session(id=message.session_id, producer=producer.id, consumer=consumer.id)
        self._sessions[session.id] = session
        producer.sessions.add(session.id)
        consumer.sessions.add(session.id)
        log.debug(
            "session %s: producer %s, consumer %s (across servers)",
            session.id,
            producer.id,
            consumer.id,
        )
        return [(target.id, message)]
