"""A/B experiments for changes that belong in the core, applied here by patching at run time.

``python -m bench.experiments MEASURE --variants none pacing5 ... [--repeats N] [--n N]``
runs MEASURE (ours only) in fresh child processes, one per variant and repeat, alternating
the variants, and prints the median per variant; ``--save`` merges the result into
``bench/results/experiments.json``. Nothing in ``aiogstwebrtc/`` is edited: each patch below
imitates a change proposed in docs/performance.md so that its effect can be measured first.

Patches (combine with commas, e.g. ``busfilter,latency``):

- ``pacing5``, ``pacing10``: libnice's Ta (``stun-pacing-timer``) at 5 or 10 ms, not 20;
  ``pacingauto``: 5 ms while at most 16 peer connections live in the process, else 20 ms.
- ``vp8threads1``: ``vp8enc threads=1`` instead of ``threads=2``.
- ``busfilter``: connect ``sync-message::error|warning|latency`` instead of every message.
- ``latency``: at most one pending ``recalculate_latency`` per pipeline.
- ``rxcoalesce``: data channel messages cross to asyncio in batches (one wake-up per batch).
- ``dtlsprime``: make webrtcbin's unused default RSA certificate on a background thread as
  soon as GStreamer is initialised, off the first negotiation's path.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .common import ROOT, cpu_seconds, ensure_namespace, median, run_child

__all__ = ["MEASURES", "PATCHES", "apply_patches", "main"]


# --- the patches ---------------------------------------------------------------------------------


AUTO_PACING_LIMIT = 16  # live peer connections in the process up to which Ta is 5 ms


def _patch_pacing(milliseconds: int | None) -> Callable[[], None]:
    """Ta at ``milliseconds``; None: 5 ms while at most AUTO_PACING_LIMIT peers live, else 20."""

    def patch() -> None:
        from aiogstwebrtc import pipeline
        from aiogstwebrtc.gst import SctpAssociationIds, read_ice_agent

        module: Any = pipeline
        original = module.configure_ice_agent

        def configure(webrtcbin: Any, *args: Any, **kwargs: Any) -> None:
            original(webrtcbin, *args, **kwargs)
            value = milliseconds
            if value is None:  # one association id per live peer connection
                value = 5 if len(SctpAssociationIds._in_use) <= AUTO_PACING_LIMIT else 20
            agent = read_ice_agent(webrtcbin).get_property("agent")
            agent.set_property("stun-pacing-timer", value)

        module.configure_ice_agent = configure

    return patch


def _patch_vp8threads1() -> None:
    import dataclasses

    from aiogstwebrtc.media.codecs import CODECS

    vp8 = CODECS["vp8"]
    CODECS["vp8"] = dataclasses.replace(vp8, encoder=vp8.encoder.replace("threads=2", "threads=1"))


def _patch_busfilter() -> None:
    from aiogstwebrtc.pipeline import PeerPipeline

    cls: Any = PeerPipeline
    original = cls.connect

    def connect(self: Any, gst_object: Any, signal: str, handler: Callable[..., Any]) -> None:
        if signal != "sync-message":
            original(self, gst_object, signal, handler)
            return
        for detail in ("error", "warning", "latency"):
            original(self, gst_object, f"sync-message::{detail}", handler)

    cls.connect = connect


def _patch_latency() -> None:
    from aiogstwebrtc.bridge import EventBridge
    from aiogstwebrtc.gst import Gst

    cls: Any = EventBridge
    original = cls._gst_on_bus_message

    def on_message(self: Any, bus: Any, message: Any) -> None:
        if message.type != Gst.MessageType.LATENCY:
            original(self, bus, message)
            return
        glib, pipeline = self._pipeline.glib, self._pipeline.pipeline
        if glib is None or pipeline is None or getattr(self, "_latency_pending", False):
            return
        self._latency_pending = True

        def recalculate() -> None:
            self._latency_pending = False
            pipeline.recalculate_latency()

        glib.call_soon(recalculate)

    cls._gst_on_bus_message = on_message


def _patch_rxcoalesce() -> None:
    from aiogstwebrtc.datachannel import DataChannel

    cls: Any = DataChannel
    original_init = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        self._incoming = collections.deque()
        self._incoming_scheduled = False
        original_init(self, *args, **kwargs)

    def push(self: Any, message: str | bytes) -> None:  # GStreamer thread
        self._incoming.append(message)
        if not self._incoming_scheduled:
            self._incoming_scheduled = True
            self._post(flush, self)

    def flush(self: Any) -> None:  # asyncio thread
        self._incoming_scheduled = False
        incoming = self._incoming
        while incoming:
            self._on_message(incoming.popleft())

    cls.__init__ = init
    cls._gst_on_string = lambda self, _c, text: push(self, text or "")
    cls._gst_on_data = lambda self, _c, data: push(self, b"" if data is None else data.get_data())


def _patch_dtlsprime() -> None:
    from aiogstwebrtc import gst, pipeline
    from aiogstwebrtc.gst import Gst

    modules: list[Any] = [gst, pipeline]
    original = gst.ensure_init
    started = threading.Event()

    def ensure_init() -> None:
        original()
        if not started.is_set():
            started.set()
            threading.Thread(
                target=lambda: Gst.ElementFactory.make("dtlsdec"), name="dtls-prime", daemon=True
            ).start()

    for module in modules:
        module.ensure_init = ensure_init


PATCHES: dict[str, Callable[[], None]] = {
    "pacing5": _patch_pacing(5),
    "pacing10": _patch_pacing(10),
    "pacingauto": _patch_pacing(None),
    "vp8threads1": _patch_vp8threads1,
    "busfilter": _patch_busfilter,
    "latency": _patch_latency,
    "rxcoalesce": _patch_rxcoalesce,
    "dtlsprime": _patch_dtlsprime,
}


def apply_patches(variant: str) -> None:
    """Apply the comma-separated patches of ``variant`` (``none`` applies nothing)."""
    for name in variant.split(","):
        if name and name != "none":
            PATCHES[name]()


# --- what to measure (ours only, in the child) ---------------------------------------------------


async def _open_warm(options: dict[str, Any]) -> dict[str, Any]:
    from .pairs import open_ours

    samples = []
    for index in range(int(options.get("rounds", 8)) + 1):
        pair = await open_ours()
        if index:  # the first is the warm-up
            samples.append(pair.open_s * 1000)
        await pair.close()
    return {"value": median(samples), "unit": "ms", "samples": samples}


async def _open_cold(options: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from aiogstwebrtc.gst import ensure_init

    from .pairs import open_ours

    if float(options.get("gap", 0)):  # an application that initialises early, then waits
        ensure_init()
        await asyncio.sleep(float(options["gap"]))
    start = time.perf_counter()
    pair = await open_ours()
    total = time.perf_counter() - start
    await pair.close()
    return {"value": pair.open_s * 1000, "unit": "ms", "start_to_open_ms": total * 1000}


async def _transfer(options: dict[str, Any]) -> dict[str, Any]:
    from .datachannels import ours_transfer
    from .pairs import open_ours

    size, count = int(options.get("size", 1024)), int(options.get("count", 8000))
    pair = await open_ours()
    try:
        await ours_transfer(pair, size, 500)
        samples = [size * count / 1e6 / await ours_transfer(pair, size, count) for _ in range(3)]
    finally:
        await pair.close()
    return {"value": median(samples), "unit": "MB/s", "samples": samples}


async def _rtt(options: dict[str, Any]) -> dict[str, Any]:
    from .datachannels import ours_rtt
    from .pairs import open_ours

    pair = await open_ours()
    try:
        await ours_rtt(pair, 50)
        samples = await ours_rtt(pair, int(options.get("count", 500)))
    finally:
        await pair.close()
    return {"value": median(samples), "unit": "ms"}


async def _scale(options: dict[str, Any]) -> dict[str, Any]:
    from .scale import child_scale

    cpu = cpu_seconds()
    result = await child_scale("ours", {"n": int(options.get("n", 100))})
    result["cpu_s"] = cpu_seconds() - cpu
    return {"value": result["connect_s"], "unit": "s", **result}


async def _media(options: dict[str, Any]) -> dict[str, Any]:
    from .media import child_media

    result = await child_media("ours", {"warmup": 3.0, "window": float(options.get("window", 6))})
    return {"value": result["cpu_per_s"], "unit": "CPU s/s", **result}


MEASURES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "open_warm": _open_warm,
    "open_cold": _open_cold,
    "transfer": _transfer,
    "rtt": _rtt,
    "scale": _scale,
    "media": _media,
}


async def child_experiment(measure: str, options: dict[str, Any]) -> dict[str, Any]:
    """In the child: apply the variant's patches, then measure (called by ``bench.child``)."""
    apply_patches(options.get("variant", "none"))
    result: dict[str, Any] = await MEASURES[measure](options)
    return result


