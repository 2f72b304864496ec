"""A remote peer leaving ends the SCTP association: that is an expected end, not an ERROR.

gstsctpenc reports it in two ways (issue 16 item 9, issue 17): "SCTP association went into
error state", and "Failed to send data" when a message was being sent as it went (seen
once in 200 sessions of an aiortc peer closing). Both must close the data channels quietly;
any other pipeline error must still be reported.
"""

from __future__ import annotations

import pytest

from aiogstwebrtc.bridge import _is_sctp_association_end
from aiogstwebrtc.gst import GLib, Gst, ensure_init


def error_from(factory: str, debug: str) -> tuple[Gst.Message, str | None]:
    ensure_init()
    element = Gst.ElementFactory.make(factory, None)
    assert element is not None, f"GStreamer has no {factory}"
    error = GLib.Error.new_literal(
        Gst.ResourceError.quark(), "Could not write to resource.", int(Gst.ResourceError.WRITE)
    )
    message = Gst.Message.new_error(element, error, debug)
    _error, parsed_debug = message.parse_error()
    return message, parsed_debug


@pytest.mark.parametrize(
    "debug",
    [
        "../ext/sctp/gstsctpenc.c(811): on_sctp_association_state_changed (): "
        "/GstPipeline:pipeline0/GstWebRTCBin:webrtcbin0/GstSctpEnc:sctpenc0:\n"
        "SCTP association went into error state",
        "../ext/sctp/gstsctpenc.c(664): gst_sctp_enc_sink_chain (): "
        "/GstPipeline:pipeline177/GstWebRTCBin:webrtcbin177/GstSctpEnc:sctpenc177:\n"
        "Failed to send data",
    ],
)
def test_sctpenc_reporting_the_association_gone_is_an_expected_end(debug: str) -> None:
    assert _is_sctp_association_end(*error_from("sctpenc", debug))


def test_other_errors_stay_pipeline_errors() -> None:
    assert not _is_sctp_association_end(*error_from("sctpenc", "Could not map GstBuffer"))
    assert not _is_sctp_association_end(*error_from("udpsink", "Failed to send data"))
    assert not _is_sctp_association_end(
        *error_from("queue", "SCTP association went into error state")
    )
