"""The cluster's own error (importable without the ``redis`` package)."""

from __future__ import annotations

from aiogstwebrtc.errors import WebRTCError

__all__ = ["ClusterUnavailableError"]


class ClusterUnavailableError(WebRTCError):
    """Redis could not be reached, or its state read, when the server started."""
