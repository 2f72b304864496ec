"""One end-to-end run of an approach: a second peer offers, the approach answers, the two
connect and a message makes a round trip on the data channel.

Every step is bounded. When an operation times out the run probes the GLib thread and
webrtcbin's operation thread to tell a deadlock from a reply that got lost on the way, and
after each promise step it checks how long asyncio took to see the reply (a lost wake-up).
Runs inside the doctor's child process; see :mod:`aiogstwebrtc.doctor.child`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Configuration
from ..datachannel import DataChannel
from ..errors import WebRTCError
from ..glibloop import deliver
from ..gst import Gst
from ..peerconnection import PeerConnection
from ..sdp import IceCandidate, SessionDescription
from ..strategies.broken import BrokenStrategy
from ..timeouts import wait_for
from .approaches import Approach
from .peers import LABEL, LOOPBACK, AiortcOfferer, OfferingPeer, WebrtcbinOfferer
from .recording import RecordingStrategy, SignalRecorder

__all__ = [
    "FAILURE_KINDS",
    "SCENARIOS",
    "STEPS",
    "Failure",
    "Scenario",
    "ScenarioRun",
    "empty_result",
    "reason_text",
    "skipped_result",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The steps of a run, in order (the second peer's are ``offer`` and ``apply-answer``).
STEPS = (
    "offer",
    "start",
    "set-remote-description",
    "create-answer",
    "set-local-description",
    "apply-answer",
    "add-remote-candidates",
    "connected",
    "data-channel",
    "round-trip",
    "close",
)
#: How a run can fail, and how a report phrases it.
FAILURE_KINDS = {
    "deadlock": "deadlock detected",
    "timeout": "timeout",
    "lost-wakeup": "lost wake-up",
    "error": "error",
    "crash": "crash",
    "skipped": "skipped",
}
#: A reply that asyncio sees later than this after it was read counts as a lost wake-up.
LOST_WAKEUP_SECONDS = 1.0


@dataclass(frozen=True)
class Scenario:
    """Which peer offers (``webrtcbin`` or ``aiortc``) and what (``datachannel`` or ``media``).

    A ``datachannel`` offer has only the data channel; ``media`` adds audio and video
    (receive-only) before it.
    """

    peer: str
    offer: str

    @property
    def key(self) -> str:
        """``peer/offer``, as used on the command line and in reports."""
        return f"{self.peer}/{self.offer}"

    @classmethod
    def parse(cls, key: str) -> Scenario:
        """The scenario written as ``peer/offer``."""
        peer, _, offer = key.partition("/")
        if peer not in ("webrtcbin", "aiortc") or offer not in ("datachannel", "media"):
            raise ValueError(f"unknown scenario {key!r}")
        return cls(peer, offer)


SCENARIOS = tuple(
    Scenario(peer, offer) for peer in ("webrtcbin", "aiortc") for offer in ("datachannel", "media")
)


def reason_text(kind: str, step: str | None, detail: str) -> str:
    """``"deadlock detected in step create-answer: ..."``."""
    where = f" in step {step}" if step else ""
    return f"{FAILURE_KINDS.get(kind, kind)}{where}: {detail}"


class Failure(Exception):
    """Why a run failed: ``kind`` (see :data:`FAILURE_KINDS`), ``step`` and ``detail``."""

    def __init__(self, kind: str, step: str | None, detail: str) -> None:
        super().__init__(reason_text(kind, step, detail))
        self.kind = kind
        self.step = step
        self.detail = detail

    @property
    def reason(self) -> str:
        """The one-line reason shown to users."""
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"kind", "step", "detail"}``."""
        return {"kind": self.kind, "step": self.step, "detail": self.detail}


def skipped_result(scenario: Scenario, reason: str) -> dict[str, Any]:
    """The report of a scenario that could not run here."""
    return empty_result(scenario, "skipped", Failure("skipped", None, reason))