# --- the parent ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.experiments``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.experiments")
    parser.add_argument("measure", choices=sorted(MEASURES))
    parser.add_argument("--variants", nargs="+", default=["none"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--option", action="append", default=[], help="key=value for MEASURE")
    parser.add_argument("--save", action="store_true", help="merge into experiments.json")
    args = parser.parse_args(args_list)
    for variant in args.variants:
        unknown = [p for p in variant.split(",") if p not in PATCHES and p != "none"]
        if unknown:
            parser.error(f"unknown patch(es) {unknown}; known: {', '.join(PATCHES)}")
    ensure_namespace(args_list, module="bench.experiments")
    options: dict[str, Any] = {}
    for item in args.option:
        key, _, value = item.partition("=")
        if value.isdigit():
            options[key] = int(value)
        elif value.replace(".", "", 1).isdigit():
            options[key] = float(value)
        else:
            options[key] = value
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in args.variants}
    for repeat in range(args.repeats):
        order = args.variants if repeat % 2 == 0 else list(reversed(args.variants))
        for variant in order:
            result = run_child(
                "experiment", args.measure, {**options, "variant": variant}, timeout=600
            )
            runs[variant].append(result)
            shown = result.get("error") or f"{result.get('value', float('nan')):.4g}"
            print(f"{args.measure} [{variant}] run {repeat + 1}: {shown}", flush=True)
    summary = {}
    for variant, results in runs.items():
        values = [r["value"] for r in results if "value" in r]
        unit = next((r.get("unit") for r in results if "unit" in r), "")
        summary[variant] = {"median": median(values), "unit": unit, "values": values}
        extra = {
            key: median([r[key] for r in results if isinstance(r.get(key), int | float)])
            for key in ("cpu_s", "fps", "threads_per_pair", "rss_mb_per_pair")
            if any(key in r for r in results)
        }
        summary[variant].update(extra)
        print(f"{args.measure} [{variant}]: median {median(values):.4g} {unit} {extra or ''}")
    if args.save:
        path = ROOT / "bench" / "results" / "experiments.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = json.loads(path.read_text()) if path.exists() else {}
        key = args.measure + "".join(f" {k}={v}" for k, v in sorted(options.items()))
        saved[key] = {"repeats": args.repeats, "variants": summary}
        saved = dict(sorted(saved.items()))
        path.write_text(json.dumps(saved, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
