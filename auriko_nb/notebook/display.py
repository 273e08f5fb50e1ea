"""Notebook rendering of calls: an answer that grows in place while it streams, then its footer.

Plain functions over IPython's display machinery, usable without the magics.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from ..client.result import Result
from ..client.streaming import ChatStream

FORMATS = ("markdown", "text", "code", "json")
UPDATE_EVERY_S = 0.1
PLACEHOLDER: dict[str, Any] = {"text/plain": "", "text/html": ""}
WAITING_TEXT = "waiting for the first token…"
WAITING: dict[str, Any] = {"text/plain": "", "text/html": (
    f'<div class="auriko-waiting" style="font-size:0.85em;color:#6b7280">{WAITING_TEXT}</div>')}
"""What a streamed cell shows until the first token arrives (in the notebook's HTML; a saved notebook keeps an
empty placeholder, and nbval's sanitizer drops the line a reader that replays no updates would see)."""


def _bundle(text: str, fmt: str) -> dict[str, Any]:
    """A display bundle for the answer in the asked format (text/plain always present)."""
    if fmt == "text":
        return {"text/plain": text}
    if fmt == "code":
        body = text.strip()
        if body.startswith("```"):
            return {"text/markdown": body, "text/plain": text}
        return {"text/markdown": f"```\n{body}\n```", "text/plain": text}
    if fmt == "json":
        try:
            return {"application/json": json.loads(text), "text/plain": text}
        except ValueError:
            return {"text/plain": text}
    return {"text/markdown": text, "text/plain": text}


def footer_bundle(result: Result) -> dict[str, Any]:
    """The one-line footer, with routing warnings visibly marked."""
    line = result.footer()
    warn = " ⚠" in line
    color = "#b45309" if warn else "#6b7280"
    return {"text/plain": line,
            "text/html": f'<div style="font-size:0.85em;color:{color}">{html.escape(line)}</div>'}


def show_stream(stream: ChatStream, fmt: str = "markdown") -> Result:
    """Show a streamed answer growing in place, then the final answer in `fmt` and its footer; return the Result.

    The growing answer is shown in `fmt` too (plain text stays plain, code stays fenced), so it does not change
    rendering when it is complete.

    Until the first token, the placeholder says "waiting for the first token…" quietly; the growing text replaces
    it. The placeholder is emptied again at the end and the answer is shown as a new output, so a saved notebook
    holds the same outputs whether or not its reader replays display updates (nbval does not).
    """
    from IPython.display import display, update_display

    handle = display(WAITING, raw=True, display_id=True)
    display_id = handle.display_id if handle is not None else None
    last = 0.0
    try:
        for _ in stream:
            now = time.monotonic()
            text = stream.text_so_far
            if display_id is not None and text and now - last >= UPDATE_EVERY_S:
                update_display(_bundle(text, fmt), raw=True, display_id=display_id)  # as asked, even while growing
                last = now
    finally:
        if display_id is not None:
            update_display(PLACEHOLDER, raw=True, display_id=display_id)
            if stream.text_so_far and not stream.finished:
                display(_bundle(stream.text_so_far, "text"), raw=True)  # what arrived before the failure
    result = stream.result
    display(_bundle(result.text, fmt), raw=True)
    display(footer_bundle(result), raw=True)
    return result


def show_result(result: Result, fmt: str = "markdown") -> Result:
    """Show a finished (non-streamed) answer and its footer."""
    from IPython.display import display

    display(_bundle(result.text, fmt), raw=True)
    display(footer_bundle(result), raw=True)
    return result
