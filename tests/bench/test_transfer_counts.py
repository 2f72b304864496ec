"""A transfer that lost anything fails loudly, on our side and in the native peers' driver."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from bench import datachannels

ROOT = Path(__file__).resolve().parents[2]


def test_a_lost_message_fails_the_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datachannels, "STALL_TIMEOUT", 0.05)

    async def lose_one() -> None:
        counter = datachannels.TransferCounter(size=4, count=3)
        counter.on_message(b"abcd")
        counter.on_message(b"abcd")
        await counter.wait()

    with pytest.raises(datachannels.TransferLost, match="received 2 messages / 8 bytes"):
        asyncio.run(lose_one())


def test_a_short_message_fails_the_transfer() -> None:
    async def short() -> None:
        counter = datachannels.TransferCounter(size=4, count=2)
        counter.on_message(b"abcd")
        counter.on_message(b"abc")
        await counter.wait()

    with pytest.raises(datachannels.TransferLost, match="7 bytes, sent 2 / 8"):
        asyncio.run(short())


def test_the_driver_reports_a_lost_message_as_unverified() -> None:
    spec = importlib.util.spec_from_file_location("peer_driver", ROOT / "bench/peer_driver.py")
    assert spec is not None and spec.loader is not None
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    driver.STALL_TIMEOUT = 0.05

    async def lose_one() -> bool:
        counter = driver.Counter()
        counter.expect(3, 12)
        counter.add(b"abcd")
        counter.add(b"abcd")
        await counter.wait()
        return bool(counter.verified)

    assert asyncio.run(lose_one()) is False
