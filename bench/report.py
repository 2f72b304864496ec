"""Writing results: ``<stem>.json`` (the fixed schema), ``<stem>-details.json``, a Markdown table
and PNG charts."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import Result

__all__ = ["environment", "markdown", "write_all", "write_charts"]


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every run."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        from aiogstwebrtc.gst import versions

        info.update(versions())
    except Exception as exc:  # pragma: no cover - depends on the machine
        info["gstreamer"] = f"unavailable ({exc})"
    try:
        import aiortc

        info["aiortc"] = aiortc.__version__
    except Exception:  # pragma: no cover
        info["aiortc"] = "unavailable"
    return info


PEER_NAMES = ("aiolibdatachannel", "wrtc")


def _advantage(result: Result, value: float) -> float:
    """How many times better ours is than ``value`` (>1: ours wins)."""
    if not value or math.isnan(value) or math.isnan(result.ours) or result.ours == 0:
        return math.nan
    ratio = result.ours / value
    return 1 / ratio if result.better == "lower" else ratio


def _peer_cell(result: Result, peer: str) -> str:
    status = result.peer_status.get(peer)
    if status is None:
        return "—"
    if status == "ok":
        return _fmt(result.peers.get(peer, math.nan))
    return "not run" if status.startswith("not run") else "failed"


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _verdict(result: Result) -> str:
    advantage = result.advantage
    if math.isnan(advantage):
        return "failed" if result.details.get("error") else "n/a"
    if 0.95 <= advantage <= 1.05:
        return "on par"
    if advantage > 1:
        return f"ours {advantage:.2f}x better"
    return f"ours {1 / advantage:.2f}x worse"


def experiments_markdown(path: Path) -> list[str]:
    """The A/B table of ``python -m bench.experiments --save`` runs, if any were saved."""
    if not path.exists():
        return []
    saved: dict[str, Any] = json.loads(path.read_text())
    lines = [
        "",
        "## Proposed core changes, measured (`python -m bench.experiments`)",
        "",
        "Ours only, each variant in fresh processes, alternating; medians. Patches are applied",
        "at run time by `bench/experiments.py`; see docs/performance.md. Saved runs, measured",
        "against the core of their day (before the changes they led to), not re-measured here.",
        "",
        "| measure | variant | median | unit | repeats |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for measure, entry in sorted(saved.items()):
        variants = sorted(entry["variants"].items(), key=lambda kv: kv[0] != "none")
        for variant, summary in variants:
            lines.append(
                f"| {measure} | `{variant}` | {_fmt(summary.get('median', math.nan))} | "
                f"{summary.get('unit', '')} | {entry.get('repeats', '?')} |"
            )
    return lines


def markdown(
    results: Sequence[Result], meta: dict[str, Any], experiments: Path | None = None
) -> str:
    """The results table and the most useful details, as Markdown."""
    env = meta.get("environment", {})
    lines = [
        "# aiogstwebrtc benchmarks",
        "",
        f"{meta.get('mode', 'full')} set, {env.get('date', '')}, {meta.get('seconds', '?')} s; "
        f"GStreamer {env.get('gstreamer', '?')}, libnice plugin "
        f"{env.get('libnice-plugin', '?')}, aiortc {env.get('aiortc', '?')}, "
        f"Python {env.get('python', '?')}, {env.get('cpus', '?')} CPUs, load average "
        f"{meta.get('loadavg_before', ['?'])[0]} → {meta.get('loadavg_after', ['?'])[0]}.",
        "Medians of rounds in rotation in one run; ratio = ours / other; best peer = the best "
        "of aiortc, aiolibdatachannel (libdatachannel) and wrtc (libwebrtc) on that row.",
        "",
        "| benchmark | unit | ours | aiortc or baseline | aiolibdatachannel | wrtc "
        "| ours / aiortc | ours / best peer (best) | better | verdict vs aiortc |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        other = _fmt(r.other) + ("" if r.other_label == "aiortc" else f" ({r.other_label})")
        best = f"{_fmt(r.ratio_best)} ({r.best_peer})" if r.best_peer else "—"
        lines.append(
            f"| `{r.name}` | {r.unit} | {_fmt(r.ours)} | {other} | "
            f"{_peer_cell(r, 'aiolibdatachannel')} | {_peer_cell(r, 'wrtc')} | {_fmt(r.ratio)} "
            f"| {best} | {r.better} | {_verdict(r)} |"
        )
    peers_meta = meta.get("peers", {})
    if peers_meta:
        lines += ["", "Native peers in this run:"]
        for peer, info in peers_meta.items():
            lines.append(f"- {peer}: {info.get('state')} ({info.get('detail')})")
    failed = [
        f"- `{r.name}` {peer}: {status}"
        for r in results
        for peer, status in r.peer_status.items()
        if status.startswith("failed")
    ]
    if failed:
        lines += ["", "Peers that failed a row:", *failed]
    notes = [line for r in results for line in _detail_lines(r)]
    if notes:
        lines += ["", "## Details", "", *notes]
    if experiments is not None:
        lines += experiments_markdown(experiments)
    return "\n".join(lines) + "\n"


def _detail_lines(result: Result) -> list[str]:
    d = result.details
    lines: list[str] = []
    if d.get("error"):
        lines.append(f"- `{result.name}` failed: {d['error']}")
    if result.name == "open_warm" and "ours_marks_ms" in d:
        marks = ", ".join(f"{k} {v:g}" for k, v in d["ours_marks_ms"].items())
        lines.append(f"- `open_warm` ours, ms after create_offer (medians): {marks}.")
    for key, value in d.items():
        if key.startswith("ours_pacing_") and key.endswith("ms_ms"):
            ms = key.removeprefix("ours_pacing_").removesuffix("_ms")
            lines.append(
                f"- `{result.name}` ours with libnice Ta (stun-pacing-timer) = {ms}: "
                f"{_fmt(value)} ms (aiortc {_fmt(result.other)} ms)."
            )
    if result.name == "open_cold" and "ours_total_ms" in d:
        lines.append(
            f"- `open_cold` process start to open (imports included): ours "
            f"{_fmt(d['ours_total_ms'])} ms (import {_fmt(d['ours_import_ms'])}), aiortc "
            f"{_fmt(d['aiortc_total_ms'])} ms (import {_fmt(d['aiortc_import_ms'])})."
        )
    if result.name == "scale_250" and "per_n" in d:
        lines.append(
            "- `scale_250` per N (concurrent pairs; per-pair figures are growth over the "
            "idle process divided by N):"
        )
        lines.append("")
        lines.append(
            "  | side | N | connect all (s) | failures | RSS/pair (MB) | threads/pair | fds/pair |"
        )
        lines.append("  | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in d["per_n"]:
            lines.append(
                f"  | {row['side']} | {row['n']} | {_fmt(row.get('connect_s', math.nan))} | "
                f"{row.get('failures', 'n/a')} | {_fmt(row.get('rss_mb_per_pair', math.nan))} | "
                f"{_fmt(row.get('threads_per_pair', math.nan))} | "
                f"{_fmt(row.get('fds_per_pair', math.nan))} |"
            )
        lines.append("")
    if result.name == "media_cpu_720p" and "ours_fps" in d:
        lines.append(
            f"- `media_cpu_720p` frames received per second: ours {_fmt(d['ours_fps'])}, "
            f"aiortc {_fmt(d['aiortc_fps'])}; CPU per received frame: ours "
            f"{_fmt(d.get('ours_cpu_ms_per_frame', math.nan))} ms, aiortc "
            f"{_fmt(d.get('aiortc_cpu_ms_per_frame', math.nan))} ms; bitrate actually sent "
            f"(RTP payload): ours {_fmt(d.get('ours_sent_kbps', math.nan))} kbit/s, aiortc "
            f"{_fmt(d.get('aiortc_sent_kbps', math.nan))} kbit/s; both encoders: "
            f"`{d.get('ours_encoder', '?')}` (aiortc: the same through FFmpeg's libvpx options)."
        )
    if result.name == "hop" and "run_in_glib_us" in d:
        lines.append(
            f"- `hop` through the public `PeerConnection.run_in_glib`: "
            f"{_fmt(d['run_in_glib_us'])} µs."
        )
    if result.name == "wrapper_overhead" and "message_size" in d:
        lines.append(
            f"- `wrapper_overhead`: {d['message_size']}-byte messages over one connected pair, "
            "our DataChannel against a negotiated channel driven with bare PyGObject calls."
        )
    return lines


def write_charts(results: Sequence[Result], path: Path) -> Path | None:
    """A bar chart of how many times better (or worse) ours is, per benchmark."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is missing (pip install 'aiogstwebrtc[bench]'): no chart")
        return None
    shown = [r for r in results if not math.isnan(r.advantage)]
    if not shown:
        return None
    # one bar per other stack and row: how many times better ours is than it
    colours = {
        "aiortc": "#4c72b0",
        "baseline": "#8c8c8c",
        "aiolibdatachannel": "#dd8452",
        "wrtc": "#55a868",
    }
    bars: list[tuple[str, str, float, str]] = []  # (row label, stack, advantage, text)
    for r in shown:
        row = f"{r.name} ({r.unit})"
        bars.append((row, r.other_label, r.advantage, f"{_fmt(r.ours)} vs {_fmt(r.other)}"))
        for peer in PEER_NAMES:
            if r.peer_status.get(peer) == "ok":
                value = r.peers[peer]
                bars.append((row, peer, _advantage(r, value), f"{_fmt(r.ours)} vs {_fmt(value)}"))
    figure, axes = plt.subplots(figsize=(10, 0.32 * len(bars) + 0.3 * len(shown) + 1.8))
    position = 0.0
    ticks: list[tuple[float, str]] = []
    seen: set[str] = set()
    for row in dict.fromkeys(b[0] for b in bars):
        group = [b for b in bars if b[0] == row]
        start = position
        for _row, stack, value, text in group:
            if math.isnan(value):
                continue
            label = stack if stack not in seen else None
            seen.add(stack)
            axes.barh(-position, value, color=colours.get(stack, "#999999"), label=label)
            axes.text(value, -position, f"  {text}", va="center", fontsize=6)
            position += 1
        ticks.append((-(start + position - 1) / 2, row))
        position += 0.6
    values = [b[2] for b in bars if not math.isnan(b[2])]
    axes.set_xscale("log", base=2)
    axes.axvline(1, color="black", linewidth=1)
    axes.set_yticks([t[0] for t in ticks], [t[1] for t in ticks], fontsize=8)
    axes.set_xlabel("times better ours is than that stack (log scale; > 1: ours wins)")
    axes.set_xlim(min([*values, 1.0]) / 1.5, max([*values, 1.0]) * 6)
    axes.legend(fontsize=7, loc="lower right")
    axes.set_title("aiogstwebrtc against aiortc, aiolibdatachannel and wrtc, medians of one run")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_all(
    results: Sequence[Result], out: Path, stem: str, meta: dict[str, Any], *, charts: bool = True
) -> list[Path]:
    """Write every output file; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "environment": environment()}
    written = []
    summary = out / f"{stem}.json"
    summary.write_text(
        json.dumps(_clean({"benchmarks": [r.to_json() for r in results]}), indent=2) + "\n"
    )
    written.append(summary)
    details = out / f"{stem}-details.json"
    details.write_text(
        json.dumps(
            _clean({"meta": meta, "benchmarks": [r.to_details() for r in results]}), indent=2
        )
        + "\n"
    )
    written.append(details)
    table = out / f"{stem}.md"
    table.write_text(markdown(results, meta, out / "experiments.json"))
    written.append(table)
    if charts:
        chart = write_charts(results, out / f"{stem}.png")
        if chart is not None:
            written.append(chart)
    return written
