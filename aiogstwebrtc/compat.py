"""GStreamer release differences in one place: what each release does, what the library does.

Every behaviour here was measured on Debian 12 (GStreamer 1.22.0) and Debian 13 (GStreamer
1.26.2) with ``scripts/probe_webrtcbin.py`` (raw webrtcbin, no library code) or a test that
names it; docs/gstreamer-versions.md has the figures. :func:`workarounds` is what the
doctor lists: each workaround, whether it is applied on this machine, and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .gst import Gst, ensure_init

__all__ = [
    "Workaround",
    "emits_empty_end_of_candidates",
    "gstreamer_version",
    "webrtcbin_checks_fingerprints",
    "workarounds",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workaround:
    """One release difference the library handles: ``applied`` on this machine, and why."""

    name: str
    applied: bool
    detail: str


def gstreamer_version() -> tuple[int, int, int]:
    """The running GStreamer's (major, minor, micro)."""
    ensure_init()
    major, minor, micro, _nano = Gst.version()
    return (major, minor, micro)


def emits_empty_end_of_candidates() -> bool:
    """True where webrtcbin ends gathering with an empty ``on-ice-candidate`` (1.26; not 1.22).

    The library drops that marker on every release; this only says whether it arrives.
    """
    return gstreamer_version() >= (1, 26, 0)


def webrtcbin_checks_fingerprints() -> bool:
    """True where webrtcbin itself refuses a remote description without ``a=fingerprint``.

    1.22 does, 1.26 does not; the library checks on every release (``remote_checks``).
    """
    return gstreamer_version() < (1, 26, 0)


def workarounds() -> list[Workaround]:
    """Every release workaround, probed on a fresh webrtcbin of this machine."""
    from .gst import configure_ice_agent

    ensure_init()
    notes: list[str] = []

    class _Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    gst_log = logging.getLogger("aiogstwebrtc.gst")
    handler = _Catch(logging.DEBUG)
    previous, propagate = gst_log.level, gst_log.propagate
    gst_log.addHandler(handler)
    gst_log.setLevel(logging.DEBUG)
    gst_log.propagate = False
    upnp = pacing = False
    try:
        webrtc = Gst.ElementFactory.make("webrtcbin", None)
        if webrtc is not None:
            configure_ice_agent(webrtc, [])
            ice = webrtc.get_property("ice-agent")
            agent = ice.get_property("agent") if ice is not None else None
            upnp = agent is not None and agent.find_property("upnp") is not None
            pacing = agent is not None and agent.find_property("stun-pacing-timer") is not None
            del agent, ice, webrtc
    finally:
        gst_log.removeHandler(handler)
        gst_log.setLevel(previous)
        gst_log.propagate = propagate
    floating = any("reference restored" in note for note in notes)
    version = ".".join(str(n) for n in gstreamer_version())
    empty_marker = emits_empty_end_of_candidates()
    checks = webrtcbin_checks_fingerprints()
    return [
        Workaround(
            "ice-agent-reference",
            floating,
            "webrtcbin's ice-agent was floating when read: its reference was given back"
            if floating
            else "webrtcbin's ice-agent reference is sound here: nothing to do",
        ),
        Workaround(
            "libnice-upnp-off",
            upnp,
            "UPnP switched off on every ICE agent (no SSDP multicast, fewer fds)"
            if upnp
            else "this libnice has no UPnP property",
        ),
        Workaround(
            "ice-pacing-timer",
            pacing,
            "libnice's STUN pacing timer set to 5 ms for the first 16 peer connections"
            if pacing
            else "this libnice has no stun-pacing-timer property",
        ),
        Workaround(
            "end-of-candidates-marker",
            empty_marker,
            f"GStreamer {version} ends gathering with an empty candidate: it is dropped, "
            "and the one None comes from ice-gathering-state complete"
            if empty_marker
            else f"GStreamer {version} emits no empty candidate: nothing to drop",
        ),
        Workaround(
            "own-fingerprint-check",
            not checks,
            f"GStreamer {version} accepts remote descriptions without a=fingerprint: the "
            "library refuses them itself (also a=setup and ICE credentials)"
            if not checks
            else f"GStreamer {version} refuses a missing a=fingerprint itself; the library "
            "checks first anyway, for the same error on every release",
        ),
        Workaround(
            "certificate-fingerprint-rewrite",
            True,
            "our ECDSA certificate's SHA-256 fingerprint is written into every local SDP "
            "(1.22 and 1.26 hash the whole PEM, private key included)",
        ),
        Workaround(
            "unique-sctp-association-ids",
            True,
            "each peer connection gets its own SCTP association id (webrtcbin picks them at "
            "random; collisions stalled pairs on 1.22)",
        ),
        Workaround(
            "flush-sctp-before-stop",
            True,
            "sctpenc is flushed before set_state(NULL), which hangs with a backlog",
        ),
        Workaround(
            "replies-read-in-place",
            True,
            "promise replies are read while referenced (borrowed values without the "
            "gst-python overrides)",
        ),
    ]
