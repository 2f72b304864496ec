"""The per-address admission rules and the throttled log, without sockets."""

from __future__ import annotations

import logging

import pytest

from aiogstwebrtc.signalling.admission import (
    Admission,
    AdmissionLimits,
    Refusal,
    address_key,
    client_address,
)
from aiogstwebrtc.signalling.logthrottle import ThrottledLog
from tests.helpers import Clock


def test_pending_connections_are_capped_in_all_and_per_address() -> None:
    limits = AdmissionLimits(max_pending=5, max_pending_per_address=2, attempts_burst=100)
    admission = Admission(limits, clock=Clock())
    assert [admission.accept("10.0.0.1") for _ in range(3)] == [
        None,
        None,
        Refusal.PENDING_PER_ADDRESS,
    ]
    admission.upgraded("10.0.0.1")  # one became a websocket: room for another
    assert admission.accept("10.0.0.1") is None
    assert [admission.accept(f"10.0.1.{i}") for i in range(4)] == [
        None,
        None,
        None,
        Refusal.PENDING,
    ]
    admission.closed("10.0.1.0", pending=True)
    assert admission.pending == 4
    assert admission.accept("10.0.1.9") is None


def test_connections_per_address_and_attempts_per_second() -> None:
    clock = Clock()
    limits = AdmissionLimits(max_per_address=3, attempts_per_second=1, attempts_burst=4)
    admission = Admission(limits, clock=clock)
    for _ in range(3):
        assert admission.accept("10.0.0.1") is None
        admission.upgraded("10.0.0.1")
    assert admission.accept("10.0.0.1") is Refusal.PER_ADDRESS
    admission.closed("10.0.0.1", pending=False)
    assert admission.open_count("10.0.0.1") == 2
    assert admission.accept("10.0.0.1") is None  # the 4th attempt of the burst
    admission.closed("10.0.0.1", pending=True)
    assert admission.accept("10.0.0.1") is Refusal.ATTEMPTS  # burst used up
    clock.now += 1.0
    assert admission.accept("10.0.0.1") is None


def test_attempts_admitted_on_other_servers_are_charged_here() -> None:
    """In a cluster the attempt bucket is one per host, not one per server: what the other
    servers admitted is taken here too, into debt if need be (at most 10 s of refills)."""
    clock = Clock()
    limits = AdmissionLimits(attempts_per_second=1, attempts_burst=4)
    admission = Admission(limits, clock=clock)
    assert admission.attempt_counts(2) == {}  # a cluster asks: counting starts
    for _ in range(3):
        assert admission.accept("10.0.0.1") is None
        admission.closed("10.0.0.1", pending=True)
    assert admission.accept("10.0.0.2") is None
    # what this server shares: addresses admitted twice or more since the last beat
    assert admission.attempt_counts(2) == {"10.0.0.1": 3}
    assert admission.attempt_counts(2) == {}  # each beat's attempts once
    admission.charge_attempts({"10.0.0.1": 30, "10.0.0.3": 2})
    assert admission.attempts_left("10.0.0.1") == -10.0  # 1 left, 30 taken: the debt floor
    assert admission.accept("10.0.0.1") is Refusal.ATTEMPTS
    assert admission.attempts_left("10.0.0.3") == 2.0  # a fresh host's bucket, charged
    assert admission.accept("10.0.0.2") is None  # another address is not affected
    clock.now += 10.5
    assert admission.accept("10.0.0.1") is Refusal.ATTEMPTS  # 0.5: still short of one
    clock.now += 0.5
    assert admission.accept("10.0.0.1") is None  # the debt paid off, one token again


def test_attempts_are_not_counted_outside_a_cluster() -> None:
    admission = Admission(AdmissionLimits(), clock=Clock())
    for _ in range(3):
        assert admission.accept("10.0.0.1") is None
    assert admission._attempted == {}  # nobody asks: nothing kept


def test_ipv6_counts_per_slash_64_and_v4_mapped_as_v4() -> None:
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:2::5") != address_key("2001:db8:1:3::5")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key(None) == "unknown"


def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    limits = AdmissionLimits(trusted_proxies=("10.0.0.0/8",))
    xff = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.1.1"}
    assert client_address("10.0.0.2", xff, limits) == "203.0.113.7"  # nearest untrusted hop
    assert client_address("192.0.2.9", xff, limits) == "192.0.2.9"  # not a proxy: ignored
    forwarded = {"Forwarded": 'for="[2001:db8::7]:4711";proto=https, for=10.2.2.2'}
    assert client_address("10.0.0.2", forwarded, limits) == "2001:db8::7"
    assert client_address("10.0.0.2", {"X-Forwarded-For": "junk"}, limits) == "10.0.0.2"
    with pytest.raises(ValueError, match="trusted proxy"):
        AdmissionLimits(trusted_proxies=("not an address",))


def test_throttled_log_says_the_first_then_one_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    noise = ThrottledLog(logging.getLogger("test.noise"), interval=10, clock=clock)
    with caplog.at_level(logging.WARNING, "test.noise"):
        for i in range(1000):
            noise.event("refused", f"10.0.0.{i % 7}")
        clock.now = 10.0
        noise.flush()
        noise.flush()  # nothing new: no line
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused (from 10.0.0.0)",
        "refused: 999 more time(s) in the last 10 s, from 7 address(es)",
    ]
    assert noise.totals == {"refused": 1000}


def test_command_line_flags_set_the_limits(caplog: pytest.LogCaptureFixture) -> None:
    import argparse

    from aiogstwebrtc.signalling import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--max-per-address", "4", "--connection-rate", "2.5", "--max-pending", "9",
            "--http-timeout", "3", "--unregistered-timeout", "7",
            "--trusted-proxy", "10.0.0.1", "--trusted-proxy", "fd00::/8",
        ]
    )  # fmt: skip
    limits = cli.admission_limits(args)
    assert (limits.max_per_address, limits.attempts_per_second, limits.max_pending) == (4, 2.5, 9)
    assert (limits.http_timeout, limits.unregistered_timeout) == (3, 7)
    assert limits.trusts("10.0.0.1") and limits.trusts("fd00::5") and not limits.trusts("10.0.0.2")
    defaults = parser.parse_args([])
    assert cli.admission_limits(defaults).max_per_address == 32
    assert (defaults.max_sessions_per_pair, defaults.websocket_compression) == (2, False)
    bad = parser.parse_args(["--trusted-proxy", "proxy.example"])
    with caplog.at_level(logging.ERROR):
        assert cli.run(bad) == 2  # refused before listening
    assert "trusted proxy" in caplog.text
