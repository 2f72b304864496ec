"""Chromium's own WebRTC stack plays our WHEP endpoint (a fetch() POST of its offer).

Until our answers waited for the sender's caps (aiogstwebrtc/media/caps_wait.py), 3 runs
in 18 on GStreamer 1.26 answered without ``a=ssrc`` and without the camera's H.264
parameters: Chromium received ~400 KB and set up no receiver for them (0 frames).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiogstwebrtc import Configuration
from aiogstwebrtc.media import Broadcast, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.signalling.cli import WEB_DIR
from aiogstwebrtc.whep import WhepEndpoint

from .pagetools import browser_pages

PLAYER = """async (url) => {
  const pc = new RTCPeerConnection({iceServers: []});
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') done();
    });
    setTimeout(done, 3000);
  });
  const response = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
                                     headers: {'Content-Type': 'application/sdp'}});
  window.whep = {pc, status: response.status, location: response.headers.get('Location')};
  await pc.setRemoteDescription({type: 'answer', sdp: await response.text()});
  return response.status;
}"""

DECODED = """async () => {
  let frames = 0;
  (await window.whep.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
  });
  return frames;
}"""

STATE = """async () => {
  const found = {connection: window.whep.pc.connectionState};
  (await window.whep.pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp') found[s.kind] = [s.packetsReceived, s.framesDecoded,
                                                   s.keyFramesDecoded, s.pliCount];
  });
  return found;
}"""


# A WHEP player has no data channel for the dead-peer monitor to poke: what keeps it
# alive is the player's RTCP. A short timeout shows that a playing Chromium is never
# taken for a dead peer (it was, in 1 run of 22 on 1.22, when it had no receiver set up).
DEAD_PEER_TIMEOUT = 3.0


@pytest.mark.parametrize("permitted", [True, False], ids=["camera-permitted", "mdns-only"])
async def test_chromium_plays_a_whep_stream(camera: Any, permitted: bool) -> None:
    rtsp = camera("h264")
    server = SignallingServer(port=0)
    server.add_static(WEB_DIR)
    async with Broadcast(video=VideoSource.from_rtsp(rtsp.url)) as broadcast:
        config = Configuration(dead_peer_timeout=DEAD_PEER_TIMEOUT)
        endpoint = WhepEndpoint(configuration=config)
        endpoint.add_stream("cam", broadcast)
        endpoint.install(server.app)
        try:
            # With the fake camera permitted Chromium offers host candidates with addresses;
            # without, it hides them behind mDNS names (found as peer-reflexive).
            async with server, browser_pages(1, permissions=permitted) as pages:
                page = pages[0]
                await page.goto(f"http://127.0.0.1:{server.port}/")
                status = await page.evaluate(PLAYER, f"http://127.0.0.1:{server.port}/whep/cam")
                assert status == 201
                answer = await page.evaluate("window.whep.pc.remoteDescription.sdp")
                assert "a=ssrc:" in answer and "sprop-parameter-sets=" in answer, answer
                assert (await page.evaluate("window.whep.location")).startswith("/whep/cam/")
                decoded = 0
                for _ in range(200):  # getStats is asynchronous: polled from here
                    decoded = await page.evaluate(DECODED)
                    if decoded > 30:
                        break
                    await asyncio.sleep(0.1)
                state = await page.evaluate(STATE)
                assert decoded > 30, (
                    f"Chromium decoded {decoded} frames: {state}, {broadcast.stats()}"
                )
                assert endpoint.viewers("cam") == 1
                assert broadcast.encoders() == []  # H.264 passed through to Chromium
                await asyncio.sleep(DEAD_PEER_TIMEOUT + 1)  # still playing, still a viewer
                assert await page.evaluate(DECODED) > decoded + 30
                assert endpoint.viewers("cam") == 1
        finally:
            await endpoint.close()
