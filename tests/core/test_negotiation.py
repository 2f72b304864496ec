"""Offer/answer in both roles, trickle and not, early candidates, data-channel-only offers."""

from __future__ import annotations

import asyncio
import threading

from aiogstwebrtc import (
    Configuration,
    DataChannel,
    IceCandidate,
    PeerConnection,
    SessionDescription,
)
from tests.helpers import connected_pair, wire_trickle


def split_candidates(description: SessionDescription | None) -> tuple[list[str], set[str]]:
    """The description's lines without its candidates, and its candidates."""
    assert description is not None
    lines = description.sdp.rstrip("\r\n").split("\r\n")
    candidates = {line for line in lines if line.startswith("a=candidate:")}
    rest = [line for line in lines if line not in candidates and line != "a=end-of-candidates"]
    return rest, candidates


async def test_trickle_negotiation_and_states() -> None:
    async with connected_pair() as pair:
        a, b = pair.offerer, pair.answerer
        await a.wait_for_connection_state("connected", timeout=10)
        await b.wait_for_connection_state("connected", timeout=10)
        assert a.signaling_state == b.signaling_state == "stable"
        assert a.local_description is not None and a.local_description.type == "offer"
        assert b.local_description is not None and b.local_description.type == "answer"
        # Each side's remote description is the other's local one: the same session (lines
        # other than candidates), with the candidates trickled so far (some may be in flight).
        for local, remote in ((b.local_description, a.remote_description),
                              (a.local_description, b.remote_description)):  # fmt: skip
            assert remote is not None and remote.type == local.type
            local_lines, local_candidates = split_candidates(local)
            remote_lines, remote_candidates = split_candidates(remote)
            assert remote_lines == local_lines
            assert remote_candidates and remote_candidates <= local_candidates
        pair.channel.send("ping")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == "ping"
        pair.remote.send("pong")
        assert await asyncio.wait_for(pair.channel.recv(), 10) == "pong"


async def test_non_trickle_descriptions_carry_all_candidates() -> None:
    async with connected_pair(trickle=False) as pair:
        offer = pair.offerer.local_description
        answer = pair.answerer.local_description
        assert offer is not None and answer is not None
        for description in (offer, answer):
            assert "a=candidate:" in description.sdp
            assert "a=end-of-candidates" in description.sdp
        pair.channel.send(b"\x00\x01binary")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == b"\x00\x01binary"


async def test_answerer_role_both_ways_on_one_connection() -> None:
    """The answerer later creates its own channel; the offerer receives it."""
    async with connected_pair() as pair:
        got: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        pair.offerer.on("datachannel", got.set_result)
        # With an SCTP association already up, the new channel opens without renegotiation.
        back = await pair.answerer.create_data_channel("back")
        await back.wait_open(10)
        channel = await asyncio.wait_for(got, 10)
        back.send("from the answerer")
        assert await asyncio.wait_for(channel.recv(), 10) == "from the answerer"


