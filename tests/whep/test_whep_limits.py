"""One client address can't take every session of a WHIP/WHEP endpoint (issue 18).

Each POST makes a webrtcbin pipeline: an address may hold only so many sessions and post
only so many offers per second; beyond either it gets ``429`` with ``Retry-After`` while
other addresses (here: clients a trusted proxy names) are served as before.
"""

from __future__ import annotations

import aiohttp
import pytest

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.whep import WhepClient
from aiogstwebrtc.whep.quota import SessionLimits, SessionQuota
from tests.helpers import Clock
from tests.whep.test_whep import whep_server


def test_the_quota_counts_sessions_and_offers_per_address() -> None:
    clock = Clock()
    quota = SessionQuota(SessionLimits(max_per_address=2, offers_per_second=1, offers_burst=3),
                         clock=clock)  # fmt: skip
    assert quota.reserve("a") is None and quota.reserve("a") is None
    refused = quota.reserve("a")
    assert refused is not None and "too many sessions" in refused[0]
    assert quota.reserve("b") is None  # another address is not affected
    quota.release("a")
    assert quota.reserve("a") is None  # the third offer of the burst
    quota.release("a")
    refused = quota.reserve("a")
    assert refused is not None and "slow down" in refused[0] and refused[1] >= 1
    clock.now += 1.0  # one offer per second comes back
    assert quota.reserve("a") is None
    assert quota.open_count("a") == 2
    quota.release("a"), quota.release("a"), quota.release("a")  # one too many: harmless
    assert quota.open_count("a") == 0
    with pytest.raises(ValueError):
        SessionLimits(max_per_address=0)
    with pytest.raises(ValueError):
        SessionLimits(trusted_proxies=("not a network",))


async def recvonly_offer() -> str:
    pc = PeerConnection()
    try:
        await pc.add_transceiver("video", "recvonly")
        return (await pc.create_offer()).sdp
    finally:
        await pc.close()


async def test_an_address_at_its_limits_gets_429_and_others_are_served() -> None:
    limits = SessionLimits(max_per_address=2, offers_per_second=0.2, offers_burst=3,
                           trusted_proxies=("127.0.0.1",))  # fmt: skip
    offer = await recvonly_offer()
    sdp = {"Content-Type": "application/sdp"}
    async with whep_server(limits=limits) as (base, endpoint, _broadcast):
        first, second = WhepClient(f"{base}/cam"), WhepClient(f"{base}/cam")
        try:
            await first.play(("video",))
            await second.play(("video",))
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{base}/cam", data=offer, headers=sdp) as refused:
                    assert refused.status == 429
                    assert "too many sessions" in await refused.text()
                    assert int(refused.headers["Retry-After"]) >= 1
                elsewhere = {**sdp, "X-Forwarded-For": "10.77.0.9"}  # named by our proxy
                async with http.post(f"{base}/cam", data=offer, headers=elsewhere) as served:
                    assert served.status == 201, await served.text()
                    location = served.headers["Location"]
                async with http.delete(f"{base.rsplit('/whep', 1)[0]}{location}") as gone:
                    assert gone.status == 200
                await first.close()  # a slot is free again: the burst's third offer
                assert endpoint.sessions("cam") == 1
                async with http.post(f"{base}/cam", data=offer, headers=sdp) as again:
                    assert again.status == 201, await again.text()
                    location = again.headers["Location"]
                async with http.delete(f"{base.rsplit('/whep', 1)[0]}{location}") as gone:
                    assert gone.status == 200
                async with http.post(f"{base}/cam", data=offer, headers=sdp) as fast:
                    assert fast.status == 429  # a free slot, but the burst is spent
                    assert "slow down" in await fast.text()
            assert endpoint.sessions("cam") == 1  # refusals made no session
        finally:
            await first.close()
            await second.close()


def test_the_quota_counts_failed_tokens_per_address() -> None:
    clock = Clock()
    limits = SessionLimits(token_failures_per_minute=6, token_failures_burst=2)
    quota = SessionQuota(limits, clock=clock)
    assert quota.token_blocked("a") is None
    quota.token_failed("a"), quota.token_failed("a")
    assert quota.token_blocked("a") == 10  # one attempt back in 10 s (6 a minute)
    assert quota.token_blocked("b") is None  # another address is not affected
    clock.now += 10.0
    assert quota.token_blocked("a") is None
    with pytest.raises(ValueError):
        SessionLimits(token_failures_burst=0)
    with pytest.raises(ValueError):
        SessionLimits(token_failures_per_minute=0)


async def test_an_address_guessing_tokens_gets_429_and_others_are_served() -> None:
    limits = SessionLimits(token_failures_burst=3, trusted_proxies=("127.0.0.1",))
    offer = await recvonly_offer()
    sdp = {"Content-Type": "application/sdp"}
    async with whep_server(token="right", limits=limits) as (base, endpoint, _broadcast):
        async with aiohttp.ClientSession() as http:
            for _ in range(10):  # preflights carry no token: they are not failed attempts
                async with http.options(f"{base}/cam") as preflight:
                    assert preflight.status == 204

            async def post(token: str | None, client: str = "10.77.0.1") -> aiohttp.ClientResponse:
                headers = {**sdp, "X-Forwarded-For": client}
                if token is not None:
                    headers["Authorization"] = f"Bearer {token}"
                async with http.post(f"{base}/cam", data=offer, headers=headers) as response:
                    await response.read()
                    return response

            assert [(await post(t)).status for t in (None, "wrong", "guess")] == [401, 403, 403]
            blocked = await post("another guess")
            assert blocked.status == 429 and int(blocked.headers["Retry-After"]) >= 1
            assert (await post("right")).status == 429  # the guesser's address waits
            served = await post("right", client="10.77.0.2")  # another address is served
            assert served.status == 201
            async with http.delete(
                f"{base.rsplit('/whep', 1)[0]}{served.headers['Location']}",
                headers={"Authorization": "Bearer right", "X-Forwarded-For": "10.77.0.2"},
            ) as gone:
                assert gone.status == 200
        assert endpoint.sessions("cam") == 0
