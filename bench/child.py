"""A benchmark side in a fresh process: ``python -m bench.child KIND SIDE OPTIONS_JSON``.

Prints one JSON line with its measurements. Used where a side must not share a process with
the other (first-in-process timings, memory, CPU). The parent checks the namespace; the child
refuses to run outside one as well.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before any library import: open_cold's "total"

import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def main(argv: list[str]) -> int:
    from .common import in_namespace

    if not in_namespace():
        print("bench.child: not inside the benchmark network namespace", file=sys.stderr)
        return 2
    kind, side, options_text = argv
    options: dict[str, Any] = json.loads(options_text)
    if kind == "open_cold":
        from .open import child_open_cold

        result = asyncio.run(child_open_cold(side, options, STARTED))
    elif kind == "scale":
        from .scale import child_scale

        result = asyncio.run(child_scale(side, options))
    elif kind == "media":
        from .media import child_media

        result = asyncio.run(child_media(side, options))
    elif kind == "hold_pairs":
        from .heap_by_library import child_hold_pairs

        result = asyncio.run(child_hold_pairs(options))
    elif kind == "element_costs":
        from .memory import child_element_costs

        result = child_element_costs(options)
    elif kind == "experiment":
        from .experiments import child_experiment

        result = asyncio.run(child_experiment(side, options))
    else:
        print(f"bench.child: unknown kind {kind!r}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
