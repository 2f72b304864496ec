#!/usr/bin/env python3
"""Measures the webrtcbin behaviours that differ between GStreamer releases, with raw
webrtcbin and no aiogstwebrtc code, and prints them as JSON (docs/gstreamer-versions.md).

    scripts/in-netns.sh .venv/bin/python scripts/probe_webrtcbin.py

Each probe makes two webrtcbins in one process on 127.0.0.1 and answers one question:
  end_of_candidates       does gathering end with an empty on-ice-candidate?
  fingerprint_required    is a remote offer without a=fingerprint refused?
  setup_checked           is a remote offer with a=setup:bogus refused?
  ice_credentials_required is a remote offer without a=ice-ufrag/a=ice-pwd refused?
  pem_fingerprint_correct does webrtcbin advertise the certificate's own SHA-256 fingerprint
                          when dtlssrtpdec is given a certificate+key PEM?
  ice_agent_floating      is the ice-agent property floating when first read?
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

Gst.init(None)
loop = GLib.MainLoop()
threading.Thread(target=loop.run, daemon=True).start()


def read_ice_agent(webrtc: Gst.Element) -> tuple[Any, bool]:
    """The ice-agent, and whether it was floating (then its reference is given back)."""
    ice = webrtc.get_property("ice-agent")
    floating = bool(ice.__grefcount__ == 1)
    if floating:  # without this webrtcbin frees the agent under itself (1.22)
        import ctypes

        lib = ctypes.CDLL("libgobject-2.0.so.0")
        lib.g_object_ref.argtypes = [ctypes.c_void_p]
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype = ctypes.c_void_p
        get.argtypes = [ctypes.py_object, ctypes.c_char_p]
        lib.g_object_ref(get(ice.__gpointer__, None))
    return ice, floating


def make_webrtcbin(pem: str | None = None) -> tuple[Gst.Pipeline, Gst.Element]:
    pipeline = Gst.Pipeline.new(None)
    webrtc = Gst.ElementFactory.make("webrtcbin", None)
    pipeline.add(webrtc)
    ice, _floating = read_ice_agent(webrtc)
    agent = ice.get_property("agent")
    if agent.find_property("upnp") is not None:
        agent.set_property("upnp", False)
    ice.emit("add-local-ip-address", "127.0.0.1")
    if pem is not None:

        def added(_bin: Any, _sub: Any, element: Gst.Element) -> None:
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "dtlssrtpdec":
                element.set_property("pem", pem)

        webrtc.connect("deep-element-added", added)
    pipeline.set_state(Gst.State.PLAYING)
    pipeline.get_state(5 * Gst.SECOND)
    return pipeline, webrtc


def wait_promise(emit: Any) -> Gst.Structure | None:
    promise = Gst.Promise.new()
    emit(promise)
    promise.wait()
    return promise.get_reply()


def make_offer(webrtc: Gst.Element) -> str:
    webrtc.emit("create-data-channel", "probe", None)
    reply = wait_promise(lambda p: webrtc.emit("create-offer", None, p))
    assert reply is not None
    offer = reply.get_value("offer")
    text: str = offer.sdp.as_text()
    wait_promise(lambda p: webrtc.emit("set-local-description", offer, p))
    return text


def remote_accepted(sdp: str) -> tuple[bool, str]:
    """Whether a fresh webrtcbin accepts ``sdp`` as a remote offer (and the error if not)."""
    pipeline, webrtc = make_webrtcbin()
    try:
        _result, message = GstSdp.SDPMessage.new_from_text(sdp)
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, message)
        reply = wait_promise(lambda p: webrtc.emit("set-remote-description", description, p))
        error = ""
        if reply is not None and reply.has_field("error"):
            error = str(reply.get_value("error").message)
        state = webrtc.get_property("signaling-state").value_nick
        return state == "have-remote-offer", error
    finally:
        pipeline.set_state(Gst.State.NULL)


def probe_end_of_candidates() -> dict[str, Any]:
    pipeline, webrtc = make_webrtcbin()
    events: list[str] = []
    done = threading.Event()

    def on_candidate(_w: Any, mline: int, text: str) -> None:
        events.append(f"{mline}:{text}")

    def on_gathering(_w: Any, _pspec: Any) -> None:
        state = webrtc.get_property("ice-gathering-state").value_nick
        events.append(f"gathering:{state}")
        if state == "complete":
            done.set()

    webrtc.connect("on-ice-candidate", on_candidate)
    webrtc.connect("notify::ice-gathering-state", on_gathering)
    make_offer(webrtc)
    done.wait(10)
    time.sleep(0.5)
    pipeline.set_state(Gst.State.NULL)
    empty = [e for e in events if re.fullmatch(r"\d+:", e)]
    return {
        "empty_candidate_emitted": bool(empty),
        "gathering_completed": done.is_set(),
        "sequence": [e if ":" in e and not e[0].isdigit() else e.split(" ")[0] for e in events],
    }


def strip(sdp: str, pattern: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not re.match(pattern, line))


def probe_checks() -> dict[str, Any]:
    pipeline, webrtc = make_webrtcbin()
    offer = make_offer(webrtc)
    pipeline.set_state(Gst.State.NULL)
    results: dict[str, Any] = {}
    for name, sdp in {
        "fingerprint_required": strip(offer, r"a=fingerprint:"),
        "setup_checked": offer.replace("a=setup:actpass", "a=setup:bogus"),
        "ice_credentials_required": strip(offer, r"a=ice-(ufrag|pwd):"),
    }.items():
        accepted, error = remote_accepted(sdp)
        results[name] = {"refused": not accepted, "error": error}
    return results


def probe_pem_fingerprint() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", f"{folder}/k.pem", "-out", f"{folder}/c.pem", "-days", "2",
             "-subj", "/CN=probe"],
            check=True, capture_output=True,
        )  # fmt: skip
        certificate = open(f"{folder}/c.pem").read()
        key = open(f"{folder}/k.pem").read()
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(certificate)).hexdigest().upper()
    real = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    pipeline, webrtc = make_webrtcbin(certificate + key)
    offer = make_offer(webrtc)
    pipeline.set_state(Gst.State.NULL)
    advertised = re.search(r"a=fingerprint:sha-256 (\S+)", offer)
    return {
        "correct": advertised is not None and advertised.group(1).upper() == real,
        "advertised": advertised.group(1) if advertised else None,
        "certificate": real,
    }


def probe_ice_agent_floating() -> dict[str, Any]:
    webrtc = Gst.ElementFactory.make("webrtcbin", None)
    _ice, floating = read_ice_agent(webrtc)
    return {"floating": floating}


def main() -> None:
    report = {
        "gstreamer": Gst.version_string(),
        "end_of_candidates": probe_end_of_candidates(),
        **probe_checks(),
        "pem_fingerprint": probe_pem_fingerprint(),
        "ice_agent": probe_ice_agent_floating(),
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
