"""Fixtures of the browser tests."""

from tests.media.cameras import camera

__all__ = ["camera"]
