"""Fixtures of the media tests."""

from tests.media.cameras import camera

__all__ = ["camera"]
