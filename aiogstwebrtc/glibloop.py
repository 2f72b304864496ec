"""The GLib side of the library: where every call into GStreamer runs.

By default one dedicated thread per process runs a ``GLib.MainLoop`` on its own
``GLib.MainContext``; it starts when the first peer connection needs it and stops when the last
one releases it. When the running asyncio loop is PyGObject's ``gi.events`` GLib loop, asyncio
already iterates a GLib context: no thread is started and the same code runs inline.

Results travel back to asyncio only through ``loop.call_soon_threadsafe``, wrapped in
:func:`post` (a closed loop drops the call instead of raising on a GStreamer thread).

The threading rule: every call into GStreamer that touches an element, a pad or a channel
of a running pipeline is made on the GLib thread (:meth:`GLibLoop.call`,
:meth:`GLibLoop.call_soon`), or on the GStreamer thread that called us. These are the only
GStreamer calls made on the asyncio thread (``grep`` for ``Gst``, ``GstSdp``, ``GstWebRTC``,
``GLib.Bytes``, ``get_property``, ``set_property``, ``emit(`` and ``send_`` outside functions
marked "GLib thread" or "streaming thread" finds these and no others), each with its reason:

- ``Gst.init`` and ``limit_arenas`` (``gst.ensure_init``, ``PeerPipeline.acquire``): once
  per process, before the first pipeline exists, so before any GStreamer thread runs.
- ``GstSdp.SDPMessage.new_from_text`` (``sdp.py``'s validation,
  ``negotiation.to_gst_description``) and ``GstWebRTC.WebRTCSessionDescription.new``: new,
  unshared objects made from text; webrtcbin receives one only through the emit on the GLib
  thread.
- ``Gst.Promise.new_with_change_func`` (``strategies.base``) and the last unref of a promise
  (``promises.PendingPromises``, when its future is done): a promise is a refcounted MT-safe
  object, replied to on webrtcbin's thread and read in its change-func; our reference going
  frees nothing webrtcbin still uses.
- ``DataChannel.send`` (``send_string_full``, ``send_data_full``) and
  ``DataChannel.buffered_amount`` (``get_property("buffered-amount")``): the data path.
  webrtcbin's channel takes its own lock for both; a hop to the GLib thread would cost a
  wake-up per message. The channel is detached on the GLib thread, after which neither
  reaches it.
- ``VideoSource.push`` (``Gst.Buffer.new_wrapped_bytes``, appsrc's ``push-buffer``):
  documented "any thread"; appsrc's queue is MT-safe and the appsrc is read under the
  source's lock.
- ``RemoteTrack`` frames (``Gst.Sample``, and ``gst_buffer_map``/``gst_buffer_unmap``
  through ctypes in ``media/mapped.py``): a sample is ours once pulled from appsink; its
  buffer is mapped read-only for as long as a frame's array views it, and unmapped on
  whichever thread drops the last view (mapping a buffer we hold a reference to is MT-safe;
  a later write upstream goes to a copy GStreamer makes).
- The last reference to a closed peer's ICE agent when TURN was used
  (``gst.close_ice_agent``): dropped on a timer thread :data:`gst.TURN_RELEASE_GRACE` s after
  the pipeline stopped, once libnice (on its own thread) has released the allocations;
  ``g_object_unref`` is thread-safe and nothing else uses the agent by then.
- One of each element a connection's transports need (``gst.WARM_UP_ELEMENTS``, ``dtlsdec``
  first) made and dropped on a thread of its own when the first peer connection starts or
  ``prewarm()`` is called (``gst.warm_up_elements``): elements outside any pipeline, made
  only so that their plugins load and their classes set up (and GStreamer 1.22 generates
  its process-wide default DTLS key) meanwhile. Element factories and GType class set-up
  are thread-safe; dtlsdec makes the default key inside a g_once_init_enter. The
  interpreter waits for that thread at exit: OpenSSL must not be cleaned up under it.

Everything else — the threshold of ``bufferedamountlow``, closing a channel, liveness
probes and keepalive pokes, tracks, senders, transceivers — runs on the GLib thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from .gst import GLib
from .timeouts import wait_for

__all__ = [
    "GLibLoop",
    "InlineGLibLoop",
    "ThreadedGLibLoop",
    "acquire_glib_loop",
    "deliver",
    "post",
    "resolve_future",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


def resolve_future(
    future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None
) -> None:
    """Set ``future``'s outcome unless it is already done (call on the future's loop)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def post(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> bool:
    """From any thread: run ``fn(*args)`` on asyncio ``loop`` soon, waking it at once.

    False when ``loop`` is closed (the program is ending): the call is dropped, logged at
    DEBUG, never raised into the GStreamer or GLib thread that posted it.
    """
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        log.debug("asyncio loop closed; %s dropped", getattr(fn, "__qualname__", fn))
        return False
    return True


def deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """From any thread: resolve ``future`` on its loop, waking it at once."""
    post(loop, resolve_future, future, result, error)


class GLibLoop:
    """Where GStreamer calls run; see :class:`ThreadedGLibLoop` and :class:`InlineGLibLoop`."""

    context: GLib.MainContext

    def in_glib_thread(self) -> bool:
        """True when the caller runs on this loop's GLib thread."""
        raise NotImplementedError

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the GLib thread later; errors are logged."""

        def run() -> bool:
            try:
                fn(*args)
            except Exception:
                log.exception("error in a call scheduled on the GLib thread")
            return False  # GLib.SOURCE_REMOVE

        source = GLib.idle_source_new()
        source.set_priority(GLib.PRIORITY_DEFAULT)
        source.set_callback(lambda *_: run())
        source.attach(self.context)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the GLib thread and return its result (or raise its error)."""
        if self.in_glib_thread():
            return fn(*args)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def run() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:  # forwarded, never swallowed
                deliver(loop, future, error=exc)
            else:
                deliver(loop, future, result)

        self.call_soon(run)
        return await future

    def call_sync(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the GLib thread and block until done (not from asyncio code)."""
        if self.in_glib_thread():
            return fn(*args)
        done = threading.Event()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((fn(*args), None))
            except BaseException as exc:
                outcome.append((None, exc))
            finally:
                done.set()

        self.call_soon(run)
        if not done.wait(timeout):
            raise TimeoutError(f"GLib thread did not run {fn!r} within {timeout} s")
        result, error = outcome[0]
        if error is not None:
            raise error
        return result  # type: ignore[no-any-return]

    def release(self) -> bool:
        """Give back a reference taken with :func:`acquire_glib_loop`; never blocks.

        True when that was the last user and the loop is now quitting (see
        :meth:`wait_stopped`).
        """
        return False

    def abandon(self) -> None:
        """Give new users a fresh GLib thread: this one is stuck (its users keep it)."""

    async def wait_stopped(self, timeout: float) -> bool:
        """Wait, without blocking the asyncio thread, until the GLib thread has ended."""
        return True


class ThreadedGLibLoop(GLibLoop):
    """A thread running a GLib main loop on its own context, shared by reference count."""

    _lock = threading.Lock()
    _instance: ThreadedGLibLoop | None = None

    def __init__(self) -> None:
        self.context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self.context, False)
        self._users = 0
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aiogstwebrtc-glib", daemon=True)
        self._ended = False
        self._end_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._end_lock = threading.Lock()

    def _run(self) -> None:
        self.context.push_thread_default()
        try:
            idle = GLib.idle_source_new()
            idle.set_callback(self._signal_started)
            idle.attach(self.context)
            self._loop.run()
        finally:
            self.context.pop_thread_default()
            with self._end_lock:
                self._ended = True
                waiters, self._end_waiters = self._end_waiters, []
            for loop, future in waiters:
                deliver(loop, future)
            log.debug("GLib thread stopped")

    def _signal_started(self, *_: Any) -> bool:
        self._started.set()
        return False  # GLib.SOURCE_REMOVE

    def in_glib_thread(self) -> bool:
        return threading.current_thread() is self._thread

    @classmethod
    def acquire(cls) -> ThreadedGLibLoop:
        """Return the process's GLib thread, starting it if needed, and count one more user."""
        with cls._lock:
            instance = cls._instance
            if instance is None:
                instance = cls()
                instance._thread.start()
                if not instance._started.wait(10):
                    raise RuntimeError("the GLib thread did not start")
                log.debug("GLib thread started")
                cls._instance = instance
            instance._users += 1
            return instance

    def release(self) -> bool:
        cls = type(self)
        with cls._lock:
            self._users -= 1
            if self._users > 0:
                return False
            if cls._instance is self:
                cls._instance = None
        self.call_soon(self._loop.quit)  # queued: the thread ends after what is pending
        return True

    def abandon(self) -> None:
        cls = type(self)
        with cls._lock:
            if cls._instance is self:
                cls._instance = None
                log.warning("the GLib thread is stuck: new peer connections get a new one")

    async def wait_stopped(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._end_lock:
            if self._ended or not self._thread.is_alive():
                return True
            self._end_waiters.append((loop, future))
        try:
            await wait_for(future, timeout)
        except TimeoutError:
            log.warning("the GLib thread did not end within %s s; left to finish alone", timeout)
            return False
        # It has left its loop and is returning: joining now takes microseconds.
        self._thread.join(0.05)
        return True

    @classmethod
    def stop_at_exit(cls) -> None:
        """Interpreter exit, once every peer has stopped: end the GLib thread and join it.

        A daemon thread left running would keep dispatching GLib sources whose callbacks and
        destroy-notifies enter Python while the interpreter finalises, which can crash it
        (CPython gh-124619, gh-87135; seen as SIGSEGV at exit on Python 3.13).
        """
        with cls._lock:
            instance, cls._instance = cls._instance, None
        if instance is not None and instance._thread.is_alive():
            instance.stop()

    def stop(self) -> None:
        """Quit the loop and join the thread: blocks, so never from the asyncio thread.

        For synchronous callers only (benchmarks, interpreter exit); peer connections use
        :meth:`release` and :meth:`wait_stopped`.
        """
        self.call_soon(self._loop.quit)
        if not self.in_glib_thread():
            self._thread.join(10)


class InlineGLibLoop(GLibLoop):
    """The asyncio loop *is* a GLib loop (``gi.events``): GStreamer calls run inline."""

    def __init__(self, context: GLib.MainContext, thread: threading.Thread) -> None:
        self.context = context
        self._thread = thread

    def in_glib_thread(self) -> bool:
        return threading.current_thread() is self._thread


_inline_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InlineGLibLoop] = (
    weakref.WeakKeyDictionary()
)


def gi_events_context(loop: asyncio.AbstractEventLoop) -> GLib.MainContext | None:
    """The GLib context a ``gi.events`` asyncio loop iterates, or None for other loops."""
    try:
        from gi.events import GLibEventLoop
    except ImportError:
        return None
    if isinstance(loop, GLibEventLoop):
        context: GLib.MainContext = loop._context
        return context
    return None


def acquire_glib_loop(loop: asyncio.AbstractEventLoop) -> GLibLoop:
    """The GLib loop to use from asyncio ``loop``; call ``release()`` on it when done."""
    context = gi_events_context(loop)
    if context is None:
        return ThreadedGLibLoop.acquire()
    inline = _inline_loops.get(loop)
    if inline is None:
        inline = InlineGLibLoop(context, threading.current_thread())
        _inline_loops[loop] = inline
    return inline
