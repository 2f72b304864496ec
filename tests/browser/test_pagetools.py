"""A missing Chromium skips the browser tests with the reason, and fails them under CI."""

from __future__ import annotations

import pytest

from .pagetools import require_chromium

MISSING = "/nonexistent/chromium"


def test_a_missing_chromium_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{MISSING} is missing"):
        require_chromium(MISSING)


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_under_ci_a_missing_chromium_fails(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="under CI=true the browser tests must run"):
        require_chromium(MISSING)


def test_a_present_chromium_is_required_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require_chromium(__file__)  # any existing path: neither skip nor fail
