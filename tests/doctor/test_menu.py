"""The doctor's interactive menu, driven through a pipe like the seed's runner."""

from __future__ import annotations

from tests.doctor.tools import run_doctor


def test_menu_runs_a_solution_then_quits() -> None:
    result = run_doctor("--timeout", "12", stdin="9\n\n4\nq\n")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Environment" in out and "gi.events: available" in out
    assert out.count("Which approach should run?") == 2  # at start, and after the run
    assert "unknown choice '9'" in out
    assert "[4] Solution 4" in out and "WORKS: 4 of 4 runs" in out
    assert "webrtcbin sends a data-channel-only offer: worked" in out
    assert "aiortc sends an audio+video+data offer: worked" in out
    assert "signaling: stable -> have-remote-offer -> stable" in out
    assert "replies verified: yes" in out
    assert "recommendation: use the default" in out


def test_menu_ends_at_end_of_input() -> None:
    result = run_doctor(stdin="", timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Which approach should run?" in result.stdout
    assert "running" not in result.stdout


def test_bad_options_are_refused() -> None:
    result = run_doctor("--approach", "7", timeout=30)
    assert result.returncode == 2
    assert "unknown approach '7'" in result.stderr
    result = run_doctor("--timeout", "0", timeout=30)
    assert result.returncode == 2 and "--timeout must be positive" in result.stderr
