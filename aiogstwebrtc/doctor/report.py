"""The doctor's report: its JSON schema, the verdict and the text rendering.

``aiogstwebrtc doctor --json`` prints one object; its ``schema`` is ``aiogstwebrtc-doctor/1``
and these keys are stable within that version (new keys may be added, none removed or
changed in meaning)::

    {
      "schema": "aiogstwebrtc-doctor/1",
      "options":     {"approaches": [key...], "scenarios": ["webrtcbin/datachannel", ...],
                      "timeout_s": float, "step_timeout_s": float, "jobs": int},
      "environment": {"python", "platform", "gstreamer", "pygobject", "glib", "libnice",
                      "aiortc": str|null,
                      "elements": [{"feature", "element", "alternatives", "present",
                                    "required", "package"}],
                      "missing": [{"element", "feature", "package"}],
                      "required_missing": bool,
                      "gi_events": {"available": bool, "detail": str},
                      "network": {"mode": "inherited"|"new"|"loopback", "detail",
                                  "aiortc": bool, "aiortc_reason": str|null},
                      "workarounds": [{"name", "applied": bool, "detail"}],
                      "error": str|null},
      "approaches": [approach...],
      "verdict":     {"working": [key...], "failing": [key...], "skipped": [key...],
                      "broken_confirmed": [key...], "broken_unexpectedly_working": [key...],
                      "recommended": key|null, "recommended_works": bool, "advice": str},
      "exit_status": int
    }

    approach = {
      "key": "sync"|"init-data-channel"|"callback"|"asyncio"|"gi-events"|"naive-set-result"|
             "wait-in-handler"|"idle-without-loop"|"before-playing",
      "number": 1-4|null, "title", "kind": "solution"|"extra"|"broken", "summary",
      "strategy", "init_data_channel": bool, "loop": "asyncio"|"gi-events",
      "expected_failure": null|"lost-wakeup"|"deadlock"|"timeout"|"error",
      "worked": bool,            # every scenario that ran worked (and at least one ran)
      "as_expected": bool,       # solutions worked, broken ones failed
      "reason": str|null,        # e.g. "deadlock detected in step create-answer: ..."
      "failure": null|{"kind": "deadlock"|"timeout"|"lost-wakeup"|"error"|"crash"|"skipped",
                       "step": str|null, "detail": str},
      "duration_ms": float,
      "watchdog": {"timeout_s", "fired": bool, "pid", "exit_status",
                   "namespace": "new"|"inherited"|"none"},   # where the child ran
      "scenarios": [scenario...],
      "notes": [str],            # what a broken strategy observed, with threads
      "workarounds": [str],      # workaround messages the child logged
      "stderr_tail": str         # the child's last stderr lines, when something went wrong
    }

    scenario = {
      "peer": "webrtcbin"|"aiortc", "offer": "datachannel"|"media",
      "status": "worked"|"failed"|"skipped"|"not-run", "worked": bool,
      "reason": str|null, "failure": null|{...as above...},
      "duration_ms": float|null,
      "steps": [{"name", "ok": bool, "ms": float|null, "detail": str|null}],
      "signaling_states": ["stable", "have-remote-offer", "stable"],
      "connection_states": ["new", "connecting", "connected"],
      "operations": [{"operation", "emitted_on", "reply_read_on", "result_seen_on",
                      # each null or {"thread": name, "kind": "asyncio"|"glib"|
                      #                                       "gstreamer"|"python"}
                      "reply": str|null, "verified": bool, "outcome": str|null,
                      "emitted_ms", "reply_ms", "seen_ms", "wakeup_delay_ms"}],
      "callbacks": [{"callback": signal, "thread", "kind", "count"}],
      "replies_verified": bool,
      "round_trip_ms": float|null
    }

Step names are listed in :data:`aiogstwebrtc.doctor.scenario.STEPS`. Exit status: 0 when the
recommended approach works (or, when only broken approaches were asked for, when each of
them failed as expected); 1 otherwise.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from .approaches import PREFERENCE, Approach

__all__ = ["SCHEMA", "build_report", "render_approach", "render_environment", "render_verdict"]

SCHEMA = "aiogstwebrtc-doctor/1"
WIDTH = 100

_ADVICE = {
    "asyncio": 'use the default: PeerConnection(Configuration()) (strategy "asyncio", Solution 4)',
    "sync": 'use Configuration(strategy="sync") (Solution 1)',
    "callback": 'use Configuration(strategy="callback") (Solution 3)',
    "gi-events": "run asyncio on GLib with aiogstwebrtc.run(main(), gi_events=True) and "
    'Configuration(strategy="gi-events")',
    "init-data-channel": "use Configuration(init_data_channel=True) (Solution 2)",
}
_OFFERS = {"datachannel": "a data-channel-only offer", "media": "an audio+video+data offer"}


def verdict(approaches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Which approaches work here, which to use, and the exit status."""
    good = [a for a in approaches if a["kind"] != "broken"]
    broken = [a for a in approaches if a["kind"] == "broken"]

    def skipped(approach: dict[str, Any]) -> bool:
        failure = approach["failure"]
        return bool(failure) and failure["kind"] == "skipped"

    working = [a["key"] for a in good if a["worked"]]
    failing = [a["key"] for a in good if not a["worked"] and not skipped(a)]
    recommended = next((key for key in PREFERENCE if key in working), None)
    if recommended is not None:
        advice = _ADVICE[recommended]
        status = 0
    elif good:
        advice = "no approach works here: see the failures and the environment section above"
        status = 1
    else:
        advice = "no solution was run; choose 1-4 or all to get a recommendation"
        status = 0 if broken and all(not a["worked"] for a in broken) else 1
    return {
        "working": working,
        "failing": failing,
        "skipped": [a["key"] for a in approaches if skipped(a)],
        "broken_confirmed": [a["key"] for a in broken if not a["worked"]],
        "broken_unexpectedly_working": [a["key"] for a in broken if a["worked"]],
        "recommended": recommended,
        "recommended_works": recommended is not None,
        "advice": advice,
        "exit_status": status,
    }