def empty_result(scenario: Scenario, status: str, failure: Failure | None = None) -> dict[str, Any]:
    """A scenario report with no steps: ``status`` is skipped, not-run or failed."""
    return {
        "peer": scenario.peer,
        "offer": scenario.offer,
        "status": status,
        "worked": status == "worked",
        "reason": None if failure is None else failure.reason,
        "failure": None if failure is None else failure.to_dict(),
        "duration_ms": None,
        "steps": [],
        "signaling_states": [],
        "connection_states": [],
        "operations": [],
        "callbacks": [],
        "replies_verified": False,
        "round_trip_ms": None,
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class ScenarioRun:
    """Runs one scenario of one approach; :meth:`run` returns its report.

    ``progress`` receives ``{"event": "step", ...}`` dicts as steps start and end.
    ``poisoned`` is True afterwards when a thread was left blocked (nothing more should run
    in this process). ``hang_step`` blocks the asyncio thread at that step, for testing the
    doctor's watchdog.
    """

    def __init__(
        self,
        approach: Approach,
        scenario: Scenario,
        *,
        step_timeout: float,
        progress: Callable[[dict[str, Any]], None] = lambda _event: None,
        hang_step: str | None = None,
    ) -> None:
        self.approach = approach
        self.scenario = scenario
        self.step_timeout = step_timeout
        self.progress = progress
        self.hang_step = hang_step
        self.poisoned = False
        self.inner = approach.make_strategy()
        self._steps: list[dict[str, Any]] = []
        self._signaling: list[str] = ["stable"]
        self._connection: list[str] = ["new"]
        self._candidate_tasks: set[asyncio.Task[None]] = set()
        self._held_candidates: list[IceCandidate] | None = []
        self._candidate_errors: list[str] = []
        self._lucky: list[str] = []

    # --- the run -----------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        """Run every step; never raises for a failure of the approach (it is reported)."""
        started = time.monotonic()
        asyncio_thread = threading.get_ident()
        strategy = RecordingStrategy(self.inner, asyncio_thread)
        signals = SignalRecorder(asyncio_thread)
        timeout = self.step_timeout
        config = Configuration(
            local_addresses=[LOOPBACK] if self.scenario.peer == "webrtcbin" else None,
            operation_timeout=timeout,
            init_data_channel=self.approach.init_data_channel,
            strategy=self.approach.configuration_strategy,
        )
        pc = PeerConnection(config, strategy=strategy)
        peer: OfferingPeer = (
            WebrtcbinOfferer(timeout) if self.scenario.peer == "webrtcbin" else AiortcOfferer()
        )
        self._watch(pc, peer)
        remote_channel: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()

        def on_channel(channel: DataChannel) -> None:
            if channel.label == LABEL and not remote_channel.done():
                channel.on("message", lambda message: self._echo(channel, message))
                remote_channel.set_result(channel)

        pc.on("datachannel", on_channel)
        failure: Failure | None = None
        round_trip: float | None = None
        attached = False
        try:
            offer = await self._step(
                "offer", lambda: peer.make_offer(self.scenario.offer == "media"), 2 * timeout
            )

            async def start() -> None:
                nonlocal attached
                await pc.__aenter__()
                await signals.attach(pc)
                attached = True
                if isinstance(self.inner, BrokenStrategy):
                    await self.inner.prepare(pc)

            await self._step("start", start, 2 * timeout, pc)
            await self._operation(
                "set-remote-description",
                lambda: pc.set_remote_description({"type": "offer", "sdp": offer}),
                pc,
                strategy,
                "have-remote-offer",
            )
            answer: SessionDescription = await self._operation(
                "create-answer", pc.create_answer, pc, strategy, "have-remote-offer"
            )
            wanted = len(SessionDescription("offer", offer).media)
            if len(answer.media) != wanted:
                raise Failure(
                    "error",
                    "create-answer",
                    f"the answer has {len(answer.media)} m-lines for the offer's {wanted}",
                )
            await self._operation(
                "set-local-description",
                lambda: pc.set_local_description(answer),
                pc,
                strategy,
                "stable",
            )

            async def apply_answer() -> None:
                await peer.apply_answer(answer.sdp)
                held, self._held_candidates = self._held_candidates or [], None
                for candidate in held:
                    await peer.add_candidate(candidate)

            await self._step("apply-answer", apply_answer, timeout, pc)

            async def add_candidates() -> None:
                for candidate in peer.candidates():
                    await pc.add_ice_candidate(candidate)

            await self._step("add-remote-candidates", add_candidates, timeout, pc)
            await self._step(
                "connected",
                lambda: pc.wait_for_connection_state("connected", 2 * timeout),
                2 * timeout + 1,
                pc,
            )

            async def channel_open() -> None:
                channel = await wait_for(asyncio.shield(remote_channel), 2 * timeout)
                await channel.wait_open(timeout)
                await peer.wait_open(timeout)

            await self._step("data-channel", channel_open, 3 * timeout + 1, pc)
            text = f"ping {uuid.uuid4().hex[:8]}"

            async def ping() -> float:
                sent = time.monotonic()
                reply = await peer.round_trip(text, timeout)
                if reply != text:
                    raise Failure("error", "round-trip", f"sent {text!r}, got back {reply!r}")
                return time.monotonic() - sent

            round_trip = await self._step("round-trip", ping, timeout + 1, pc)

            async def close() -> None:
                await signals.detach(pc)
                await pc.close()
                await peer.close()

            await self._step("close", close, 2 * timeout, pc)
        except Failure as exc:
            failure = exc
        if failure is not None:
            await self._cleanup(failure, pc, peer, signals if attached else None)
        result = empty_result(self.scenario, "failed" if failure else "worked", failure)
        result.update(
            duration_ms=_ms(time.monotonic() - started),
            steps=self._steps,
            signaling_states=self._signaling,
            connection_states=self._connection,
            operations=[record.to_dict() for record in strategy.records],
            callbacks=signals.to_list(),
            replies_verified=failure is None
            and len(strategy.records) >= 3
            and all(record.verified for record in strategy.records),
            round_trip_ms=None if round_trip is None else _ms(round_trip),
        )
        return result

    # --- steps -------------------------------------------------------------------------------

    async def _step(
        self,
        name: str,
        action: Callable[[], Awaitable[T]],
        limit: float,
        pc: PeerConnection | None = None,
    ) -> T:
        self.progress({"event": "step", "step": name, "phase": "start"})
        if self.hang_step == name:
            log.warning("blocking the asyncio thread in step %s, as asked", name)
            threading.Event().wait()
        started = time.monotonic()
        entry: dict[str, Any] = {"name": name, "ok": False, "ms": None, "detail": None}
        self._steps.append(entry)
        try:
            result = await wait_for(action(), limit)
        except Failure as exc:
            entry.update(ms=_ms(time.monotonic() - started), detail=exc.detail)
            raise
        except TimeoutError as exc:
            entry["ms"] = _ms(time.monotonic() - started)
            failure = await self._diagnose_timeout(name, pc, exc)
            entry["detail"] = failure.detail
            raise failure from None
        except Exception as exc:
            entry["ms"] = _ms(time.monotonic() - started)
            text = str(exc) if isinstance(exc, WebRTCError) else f"{type(exc).__name__}: {exc}"
            if pc is not None and name in ("set-remote-description", "create-answer"):
                text += f" (signaling state stayed {pc.signaling_state})"
            text = self._with_notes(text)
            entry["detail"] = text
            raise Failure("error", name, text) from None
        entry.update(ok=True, ms=_ms(time.monotonic() - started))
        self.progress({"event": "step", "step": name, "phase": "end", "ms": entry["ms"]})
        return result

    async def _operation(
        self,
        name: str,
        action: Callable[[], Awaitable[T]],
        pc: PeerConnection,
        strategy: RecordingStrategy,
        expected_state: str,
    ) -> T:
        result = await self._step(name, action, self.step_timeout + 1, pc)
        self._check_wakeup(name, strategy)
        if pc.signaling_state != expected_state:
            detail = (
                f"signaling state is {pc.signaling_state} afterwards, expected {expected_state}"
            )
            unsafe = self._unsafe(name)
            if unsafe:  # the result overtook the state change: the same unsafe hand-over
                detail = (
                    f"the future was resolved with a plain set_result() on {unsafe[0]['thread']}"
                    f", which does not wake the event loop: {detail}"
                )
                self._fail_entry(name, detail)
                raise Failure("lost-wakeup", name, detail)
            raise Failure("error", name, detail)
        return result

    def _unsafe(self, name: str) -> list[dict[str, Any]]:
        """The notes of ``name``'s result resolved with a plain ``set_result()``."""
        return [
            note
            for note in self._notes()
            if note.get("kind") == "unsafe-set-result" and note.get("operation") == name
        ]

    def _check_wakeup(self, name: str, strategy: RecordingStrategy) -> None:
        """Fail on a reply asyncio saw late, or handed over unsafely (even if luckily fast)."""
        record = strategy.last(name)
        delay = None if record is None else record.wakeup_delay
        unsafe = self._unsafe(name)
        how = "the reply was read on webrtcbin's thread"
        if unsafe:
            how = (
                f"the future was resolved with a plain set_result() on {unsafe[0]['thread']}, "
                "which does not wake the event loop"
            )
        elif record is not None and record.reply_read_on is not None:
            how = f"the reply was read on {record.reply_read_on[0]}"
        if delay is not None and delay > LOST_WAKEUP_SECONDS:
            detail = f"{how}; asyncio saw the result only {delay * 1000:.0f} ms later"
            if abs(delay - self.step_timeout) < 0.25 * self.step_timeout:
                detail += f", when the operation's {self.step_timeout:g} s timeout timer woke it"
            self._fail_entry(name, detail)
            raise Failure("lost-wakeup", name, detail)
        if unsafe:
            self._lucky.append(f"{name} after {(delay or 0) * 1000:.1f} ms")
        if name == "set-local-description" and self._lucky:
            detail = (
                f"{how}; asyncio saw each result only when something else woke the loop "
                f"({', '.join(self._lucky)}): it works only by luck"
            )
            self._fail_entry(name, detail)
            raise Failure("lost-wakeup", name, detail)

    def _fail_entry(self, name: str, detail: str) -> None:
        entry = next(entry for entry in reversed(self._steps) if entry["name"] == name)
        entry.update(ok=False, detail=detail)

    # --- diagnosis ---------------------------------------------------------------------------

    def _notes(self) -> list[dict[str, Any]]:
        return self.inner.notes() if isinstance(self.inner, BrokenStrategy) else []

    def _with_notes(self, text: str) -> str:
        if isinstance(self.inner, BrokenStrategy):
            notes = self.inner.diagnose()
            if notes:
                text += ". Observed: " + "; ".join(notes)
        return text

    async def _diagnose_timeout(
        self, step: str, pc: PeerConnection | None, exc: BaseException
    ) -> Failure:
        """Tell a blocked thread (deadlock) from a reply that never reached asyncio."""
        what = str(exc) or f"step {step} did not finish in time"
        if pc is None:
            return Failure("timeout", step, self._with_notes(what))
        limit = min(1.0, max(0.2, self.step_timeout / 2))
        glib_alive = await self._probe(self._glib_probe(pc), limit)
        if glib_alive is False:
            detail = f"{what}; the GLib thread is blocked: no no-op ran on it within {limit:g} s"
            return Failure("deadlock", step, self._with_notes(detail))
        webrtcbin_alive = await self._probe(self._webrtcbin_probe(pc, limit), 2 * limit)
        if webrtcbin_alive is False:
            detail = (
                f"{what}; webrtcbin's operation thread is blocked: it did not answer get-stats "
                f"within {limit:g} s"
            )
            return Failure("deadlock", step, self._with_notes(detail))
        detail = what
        if glib_alive and webrtcbin_alive:
            detail += "; webrtcbin and the GLib thread still answer: the reply got lost on its way"
        return Failure("timeout", step, self._with_notes(detail))

    @staticmethod
    async def _probe(check: Awaitable[None], limit: float) -> bool | None:
        try:
            await wait_for(check, limit)
        except TimeoutError:
            return False
        except Exception:
            log.debug("probe could not run", exc_info=True)
            return None
        return True

    @staticmethod
    async def _glib_probe(pc: PeerConnection) -> None:
        await pc.run_in_glib(lambda _pipeline, _webrtc: None)

    @staticmethod
    async def _webrtcbin_probe(pc: PeerConnection, limit: float) -> None:
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[bool] = loop.create_future()
        keep: list[Gst.Promise] = []

        def emit(_pipeline: Gst.Pipeline, webrtc: Gst.Element) -> None:
            promise = Gst.Promise.new_with_change_func(lambda *_args: deliver(loop, answered, True))
            keep.append(promise)
            webrtc.emit("get-stats", None, promise)

        await wait_for(pc.run_in_glib(emit), limit)
        await answered

    async def _cleanup(
        self,
        failure: Failure,
        pc: PeerConnection,
        peer: OfferingPeer,
        signals: SignalRecorder | None,
    ) -> None:
        if failure.kind == "deadlock":
            self.poisoned = True  # closing would block on the stuck thread
            return
        try:
            async with asyncio.timeout(2 * self.step_timeout):
                if signals is not None:
                    await signals.detach(pc)
                await asyncio.gather(pc.close(), peer.close(), return_exceptions=True)
        except TimeoutError:
            log.warning("closing after a failure did not finish; leaving the process")
            self.poisoned = True
        except Exception:
            log.debug("error while closing after a failure", exc_info=True)

    # --- events ------------------------------------------------------------------------------

    def _watch(self, pc: PeerConnection, peer: OfferingPeer) -> None:
        def on_signaling() -> None:
            self._signaling.append(pc.signaling_state)

        def on_connection() -> None:
            self._connection.append(pc.connection_state)

        def on_candidate(candidate: IceCandidate | None) -> None:
            if candidate is None or not peer.accepts(candidate):
                return
            if self._held_candidates is not None:  # the peer has no answer yet
                self._held_candidates.append(candidate)
                return
            task = asyncio.ensure_future(self._forward(peer, candidate))
            self._candidate_tasks.add(task)
            task.add_done_callback(self._candidate_tasks.discard)

        pc.on("signalingstatechange", on_signaling)
        pc.on("connectionstatechange", on_connection)
        pc.on("icecandidate", on_candidate)

    async def _forward(self, peer: OfferingPeer, candidate: IceCandidate) -> None:
        try:
            await peer.add_candidate(candidate)
        except Exception as exc:
            self._candidate_errors.append(str(exc))
            log.debug("candidate not accepted by the %s peer: %s", peer.name, exc)

    @staticmethod
    def _echo(channel: DataChannel, message: str | bytes) -> None:
        try:
            channel.send(message)
        except WebRTCError as exc:
            log.warning("echo failed: %s", exc)
