"""The doctor's environment section: versions, GStreamer elements, gi.events, workarounds.

Missing elements are named with the Debian package that provides them.
"""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass
from typing import Any

from ..netns import in_isolated_namespace, namespace_unavailable_reason

__all__ = ["FEATURES", "Feature", "network_plan", "probe_environment"]

#: Debian packages of elements that ``aiogstwebrtc.gst.ELEMENT_PACKAGES`` does not list.
_MORE_PACKAGES = {
    "nicesink": "gstreamer1.0-nice",
    "dtlssrtpdec": "gstreamer1.0-plugins-bad",
    "srtpdec": "gstreamer1.0-plugins-bad",
    "sctpdec": "gstreamer1.0-plugins-bad",
    "openh264dec": "gstreamer1.0-plugins-bad",
}


@dataclass(frozen=True)
class Feature:
    """A capability and the elements providing it (any one of each group will do).

    ``required`` features are needed for data channels; the codecs are for media.
    """

    name: str
    groups: tuple[tuple[str, ...], ...]
    required: bool


FEATURES: tuple[Feature, ...] = (
    Feature("webrtcbin", (("webrtcbin",),), True),
    Feature("nice", (("nicesrc",), ("nicesink",)), True),
    Feature("dtls", (("dtlssrtpenc",), ("dtlssrtpdec",)), True),
    Feature("srtp", (("srtpenc",), ("srtpdec",)), True),
    Feature("sctp", (("sctpenc",), ("sctpdec",)), True),
    Feature("VP8", (("vp8enc",), ("vp8dec",)), False),
    Feature("H.264", (("x264enc", "openh264enc"), ("avdec_h264", "openh264dec")), False),
    Feature("Opus", (("opusenc",), ("opusdec",)), False),
)


def package_for(element: str) -> str:
    """The Debian package that provides ``element``."""
    from ..gst import ELEMENT_PACKAGES

    package = ELEMENT_PACKAGES.get(element) or _MORE_PACKAGES.get(element)
    return package or "a GStreamer plugin package"


def _gi_events() -> dict[str, Any]:
    try:
        module = importlib.import_module("gi.events")
        module.GLibEventLoopPolicy  # noqa: B018 - present since PyGObject 3.50
    except (ImportError, AttributeError) as exc:
        return {"available": False, "detail": f"not available ({exc}); needs PyGObject >= 3.50"}
    return {"available": True, "detail": "PyGObject's asyncio GLib loop can be used"}


def _aiortc() -> str | None:
    from .peers import aiortc_version

    return aiortc_version()


def network_plan() -> dict[str, Any]:
    """Where the doctor's peers may send packets, and whether aiortc can take part.

    webrtcbin peers always stay on 127.0.0.1. aiortc's ICE skips loopback, so an aiortc run
    needs a network namespace: the one the doctor already runs in when it is an isolated one,
    else a fresh one per approach (``unshare --net``). No STUN server is ever used.
    """
    if in_isolated_namespace():
        return {
            "mode": "inherited",
            "detail": "already inside an isolated network namespace (no route out)",
            "aiortc": True,
            "aiortc_reason": None,
        }
    reason = namespace_unavailable_reason()
    if reason is None:
        return {
            "mode": "new",
            "detail": "each approach runs in a fresh network namespace (unshare --net)",
            "aiortc": True,
            "aiortc_reason": None,
        }
    return {
        "mode": "loopback",
        "detail": "webrtcbin peers on 127.0.0.1 only",
        "aiortc": False,
        "aiortc_reason": f"aiortc needs a network namespace (it ignores loopback): {reason}",
    }


def _workarounds() -> list[dict[str, Any]]:
    """The GStreamer release workarounds, with whether each is applied here and why."""
    from ..compat import workarounds

    return [
        {"name": item.name, "applied": item.applied, "detail": item.detail}
        for item in workarounds()
    ]


def probe_environment() -> dict[str, Any]:
    """The environment section of the report (imports GStreamer; makes one webrtcbin)."""
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gstreamer": None,
        "pygobject": None,
        "glib": None,
        "libnice": None,
        "aiortc": _aiortc(),
        "elements": [],
        "missing": [],
        "required_missing": False,
        "gi_events": {"available": False, "detail": "PyGObject/GStreamer not importable"},
        "network": network_plan(),
        "workarounds": [],
        "error": None,
    }
    try:
        from ..gst import element_available, versions
    except Exception as exc:  # MissingComponentError and friends: report, do not crash
        result["error"] = str(exc)
        result["required_missing"] = True
        return result
    found = versions()
    result.update(
        gstreamer=found.get("gstreamer"),
        pygobject=found.get("pygobject"),
        glib=found.get("glib"),
        libnice=found.get("libnice-plugin"),
        gi_events=_gi_events(),
    )
    for feature in FEATURES:
        for group in feature.groups:
            present = [name for name in group if element_available(name)]
            entry = {
                "feature": feature.name,
                "element": group[0] if not present else present[0],
                "alternatives": list(group),
                "present": bool(present),
                "required": feature.required,
                "package": package_for(group[0]),
            }
            result["elements"].append(entry)
            if not present:
                result["missing"].append(
                    {"element": group[0], "feature": feature.name, "package": entry["package"]}
                )
                if feature.required:
                    result["required_missing"] = True
    if not result["required_missing"]:
        result["workarounds"] = _workarounds()
    return result