def build_report(
    environment: dict[str, Any],
    approaches: Sequence[dict[str, Any]],
    chosen: Sequence[Approach],
    options: dict[str, Any],
) -> dict[str, Any]:
    """The whole report (see the module docstring for the schema)."""
    result = verdict(approaches)
    status = result.pop("exit_status")
    if environment.get("required_missing"):
        status = 1
    return {
        "schema": SCHEMA,
        "options": {"approaches": [a.key for a in chosen], **options},
        "environment": environment,
        "approaches": list(approaches),
        "verdict": result,
        "exit_status": status,
    }


# --- text ------------------------------------------------------------------------------------


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    ) or [indent]


def render_environment(environment: dict[str, Any]) -> str:
    """The environment section as text."""
    lines = ["Environment"]
    versions = [f"Python {environment['python']}"]
    for key, label in (
        ("gstreamer", "GStreamer"),
        ("pygobject", "PyGObject"),
        ("glib", "GLib"),
        ("libnice", "libnice"),
        ("aiortc", "aiortc"),
    ):
        value = environment.get(key)
        versions.append(f"{label} {value}" if value else f"{label} (not found)")
    lines += _wrap(", ".join(versions), "  ")
    if environment.get("error"):
        lines += _wrap(f"ERROR: {environment['error']}", "  ")
    features: dict[str, bool] = {}
    for entry in environment.get("elements", []):
        features[entry["feature"]] = features.get(entry["feature"], True) and entry["present"]
    if features:
        text = ", ".join(f"{name} {'ok' if ok else 'MISSING'}" for name, ok in features.items())
        lines += _wrap(f"elements: {text}", "  ")
    missing = environment.get("missing", [])
    if missing:
        for entry in missing:
            lines += _wrap(
                f"missing: {entry['element']} ({entry['feature']}) - install {entry['package']}",
                "  ",
            )
    elif features:
        lines.append("  missing: nothing")
    gi_events = environment.get("gi_events", {})
    lines += _wrap(
        f"gi.events: {'available' if gi_events.get('available') else 'not available'}"
        + ("" if gi_events.get("available") else f" ({gi_events.get('detail')})"),
        "  ",
    )
    network = environment.get("network", {})
    text = f"network: {network.get('detail')}; webrtcbin peers use 127.0.0.1 only; no STUN server"
    if not network.get("aiortc", True):
        text += f"; aiortc skipped: {network.get('aiortc_reason')}"
    lines += _wrap(text, "  ")
    applied = [w for w in environment.get("workarounds", []) if w["applied"]]
    if applied:
        lines.append("  workarounds applied:")
        for workaround in applied:
            lines += _wrap(f"{workaround['name']}: {workaround['detail']}", "    ")
    return "\n".join(lines)


def _label(approach: dict[str, Any]) -> str:
    number = approach.get("number")
    return f"[{number}]" if number else f"[{approach['key']}]"


def _short(approach: dict[str, Any]) -> str:
    failure = approach.get("failure")
    if not failure:
        return "worked" if approach["worked"] else "did not work"
    if failure["kind"] == "skipped":
        return f"skipped ({failure['detail']})"
    from .scenario import FAILURE_KINDS

    where = f" in step {failure['step']}" if failure["step"] else ""
    return f"{FAILURE_KINDS.get(failure['kind'], failure['kind'])}{where}"


def _threads(place: dict[str, str] | None) -> str:
    return "-" if place is None else f"{place['thread']} ({place['kind']})"


