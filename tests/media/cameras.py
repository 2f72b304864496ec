"""Start tests/media/rtsp_camera.py (gst-rtsp-server on 127.0.0.1) from a test."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CAMERA = Path(__file__).with_name("rtsp_camera.py")


class Camera:
    """tests/media/rtsp_camera.py in a child process (gst-rtsp-server on 127.0.0.1)."""

    def __init__(self, codec: str, port: int = 0, gop: int = 30, deaf: bool = False) -> None:
        """``deaf``: the camera ignores key unit requests (its GOP alone decides)."""
        deafness = ["--ignore-keyframe-requests"] if deaf else []
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(CAMERA),
                "--codec",
                codec,
                "--port",
                str(port),
                "--gop",
                str(gop),
                *deafness,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        line = self.process.stdout.readline().strip() if ready else ""
        if not line.startswith("rtsp://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the RTSP camera did not start: {line!r}")
        self.url = line
        self.port = int(line.split(":")[2].split("/")[0])

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def camera() -> Iterator[Callable[..., Camera]]:
    started: list[Camera] = []

    def start(codec: str = "h264", port: int = 0, gop: int = 30, deaf: bool = False) -> Camera:
        started.append(Camera(codec, port, gop, deaf))
        return started[-1]

    yield start
    for one in started:
        one.stop()
