"""What the offer/answer steps need from GStreamer: enum tables, state rules, conversions."""

from __future__ import annotations

from collections.abc import Callable

from .errors import InvalidSDPError
from .gst import Gst, GstSdp, GstWebRTC
from .promises import ReplyError
from .sdp import SessionDescription

__all__ = [
    "BUNDLE_POLICIES",
    "ICE_TRANSPORT_POLICIES",
    "LOCAL_ALLOWED",
    "REMOTE_ALLOWED",
    "description_extractor",
    "no_reply",
    "to_gst_description",
]

BUNDLE_POLICIES = {
    "balanced": GstWebRTC.WebRTCBundlePolicy.BALANCED,
    "max-compat": GstWebRTC.WebRTCBundlePolicy.MAX_COMPAT,
    "max-bundle": GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE,
}
ICE_TRANSPORT_POLICIES = {
    "all": GstWebRTC.WebRTCICETransportPolicy.ALL,
    "relay": GstWebRTC.WebRTCICETransportPolicy.RELAY,
}
SDP_TYPES = {
    "offer": GstWebRTC.WebRTCSDPType.OFFER,
    "pranswer": GstWebRTC.WebRTCSDPType.PRANSWER,
    "answer": GstWebRTC.WebRTCSDPType.ANSWER,
    "rollback": GstWebRTC.WebRTCSDPType.ROLLBACK,
}
# Which descriptions each signaling state accepts (as in the W3C spec).
LOCAL_ALLOWED = {
    "offer": ("stable", "have-local-offer"),
    "answer": ("have-remote-offer", "have-local-pranswer"),
    "pranswer": ("have-remote-offer", "have-local-pranswer"),
    "rollback": ("have-local-offer",),
}
REMOTE_ALLOWED = {
    "offer": ("stable", "have-remote-offer"),
    "answer": ("have-local-offer", "have-remote-pranswer"),
    "pranswer": ("have-local-offer", "have-remote-pranswer"),
    "rollback": ("have-remote-offer",),
}


def to_gst_description(
    description: SessionDescription, sdp: str | None = None
) -> GstWebRTC.WebRTCSessionDescription:
    """The GstWebRTC form of ``description`` (with ``sdp`` as its text when given): new
    objects, made on the asyncio thread.

    No GStreamer thread sees them before the operation is emitted on the GLib thread (see
    the exceptions listed in :mod:`aiogstwebrtc.glibloop`).
    """
    result, message = GstSdp.SDPMessage.new_from_text(description.sdp if sdp is None else sdp)
    if result != GstSdp.SDPResult.OK:
        raise InvalidSDPError("GStreamer cannot parse this SDP")
    return GstWebRTC.WebRTCSessionDescription.new(SDP_TYPES[description.type], message)


def description_extractor(field: str) -> Callable[[Gst.Structure | None], str]:
    """Reads the SDP text of the ``offer``/``answer`` field while the reply is alive."""

    def extract(reply: Gst.Structure | None) -> str:
        if reply is None or not reply.has_field(field):
            raise ReplyError(f"webrtcbin's reply has no {field}")
        description = reply.get_value(field)
        text: str = description.sdp.as_text()
        return text

    return extract


def no_reply(_reply: Gst.Structure | None) -> None:
    """For operations whose success carries no value (webrtcbin replies with nothing)."""
    return None
