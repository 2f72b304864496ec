"""ICE restart: new ICE credentials in the descriptions and libnice's stream restarted.

webrtcbin (1.22 and 1.26) has no ICE restart: ``create-offer`` takes no ``ice-restart``
option and every offer or answer after the first reuses the last one's ``ice-ufrag`` and
``ice-pwd`` (``/* FIXME: deal with ICE restarts */`` in ``gstwebrtcbin.c``). Given a
description with other credentials it only passes them to libnice
(``nice_agent_set_local_credentials`` / ``..._remote_credentials``), which changes the
STUN usernames but runs no new checks. So a restart here is three steps:

1. the description gets new credentials (:func:`with_credentials`) before it is applied;
2. before webrtcbin applies the first description of the new generation (our offer, or the
   remote offer with new credentials), libnice's stream is restarted
   (``nice_agent_restart_stream``, :func:`restart_ice_streams`): its checks, remote
   candidates and incoming checks are dropped and new checks start once the other side's
   credentials and candidates arrive; the selected pair keeps carrying data meanwhile;
3. libnice does not gather again after a restart, so the local candidates already gathered
   are announced again for the new generation.

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
from .gst import Gst, ice_restart_available, read_object_property, restart_ice_stream
from .stats import ice_transports

__all__ = [
    "IceCredentials",
    "IceGenerations",
    "credentials_of",
    "require_ice_restart",
    "restart_ice_streams",
    "with_credentials",
]

log = logging.getLogger(__name__)

_ICE_CHARS = string.ascii_letters + string.digits
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
    """The ICE credentials of both sides and the restarts between them.

    ``restart_requested`` is set by ``restart_ice()``; :meth:`offer_credentials` gives the
    credentials the next local offer carries, :meth:`answer_credentials` those of the
    answer to a remote offer that restarted ICE. :meth:`local_applies` and
    :meth:`remote_applies` say whether applying a description must restart libnice's
    stream first (once per generation).
    """

    def __init__(self) -> None:
        self.local: IceCredentials | None = None
        self.remote: IceCredentials | None = None
        #: ufrags of the remote side's earlier generations: their candidates are ignored.
        self.old_remote: set[str] = set()
        self.restart_requested = False
        self._pending: IceCredentials | None = None  # our next generation's credentials
        self._stream_restarted = False  # libnice's stream restarted for the pending one
        self._remote_renewed = False  # the remote side's credentials changed since
        #: How many times libnice's stream was restarted.
        self.restarts = 0

    @property
    def restarting(self) -> bool:
        """A restart is under way: libnice's stream restarted, the generation not settled."""
        return self._stream_restarted

    def offer_credentials(self) -> IceCredentials | None:
        """The credentials for a new local offer, or None to keep webrtcbin's."""
        if self.local is None:
            return None  # the first offer: nothing to restart
        if self.restart_requested and self._pending is None:
            self._pending = IceCredentials.generate()
        return self._pending

    def answer_credentials(self) -> IceCredentials | None:
        """The credentials for the answer, or None to keep webrtcbin's."""
        return self._pending

    def local_applies(self, credentials: IceCredentials | None) -> bool:
        """A local description with ``credentials`` is about to be applied: restart the
        stream first?"""
        if credentials is None or self.local is None or credentials == self.local:
            return False
        return not self._stream_restarted

    def remote_applies(self, credentials: IceCredentials | None, is_offer: bool) -> bool:
        """A remote description with ``credentials`` is about to be applied: restart the
        stream first? A remote offer with new credentials restarts ICE here too: the answer
        then carries new local credentials (:meth:`answer_credentials`)."""
        if credentials is None or self.remote is None or credentials == self.remote:
            return False
        if is_offer and self._pending is None:
            self._pending = IceCredentials.generate()
        return not self._stream_restarted

    def stream_restarted(self) -> None:
        """libnice's stream was restarted for the pending generation."""
        self._stream_restarted = True
        self.restarts += 1

    def local_applied(self, credentials: IceCredentials | None) -> None:
        """A local description with ``credentials`` was applied."""
        if credentials is None:
            return
        if credentials == self._pending or self.local is None:
            self.restart_requested = False
        self.local = credentials
        self._settle()

    def remote_applied(self, credentials: IceCredentials | None) -> None:
        """A remote description with ``credentials`` was applied."""
        if credentials is None:
            return
        if self.remote is not None and credentials != self.remote:
            self.old_remote.add(self.remote.ufrag)
            self._remote_renewed = True
        self.remote = credentials
        self._settle()

    def _settle(self) -> None:
        """Both sides use their new credentials: the restart is over."""
        if self._pending is not None and self.local == self._pending and self._remote_renewed:
            self._pending = None
            self._stream_restarted = False
            self._remote_renewed = False


def require_ice_restart() -> None:
    """Raise :class:`MissingComponentError` when libnice's restart cannot be reached."""
    if not ice_restart_available():
        raise MissingComponentError(
            "ICE restart needs libnice's nice_agent_restart_stream, and libnice could not be loaded"
        )


def restart_ice_streams(webrtcbin: Gst.Element) -> list[int]:
    """GLib thread: restart each of webrtcbin's libnice streams; their ids (one with
    max-bundle). :class:`MissingComponentError` when libnice cannot be reached."""
    restarted: list[int] = []
    for _name, transport in ice_transports(webrtcbin):
        stream = read_object_property(transport, "stream")
        if stream is None:
            continue
        stream_id = int(stream.get_property("stream-id"))
        if stream_id in restarted:
            continue
        if not restart_ice_stream(webrtcbin, stream_id):
            raise MissingComponentError(
                f"libnice could not restart ICE stream {stream_id} (libnice not reachable)"
            )
        restarted.append(stream_id)
    log.debug("ICE streams restarted: %s", restarted)
    return restarted
