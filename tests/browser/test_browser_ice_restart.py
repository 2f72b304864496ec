"""Chromium restarts ICE against us (its ``restartIce()``): its restarting offer renews the
credentials, our answer renews ours and restarts libnice, and the data channel between the
two keeps every message, in order (issue 19: "a browser restarting ICE against us")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.icerestart import credentials_of

from .pagetools import browser_page

log = logging.getLogger(__name__)

GATHERED = """async () => {
  const pc = window.pc;
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((done) => {
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') done();
      });
      setTimeout(done, 5000);
    });
  }
  return pc.localDescription.sdp;
}"""

OFFER = """async () => {
  const pc = new RTCPeerConnection({iceServers: []});
  window.pc = pc;
  window.got = [];
  window.states = [];
  pc.addEventListener('iceconnectionstatechange', () => window.states.push(pc.iceConnectionState));
  const channel = pc.createDataChannel('chat');
  channel.onmessage = (event) => window.got.push(event.data);
  window.channel = channel;
  await pc.setLocalDescription(await pc.createOffer());
}"""

RESTART = """async () => {
  window.pc.restartIce();
  await window.pc.setLocalDescription(await window.pc.createOffer());
}"""

ANSWER = "async (sdp) => { await window.pc.setRemoteDescription({type: 'answer', sdp}); }"

ANSWER_OFFER = """async (sdp) => {
  await window.pc.setRemoteDescription({type: 'offer', sdp});
  await window.pc.setLocalDescription(await window.pc.createAnswer());
}"""


class Numbered:
    """Numbered messages from our side to the page, 100 a second, until :meth:`stop`."""

    def __init__(self, channel: Any) -> None:
        self.sent = 0
        self._channel = channel
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        while not self._stop.is_set():
            self._channel.send(str(self.sent))
            self.sent += 1
            await asyncio.sleep(0.01)

    async def stop_and_check(self, page: Any) -> None:
        """Stop; every message reached the page, once and in order."""
        self._stop.set()
        await self._task
        await page.wait_for_function(f"window.got.length === {self.sent}", timeout=30_000)
        assert await page.evaluate("window.got") == [str(n) for n in range(self.sent)]
        assert self.sent > 50


async def _connect(page: Any, ours: PeerConnection) -> tuple[Any, str, str]:
    """Chromium offers a data channel, we answer; the channel and both descriptions."""
    opened: asyncio.Queue[Any] = asyncio.Queue()
    ours.on("datachannel", opened.put_nowait)
    await page.evaluate(OFFER)
    offer = await page.evaluate(GATHERED)
    await ours.set_remote_description({"type": "offer", "sdp": offer})
    await ours.set_local_description(await ours.create_answer())
    await ours.wait_for_ice_gathering_complete(10)
    answer = ours.local_description
    assert answer is not None
    await page.evaluate(ANSWER, answer.sdp)
    channel = await asyncio.wait_for(opened.get(), 20)
    await channel.wait_open(20)
    await page.wait_for_function("window.channel.readyState === 'open'")
    return channel, offer, answer.sdp


async def _checked_again(states: list[str]) -> None:
    """libnice checks again: ``checking``, then ``connected`` on the new generation."""
    async with asyncio.timeout(30):
        while states[-2:] != ["checking", "connected"]:
            await asyncio.sleep(0.05)


def _renewed(before: str, after: str) -> bool:
    old, new = credentials_of(before), credentials_of(after)
    assert old is not None and new is not None
    return old.ufrag != new.ufrag and old.pwd != new.pwd


@dataclass
class Session:
    """Our peer connection and Chromium's page, connected, numbered messages flowing."""

    ours: PeerConnection
    page: Any
    states: list[str]  # our ICE connection states
    offer: str  # Chromium's first offer
    answer: str  # our first answer
    messages: Numbered


@asynccontextmanager
async def chromium_session() -> AsyncIterator[Session]:
    ours = PeerConnection()
    states: list[str] = []
    ours.on("iceconnectionstatechange", lambda: states.append(ours.ice_connection_state))
    try:
        async with browser_page() as page:
            channel, offer, answer = await _connect(page, ours)
            session = Session(ours, page, states, offer, answer, Numbered(channel))
            await asyncio.sleep(0.3)
            yield session
    finally:
        await ours.close()


async def test_chromium_restarts_ice_and_the_channel_keeps_every_message() -> None:
    loop = asyncio.get_running_loop()
    async with chromium_session() as session:
        ours, page = session.ours, session.page
        await page.evaluate(RESTART)
        restart = await page.evaluate(GATHERED)
        assert _renewed(session.offer, restart)  # Chromium restarted
        renewed = await ours.handle_offer({"type": "offer", "sdp": restart})
        assert _renewed(session.answer, renewed.sdp)  # and so did we
        await ours.wait_for_ice_gathering_complete(10)
        answered_at = loop.time()
        await page.evaluate(ANSWER, ours.local_description.sdp)  # type: ignore[union-attr]
        await _checked_again(session.states)
        reconnected_after = loop.time() - answered_at
        await ours.wait_for_connection_state("connected", 10)
        await asyncio.sleep(0.5)
        await session.messages.stop_and_check(page)
        log.warning(
            "Chromium's ICE restart: our ICE connected again %.1f s after our answer; "
            "%d messages, every one delivered in order",
            reconnected_after,
            session.messages.sent,
        )


async def test_we_restart_ice_with_chromium_answering() -> None:
    loop = asyncio.get_running_loop()
    async with chromium_session() as session:
        ours, page = session.ours, session.page
        await ours.restart_ice()
        restart = await ours.create_offer()
        assert _renewed(session.answer, restart.sdp)
        await ours.set_local_description(restart)
        await ours.wait_for_ice_gathering_complete(10)
        await page.evaluate(ANSWER_OFFER, ours.local_description.sdp)  # type: ignore[union-attr]
        theirs = await page.evaluate(GATHERED)
        assert _renewed(session.offer, theirs)  # Chromium answered with new credentials
        applied_at = loop.time()
        await ours.set_remote_description({"type": "answer", "sdp": theirs})
        await _checked_again(session.states)
        reconnected_after = loop.time() - applied_at
        await asyncio.sleep(0.5)
        await session.messages.stop_and_check(page)
        log.warning(
            "our ICE restart, Chromium answering: connected again %.2f s after its answer; "
            "%d messages, every one delivered in order",
            reconnected_after,
            session.messages.sent,
        )
