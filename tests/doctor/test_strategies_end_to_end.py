"""Every good strategy passes the same end-to-end test, in this process: webrtcbin and aiortc
offer (a data-channel-only offer and an audio+video+data one), the strategy answers, the
peers connect and a message makes a round trip.

``gi-events`` runs here only when the suite runs on the GLib loop (``AIOGST_LOOP=gi-events``);
the doctor's own run covers it otherwise.
"""

from __future__ import annotations

import asyncio

import pytest

from aiogstwebrtc.doctor.approaches import by_key
from aiogstwebrtc.doctor.scenario import SCENARIOS, STEPS, Scenario, ScenarioRun
from aiogstwebrtc.glibloop import gi_events_context


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.key)
@pytest.mark.parametrize("key", ["asyncio", "sync", "callback", "init-data-channel", "gi-events"])
async def test_strategy_answers_and_echoes(key: str, scenario: Scenario) -> None:
    if key == "gi-events" and gi_events_context(asyncio.get_running_loop()) is None:
        pytest.skip("gi-events needs the GLib loop (AIOGST_LOOP=gi-events)")
    events: list[dict[str, object]] = []
    run = ScenarioRun(by_key(key), scenario, step_timeout=5, progress=events.append)
    result = await asyncio.wait_for(run.run(), 60)
    assert result["status"] == "worked", result["reason"]
    assert not run.poisoned
    assert [step["name"] for step in result["steps"]] == list(STEPS)
    assert result["signaling_states"] == ["stable", "have-remote-offer", "stable"]
    assert result["replies_verified"] and result["round_trip_ms"] is not None
    started = [event["step"] for event in events if event["phase"] == "start"]
    ended = [event["step"] for event in events if event["phase"] == "end"]
    assert started == ended == list(STEPS)
