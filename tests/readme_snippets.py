"""The README's code blocks, read by heading, so tests can run them as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def code_block(heading: str, language: str = "python") -> str:
    """The first ```language block under the README heading `heading` (before the next heading of any level)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    section = re.split(r"\n#{1,6} ", text[start + len(heading):], maxsplit=1)[0]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no ```{language} block under {heading!r}"
    return match.group(1)
