"""The codecs the library sends and receives, and how they map to GStreamer elements."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CODECS", "Codec", "codec_by_encoding", "payload_types_for"]


@dataclass(frozen=True)
class Codec:
    """A codec: its RTP names and the GStreamer elements that encode and decode it."""

    name: str
    kind: str
    encoding_name: str
    clock_rate: int
    default_payload_type: int
    encoder: str
    payloader: str
    depayloader: str
    decoder: str
    parser: str = ""
    container: str = "webmmux"
    bitrate_property: str = "target-bitrate"
    bitrate_scale: int = 1
    default_bitrate: int = 1_000_000
    extra_caps: str = ""

    def rtp_caps(self, payload_type: int | None) -> str:
        """Caps of this codec's RTP stream at ``payload_type`` (None: any)."""
        caps = (
            f"application/x-rtp,media={self.kind},encoding-name={self.encoding_name},"
            f"clock-rate={self.clock_rate}"
        )
        if payload_type is not None:
            caps += f",payload={payload_type}"
        return caps + (f",{self.extra_caps}" if self.extra_caps else "")

    def encoder_description(self, bitrate: int) -> str:
        """The encoder part of the sending pipeline, at ``bitrate`` bits per second."""
        return self.encoder.format(bitrate=bitrate // self.bitrate_scale)


CODECS: dict[str, Codec] = {
    codec.name: codec
    for codec in (
        Codec(
            "vp8",
            "video",
            "VP8",
            90000,
            96,
            encoder=(
                # threads=1: on 2 cores, 2 threads cost 0.49 CPU s/s at 720p30, 1 costs 0.36.
                "vp8enc name=encoder deadline=1 cpu-used=8 threads=1 end-usage=cbr "
                "lag-in-frames=0 keyframe-max-dist=60 error-resilient=partitions "
                "target-bitrate={bitrate}"
            ),
            payloader="rtpvp8pay name=payloader picture-id-mode=15-bit",
            depayloader="rtpvp8depay",
            decoder="vp8dec",
        ),
        Codec(
            "vp9",
            "video",
            "VP9",
            90000,
            98,
            encoder=(
                "vp9enc name=encoder deadline=1 cpu-used=8 threads=2 end-usage=cbr "
                "lag-in-frames=0 keyframe-max-dist=60 row-mt=true target-bitrate={bitrate}"
            ),
            payloader="rtpvp9pay name=payloader picture-id-mode=15-bit",
            depayloader="rtpvp9depay",
            decoder="vp9dec",
        ),
        Codec(
            "h264",
            "video",
            "H264",
            90000,
            102,
            encoder=(
                "x264enc name=encoder tune=zerolatency speed-preset=ultrafast key-int-max=60 "
                "bitrate={bitrate} ! video/x-h264,profile=constrained-baseline,level=(string)3.1"
            ),
            payloader="rtph264pay name=payloader config-interval=-1 aggregate-mode=zero-latency",
            depayloader="rtph264depay",
            decoder="h264parse ! avdec_h264",
            parser="h264parse",
            container="matroskamux",
            bitrate_property="bitrate",
            bitrate_scale=1000,
            # rtph264pay derives profile-level-id from the stream (42c01f: constrained
            # baseline, level 3.1); pinning a different spelling here fails negotiation.
            extra_caps="packetization-mode=(string)1",
        ),
        Codec(
            "opus",
            "audio",
            "OPUS",
            48000,
            111,
            encoder="opusenc name=encoder bitrate={bitrate}",
            payloader="rtpopuspay name=payloader",
            depayloader="rtpopusdepay",
            decoder="opusdec",
            bitrate_property="bitrate",
            default_bitrate=64_000,
            extra_caps="encoding-params=(string)2",
        ),
    )
}
"""The codecs we send and receive, by name (``"vp8"``, ``"vp9"``, ``"h264"``, ``"opus"``):
what a source's ``codec=`` accepts."""


def codec_by_encoding(encoding_name: str) -> Codec | None:
    """The codec for an RTP ``encoding-name`` (case-insensitive), if we support it."""
    wanted = encoding_name.upper()
    for codec in CODECS.values():
        if codec.encoding_name == wanted:
            return codec
    return None


_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)/(\d+)")
_FMTP = re.compile(r"^a=fmtp:(\d+) (.*)$")


_NOT_MEDIA = frozenset({"RTX", "RED", "ULPFEC", "FLEXFEC-03", "TELEPHONE-EVENT", "CN"})


def encodings_in(sdp: str, section_index: int) -> list[str]:
    """The media encodings (``rtpmap`` names, upper case) of one m-section, in order.

    Retransmission, redundancy, FEC, DTMF and comfort noise are left out: they carry no
    media of their own.
    """
    sections = sdp.replace("\r\n", "\n").split("\nm=")
    if section_index + 1 >= len(sections):
        return []
    names: list[str] = []
    for match in map(_RTPMAP.match, ("m=" + sections[section_index + 1]).split("\n")):
        if match and match[2].upper() not in _NOT_MEDIA and match[2].upper() not in names:
            names.append(match[2].upper())
    return names


def payload_types_for(sdp: str, section_index: int, codec: Codec) -> list[int]:
    """Payload types the given m-section of ``sdp`` uses for ``codec``, best first.

    For H.264 only packetization-mode=1 with a baseline-compatible profile qualifies.
    """
    sections = sdp.replace("\r\n", "\n").split("\nm=")
    if section_index + 1 >= len(sections):
        return []
    lines = ("m=" + sections[section_index + 1]).split("\n")
    fmtp = {int(m[1]): m[2] for m in map(_FMTP.match, lines) if m}
    found = []
    for match in map(_RTPMAP.match, lines):
        if match and match[2].upper() == codec.encoding_name:
            pt = int(match[1])
            params = fmtp.get(pt, "")
            if codec.name == "h264":
                if "packetization-mode=1" not in params:
                    continue
                profile = re.search(r"profile-level-id=([0-9a-fA-F]{6})", params)
                if profile and profile[1][:2].lower() not in ("42", "4d", "64"):
                    continue
                if profile and profile[1][:4].lower() != "42e0":
                    found.append(pt)  # usable, but after constrained baseline
                    continue
                found.insert(0, pt)
                continue
            found.append(pt)
    return found
