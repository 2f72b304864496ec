"""Media tracks: GStreamer sources sent over WebRTC, remote tracks decoded or played.

Everything is GStreamer underneath: a :class:`VideoSource` is a pipeline fragment that is
encoded and payloaded inside the peer's pipeline; a :class:`RemoteTrack` is decoded by
GStreamer and handed to Python as numpy frames, or played to any GStreamer sink.
"""

from __future__ import annotations

from .broadcast import Broadcast, BroadcastTrack
from .codecs import CODECS, Codec
from .frames import AudioFrame, VideoFrame
from .receiver import RemoteTrack
from .relay import RelayedAudioSource, RelayedVideoSource
from .sender import RtpSender, Transceiver
from .sources import (
    AudioSource,
    EncodedVideoSource,
    FrameSource,
    MediaSource,
    RtspSource,
    VideoSource,
)

__all__ = [
    "CODECS",
    "AudioFrame",
    "AudioSource",
    "Broadcast",
    "BroadcastTrack",
    "Codec",
    "EncodedVideoSource",
    "FrameSource",
    "MediaSource",
    "RelayedAudioSource",
    "RelayedVideoSource",
    "RemoteTrack",
    "RtpSender",
    "RtspSource",
    "Transceiver",
    "VideoFrame",
    "VideoSource",
]
