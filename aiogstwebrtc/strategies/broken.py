"""The broken ways to drive webrtcbin's promises, kept so that ``aiogstwebrtc doctor`` can show
why they fail on a given machine.

None of these is in :data:`~aiogstwebrtc.strategies.STRATEGIES` and
:class:`~aiogstwebrtc.Configuration` refuses their names: they deadlock threads or lose
results on purpose. Use them only as ``PeerConnection(strategy=get_broken_strategy(name))``
in a throw-away child process with a watchdog, as the doctor does.

=====================  ==========================================================================
``naive-set-result``   the change-func resolves the asyncio future with a plain ``set_result()``
                       on webrtcbin's thread: the event loop is not woken, so the result sits
                       unseen until something else wakes it (often the operation's own timeout)
``wait-in-handler``    the seed's Solution 3 without ``GLib.idle_add``: a change-func goes on
                       with the next step itself and ``promise.wait()``\\ s for it on webrtcbin's
                       thread, the very thread that would have to run that step: deadlock
``idle-without-loop``  the change-func hands the reply to ``GLib.idle_add`` on the default main
                       context, which no main loop iterates: the reply is never read
``before-playing``     operations on a webrtcbin below READY: each is refused at once with
                       "webrtcbin is closed" and the signaling state stays ``stable``
=====================  ==========================================================================

Every broken strategy records what it did, and on which thread, in :meth:`BrokenStrategy.notes`
so that a report can say *why* it failed.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from ..glibloop import GLibLoop
from ..gst import GLib, Gst
from ..promises import PendingPromises, PromiseOperation, mark_gstreamer_callback, read_reply
from ..tracing import trace
from .base import ChangeFuncStrategy, Strategy
from .futures import AsyncioStrategy

if TYPE_CHECKING:
    from ..peerconnection import PeerConnection

__all__ = [
    "BROKEN_STRATEGIES",
    "BeforePlayingStrategy",
    "BrokenStrategy",
    "IdleWithoutLoopStrategy",
    "NaiveSetResultStrategy",
    "WaitInHandlerStrategy",
    "get_broken_strategy",
]


def thread_label() -> str:
    """The calling thread's name; GStreamer's threads by their native name (``webrtcbin0:pc``)."""
    thread = threading.current_thread()
    if not isinstance(thread, threading._DummyThread):
        return thread.name
    native = threading.get_native_id()
    try:
        with open(f"/proc/self/task/{native}/comm") as comm:
            return f"GStreamer thread {comm.read().strip()}"
    except OSError:
        return f"GStreamer thread {native}"


class BrokenStrategy(Strategy):
    """A strategy that fails on purpose; subclasses record what happened in :meth:`notes`.

    ``expected_failure`` is how the doctor should see it fail: ``"lost-wakeup"``,
    ``"deadlock"``, ``"timeout"`` or ``"error"``.
    """

    name = "broken"
    summary = ""
    expected_failure = ""

    def __init__(self) -> None:
        self._notes: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def notes(self) -> list[dict[str, Any]]:
        """What the strategy did, in order: ``{"t": monotonic, "thread": ..., "what": ...}``."""
        with self._lock:
            return [dict(note) for note in self._notes]

    def _note(self, what: str, **fields: Any) -> None:
        """Record an observation (any thread)."""
        trace(f"{self.name}: {what}")
        note = {"t": time.monotonic(), "thread": thread_label(), "what": what, **fields}
        with self._lock:
            self._notes.append(note)

    async def prepare(self, pc: PeerConnection) -> None:
        """Called once ``pc`` has started, before the remote offer is applied."""

    def diagnose(self) -> list[str]:
        """Sentences explaining the failure, from what was recorded (asyncio thread)."""
        return [note["what"] for note in self.notes()]


class NaiveSetResultStrategy(BrokenStrategy, ChangeFuncStrategy):
    """The change-func calls ``future.set_result()`` directly on webrtcbin's thread."""

    name = "naive-set-result"
    summary = (
        "the change-func resolves the asyncio future with a plain set_result() on webrtcbin's "
        "thread, which does not wake the event loop"
    )
    expected_failure = "lost-wakeup"

    def on_change(
        self,
        promise: Gst.Promise,
        operation: PromiseOperation,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        glib: GLibLoop,
    ) -> None:
        try:
            value = read_reply(promise, operation.extract)
        except BaseException as exc:
            self._resolve(future, operation.name, error=exc)
        else:
            self._resolve(future, operation.name, value)

    def _resolve(
        self,
        future: asyncio.Future[Any],
        name: str,
        value: Any = None,
        error: BaseException | None = None,
    ) -> None:
        # The mistake, on purpose: Future methods are not thread-safe. They schedule the
        # future's callbacks with loop.call_soon(), which does not wake a sleeping loop.
        self._note(
            f"{name}: future.set_result() called on {thread_label()} without waking the loop",
            operation=name,
            kind="unsafe-set-result",
        )
        try:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        except asyncio.InvalidStateError:
            pass  # already failed by close()


