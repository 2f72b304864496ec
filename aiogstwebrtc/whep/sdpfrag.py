"""``application/trickle-ice-sdpfrag`` bodies (RFC 8840, as WHIP/WHEP use them in RFC 9725).

A fragment carries ICE credentials (``a=ice-ufrag``/``a=ice-pwd``) and candidates, each
under the ``m=`` line and ``a=mid`` of its media section. WHIP/WHEP clients PATCH one to
trickle candidates, or, with new credentials, to restart ICE; the server answers a restart
with a fragment of its own new credentials and candidates. No GStreamer here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidSDPError
from ..icerestart import IceCredentials, credentials_of, with_credentials
from ..sdp import IceCandidate

__all__ = [
    "SDPFRAG",
    "Fragment",
    "fragment_of",
    "parse_fragment",
    "renewed_description",
    "trickle_fragment",
]

#: The media type of a fragment.
SDPFRAG = "application/trickle-ice-sdpfrag"

_UFRAG = re.compile(r"^[A-Za-z0-9+/]{4,256}$")  # RFC 8839 ice-char, 4 to 256 of them
_PWD = re.compile(r"^[A-Za-z0-9+/]{22,256}$")
_ORIGIN = re.compile(r"^(o=\S+ \S+ )(\d+)", re.MULTILINE)
_CANDIDATE_LINE = re.compile(r"^a=(candidate:|end-of-candidates).*(\r?\n|$)", re.MULTILINE)


@dataclass(frozen=True)
class Fragment:
    """What a fragment says: its ICE credentials (``None`` when it has none) and candidates."""

    ufrag: str | None
    pwd: str | None
    candidates: tuple[IceCandidate, ...]

    @property
    def credentials(self) -> IceCredentials | None:
        """Both credentials, when the fragment carries both."""
        if self.ufrag is None or self.pwd is None:
            return None
        return IceCredentials(self.ufrag, self.pwd)


def parse_fragment(text: str) -> Fragment:
    """The credentials and candidates of a fragment; each candidate gets its section's
    index and ``a=mid`` and the fragment's ufrag (its ICE generation). Lines end in LF or
    CRLF; unknown lines are ignored. :class:`InvalidSDPError` for a malformed candidate or
    malformed credentials (RFC 8839: ufrag 4-256, pwd 22-256 characters ``[A-Za-z0-9+/]``)."""
    ufrag = pwd = None
    found: list[tuple[str, int, str | None]] = []
    index, mid = -1, None
    pending: list[tuple[str, int]] = []  # candidates whose section's a=mid may follow
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            found.extend((c, i, mid) for c, i in pending)
            pending = []
            index, mid = index + 1, None
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=ice-ufrag:"):
            ufrag = line[12:]
        elif line.startswith("a=ice-pwd:"):
            pwd = line[10:]
        elif line.startswith("a=candidate:"):
            pending.append((line[2:], max(index, 0)))
    found.extend((c, i, mid) for c, i in pending)
    if ufrag is not None and not _UFRAG.match(ufrag):
        raise InvalidSDPError(f"a=ice-ufrag:{ufrag[:40]} is not 4-256 ice-chars")
    if pwd is not None and not _PWD.match(pwd):
        raise InvalidSDPError("a=ice-pwd is not 22-256 ice-chars")
    candidates = tuple(IceCandidate(c, i, m, ufrag) for c, i, m in found)
    return Fragment(ufrag, pwd, candidates)


def fragment_of(sdp: str) -> str:
    """The fragment announcing ``sdp``'s ICE credentials and candidates (CRLF lines): the
    body of a restart request or of the answer to one."""
    credentials = credentials_of(sdp)
    lines: list[str] = []
    if credentials is not None:
        lines += [f"a=ice-ufrag:{credentials.ufrag}", f"a=ice-pwd:{credentials.pwd}"]
    for line in sdp.splitlines():
        if line.startswith("m=") or line.startswith(
            ("a=mid:", "a=candidate:", "a=end-of-candidates")
        ):
            lines.append(line.strip())
    return "\r\n".join(lines) + "\r\n"


def trickle_fragment(sdp: str, candidates: list[IceCandidate], end: bool) -> str:
    """The fragment trickling ``candidates`` of the local description ``sdp`` (RFC 8840):
    its credentials, then each candidate's section (``m=`` line and ``a=mid``) with its
    candidates; ``end`` adds ``a=end-of-candidates`` to each section named (the first one
    at least)."""
    credentials = credentials_of(sdp)
    lines: list[str] = []
    if credentials is not None:
        lines += [f"a=ice-ufrag:{credentials.ufrag}", f"a=ice-pwd:{credentials.pwd}"]
    sections: list[tuple[str, str | None]] = []  # each m= line and its mid
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append((line.strip(), None))
        elif line.startswith("a=mid:") and sections:
            sections[-1] = (sections[-1][0], line[6:].strip())
    for index, (m_line, mid) in enumerate(sections):
        own = [c for c in candidates if c.candidate and c.sdp_mline_index == index]
        if not own and not (end and index == 0):
            continue
        lines.append(m_line)
        if mid is not None:
            lines.append(f"a=mid:{mid}")
        lines += [f"a={c.candidate}" for c in own]
        if end:
            lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n"


def renewed_description(sdp: str, credentials: IceCredentials) -> str:
    """``sdp`` for the next negotiation of an ICE restart: ``credentials`` instead of the
    old ones, no candidates (they belong to the old generation) and the ``o=`` line's
    session version one higher (RFC 8866: a changed description gets a new version)."""
    sdp = _CANDIDATE_LINE.sub("", sdp)
    sdp = _ORIGIN.sub(lambda m: f"{m[1]}{int(m[2]) + 1}", sdp, count=1)
    return with_credentials(sdp, credentials)
