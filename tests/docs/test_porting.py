"""docs/aiortc-porting.md's ported program, both versions, against an aiortc peer that offers.

Each listing's ``answer(offer)`` is run as the page shows it: an aiortc peer offers a data
channel, the listing answers, and a message sent on the channel must come back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from tests.aiortc_peer import aiortc_peer

from .markdown_blocks import read_blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "aiortc-porting.md"
WAIT = 20.0


def _listing(kind: str) -> Any:
    (block,) = [b for b in read_blocks(PAGE, every_block=False) if b.kind == kind]
    namespace: dict[str, Any] = {"__name__": f"porting_{kind}"}
    exec(compile(block.text, f"{PAGE.name}:{block.line}", "exec"), namespace)
    return namespace["answer"]


@pytest.mark.parametrize("kind", ["aiortc", "aiogstwebrtc"])
async def test_the_ported_answerer_echoes_an_aiortc_offerers_messages(kind: str) -> None:
    answer = _listing(kind)
    offerer = aiortc_peer()
    answerer = None
    try:
        channel = offerer.createDataChannel("chat")
        opened = asyncio.Event()
        received: asyncio.Queue[str] = asyncio.Queue()
        channel.on("open", opened.set)
        channel.on("message", received.put_nowait)
        await offerer.setLocalDescription(await offerer.createOffer())
        offer = {"type": offerer.localDescription.type, "sdp": offerer.localDescription.sdp}

        answerer, reply = await asyncio.wait_for(answer(offer), WAIT)
        assert reply["type"] == "answer"
        assert "a=candidate:" in reply["sdp"]  # every candidate in the answer, as promised
        await offerer.setRemoteDescription(RTCSessionDescription(**reply))

        await asyncio.wait_for(opened.wait(), WAIT)
        for text in ("ping", "pong?"):
            channel.send(text)
            assert await asyncio.wait_for(received.get(), WAIT) == text
    finally:
        await offerer.close()
        if answerer is not None:
            await answerer.close()