class WaitInHandlerStrategy(BrokenStrategy):
    """Each change-func continues the chain itself: emit the next step, ``promise.wait()``.

    The seed's Solution 3 with ``GLib.idle_add`` left out. The first operation is emitted
    normally; its change-func (on webrtcbin's thread) delivers the result and then takes the
    *next* operation the application asks for, emits it and waits for its reply right there.
    webrtcbin runs its operations one at a time on that same thread, so the reply can never
    come. (The change-func waits up to ``handoff_timeout`` seconds for that next request.)
    """

    name = "wait-in-handler"
    summary = (
        "a change-func goes on with the next step and blocks in promise.wait() on webrtcbin's "
        "own thread (the seed's Solution 3 without GLib.idle_add)"
    )
    expected_failure = "deadlock"

    def __init__(self, handoff_timeout: float = 2.0) -> None:
        super().__init__()
        self._handoff_timeout = handoff_timeout
        self._next: queue.SimpleQueue[
            tuple[PromiseOperation, asyncio.AbstractEventLoop, asyncio.Future[Any], Gst.Promise]
        ] = queue.SimpleQueue()
        self._handoff_lock = threading.Lock()
        self._handler_waiting = False

    def start(
        self,
        operation: PromiseOperation,
        glib: GLibLoop,
        pending: PendingPromises,
        timeout: float,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._handoff_lock:
            if self._handler_waiting:
                # A change-func is still running on webrtcbin's thread: it does this step.
                promise = Gst.Promise.new()
                pending.add(future, operation.name, promise)
                self._next.put((operation, loop, future, promise))
                return future

        @mark_gstreamer_callback
        def on_change(promise: Gst.Promise, *_: Any) -> None:
            self._on_change(promise, operation, loop, future)

        first = Gst.Promise.new_with_change_func(on_change)
        pending.add(future, operation.name, first)
        glib.call_soon(self._emit_guarded, loop, future, operation, first)
        return future

    def _on_change(
        self,
        promise: Gst.Promise,
        operation: PromiseOperation,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
    ) -> None:
        """webrtcbin's thread: deliver this result, then do the next step here (the bug)."""
        with self._handoff_lock:
            self._handler_waiting = True
        self._finish(loop, future, promise, operation, "the change-func")
        try:
            step, step_loop, step_future, step_promise = self._next.get(
                timeout=self._handoff_timeout
            )
        except queue.Empty:
            with self._handoff_lock:
                if self._next.empty():
                    self._handler_waiting = False
                    return
            step, step_loop, step_future, step_promise = self._next.get()
        with self._handoff_lock:
            self._handler_waiting = False
        self._note(
            f"{step.name} emitted inside {operation.name}'s change-func on {thread_label()}, "
            "then promise.wait() there",
            operation=step.name,
            kind="blocking-wait-entered",
        )
        step.emit(step_promise)
        step_promise.wait()  # never returns: webrtcbin would run the step on this thread
        self._note(f"promise.wait() for {step.name} returned", operation=step.name, kind="returned")
        self._finish(step_loop, step_future, step_promise, step, "the change-func after wait()")


class IdleWithoutLoopStrategy(BrokenStrategy, ChangeFuncStrategy):
    """The change-func schedules the reply with ``GLib.idle_add`` on the default main context."""

    name = "idle-without-loop"
    summary = (
        "the change-func hands the reply to GLib.idle_add on the default main context, which "
        "no GLib main loop iterates"
    )
    expected_failure = "timeout"

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0
        self.ran = 0

    def on_change(
        self,
        promise: Gst.Promise,
        operation: PromiseOperation,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        glib: GLibLoop,
    ) -> None:
        def read_later(replied: Gst.Promise) -> bool:
            self.ran += 1
            self._note(f"idle callback for {operation.name} ran on {thread_label()}")
            self._finish(loop, future, replied, operation, "an idle on the default context")
            return False  # GLib.SOURCE_REMOVE

        self.scheduled += 1
        self._note(
            f"{operation.name}: change-func on {thread_label()} called GLib.idle_add() "
            "(default main context)",
            operation=operation.name,
            kind="idle-scheduled",
        )
        GLib.idle_add(read_later, promise)

    def diagnose(self) -> list[str]:
        lines = super().diagnose()
        waiting = self.scheduled - self.ran
        if waiting:
            lines.append(
                f"{waiting} idle callback(s) still wait on the default GLib main context: "
                "no GLib main loop runs it in this process"
            )
        return lines


class BeforePlayingStrategy(BrokenStrategy, AsyncioStrategy):
    """Drives promises correctly, but on a webrtcbin held below READY.

    :meth:`prepare` takes the started webrtcbin back to NULL and locks its state there, as
    when an offer is handled before ``set_state(PLAYING)`` (or after the pipeline stopped).
    """

    name = "before-playing"
    summary = (
        "operations on a webrtcbin that is not up yet (below READY): webrtcbin refuses them "
        "with 'webrtcbin is closed'"
    )
    expected_failure = "error"

    async def prepare(self, pc: PeerConnection) -> None:
        def hold_below_ready(_pipeline: Gst.Pipeline, webrtc: Gst.Element) -> str:
            webrtc.set_locked_state(True)
            webrtc.set_state(Gst.State.NULL)
            _result, state, _pending = webrtc.get_state(0)
            return str(state.value_nick)

        state = await pc.run_in_glib(hold_below_ready)
        self._note(f"webrtcbin held in state {state} (not READY/PLAYING) before the offer")


BROKEN_STRATEGIES: dict[str, type[BrokenStrategy]] = {
    "naive-set-result": NaiveSetResultStrategy,
    "wait-in-handler": WaitInHandlerStrategy,
    "idle-without-loop": IdleWithoutLoopStrategy,
    "before-playing": BeforePlayingStrategy,
}


def get_broken_strategy(name: str) -> BrokenStrategy:
    """A fresh instance of the broken strategy ``name``; ``ValueError`` names the valid ones."""
    try:
        return BROKEN_STRATEGIES[name]()
    except KeyError:
        raise ValueError(
            f"unknown broken strategy {name!r}; choose one of {', '.join(BROKEN_STRATEGIES)}"
        ) from None
