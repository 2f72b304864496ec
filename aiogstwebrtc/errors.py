"""The one exception hierarchy of aiogstwebrtc.

::

    WebRTCError                      root of everything this library raises on purpose
    ├── InvalidSDPError (ValueError) a session description or ICE candidate that cannot be used
    ├── InvalidStateError            an operation not allowed in the current state
    ├── NegotiationError             webrtcbin refused an offer/answer step
    ├── OperationTimeoutError (TimeoutError)  a GStreamer operation did not finish in time
    ├── ClosedError                  the peer connection or channel is closed
    ├── MessageTooLargeError (ValueError)     a data-channel message over the size limit
    └── MissingComponentError        a GStreamer element or typelib is not installed

Errors raised by GLib or GStreamer are translated into these in one place
(:func:`aiogstwebrtc.promises.translate_reply_error`) with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "ClosedError",
    "InvalidSDPError",
    "InvalidStateError",
    "MessageTooLargeError",
    "MissingComponentError",
    "NegotiationError",
    "OperationTimeoutError",
    "WebRTCError",
]


class WebRTCError(Exception):
    """Base class of every error aiogstwebrtc raises on purpose."""


class InvalidSDPError(WebRTCError, ValueError):
    """A session description or ICE candidate is malformed or does not fit the session."""


class InvalidStateError(WebRTCError):
    """The operation is not allowed in the object's current state (the message names it)."""


class NegotiationError(WebRTCError):
    """webrtcbin rejected an offer/answer step.

    ``operation`` is the webrtcbin operation (e.g. ``"set-remote-description"``) and
    ``signaling_state`` the signaling state when it failed.
    """

    def __init__(self, message: str, *, operation: str, signaling_state: str) -> None:
        super().__init__(message)
        self.operation = operation
        self.signaling_state = signaling_state


class OperationTimeoutError(WebRTCError, TimeoutError):
    """An operation did not complete within its timeout.

    ``operation`` names the step that was waited for and ``state`` the state at the time.
    """

    def __init__(self, message: str, *, operation: str, state: str = "") -> None:
        super().__init__(message)
        self.operation = operation
        self.state = state


class ClosedError(WebRTCError):
    """The peer connection or data channel is closed; pending operations fail with this."""


class MessageTooLargeError(WebRTCError, ValueError):
    """A data-channel message is larger than the channel can send."""


class MissingComponentError(WebRTCError):
    """A GStreamer element or typelib the library needs is not installed.

    The message names the Debian package that provides it.
    """
