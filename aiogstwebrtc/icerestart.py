"""ICE restart: new ICE credentials in the descriptions and libnice's stream restarted.

webrtcbin (1.22 and 1.26) has no ICE restart: ``create-offer`` takes no ``ice-restart``
option and every offer or answer after the first reuses the last one's ``ice-ufrag`` and
``ice-pwd`` (``/* FIXME: deal with ICE restarts */`` in ``gstwebrtcbin.c``). Given a
description with other credentials it only passes them to libnice
(``nice_agent_set_local_credentials`` / ``..._remote_credentials``), which changes the
STUN usernames but runs no new checks. So a restart here is four steps:

1. the offer gets new credentials (:func:`with_credentials`), and so does the answer to an
   offer that renewed them;
2. libnice's stream is restarted (``nice_agent_restart_stream``, :func:`restart_ice_streams`)
   and given our new credentials: on the answering side before webrtcbin applies the
   restarting offer; on the offering side as soon as webrtcbin has applied our restarting
   offer (it hands libnice the old remote candidates again then: the restart drops them),
   since a peer may check (and, controlling, nominate) as soon as it has the offer, before
   its answer reaches us (Firefox does): libnice keeps such early checks until the answer
   brings the peer's credentials and candidates. The stream's old checks, remote candidates and
   incoming checks are dropped and new checks start with the new candidates; the selected
   pair keeps carrying data meanwhile. A peer that answers with its old credentials did not
   restart (aiortc 1.16): the stream takes our old credentials back and the peer's
   candidates again;
3. libnice does not gather again after a restart, so the local candidates already gathered
   are announced again for the new generation;
4. with TURN servers, each gets a new allocation request (:func:`renew_relays`): its answer
   tells the NAT's public address of now, a new server-reflexive candidate when it changed.

:class:`IceGenerations` (no GStreamer) tracks the credentials of both sides and decides
when a description starts a new generation.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from dataclasses import dataclass

from .errors import MissingComponentError
from .gst import (
    Gst,
    allocate_relay,
    ice_restart_available,
    read_object_property,
    restart_ice_stream,
)
from .iceservers import TurnServer
from .stats import ice_transports

__all__ = [
    "IceCredentials",
    "IceGenerations",
    "credentials_of",
    "renew_relays",
    "require_ice_restart",
    "restart_ice_streams",
    "with_credentials",
]

log = logging.getLogger(__name__)

_ICE_CHARS = string.ascii_letters + string.digits
#: libnice takes at most this many TURN servers per component (each renewal adds them again).
MAX_TURN_SERVERS = 8
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
_PWD = re.compile(r"^a=ice-pwd:(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class IceCredentials:
    """One generation's ``ice-ufrag`` and ``ice-pwd``."""

    ufrag: str
    pwd: str

    @classmethod
    def generate(cls) -> IceCredentials:
        """New random credentials (RFC 8445: ufrag 4+, pwd 22+ characters; 16 and 32 here)."""
        return cls(
            "".join(secrets.choice(_ICE_CHARS) for _ in range(16)),
            "".join(secrets.choice(_ICE_CHARS) for _ in range(32)),
        )


def credentials_of(sdp: str) -> IceCredentials | None:
    """The first ``ice-ufrag``/``ice-pwd`` of ``sdp`` (bundled sections share them)."""
    ufrag, pwd = _UFRAG.search(sdp), _PWD.search(sdp)
    if ufrag is None or pwd is None:
        return None
    return IceCredentials(ufrag[1], pwd[1])


def with_credentials(sdp: str, credentials: IceCredentials) -> str:
    """``sdp`` with every ``ice-ufrag`` and ``ice-pwd`` replaced by ``credentials``."""
    sdp = _UFRAG.sub(f"a=ice-ufrag:{credentials.ufrag}", sdp)
    return _PWD.sub(f"a=ice-pwd:{credentials.pwd}", sdp)


