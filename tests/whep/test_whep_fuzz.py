"""Fuzzing the WHEP endpoint over HTTP: junk never gets a 5xx or disturbs a viewer.

Random methods, paths, content types, tokens, ``If-Match`` values and bodies — random
bytes, random text, and a real recvonly offer with lines deleted, repeated, swapped for
junk or cut short — go to a live WHEP endpoint while one of our WhepClients plays from it.
Every answer is a clean 2xx/4xx; a mutated offer that still makes a session (201) is
DELETEd; afterwards the steady viewer still gets frames and is the only session left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import RemoteTrack
from aiogstwebrtc.whep import WhepClient, WhepEndpoint
from aiogstwebrtc.whep.quota import SessionLimits
from tests.signalling.test_sig_fuzz import background
from tests.whep.test_whep import WAIT, whep_server

TOKEN = "t0k"


@dataclass
class Live:
    base: str
    endpoint: WhepEndpoint
    viewer: WhepClient
    track: RemoteTrack
    offer: list[str]  # a valid recvonly offer's lines
    http: aiohttp.ClientSession
    statuses: set[int]


@contextlib.asynccontextmanager
async def live_endpoint() -> AsyncIterator[Live]:
    # Every offer is the fuzzer's, from one address: no per-address limits here (their own
    # test is tests/whep/test_whep_limits.py).
    unlimited = SessionLimits(
        max_per_address=1000,
        offers_per_second=1000,
        offers_burst=1000,
        token_failures_per_minute=1e6,
        token_failures_burst=1_000_000,
    )
    async with whep_server(token=TOKEN, limits=unlimited) as (base, endpoint, _broadcast):
        pc = PeerConnection()
        try:
            await pc.add_transceiver("video", "recvonly")
            await pc.add_transceiver("audio", "recvonly")
            offer = (await pc.create_offer()).sdp.rstrip("\r\n").split("\r\n")
        finally:
            await pc.close()
        async with WhepClient(f"{base}/cam", token=TOKEN) as viewer:
            tracks = {track.kind: track for track in await viewer.play(("video",))}
            await asyncio.wait_for(tracks["video"].recv(), WAIT)
            async with aiohttp.ClientSession() as http:
                yield Live(base, endpoint, viewer, tracks["video"], offer, http, set())


LINE_JUNK = st.sampled_from(
    ["m=video 0 RTP/AVP", "a=mid:", "a=rtpmap:96", "a=group:BUNDLE 9", "c=IN IP4", "x=\u00e9",
     "a=fingerprint:sha-256 00", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
     "a=sendonly", "a=ice-ufrag:", "", "v=1", "a=candidate:1 1 udp 1 10.0.0.1 1 typ host"]
)  # fmt: skip


@st.composite
def mutated_offer(draw: st.DrawFn, lines: list[str]) -> str:
    result = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        if not result:
            break
        index = draw(st.integers(0, len(result) - 1))
        action = draw(st.sampled_from(["delete", "repeat", "junk", "cut"]))
        if action == "delete":
            del result[index]
        elif action == "repeat":
            result.insert(index, result[index])
        elif action == "junk":
            result[index] = draw(LINE_JUNK | st.text(max_size=30))
        else:
            result = result[:index]
    return "\r\n".join(result) + "\r\n"


@dataclass
class Request:
    method: str
    path: str
    content_type: str | None
    token: str | None
    if_match: str | None
    body: bytes


def requests(offer_lines: list[str], resource: str) -> st.SearchStrategy[Request]:
    """Half: an authorised POST of a mutated offer; a fifth: an authorised PATCH of junk
    to the steady viewer's own resource; the rest: anything."""
    body = st.one_of(
        mutated_offer(offer_lines).map(str.encode),
        st.text(max_size=200).map(str.encode),
        st.binary(max_size=200),
    )
    offers = st.builds(
        Request,
        method=st.just("POST"),
        path=st.just("/cam"),
        content_type=st.just("application/sdp"),
        token=st.just(TOKEN),
        if_match=st.none(),
        body=mutated_offer(offer_lines).map(str.encode),
    )
    trickles = st.builds(
        Request,
        method=st.just("PATCH"),
        path=st.just(resource),
        content_type=st.just("application/trickle-ice-sdpfrag"),
        token=st.just(TOKEN),
        if_match=st.sampled_from([None, "*", '"nope"']),
        body=st.one_of(
            st.lists(LINE_JUNK | st.text(max_size=40), max_size=6).map(
                lambda lines: ("\r\n".join(lines) + "\r\n").encode()
            ),
            st.binary(max_size=100),
        ),
    )
    anything = st.builds(
        Request,
        method=st.sampled_from(["POST", "PATCH", "DELETE", "OPTIONS", "GET", "PUT", "HEAD"]),
        path=st.sampled_from(["/cam", "/nope", "/cam/" + "x" * 24, "/cam/", "/", "/cam/a/b"])
        | st.text(alphabet="abc/%._-", max_size=20).map(lambda p: "/" + p),
        content_type=st.sampled_from(
            [None, "application/sdp", "application/trickle-ice-sdpfrag", "text/plain", "a/b"]
        ),
        token=st.sampled_from([None, TOKEN, "wrong", ""]),
        if_match=st.sampled_from([None, "*", '"nope"', "\u00e9"]),
        body=body,
    )
    return st.one_of(offers, offers, offers, offers, offers, trickles, trickles, anything,
                     anything, anything)  # fmt: skip


async def send(live: Live, request: Request) -> None:
    headers = {}
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    if request.token is not None:
        headers["Authorization"] = f"Bearer {request.token}"
    if request.if_match is not None:
        headers["If-Match"] = request.if_match
    url = f"{live.base}{request.path}"
    async with live.http.request(request.method, url, data=request.body, headers=headers) as r:
        text = await r.text(errors="replace")
        assert r.status < 500, f"{request} -> {r.status} {text[:200]}"
        live.statuses.add(r.status)
        if r.status == 201:  # a mutation that is still a valid offer: a real session
            location = r.headers["Location"]
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with live.http.delete(f"{live.base.rsplit('/whep', 1)[0]}{location}",
                                        headers=auth) as gone:  # fmt: skip
                assert gone.status == 200


def test_junk_requests_get_clean_answers_and_never_disturb_a_viewer() -> None:
    with background(live_endpoint) as (bg, live):
        assert live.viewer.resource is not None
        resource = live.viewer.resource.split("/whep", 1)[1]

        @settings(
            max_examples=150,
            deadline=None,
            derandomize=True,  # the same examples in every run
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(requests(live.offer, resource))
        def fuzz(request: Request) -> None:
            bg.run(send(live, request))

        fuzz()

        async def still_playing() -> int:
            for _ in range(10):
                await asyncio.wait_for(live.track.recv(), WAIT)
            return live.endpoint.sessions("cam")

        assert bg.run(still_playing()) == 1  # the steady viewer, and no session left over
        # The fuzz reached the handlers, not only the router: sessions made and refused.
        assert {201, 204, 400, 404, 405} <= live.statuses, sorted(live.statuses)
        assert 429 not in live.statuses