async def test_candidates_added_before_the_remote_description_are_queued() -> None:
    a, b = PeerConnection(), PeerConnection()
    try:
        gathered: list[IceCandidate] = []
        done = asyncio.Event()

        def collect(candidate: IceCandidate | None) -> None:
            if candidate is None:
                done.set()
            else:
                gathered.append(candidate)

        a.on("icecandidate", collect)
        b.on("icecandidate", lambda c: c and asyncio.ensure_future(a.add_ice_candidate(c)))
        remote: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        b.on("datachannel", remote.set_result)
        channel = await a.create_data_channel("early")
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await asyncio.wait_for(done.wait(), 10)
        assert gathered
        for candidate in gathered:  # all before b knows anything about the session
            await b.add_ice_candidate(candidate.to_dict())
        assert b.remote_description is None
        answer = await b.handle_offer(offer)  # the offer without candidates
        await a.set_remote_description(answer)
        await channel.wait_open(10)
        assert (await asyncio.wait_for(remote, 10)).label == "early"
        assert b.remote_description is not None
        assert b.remote_description.sdp.count("a=candidate:") == len(gathered)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_data_channel_only_offer_to_an_answerer_without_channels() -> None:
    """The seed's symptom: the answerer must reach have-remote-offer and answer."""
    a, b = PeerConnection(), PeerConnection()
    states: list[str] = []
    try:
        b.on("signalingstatechange", lambda: states.append(b.signaling_state))
        remote: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        b.on("datachannel", remote.set_result)
        a.on("icecandidate", lambda c: c and asyncio.ensure_future(b.add_ice_candidate(c)))
        b.on("icecandidate", lambda c: c and asyncio.ensure_future(a.add_ice_candidate(c)))
        channel = await a.create_data_channel("only")
        offer = await a.create_offer()
        assert "m=application" in offer.sdp and "m=audio" not in offer.sdp
        await a.set_local_description(offer)
        await b.set_remote_description(offer)
        assert b.signaling_state == "have-remote-offer"
        answer = await b.create_answer()
        await b.set_local_description(answer)
        await a.set_remote_description(answer)
        await channel.wait_open(10)
        theirs = await asyncio.wait_for(remote, 10)
        assert theirs.label == "only"
        assert states[:2] == ["have-remote-offer", "stable"]
        assert [c.label for c in b.data_channels] == ["only"]  # no extra "control" channel
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_init_data_channel_is_the_seeds_early_control_channel() -> None:
    a, b = PeerConnection(Configuration(init_data_channel=True)), PeerConnection()
    try:
        labels: list[str] = []
        both = asyncio.Event()

        def on_channel(channel: DataChannel) -> None:
            labels.append(channel.label)
            if len(labels) == 2:
                both.set()

        b.on("datachannel", on_channel)
        a.on("icecandidate", lambda c: c and asyncio.ensure_future(b.add_ice_candidate(c)))
        b.on("icecandidate", lambda c: c and asyncio.ensure_future(a.add_ice_candidate(c)))
        await a.create_data_channel("chat")
        assert [c.label for c in a.data_channels] == ["control", "chat"]
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        await asyncio.wait_for(both.wait(), 10)
        assert sorted(labels) == ["chat", "control"]
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_handlers_run_on_the_asyncio_thread() -> None:
    events = (
        "icecandidate",
        "signalingstatechange",
        "icegatheringstatechange",
        "iceconnectionstatechange",
        "connectionstatechange",
        "datachannel",
    )
    threads: dict[tuple[str, str], set[str]] = {}
    a, b = PeerConnection(), PeerConnection()

    def record(side: str, event: str) -> None:
        threads.setdefault((side, event), set()).add(threading.current_thread().name)

    try:
        for side, pc in (("a", a), ("b", b)):
            for event in events:
                pc.on(event, lambda *_, side=side, event=event: record(side, event))
        wire_trickle(a, b)
        remote: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        b.on("datachannel", remote.set_result)
        channel = await a.create_data_channel("x")
        channel.on("open", lambda: record("a", "open"))
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        await channel.wait_open(10)
        await asyncio.wait_for(remote, 10)
        for pc in (a, b):
            await pc.wait_for_connection_state("connected", timeout=10)
            await pc.wait_for_ice_gathering_complete(10)
        expected = {("a", e) for e in events if e != "datachannel"} | {("b", e) for e in events}
        assert set(threads) == expected | {("a", "open")}  # every event fired ...
        # ... and every handler ran on this, the asyncio, thread
        assert set().union(*threads.values()) == {threading.current_thread().name}
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_ice_connection_state_follows_ice() -> None:
    a, b = PeerConnection(), PeerConnection()
    seen: dict[str, list[str]] = {"a": [], "b": []}
    for name, pc in (("a", a), ("b", b)):
        pc.on(
            "iceconnectionstatechange",
            lambda pc=pc, name=name: seen[name].append(pc.ice_connection_state),
        )
    try:
        wire_trickle(a, b)
        channel = await a.create_data_channel("x")
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        await channel.wait_open(10)
        assert a.ice_connection_state == b.ice_connection_state == "connected"
        assert seen == {"a": ["checking", "connected"], "b": ["checking", "connected"]}
    finally:
        await asyncio.gather(a.close(), b.close())
    assert a.ice_connection_state == "closed"


async def test_coroutine_handlers_are_scheduled_as_tasks() -> None:
    seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    pc = PeerConnection()
    try:

        async def on_state() -> None:
            await asyncio.sleep(0)
            if not seen.done():
                seen.set_result(pc.signaling_state)

        pc.on("signalingstatechange", on_state)
        await pc.create_data_channel("x")
        await pc.set_local_description(await pc.create_offer())
        assert await asyncio.wait_for(seen, 5) == "have-local-offer"
    finally:
        await pc.close()


async def test_stats_are_plain_python_data() -> None:
    async with connected_pair() as pair:
        stats = await pair.offerer.get_stats()
        assert stats
        types = {entry.get("type") for entry in stats.values()}
        assert "peer-connection" in types
        for entry in stats.values():
            assert all(isinstance(k, str) for k in entry)
