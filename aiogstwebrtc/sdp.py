"""Session descriptions and ICE candidates: validation and conversion, in the browser's shapes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidSDPError

__all__ = [
    "IceCandidate",
    "MediaSection",
    "SessionDescription",
    "media_sections",
    "with_candidates",
]

SDP_TYPES = ("offer", "pranswer", "answer", "rollback")
_LINE = re.compile(r"^[a-z]=.*$")
_MEDIA_LINE = re.compile(r"^m=(\w+) (\d+)(?:/\d+)? (\S+)(?: \S+)*$")
_CANDIDATE = re.compile(
    r"^candidate:(?P<foundation>[A-Za-z0-9+/]{1,32}) (?P<component>\d{1,3}) "
    r"(?P<protocol>udp|tcp|UDP|TCP) (?P<priority>\d{1,10}) (?P<address>[^\s]+) "
    r"(?P<port>\d{1,5}) typ (?P<type>host|srflx|prflx|relay)(?P<rest>( \S+ \S+)*)$"
)
_UFRAG_EXTENSION = re.compile(r" ufrag (\S+)")


@dataclass(frozen=True)
class MediaSection:
    """One ``m=`` section: its index, kind (audio/video/application), ``a=mid``, direction."""

    index: int
    kind: str
    mid: str | None
    direction: str = "sendrecv"
    port: int = 9
    bundle_only: bool = False

    @property
    def rejected(self) -> bool:
        """Port 0 without ``a=bundle-only``: the section is turned off."""
        return self.port == 0 and not self.bundle_only

    @property
    def sends(self) -> bool:
        """True when the side that wrote this section sends media on it."""
        return not self.rejected and self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        """True when the side that wrote this section accepts media on it."""
        return self.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True)
class SessionDescription:
    """An SDP offer/answer: ``type`` is offer, answer, pranswer or rollback; ``sdp`` the text.

    Construction validates both and raises :class:`InvalidSDPError` (a ``ValueError``).
    """

    type: str
    sdp: str

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or self.type not in SDP_TYPES:
            raise InvalidSDPError(
                f"session description type must be one of {', '.join(SDP_TYPES)}, not {self.type!r}"
            )
        if not isinstance(self.sdp, str):
            raise InvalidSDPError(f"SDP must be text, not {type(self.sdp).__name__}")
        if self.type == "rollback":
            return
        object.__setattr__(self, "sdp", _normalise(self.sdp))
        _validate_sdp(self.sdp)

    @property
    def media(self) -> list[MediaSection]:
        """The ``m=`` sections of this description, in order."""
        return media_sections(self.sdp)

    def to_dict(self) -> dict[str, str]:
        """The browser's JSON shape: ``{"type": ..., "sdp": ...}``."""
        return {"type": self.type, "sdp": self.sdp}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionDescription:
        """Build from ``{"type", "sdp"}`` as browsers and signalling servers send it."""
        if not isinstance(data, Mapping):
            raise InvalidSDPError(f"session description must be an object, not {data!r:.80}")
        try:
            return cls(data["type"], data["sdp"])
        except KeyError as exc:
            raise InvalidSDPError(f"session description lacks {exc.args[0]!r}") from None


def _normalise(text: str) -> str:
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip() != ""]
    return "\r\n".join(lines) + "\r\n"


def _validate_sdp(text: str) -> None:
    lines = text.rstrip("\r\n").split("\r\n")
    if not lines or lines[0] != "v=0":
        raise InvalidSDPError("SDP must start with 'v=0'")
    for number, line in enumerate(lines, 1):
        if not _LINE.match(line):
            raise InvalidSDPError(f"SDP line {number} is not '<letter>=<value>': {line!r:.80}")
        if line.startswith("m=") and not _MEDIA_LINE.match(line):
            raise InvalidSDPError(f"SDP line {number} is not a valid media line: {line!r:.80}")
    present = {line[0] for line in lines}
    for required in "ost":
        if required not in present:
            raise InvalidSDPError(f"SDP has no '{required}=' line")
    # GStreamer's own parser must accept it too (it is what webrtcbin will see).
    from .gst import GstSdp

    result, _message = GstSdp.SDPMessage.new_from_text(text)
    if result != GstSdp.SDPResult.OK:
        raise InvalidSDPError(f"GStreamer cannot parse this SDP ({result.value_nick})")


def media_sections(sdp: str) -> list[MediaSection]:
    """The ``m=`` sections of an SDP text, with their mids, directions and ports."""
    sections: list[MediaSection] = []
    current: dict[str, Any] | None = None
    session_direction = "sendrecv"
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            if current is not None:
                sections.append(MediaSection(len(sections), **current))
            fields = line[2:].split(" ")
            port_text = fields[1].split("/")[0] if len(fields) > 1 else ""
            port = int(port_text) if port_text.isdigit() else 9
            current = {"kind": fields[0], "mid": None, "direction": session_direction, "port": port}
        elif line.startswith("a=mid:") and current is not None:
            current["mid"] = line[len("a=mid:") :].strip()
        elif line == "a=bundle-only" and current is not None:
            current["bundle_only"] = True
        elif line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive") and line[:2] == "a=":
            if current is None:
                session_direction = line[2:]
            else:
                current["direction"] = line[2:]
    if current is not None:
        sections.append(MediaSection(len(sections), **current))
    return sections


