"""``media_cpu_720p``: CPU seconds per second for one 1280x720 30 fps VP8 stream, both ends.

Each side runs alone in a child process holding both peers, so the process's CPU time
(``resource.getrusage``, every thread) is the cost of sending and receiving one stream.
Both sides send the same 60 frames of GStreamer's ``videotestsrc pattern=ball``, rendered
before the clock starts and replayed in a loop at 30 fps, so that neither pays for drawing
them (drawing that pattern live costs ~0.12 CPU s/s by itself). Ours: a ``VideoSource``
reading the frames from files (``multifilesrc ! rawvideoparse ! identity sync=true``) →
webrtcbin → webrtcbin → ``RemoteTrack.recv()`` (decoded RGB numpy frames). aiortc: a
``VideoStreamTrack`` returning the frames as PyAV frames → aiortc's VP8 → ``track.recv()`` →
``to_ndarray("rgb24")``, so both ends hand Python the same kind of frame.

Like for like: both ends encode with libvpx VP8 set the same way (:data:`ENCODER`): CBR at a
fixed 1 Mbit/s target (aiortc's REMB-driven target changes are ignored, webrtcbin has no
congestion control here), realtime deadline at speed (``cpu-used``) 8, a keyframe every 60
frames, one encoder thread, the denoiser off (``noise-sensitivity`` 0), ``static-threshold``
0, quantizers 2 to 56, a 1,000 ms rate-control buffer with 15 % overshoot and 100 % undershoot,
no lag, error-resilient partitions. Ours gets them through a ``VideoSource`` whose encoder
fragment is this string; aiortc through a ``Vp8Encoder`` subclass installed for the child
process. Each side reports CPU per frame and the bitrate it actually sent (RTP payload bytes
from its own outbound-rtp statistics over the window).
"""

from __future__ import annotations

import asyncio
import math
import time
from fractions import Fraction
from typing import Any

from .common import Result, Settings, cpu_seconds, median, order_for_round, run_child

__all__ = ["NAMES", "run"]

NAMES = ("media_cpu_720p",)
WIDTH, HEIGHT, FPS = 1280, 720, 30
PATTERN = "ball"
FRAMES = 60
#: The one VP8 encoder configuration both sides use.
ENCODER: dict[str, Any] = {
    "bitrate": 1_000_000,
    "speed": 8,
    "keyframe_interval": 60,
    "threads": 1,
    "noise_sensitivity": 0,
    "static_threshold": 0,
    "min_quantizer": 2,
    "max_quantizer": 56,
    "buffer_ms": 1000,
    "overshoot_pct": 15,
    "undershoot_pct": 100,
}


def ours_encoder_description() -> str:
    """``vp8enc`` with :data:`ENCODER`'s settings."""
    e = ENCODER
    return (
        f"vp8enc name=encoder deadline=1 cpu-used={e['speed']} threads={e['threads']} "
        f"end-usage=cbr target-bitrate={e['bitrate']} keyframe-max-dist={e['keyframe_interval']} "
        f"noise-sensitivity={e['noise_sensitivity']} static-threshold={e['static_threshold']} "
        f"min-quantizer={e['min_quantizer']} max-quantizer={e['max_quantizer']} "
        f"buffer-size={e['buffer_ms']} buffer-optimal-size={e['buffer_ms'] * 5 // 6} "
        f"overshoot={e['overshoot_pct']} undershoot={e['undershoot_pct']} "
        "lag-in-frames=0 error-resilient=partitions token-partitions=0"
    )


