"""A GStreamer thread that calls into Python often keeps its Python thread state (instead of
creating and destroying one per callback), and only a bounded number are ever kept."""

from __future__ import annotations

import threading

import pytest

from aiogstwebrtc import threadstate
from aiogstwebrtc.gst import Gst, ensure_init
from aiogstwebrtc.promises import mark_gstreamer_callback

BUFFERS = 300


def run_handoffs(handler: object) -> None:
    """``BUFFERS`` handoffs of a fakesink, each calling ``handler`` on its streaming thread."""
    ensure_init()
    pipeline = Gst.parse_launch(
        f"fakesrc num-buffers={BUFFERS} ! fakesink name=sink signal-handoffs=true"
    )
    sink = pipeline.get_by_name("sink")
    handler_id = sink.connect("handoff", handler)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        message = pipeline.get_bus().timed_pop_filtered(
            10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
        )
        assert message is not None and message.type == Gst.MessageType.EOS
    finally:
        pipeline.set_state(Gst.State.NULL)
        sink.disconnect(handler_id)


def test_a_busy_streaming_thread_keeps_its_python_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threadstate, "_kept", threadstate.kept())  # given back afterwards
    monkeypatch.setattr(threadstate, "MAX_KEPT", threadstate.kept() + 1)
    monkeypatch.setattr(threadstate, "_full", False)
    local = threading.local()  # per thread state: it forgets when the state is recreated
    seen: list[int] = []
    native: set[int] = set()

    def on_handoff(*_args: object) -> None:
        local.calls = getattr(local, "calls", 0) + 1
        seen.append(local.calls)
        native.add(threading.get_native_id())

    run_handoffs(mark_gstreamer_callback(on_handoff))
    assert len(seen) == BUFFERS and len(native) == 1  # one streaming thread
    # from its HOT_AFTER-th callback on the thread kept its state: the local remembered
    assert seen[-1] >= BUFFERS - threadstate.HOT_AFTER + 1, seen[-5:]
    assert threadstate.kept() <= threadstate.MAX_KEPT


def test_thread_states_are_kept_only_up_to_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    ensured: list[int] = []
    monkeypatch.setattr(threadstate, "_ensure", lambda: ensured.append(1))
    monkeypatch.setattr(threadstate, "_kept", threadstate.kept())
    monkeypatch.setattr(threadstate, "_full", False)

    def busy_thread() -> None:
        for _ in range(threadstate.HOT_AFTER + 50):
            threadstate.keep_thread_state()

    def run() -> None:
        thread = threading.Thread(target=busy_thread)
        thread.start()
        thread.join()

    monkeypatch.setattr(threadstate, "MAX_KEPT", threadstate.kept() + 1)
    run()
    assert ensured == [1]  # kept once, at its HOT_AFTER-th call
    run()  # another busy thread: the bound is reached
    assert ensured == [1] and threadstate._full
