"""Checks a remote description must pass before webrtcbin sees it, on every GStreamer release.

webrtcbin 1.22 refused an offer without ``a=fingerprint``; 1.26 accepts it and answers, which
would let an unauthenticated DTLS peer in. So the library checks the security-relevant parts
of every remote offer/answer itself (docs/gstreamer-versions.md):

* every transport-carrying m-line has a usable ``a=fingerprint`` (at media or session level):
  a known hash function and a value of exactly that hash's length in colon-separated hex;
* ``a=setup`` is one of ``actpass``/``active``/``passive`` (an answer never ``actpass``);
* every transport-carrying m-line has ``a=ice-ufrag`` and ``a=ice-pwd`` of RFC 8839's form.

A section turned off (port 0 without ``a=bundle-only``) carries no transport; a bundle-only
section uses its bundle's, so both are exempt from the presence checks, not from the form
checks of what they do carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InvalidSDPError
from .sdp import SessionDescription

__all__ = ["FINGERPRINT_HASHES", "check_remote_description"]

#: Hash functions accepted in ``a=fingerprint`` and their digest sizes in bytes (RFC 8122;
#: md2 and md5 are refused as RFC 8827 forbids them).
FINGERPRINT_HASHES = {"sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64}
_SETUP_VALUES = ("actpass", "active", "passive", "holdconn")
_ICE_CHARS = re.compile(r"^[A-Za-z0-9+/]+$")


@dataclass
class _Level:
    """The attributes of the session level or of one m-section that the checks read."""

    name: str
    fingerprint: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    ufrag: list[str] = field(default_factory=list)
    pwd: list[str] = field(default_factory=list)


_ATTRIBUTES = {
    "a=fingerprint:": "fingerprint",
    "a=setup:": "setup",
    "a=ice-ufrag:": "ufrag",
    "a=ice-pwd:": "pwd",
}


def _levels(sdp: str) -> tuple[_Level, list[_Level]]:
    session = _Level("the session level")
    sections: list[_Level] = []
    current = session
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            current = _Level(f"m-line {len(sections)} ({line[2:].split(' ')[0]})")
            sections.append(current)
            continue
        prefix, _, value = line.partition(":")
        attribute = _ATTRIBUTES.get(prefix + ":")
        if attribute is not None:
            getattr(current, attribute).append(value.strip())
    return session, sections


def _check_fingerprint(value: str, where: str) -> None:
    parts = value.split()
    if len(parts) != 2:
        raise InvalidSDPError(
            f"malformed a=fingerprint at {where}: {value!r:.120} (expected '<hash> <hex:hex:...>')"
        )
    hash_name, digest = parts[0].lower(), parts[1]
    size = FINGERPRINT_HASHES.get(hash_name)
    if size is None:
        raise InvalidSDPError(
            f"a=fingerprint at {where} uses an unknown or refused hash {parts[0]!r} "
            f"(accepted: {', '.join(FINGERPRINT_HASHES)})"
        )
    octets = digest.split(":")
    if len(octets) != size or not all(re.fullmatch(r"[0-9A-Fa-f]{2}", o) for o in octets):
        raise InvalidSDPError(
            f"malformed a=fingerprint at {where}: a {hash_name} fingerprint is {size} "
            f"colon-separated hex bytes, not {digest!r:.120}"
        )


def _check_ice_value(kind: str, value: str, where: str, low: int) -> None:
    if not low <= len(value) <= 256 or not _ICE_CHARS.match(value):
        raise InvalidSDPError(
            f"malformed a={kind} at {where}: {value!r:.80} (RFC 8839: {low} to 256 "
            "characters of A-Z a-z 0-9 + /)"
        )


def check_remote_description(description: SessionDescription) -> None:
    """Raise :class:`InvalidSDPError` if ``description`` cannot set up authenticated DTLS/ICE.

    Rollbacks are not checked. The error names what is missing or malformed and where.
    """
    if description.type == "rollback":
        return
    session, sections = _levels(description.sdp)
    for level in (session, *sections):
        for value in level.fingerprint:
            _check_fingerprint(value, level.name)
        for value in level.setup:
            if value not in _SETUP_VALUES:
                raise InvalidSDPError(
                    f"invalid a=setup:{value} at {level.name} (expected one of "
                    f"{', '.join(_SETUP_VALUES)})"
                )
            if value == "actpass" and description.type in ("answer", "pranswer"):
                raise InvalidSDPError(f"an {description.type} must not use a=setup:actpass")
        for value in level.ufrag:
            _check_ice_value("ice-ufrag", value, level.name, 4)
        for value in level.pwd:
            _check_ice_value("ice-pwd", value, level.name, 22)
    for section, media in zip(sections, description.media, strict=True):
        if media.rejected or media.bundle_only:  # no transport of its own
            continue
        if not (section.fingerprint or session.fingerprint):
            raise InvalidSDPError(
                f"the remote {description.type} has no a=fingerprint for {section.name}: "
                "its DTLS peer could not be authenticated"
            )
        if not (section.ufrag or session.ufrag) or not (section.pwd or session.pwd):
            raise InvalidSDPError(
                f"the remote {description.type} lacks a=ice-ufrag/a=ice-pwd for {section.name}"
            )