def aiortc_encoder_options() -> dict[str, str]:
    """FFmpeg's libvpx options (as aiortc's ``Vp8Encoder`` passes them) for :data:`ENCODER`."""
    e = ENCODER
    return {
        "bufsize": str(e["bitrate"] * e["buffer_ms"] // 1000),
        "cpu-used": str(e["speed"]),
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(e["bitrate"]),
        "maxrate": str(e["bitrate"]),
        "noise-sensitivity": str(e["noise_sensitivity"]),
        "overshoot-pct": str(e["overshoot_pct"]),
        "undershoot-pct": str(e["undershoot_pct"]),
        "partitions": "0",
        "static-thresh": str(e["static_threshold"]),
        "error-resilient": "partitions",
    }


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    if "media_cpu_720p" not in names:
        return []
    rounds = settings.n_rounds(2, 1)
    options = {"warmup": settings.pick(3.0, 2.0), "window": settings.pick(8.0, 3.0)}
    samples: dict[str, list[dict[str, Any]]] = {"ours": [], "aiortc": []}
    for index in range(rounds):
        for side in order_for_round(index):
            name = "ours" if side == "ours" else "aiortc"
            samples[name].append(run_child("media", name, options, timeout=90))

    def values(side: str, key: str) -> list[float]:
        return [s.get(key, math.nan) for s in samples[side]]

    errors = [f"{side}: {s['error']}" for side in samples for s in samples[side] if "error" in s]
    details: dict[str, Any] = {
        "window_s": options["window"],
        "ours_fps": median(values("ours", "fps")),
        "aiortc_fps": median(values("aiortc", "fps")),
        "ours_cpu_ms_per_frame": median(values("ours", "cpu_ms_per_frame")),
        "aiortc_cpu_ms_per_frame": median(values("aiortc", "cpu_ms_per_frame")),
        "ours_threads": median(values("ours", "threads")),
        "aiortc_threads": median(values("aiortc", "threads")),
        "ours_sent_kbps": median(values("ours", "sent_kbps")),
        "aiortc_sent_kbps": median(values("aiortc", "sent_kbps")),
        "encoder": dict(ENCODER),
        "ours_encoder": ours_encoder_description(),
        "aiortc_encoder_options": aiortc_encoder_options(),
        "samples": samples,
    }
    if errors:
        details["errors"] = errors
    ours = values("ours", "cpu_per_s")
    theirs = values("aiortc", "cpu_per_s")
    result = Result(
        "media_cpu_720p",
        median(ours),
        median(theirs),
        "CPU s/s",
        "lower",
        ours_samples=ours,
        other_samples=theirs,
        details=details,
        description="CPU seconds per second, one 720p30 VP8 stream sent and received, "
        "both encoders set the same",
    )
    result.peer_status = {
        "aiolibdatachannel": "not run: data channels only (the package has no media API)",
        "wrtc": "not run: its encoder (libwebrtc's) cannot be set like the other two",
    }
    return [result]


# --- in the child process -----------------------------------------------------------------------


async def _measure(
    next_frame: Any, warmup: float, window: float, threads: Any, sent: Any
) -> dict[str, Any]:
    """Consume frames for ``warmup`` then ``window`` seconds; CPU, frame counts and the
    payload bytes the sender sent (``await sent()``) over the window."""
    count = 0
    done = asyncio.Event()
    measuring: dict[str, float] = {}

    async def consume() -> None:
        nonlocal count
        while not done.is_set():
            await next_frame()
            count += 1

    consumer = asyncio.ensure_future(consume())
    try:
        await asyncio.wait_for(_first_frame(lambda: count), 20)
        await asyncio.sleep(warmup)
        sent_before = await sent()
        measuring = {"cpu": cpu_seconds(), "wall": time.perf_counter(), "frames": count}
        await asyncio.sleep(window)
        cpu = cpu_seconds() - measuring["cpu"]
        wall = time.perf_counter() - measuring["wall"]
        frames = count - measuring["frames"]
        sent_bytes = await sent() - sent_before
        thread_total = threads()
    finally:
        done.set()
        consumer.cancel()
        try:
            await consumer
        except (asyncio.CancelledError, Exception):
            pass
    return {
        "cpu_per_s": cpu / wall,
        "fps": frames / wall,
        "cpu_ms_per_frame": cpu * 1000 / frames if frames else math.nan,
        "threads": thread_total,
        "sent_kbps": sent_bytes * 8 / wall / 1000,
    }


async def _first_frame(count: Any) -> None:
    while count() == 0:
        await asyncio.sleep(0.05)


def _pattern_files(count: int) -> str:
    """Render ``count`` I420 frames of the pattern to files; the ``multifilesrc`` location."""
    import os
    import subprocess
    import tempfile

    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    directory = tempfile.mkdtemp(prefix="aiogst-bench-", dir=base)
    location = os.path.join(directory, "frame-%02d.i420")
    subprocess.run(
        [
            "gst-launch-1.0",
            "-q",
            "videotestsrc",
            f"pattern={PATTERN}",
            f"num-buffers={count}",
            "!",
            f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1",
            "!",
            "multifilesink",
            f"location={location}",
        ],
        check=True,
        timeout=60,
    )
    return location


async def _ours(warmup: float, window: float) -> dict[str, Any]:
    import shutil
    from pathlib import Path

    from .common import thread_count

    location = _pattern_files(FRAMES)
    try:
        return await _ours_stream(location, warmup, window, thread_count)
    finally:
        shutil.rmtree(Path(location).parent, ignore_errors=True)


async def _ours_stream(
    location: str, warmup: float, window: float, thread_count: Any
) -> dict[str, Any]:
    from aiogstwebrtc import PeerConnection
    from aiogstwebrtc.media import RemoteTrack, VideoSource

    from .pairs import _forward

    async with PeerConnection() as sender, PeerConnection() as receiver:
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        receiver.on("track", tracks.put_nowait)
        sender.on("icecandidate", _forward(receiver))
        receiver.on("icecandidate", _forward(sender))

        class LikeForLike(VideoSource):
            """Our VideoSource with the shared encoder settings."""

            def encoded_description(self) -> str:
                return (
                    f"{self.raw_description()} ! queue max-size-buffers=3 leaky=downstream ! "
                    f"{ours_encoder_description()}"
                )

        source = LikeForLike(
            f'multifilesrc location="{location}" loop=true stop-index={FRAMES - 1} ! '
            f"rawvideoparse width={WIDTH} height={HEIGHT} format=i420 framerate={FPS}/1 ! "
            "identity sync=true",
            codec="vp8",
            width=WIDTH,
            height=HEIGHT,
            framerate=FPS,
        )
        await sender.add_track(source)
        offer = await sender.create_offer()
        await sender.set_local_description(offer)
        await sender.set_remote_description(await receiver.handle_offer(offer))
        track = await asyncio.wait_for(tracks.get(), 20)

        async def sent() -> int:
            stats = await sender.get_stats()
            return sum(
                int(s.get("bytes-sent", 0))
                for s in stats.values()
                if s.get("type") == "outbound-rtp"
            )

        result = await _measure(track.recv, warmup, window, thread_count, sent)
        shape = (await track.recv()).data.shape
        result["frame_shape"] = list(shape)
        return result


def _pattern_frames(count: int) -> list[Any]:
    """Render ``count`` frames of videotestsrc's pattern as PyAV frames (no library code)."""
    import av
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"videotestsrc pattern={PATTERN} num-buffers={count} ! "
        f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1 ! "
        "appsink name=sink sync=false max-buffers=1000"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    frames = []
    chroma_w, chroma_h = WIDTH // 2, HEIGHT // 2
    try:
        for _ in range(count):
            sample = sink.emit("pull-sample")
            if sample is None:
                break
            buffer = sample.get_buffer()
            data = buffer.extract_dup(0, buffer.get_size())
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            y_size, c_size = WIDTH * HEIGHT, chroma_w * chroma_h
            planes = (data[:y_size], data[y_size : y_size + c_size], data[y_size + c_size :])
            for plane, content, width in zip(
                frame.planes, planes, (WIDTH, chroma_w, chroma_w), strict=True
            ):
                if plane.line_size == width:
                    plane.update(content)
                else:  # padded rows
                    rows = len(content) // width
                    padded = b"".join(
                        content[r * width : (r + 1) * width].ljust(plane.line_size, b"\0")
                        for r in range(rows)
                    )
                    plane.update(padded)
            frames.append(frame)
    finally:
        pipeline.set_state(Gst.State.NULL)
    return frames


def pattern_track(count: int = FRAMES) -> Any:
    """An aiortc video track replaying ``count`` pre-rendered pattern frames at 30 fps."""
    from aiortc import VideoStreamTrack

    frames = _pattern_frames(count)

    class PatternTrack(VideoStreamTrack):
        """Replays pre-rendered frames at 30 fps (aiortc's own pacing)."""

        def __init__(self) -> None:
            super().__init__()
            self.index = 0

        async def recv(self) -> Any:
            pts, time_base = await self.next_timestamp()
            frame = frames[self.index % len(frames)]
            self.index += 1
            frame.pts = pts
            frame.time_base = time_base or Fraction(1, 90000)
            return frame

    return PatternTrack()


def _install_aiortc_encoder() -> None:
    """Make aiortc's senders in this process encode VP8 with :data:`ENCODER`'s settings."""
    import aiortc.rtcrtpsender as sender_module
    from aiortc.codecs.vpx import Vp8Encoder
    from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase

    original = sender_module.get_encoder

    class LikeForLikeVp8(Vp8Encoder):  # type: ignore[misc]
        """aiortc's VP8 encoder with the shared settings and a fixed target."""

        @property
        def target_bitrate(self) -> int:
            return int(ENCODER["bitrate"])

        @target_bitrate.setter
        def target_bitrate(self, _bitrate: int) -> None:
            pass  # fixed, like ours (REMB would move it)

        def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
            import av

            if frame.format.name != "yuv420p":
                frame = frame.reformat(format="yuv420p")
            if force_keyframe:
                frame.pict_type = av.video.frame.PictureType.I
            if self.codec is None:
                codec = av.CodecContext.create("libvpx", "w")
                codec.width, codec.height = frame.width, frame.height
                codec.bit_rate = ENCODER["bitrate"]
                codec.pix_fmt = "yuv420p"
                codec.gop_size = ENCODER["keyframe_interval"]
                codec.qmin = ENCODER["min_quantizer"]
                codec.qmax = ENCODER["max_quantizer"]
                codec.options = aiortc_encoder_options()
                codec.thread_count = ENCODER["threads"]
                self.codec = codec
            data = b"".join(bytes(packet) for packet in self.codec.encode(frame))
            payloads = self._packetize(data, self.picture_id)
            timestamp = convert_timebase(frame.pts, frame.time_base, VIDEO_TIME_BASE)
            self.picture_id = (self.picture_id + 1) % (1 << 15)
            return payloads, timestamp

    def get_encoder(codec: Any) -> Any:
        if codec.mimeType.lower() == "video/vp8":
            return LikeForLikeVp8()
        return original(codec)

    sender_module.get_encoder = get_encoder


async def _aiortc(warmup: float, window: float) -> dict[str, Any]:
    from aiortc.rtcrtpsender import RTCRtpSender

    from .common import thread_count
    from .pairs import aiortc_peer

    _install_aiortc_encoder()
    sender, receiver = aiortc_peer(), aiortc_peer()
    try:
        got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        receiver.on("track", lambda t: None if got.done() else got.set_result(t))
        transceiver = sender.addTransceiver(pattern_track(), direction="sendonly")
        vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "VP8"]
        transceiver.setCodecPreferences(vp8)
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        track = await asyncio.wait_for(got, 20)

        async def next_frame() -> Any:
            frame = await track.recv()
            return frame.to_ndarray(format="rgb24")

        async def sent() -> int:
            report = await sender.getStats()
            return sum(
                int(s.bytesSent)
                for s in report.values()
                if getattr(s, "type", "") == "outbound-rtp"
            )

        result = await _measure(next_frame, warmup, window, thread_count, sent)
        result["frame_shape"] = list((await next_frame()).shape)
        return result
    finally:
        await sender.close()
        await receiver.close()


async def child_media(side: str, options: dict[str, Any]) -> dict[str, Any]:
    """One side's stream in this process (called by ``bench.child``)."""
    warmup, window = float(options["warmup"]), float(options["window"])
    if side == "ours":
        return await _ours(warmup, window)
    return await _aiortc(warmup, window)