@dataclass(frozen=True)
class IceCandidate:
    """A trickled ICE candidate, as in the browser's ``RTCIceCandidate``.

    ``candidate`` is the ``candidate:...`` attribute text (empty for end-of-candidates),
    ``sdp_mline_index`` the m-line it belongs to and ``sdp_mid`` that line's mid.
    Construction validates it and raises :class:`InvalidSDPError`.
    """

    candidate: str
    sdp_mline_index: int | None = None
    sdp_mid: str | None = None
    #: The ``ice-ufrag`` of the ICE generation the candidate belongs to (the browser's
    #: ``usernameFragment``); None when unknown.
    username_fragment: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.candidate, str):
            raise InvalidSDPError(
                f"ICE candidate must be text, not {type(self.candidate).__name__}"
            )
        text = self.candidate.strip()
        if text.startswith("a="):
            text = text[2:]
        if text == "end-of-candidates":
            text = ""
        object.__setattr__(self, "candidate", text)
        if self.sdp_mline_index is not None and (
            not isinstance(self.sdp_mline_index, int)
            or isinstance(self.sdp_mline_index, bool)
            or not 0 <= self.sdp_mline_index < 1024
        ):
            raise InvalidSDPError(f"invalid sdpMLineIndex {self.sdp_mline_index!r}")
        if self.sdp_mid is not None and not isinstance(self.sdp_mid, str):
            raise InvalidSDPError(f"invalid sdpMid {self.sdp_mid!r}")
        if self.username_fragment is not None and not isinstance(self.username_fragment, str):
            raise InvalidSDPError(f"invalid usernameFragment {self.username_fragment!r}")
        if self.sdp_mline_index is None and self.sdp_mid is None:
            raise InvalidSDPError("ICE candidate needs sdpMLineIndex or sdpMid")
        if text and not _CANDIDATE.match(text):
            raise InvalidSDPError(f"malformed ICE candidate: {text!r:.120}")
        if text:
            match = _CANDIDATE.match(text)
            assert match is not None
            port = int(match["port"])
            if not 0 <= port <= 65535 or not 1 <= int(match["component"]) <= 256:
                raise InvalidSDPError(f"malformed ICE candidate: {text!r:.120}")

    @property
    def is_end_of_candidates(self) -> bool:
        """True for the empty candidate that marks the end of gathering."""
        return self.candidate == ""

    def _field(self, name: str) -> str:
        match = _CANDIDATE.match(self.candidate)
        return match[name] if match else ""

    @property
    def address(self) -> str:
        """The candidate's IP address or hostname."""
        return self._field("address")

    @property
    def port(self) -> int:
        """The candidate's port."""
        return int(self._field("port") or 0)

    @property
    def type(self) -> str:
        """host, srflx, prflx or relay."""
        return self._field("type")

    @property
    def protocol(self) -> str:
        """udp or tcp."""
        return self._field("protocol").lower()

    @property
    def ufrag(self) -> str | None:
        """The generation's ufrag: ``username_fragment``, else the line's ``ufrag`` extension
        (as Chromium writes it), else None."""
        if self.username_fragment is not None:
            return self.username_fragment
        match = _UFRAG_EXTENSION.search(self.candidate)
        return match[1] if match else None

    def to_dict(self) -> dict[str, Any]:
        """The browser's JSON shape: ``{"candidate", "sdpMLineIndex", "sdpMid",
        "usernameFragment"}`` (the last only when known)."""
        result: dict[str, Any] = {
            "candidate": self.candidate,
            "sdpMLineIndex": self.sdp_mline_index,
            "sdpMid": self.sdp_mid,
        }
        if self.username_fragment is not None:
            result["usernameFragment"] = self.username_fragment
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IceCandidate:
        """Build from the browser's ``{"candidate", "sdpMLineIndex", "sdpMid",
        "usernameFragment"}``."""
        if not isinstance(data, Mapping):
            raise InvalidSDPError(f"ICE candidate must be an object, not {data!r:.80}")
        if "candidate" not in data:
            raise InvalidSDPError("ICE candidate object lacks 'candidate'")
        return cls(
            data["candidate"],
            data.get("sdpMLineIndex"),
            data.get("sdpMid"),
            data.get("usernameFragment"),
        )


def with_candidates(sdp: str, candidates: Iterable[IceCandidate], complete: bool) -> str:
    """``sdp`` with ``a=candidate`` lines added to their m-sections (and end-of-candidates)."""
    by_index: dict[int, list[str]] = {}
    sections = media_sections(sdp)
    mids = {section.mid: section.index for section in sections}
    for candidate in candidates:
        if candidate.is_end_of_candidates:
            continue
        index = candidate.sdp_mline_index
        if index is None:
            index = mids.get(candidate.sdp_mid, 0)
        by_index.setdefault(index, []).append(f"a={candidate.candidate}")
    out: list[str] = []
    section = -1

    def close_section() -> None:
        if section < 0:
            return
        out.extend(line for line in by_index.get(section, []) if line not in out)
        if complete and "a=end-of-candidates" not in out[-1:]:
            out.append("a=end-of-candidates")

    for line in sdp.rstrip("\r\n").split("\r\n"):
        if line.startswith("m="):
            close_section()
            section += 1
        if line == "a=end-of-candidates":
            continue
        out.append(line)
    close_section()
    return "\r\n".join(out) + "\r\n"
