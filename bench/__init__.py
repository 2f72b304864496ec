"""Benchmarks: aiogstwebrtc side by side with aiortc (or a raw baseline), in one run.

Run ``make bench`` (full set) or ``make bench-quick`` (reduced set); both run inside a
network namespace (``scripts/in-netns.sh``). ``python -m bench --help`` lists the options.
Each benchmark alternates our rounds with the other side's rounds in the same process run and
reports medians and the ratio ours/other; see ``docs/performance.md``.
"""
