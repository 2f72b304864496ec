"""Child of tests/core/test_prewarm.py: which plugins a first connection loads after prewarm().

Prints one JSON line: the plugins loaded once the warm-up thread has finished
(``warmed``), and those loaded later by opening a data-channel pair and sending a message
(``loaded_by_first_connection``): what the warm-up did not take off the first offer's path.
"""

from __future__ import annotations

import asyncio
import json

import aiogstwebrtc
from aiogstwebrtc.gst import Gst, join_warm_up
from tests.helpers import connected_pair


def loaded() -> set[str]:
    return {p.get_name() for p in Gst.Registry.get().get_plugin_list() if p.is_loaded()}


async def data_channel_pair() -> None:
    async with connected_pair() as pair:
        received: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        pair.remote.on("message", received.set_result)
        pair.channel.send(b"warm")
        await asyncio.wait_for(received, 10)


async def main() -> None:
    aiogstwebrtc.prewarm()
    join_warm_up(30)
    warmed = loaded()
    await data_channel_pair()
    after_data = loaded()
    print(
        json.dumps(
            {
                "warmed": sorted(warmed),
                "loaded_by_first_connection": sorted(after_data - warmed),
            }
        ),
        flush=True,
    )


asyncio.run(main())
