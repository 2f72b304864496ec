"""Walk a pipeline's elements: which media encoders and decoders does it hold?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogstwebrtc.gst import Gst, iterate

if TYPE_CHECKING:
    from aiogstwebrtc.whep import WhipEndpoint


def factory_names(pipeline: Gst.Bin) -> list[str]:
    """The factory name of every element anywhere inside ``pipeline``."""
    names = []
    for element in iterate(pipeline.iterate_recurse()):
        factory = element.get_factory()
        if factory is not None:
            names.append(factory.get_name())
    return names


def codec_elements(pipeline: Gst.Bin) -> list[str]:
    """Factory names of every media decoder and encoder anywhere inside ``pipeline``.

    A factory whose klass has Decoder or Encoder counts, except webrtcbin's transport
    elements (klass ``Decoder/Network/DTLS``, ``Encoder/Network/SCTP``...): they encrypt and
    frame packets, not media.
    """
    found = []
    for element in iterate(pipeline.iterate_recurse()):
        factory = element.get_factory()
        klass = factory.get_metadata("klass") if factory is not None else ""
        fields = (klass or "").split("/")
        if ("Decoder" in fields or "Encoder" in fields) and "Network" not in fields:
            found.append(factory.get_name())
    return found


def encoders(pipeline: Gst.Bin) -> list[str]:
    """Factory names of the media encoders inside ``pipeline``."""
    return [name for name in codec_elements(pipeline) if _is_encoder(name)]


def _is_encoder(factory_name: str) -> bool:
    factory = Gst.ElementFactory.find(factory_name)
    return factory is not None and "Encoder" in (factory.get_metadata("klass") or "").split("/")


async def ingest_codec_elements(whip: WhipEndpoint) -> list[str]:
    """Every media decoder and encoder in the pipelines of ``whip``'s publisher sessions
    (a WHIP ingest passes streams through: none is expected)."""
    found: list[str] = []
    for session in list(whip._sessions.values()):
        found += await session.pc.run_in_glib(lambda pipeline, _webrtc: codec_elements(pipeline))
    return found