class IceGenerations:
    """The ICE credentials of both sides and the restarts between them (no GStreamer).

    ``restart_requested`` is set by ``restart_ice()``. :meth:`offer_credentials` and
    :meth:`answer_credentials` give the credentials a local description must carry instead
    of webrtcbin's. libnice's stream restarts when our restarting offer is applied
    (:meth:`local_offer_renews`) or a remote offer restarts ICE (:meth:`remote_renews`). An
    answer that keeps the remote credentials means the peer did not restart ICE (aiortc
    does not): :meth:`remote_kept` gives the local credentials to go back to.
    """

    def __init__(self) -> None:
        self.local: IceCredentials | None = None
        self.remote: IceCredentials | None = None
        #: ufrags of the remote side's earlier generations: their candidates are ignored.
        self.old_remote: set[str] = set()
        self.restart_requested = False
        #: How many times libnice's stream was restarted.
        self.restarts = 0
        self._pending: IceCredentials | None = None  # our next generation's credentials
        self._previous: IceCredentials | None = None  # ours before the pending ones
        self._kept: IceCredentials | None = None  # ours again after a peer kept its own
        self._restarted = False  # libnice's stream restarted for the pending credentials
        self._awaiting_answer = False  # our restarting offer is out, its answer not yet in

    @property
    def pending(self) -> IceCredentials | None:
        """Our credentials of the restart under way, if any."""
        return self._pending

    def offer_credentials(self) -> IceCredentials | None:
        """The credentials for a new local offer, or None to keep webrtcbin's."""
        if self.local is not None and self.restart_requested and self._pending is None:
            self._pending = IceCredentials.generate()
            self._previous = self.local
        return self._pending or self._kept

    def answer_credentials(self) -> IceCredentials | None:
        """The credentials for the answer, or None to keep webrtcbin's."""
        return self._pending or self._kept

    def local_offer_renews(self, credentials: IceCredentials | None) -> bool:
        """A local offer with ``credentials`` is about to be applied: does it start a new
        generation (restart libnice's stream with :attr:`pending` once webrtcbin has
        applied it, then :meth:`stream_restarted`)?"""
        if credentials is None or self.local is None or credentials == self.local:
            return False
        if self._restarted and credentials == self._pending:
            return False  # this generation's stream is restarted already (an offer again)
        if self._previous is None:
            self._previous = self.local
        self._pending = credentials
        self._restarted = False
        self._awaiting_answer = True
        return True

    def remote_renews(self, credentials: IceCredentials | None, is_offer: bool) -> bool:
        """A remote description with ``credentials`` is about to be applied: does it start
        a new generation (restart libnice's stream with :attr:`pending` first)?"""
        if credentials is None or self.remote is None or credentials == self.remote:
            return False
        if is_offer:  # the peer restarts ICE: so do we, with new credentials of our own
            self._pending = IceCredentials.generate()
            self._previous = self.local
            self._kept = None
            self._restarted = False
            self._awaiting_answer = False
            return True
        return self._pending is not None and self.local == self._pending and not self._restarted

    def remote_kept(
        self, credentials: IceCredentials | None, is_offer: bool
    ) -> IceCredentials | None:
        """An answer to our restarting offer keeps the remote credentials: the peer did not
        restart ICE. Our credentials to go back to (libnice's stream was not restarted),
        else None."""
        if is_offer or credentials is None or credentials != self.remote:
            return None
        if self._pending is None or self.local != self._pending or self._previous is None:
            return None
        self._kept = self.local = self._previous
        self._pending = self._previous = None
        self.restart_requested = False
        self._restarted = self._awaiting_answer = False
        return self._kept

    def stream_restarted(self) -> None:
        """libnice's stream was restarted with :attr:`pending`."""
        self.restarts += 1
        self._restarted = True

    def local_applied(self, credentials: IceCredentials | None) -> None:
        """A local description with ``credentials`` was applied. New credentials are the
        pending generation's, whoever made them (ours, or the application's own edit)."""
        if credentials is None:
            return
        if self.local is not None and credentials != self.local:
            if self._previous is None:
                self._previous = self.local
            self._pending = credentials
        self.restart_requested = self.restart_requested and credentials == self.local
        self.local = credentials
        self._settle()

    def remote_applied(self, credentials: IceCredentials | None) -> None:
        """A remote description with ``credentials`` was applied."""
        if credentials is None:
            return
        if self.remote is not None and credentials != self.remote:
            self.old_remote.add(self.remote.ufrag)
        self.remote = credentials
        self._awaiting_answer = False
        self._settle()

    def _settle(self) -> None:
        """Our new credentials are applied, libnice's stream restarted and the peer's side
        of the generation known: it is over."""
        if (
            self._pending is not None
            and self.local == self._pending
            and self._restarted
            and not self._awaiting_answer
        ):
            self._pending = self._previous = None
            self._restarted = False


def require_ice_restart() -> None:
    """Raise :class:`MissingComponentError` when libnice's restart cannot be reached."""
    if not ice_restart_available():
        raise MissingComponentError(
            "ICE restart needs libnice's nice_agent_restart_stream, and libnice could not be loaded"
        )


def restart_ice_streams(
    webrtcbin: Gst.Element, credentials: IceCredentials, *, restart: bool = True
) -> list[int]:
    """GLib thread: restart each of webrtcbin's libnice streams and give it ``credentials``
    (only the latter when ``restart`` is False); their ids (one with max-bundle).
    :class:`MissingComponentError` when libnice cannot be reached."""
    done: list[int] = []
    for stream_id in _stream_ids(webrtcbin):
        if not restart_ice_stream(
            webrtcbin, stream_id, credentials.ufrag, credentials.pwd, restart=restart
        ):
            raise MissingComponentError(
                f"libnice could not restart ICE stream {stream_id} (libnice not reachable)"
            )
        done.append(stream_id)
    return done


def _stream_ids(webrtcbin: Gst.Element) -> list[int]:
    ids: list[int] = []
    for _name, transport in ice_transports(webrtcbin):
        stream = read_object_property(transport, "stream")
        if stream is not None and int(stream.get_property("stream-id")) not in ids:
            ids.append(int(stream.get_property("stream-id")))
    return ids


def renew_relays(webrtcbin: Gst.Element, servers: list[TurnServer]) -> int:
    """GLib thread: a new allocation on each TURN server for each ICE stream, through the
    NAT mappings of now; how many were asked for. The allocations made at the first
    gathering may be dead (a NAT that forgot its mapping, a new public address) and libnice
    does not gather again after a restart."""
    asked = 0
    for stream_id in _stream_ids(webrtcbin):
        for server in servers:
            if allocate_relay(
                webrtcbin,
                stream_id,
                server.host,
                server.port,
                server.username,
                server.credential,
                server.protocol,
            ):
                asked += 1
            else:
                log.warning("libnice refused a new allocation on %s:%d", server.host, server.port)
    return asked
