"""Shared bits of the panels: self-display, inline message labels, the offline label, choices from the API."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

OFFLINE_LABEL = "offline simulation"
ERROR_STYLE = "color:#b00020"
WARNING_STYLE = "color:#a15c00"
NOTE_STYLE = "color:#666"
WIDE = {"description_width": "initial"}  # a description shown in full, never cut off
# One line per routing strategy (the API reference's semantics): base strategies favour their dimension but still
# weigh the others; -focus variants optimise almost only that dimension; balanced weighs all equally.
STRATEGY_HELP = {
    "cost": "favours a low price, still weighs the others",
    "cost-focus": "almost only the price (the gateway's default)",
    "ttft": "favours a fast first token, still weighs the others",
    "ttft-focus": "almost only the time to first token",
    "tps": "favours high throughput (tokens/s), still weighs the others",
    "tps-focus": "almost only throughput",
    "balanced": "weighs price, first token and throughput equally",
}


def message_html(text: str, style: str) -> str:
    """One escaped line in a coloured span, or "" (an empty HTML widget takes no space)."""
    return f'<span style="{style}">{html.escape(text)}</span>' if text else ""


def one_line(err: BaseException) -> str:
    """The first line of an error's message (local errors without their code prefix), or its type name."""
    text = str(err)
    if getattr(err, "message", None) and not getattr(err, "status_code", None):
        text = str(err.message)  # type: ignore[attr-defined]
    text = text.strip()
    return text.splitlines()[0] if text else type(err).__name__


def default_client(client: Any) -> Any:
    """The given client, else `connect()`'s (live with a key, else offline), else None: a panel still opens."""
    if client is not None:
        return client
    from ..connect import connect

    try:
        return connect()
    except Exception:  # noqa: BLE001 - the panel shows what it cannot list; a run reports the problem
        return None


def choices_from(client: Any, fetch: Callable[[Any], Iterable[str]], no_client: str,
                 failed: str) -> tuple[list[str], str]:
    """Ids from `fetch(client)` and a note ("" when it worked; `failed` with `{error}` filled in), never raising."""
    if client is None:
        return [], no_client
    try:
        return list(fetch(client)), ""
    except Exception as e:  # noqa: BLE001 - any failure only means no choices: the panel still opens
        return [], failed.format(error=one_line(e))


def is_offline(client: Any) -> bool:
    """Whether the client talks to the offline gateway: `source` says so, or its last response did."""
    if getattr(client, "source", None) == "offline":
        return True
    headers = getattr(client, "last_headers", None)
    return bool(getattr(headers, "offline", False))


class DisplayMixin:
    """Lets a panel object display itself in a notebook by delegating to its root widget."""

    widget: Any

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def close_tree(widget: Any) -> None:
    """Close a widget and every widget below it (not `Widget.close_all`, which closes every widget there is)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()