def _scenario_line(scenario: dict[str, Any]) -> str:
    who = f"{scenario['peer']} sends {_OFFERS.get(scenario['offer'], scenario['offer'])}"
    status = scenario["status"]
    if status == "worked":
        steps = {step["name"]: step["ms"] for step in scenario["steps"]}
        answer = sum(
            steps.get(name) or 0
            for name in ("set-remote-description", "create-answer", "set-local-description")
        )
        return (
            f"{who}: worked in {scenario['duration_ms']:.0f} ms (answer {answer:.1f} ms, "
            f"connected {steps.get('connected') or 0:.0f} ms, round trip "
            f"{scenario['round_trip_ms'] or 0:.1f} ms)"
        )
    if status == "not-run":
        return f"{who}: not run"
    if status == "skipped":
        return f"{who}: skipped ({(scenario['failure'] or {}).get('detail')})"
    return f"{who}: {status.upper()}: {scenario['reason']}"


def _scenario_details(scenario: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    steps = ", ".join(
        f"{step['name']} {step['ms']:.1f} ms" + ("" if step["ok"] else " (FAILED)")
        for step in scenario["steps"]
        if step["ms"] is not None
    )
    if steps:
        lines += _wrap(f"steps: {steps}", "      ")
    if scenario["signaling_states"]:
        lines += _wrap(
            "signaling: "
            + " -> ".join(scenario["signaling_states"])
            + "; connection: "
            + " -> ".join(scenario["connection_states"]),
            "      ",
        )
    for op in scenario["operations"]:
        delay = op["wakeup_delay_ms"]
        text = (
            f"{op['operation']}: emitted on {_threads(op['emitted_on'])}, reply read on "
            f"{_threads(op['reply_read_on'])}, result seen on {_threads(op['result_seen_on'])}"
            f"; reply {op['reply'] or 'never read'}"
            + (f", seen {delay:.2f} ms after it was read" if delay is not None else "")
            + ("; verified" if op["verified"] else "; NOT verified")
        )
        lines += _wrap(text, "      ")
    callbacks = ", ".join(
        f"{item['callback']} on {item['thread']} x{item['count']}" for item in scenario["callbacks"]
    )
    if callbacks:
        lines += _wrap(f"callbacks: {callbacks}", "      ")
    if scenario["status"] in ("worked", "failed"):
        lines.append(f"      replies verified: {'yes' if scenario['replies_verified'] else 'no'}")
    return lines


def render_approach(approach: dict[str, Any], details: bool = False) -> str:
    """One approach's section as text; ``details`` shows every scenario in full."""
    head = f"{_label(approach)} {approach['title']} - strategy {approach['strategy']!r}"
    head += ", init_data_channel=True" if approach["init_data_channel"] else ""
    lines = _wrap(head, "")
    ran = [s for s in approach["scenarios"] if s["status"] in ("worked", "failed")]
    good = [s for s in ran if s["status"] == "worked"]
    seconds = approach["duration_ms"] / 1000
    if approach["worked"]:
        verdict_text = f"WORKS: {len(good)} of {len(ran)} runs, {seconds:.1f} s"
    else:
        verdict_text = f"FAILS: {_short(approach)}, {seconds:.1f} s"
        if approach["kind"] == "broken":
            verdict_text = verdict_text.replace("FAILS", "FAILS, as expected", 1)
    lines += _wrap(verdict_text, "    ")
    shown = False
    for scenario in approach["scenarios"]:
        lines += _wrap(_scenario_line(scenario), "    ")
        first_good = scenario["status"] == "worked" and not shown
        if details or first_good or scenario["status"] == "failed":
            lines += _scenario_details(scenario)
            shown = shown or scenario["status"] == "worked"
    for note in approach["notes"]:
        lines += _wrap(f"observed: {note}", "    ")
    if approach["watchdog"]["fired"]:
        lines += _wrap(
            f"watchdog: no progress for {approach['watchdog']['timeout_s']:g} s, child "
            f"{approach['watchdog']['pid']} killed",
            "    ",
        )
    return "\n".join(lines)


def render_verdict(report: dict[str, Any]) -> str:
    """The verdict section as text."""
    result = report["verdict"]
    by_key = {approach["key"]: approach for approach in report["approaches"]}
    lines = ["Verdict"]

    def names(keys: list[str]) -> str:
        return ", ".join(
            f"{key} ({by_key[key]['number']})" if by_key[key].get("number") else key for key in keys
        )

    if result["working"]:
        lines += _wrap(f"works here: {names(result['working'])}", "  ")
    for key in result["failing"]:
        lines += _wrap(f"FAILS here: {key}: {by_key[key]['reason']}", "  ")
    for key in result["skipped"]:
        lines += _wrap(f"skipped: {key}: {by_key[key]['reason']}", "  ")
    for key in result["broken_confirmed"]:
        lines += _wrap(f"fails, as expected: {key} ({_short(by_key[key])})", "  ")
    for key in result["broken_unexpectedly_working"]:
        lines += _wrap(
            f"broken approach {key} happened to work here; it is still unsafe: do not use it",
            "  ",
        )
    lines += _wrap(f"recommendation: {result['advice']}", "  ")
    return "\n".join(lines)
