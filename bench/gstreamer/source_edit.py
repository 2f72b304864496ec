"""A checked edit of a copied GStreamer source file, for the variants the build-*.sh here make.

Each script runs its variant's edits as ``python3 -B - SRC VARIANT HERE``, ``HERE`` being this
directory, and takes ``Sources.from_argv()``'s ``edit`` and ``variant``.
"""

from __future__ import annotations

import pathlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Sources:
    """One variant's copy of a plugin's sources."""

    root: pathlib.Path
    variant: str

    @classmethod
    def from_argv(cls) -> Sources:
        """The copy and variant a build script passed (``SRC VARIANT`` first)."""
        return cls(pathlib.Path(sys.argv[1]), sys.argv[2])

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace ``old`` by ``new`` in ``name``; stop the build unless it is there once."""
        path = self.root / name
        text = path.read_text()
        if text.count(old) != 1:
            sys.exit(f"{name}: the text to replace is not there once: {old!r}")
        path.write_text(text.replace(old, new))
