"""Holds received frames past the end of their peer connections, then leaves.

``python frames_outlive_peers.py MODE``: ``closed`` closes both peers, then reads the held
frames (their buffers are still mapped: the pipeline that decoded them is gone);
``exit`` leaves the interpreter with the peers open and frames still held in a global, so
that the last views go during interpreter exit, after the library's exit handler.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Any

from aiogstwebrtc.media import VideoSource
from tests.helpers import media_pair

HELD: list[Any] = []


async def main(mode: str) -> None:
    moving = VideoSource("videotestsrc is-live=true pattern=ball", width=320, height=240)
    a, b, tracks = await media_pair(moving)
    track = await asyncio.wait_for(tracks.get(), 15)
    for _ in range(10):
        frame = await asyncio.wait_for(track.recv(), 15)
        HELD.append(frame)
    HELD.append(HELD[-1].data[10:20, 10:20])  # a view of one frame, kept on its own
    sums = [int(frame.data.sum()) for frame in HELD[:-1]]
    if mode == "closed":
        await asyncio.gather(a.close(), b.close())
        gc.collect()
        await asyncio.sleep(0.5)
        again = [int(frame.data.sum()) for frame in HELD[:-1]]
        print("unchanged after close" if again == sums else f"changed: {sums} {again}")
        HELD.clear()
        gc.collect()
    print("leaving with frames held" if HELD else "frames released", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
