"""The fenced code blocks of a documentation page, with the test marker in front of each.

A page whose listings are executed marks every fenced block with an HTML comment on the
line before it (invisible in the rendered page)::

    <!-- test: file producer.py -->     the block is a file, written under that name
    <!-- test: run server -->           a command, run in a shell as the process "server"
    <!-- test: output server -->        lines that process prints, in this order
    <!-- test: install -->              install commands, checked without running them
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "UnmarkedBlockError", "read_blocks"]

_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
_MARKER = re.compile(r"^<!--\s*test:\s*(\w+)(?:\s+(\S+))?\s*-->$")


class UnmarkedBlockError(ValueError):
    """A fenced block without a ``<!-- test: ... -->`` marker: nothing would run it."""


@dataclass(frozen=True)
class Block:
    """One marked fenced block."""

    kind: str  # file, run, output, install
    name: str | None  # the file or process name
    language: str
    text: str
    line: int  # 1-based line of the opening fence


def read_blocks(path: Path, *, every_block: bool = True) -> list[Block]:
    """The marked fenced blocks of ``path``; with ``every_block`` an unmarked one raises
    (a page whose listings must all run), else it is left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        opening, language = fence.group(1), fence.group(2)
        end = index + 1
        while end < len(lines) and not lines[end].startswith(opening):
            end += 1
        previous = index - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        marker = _MARKER.match(lines[previous].strip()) if previous >= 0 else None
        if marker is None and not every_block:
            index = end + 1
            continue
        if marker is None:
            raise UnmarkedBlockError(
                f"{path.name}:{index + 1}: a fenced block without a '<!-- test: ... -->' "
                "marker on the line before it"
            )
        blocks.append(
            Block(
                kind=marker.group(1),
                name=marker.group(2),
                language=language,
                text="\n".join(lines[index + 1 : end]) + "\n",
                line=index + 1,
            )
        )
        index = end + 1
    return blocks
