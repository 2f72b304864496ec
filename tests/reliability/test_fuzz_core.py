"""Bad input never breaks anything: SDP and candidates, fuzzed."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path

from aiogstwebrtc import (
    IceCandidate,
    InvalidSDPError,
    InvalidStateError,
    NegotiationError,
    PeerConnection,
)
from tests.helpers import connected_pair

ROOT = Path(__file__).resolve().parents[2]


def test_parsers_raise_only_documented_errors_and_never_crash() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability.scripts.fuzz_parsers"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    assert result.stdout.strip() == "fuzzed"


def _mutations(sdp: str, rng: random.Random) -> str:
    lines = sdp.rstrip("\r\n").split("\r\n")
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(lines))
        action = rng.choice(["drop", "dup", "value", "swap", "truncate"])
        if action == "drop" and len(lines) > 1:
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "value":
            key = lines[index].split("=", 1)[0]
            lines[index] = (
                key + "=" + "".join(rng.choice("aZ9 :/=-") for _ in range(rng.randint(0, 20)))
            )
        elif action == "swap":
            other = rng.randrange(len(lines))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            lines[index] = lines[index][: rng.randint(0, len(lines[index]))]
    return "\r\n".join(lines) + "\r\n"


async def test_mutated_offers_to_a_live_peer_only_raise_documented_errors() -> None:
    offerer = PeerConnection()
    await offerer.create_data_channel("x")
    from aiogstwebrtc.media import VideoSource

    await offerer.add_track(VideoSource(width=160, height=120))
    offer = await offerer.create_offer()
    rng = random.Random(1234)
    outcomes: dict[str, int] = {}
    try:
        answerer = PeerConnection()
        for _ in range(150):
            mutated = _mutations(offer.sdp, rng)
            try:
                await answerer.set_remote_description({"type": "offer", "sdp": mutated})
                outcome = "accepted"
            except (InvalidSDPError, NegotiationError, InvalidStateError) as exc:
                outcome = type(exc).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if answerer.signaling_state != "stable":  # accepted: start over with a fresh peer
                await answerer.close()
                answerer = PeerConnection()
        # Whatever came before, a good offer still works.
        answer = await answerer.handle_offer(offer)
        assert answer.type == "answer"
        await answerer.close()
    finally:
        await offerer.close()
    assert outcomes.get("InvalidSDPError", 0) > 0 and outcomes.get("NegotiationError", 0) > 0


async def test_hostile_candidates_leave_a_connection_working() -> None:
    rng = random.Random(99)
    async with connected_pair() as pair:
        for number in range(200):
            address = rng.choice(["10.213.0.99", "256.1.1.1", "::1", "host.invalid", "0.0.0.0"])
            text = (
                f"candidate:{rng.randint(0, 9999)} {rng.randint(1, 2)} "
                f"{rng.choice(['udp', 'tcp', 'UDP'])} {rng.randint(0, 2**32 - 1)} {address} "
                f"{rng.randint(0, 65535)} typ {rng.choice(['host', 'srflx', 'relay', 'prflx'])}"
            )
            try:
                await pair.answerer.add_ice_candidate(
                    {"candidate": text, "sdpMLineIndex": rng.choice([0, 0, 1, 5])}
                )
            except InvalidSDPError:
                pass
            if number % 50 == 0:
                pair.channel.send(f"alive {number}")
                assert await asyncio.wait_for(pair.remote.recv(), 10) == f"alive {number}"
        assert pair.answerer.connection_state == "connected"
        assert IceCandidate("candidate:1 1 udp 1 10.213.0.9 9 typ host", 0).port == 9
