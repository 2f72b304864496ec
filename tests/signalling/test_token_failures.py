"""Failed tokens per address (no I/O): a burst, then a rate; blocked beyond; the blocked
addresses of a cluster's other servers count; memory stays bounded."""

from __future__ import annotations

import pytest

from aiogstwebrtc.signalling import token_failures
from aiogstwebrtc.signalling.token_failures import TokenFailures
from tests.helpers import Clock


def test_an_address_is_blocked_after_its_burst_until_its_bucket_refills() -> None:
    clock = Clock()
    failures = TokenFailures(per_minute=6, burst=2, clock=clock)
    failures.failed("a")
    assert not failures.blocked("a")
    failures.failed("a")
    assert failures.blocked("a") and failures.retry_after("a") == 10  # 6 a minute
    assert failures.blocked_keys() == {"a"}
    assert not failures.blocked("b")  # another address is not affected
    clock.now = 10.0
    assert not failures.blocked("a") and failures.blocked_keys() == set()


def test_addresses_blocked_on_other_servers_are_blocked_here() -> None:
    failures = TokenFailures(per_minute=10, burst=3)
    failures.set_blocked_elsewhere({"x"})
    assert failures.blocked("x") and failures.retry_after("x") == 6  # one failure's refill
    assert failures.blocked_keys() == set()  # what we share: only our own verdicts
    failures.set_blocked_elsewhere(set())  # the next beat: no longer blocked there
    assert not failures.blocked("x")


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_failures, "KEPT", 100)
    clock = Clock()
    failures = TokenFailures(per_minute=60, burst=1, clock=clock)
    for number in range(1000):
        failures.failed(f"host{number}")
        clock.now += 0.001
    assert len(failures._buckets) <= 100
    assert failures.blocked("host999")  # the newest are kept


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        TokenFailures(per_minute=0, burst=1)
    with pytest.raises(ValueError):
        TokenFailures(per_minute=1, burst=0)
