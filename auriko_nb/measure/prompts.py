"""Prompts with expectations: what `ak.compare(prompts, checks=...)` and `Sweep` accept, read into `PromptSpec`s.

Prompts come as a string, a list of strings, a list of dicts `{"prompt", "expect", "id", "checks"}` (other keys,
such as a task set's `kind`, are ignored) or a DataFrame with a `prompt` column (optional `expect`, `id`).
A prompt's label is its `id`, else `p1`, `p2`, ... by position. A bad item is one RequestValidationError line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CheckError, RequestValidationError
from .checks import Check, as_checks

__all__ = ["PromptSpec", "last_user_text", "prompt_specs", "sweep_prompts"]

Messages = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class PromptSpec:
    """One prompt: its text, what a correct answer is (`expect`, for checks), its label and its own checks."""

    text: str
    expect: Any = None
    label: str = ""
    checks: tuple[Check, ...] = ()


def prompt_specs(prompts: Any) -> list[PromptSpec]:
    """The prompts (a str, a list of str or dicts, a DataFrame with a `prompt` column) as `PromptSpec`s."""
    return [spec for _, spec in _parse(prompts, messages=False)]


def sweep_prompts(prompts: Any) -> tuple[list[str | Messages], list[PromptSpec]]:
    """(what each prompt sends, its spec): as `prompt_specs`, and a message list (a conversation) is also a
    prompt: it is sent as it is, and its spec's text is its last user message's text."""
    pairs = _parse(prompts, messages=True)
    return [sent for sent, _ in pairs], [spec for _, spec in pairs]


def last_user_text(messages: Messages) -> str:
    """The text of the last user message (text parts joined); the last message's when no user spoke."""
    if not messages:
        return ""
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    content = (users or list(messages))[-1].get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p)
    return "" if content is None else str(content)


def _fail(where: str, what: str) -> RequestValidationError:
    return RequestValidationError(f"prompts: {where + ' ' if where else ''}{what}", param="prompts")


def _is_messages(value: Any) -> bool:
    """A non-empty list of message dicts (each with a `role`)."""
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            and all(isinstance(m, Mapping) and "role" in m for m in value))


def _items(prompts: Any, messages: bool) -> list[tuple[str, Any]]:
    """(how to name it in an error, the item) for each prompt given."""
    if isinstance(prompts, str | PromptSpec) or (isinstance(prompts, Mapping) and "prompt" in prompts):
        return [("the prompt", prompts)]
    if messages and _is_messages(prompts):
        return [("the prompt", list(prompts))]  # one conversation
    if _is_frame(prompts):
        if "prompt" not in prompts.columns:
            raise _fail("the DataFrame", f"has no 'prompt' column (columns: {', '.join(map(str, prompts.columns))})")
        return [(f"row {i}", row) for i, row in enumerate(prompts.to_dict("records"))]
    if isinstance(prompts, Mapping) or not hasattr(prompts, "__iter__"):
        raise _fail("", f"expected a str, a list of str or dicts, or a DataFrame; got {type(prompts).__name__}")
    return [(f"item {i}", p) for i, p in enumerate(prompts, start=1)]  # counted as the p1, p2 labels are


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns") and hasattr(value, "to_dict")


def _missing(value: Any) -> bool:
    """None, or a DataFrame's NaN / NA."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # arrays, NA-like objects that refuse a truth value
        return False


def _text(where: str, value: Any, messages: bool) -> tuple[str | Messages, str]:
    """(what is sent, its text) for one prompt value; a blank or odd one is refused."""
    if _missing(value) or isinstance(value, str):
        if value is None or value != value or not value.strip():
            raise _fail(where, "is empty: give at least one non-empty prompt")
        return value, value
    if messages and _is_messages(value):
        return list(value), last_user_text(value)
    kinds = "a string or a message list" if messages else "a string"
    raise _fail(where, f"must be {kinds}, got {type(value).__name__}")


def _one(where: str, item: Any, position: int, messages: bool) -> tuple[str | Messages, PromptSpec]:
    """One item as (what is sent, its spec)."""
    auto = f"p{position + 1}"
    if isinstance(item, PromptSpec):
        sent, _ = _text(where, item.text, messages=False)
        return sent, PromptSpec(item.text, item.expect, item.label or auto, tuple(as_checks(list(item.checks))))
    if not isinstance(item, Mapping):
        sent, text = _text(where, item, messages)
        return sent, PromptSpec(text, None, auto)
    if "prompt" not in item:
        hint = " (a message list goes inside a list: [[{...}, ...]])" if "role" in item else ""
        raise _fail(where, f"has no 'prompt' key (keys: {', '.join(map(str, item))}){hint}")
    sent, text = _text(where, item["prompt"], messages)
    label = item.get("id")
    expect = item.get("expect")
    try:
        checks = as_checks(None if _missing(item.get("checks")) else item.get("checks"))
    except CheckError as e:
        raise CheckError(f"prompts: {where}: {e.message}") from None
    return sent, PromptSpec(text, None if _missing(expect) else expect,
                            auto if _missing(label) or str(label) == "" else str(label), checks)


def _parse(prompts: Any, messages: bool) -> list[tuple[str | Messages, PromptSpec]]:
    items = _items(prompts, messages)
    pairs = [_one(where, item, i, messages) for i, (where, item) in enumerate(items)]
    if not pairs:
        raise _fail("", "give at least one non-empty prompt")
    seen: dict[str, str] = {}
    for (where, _), (_, spec) in zip(items, pairs, strict=True):
        if spec.label in seen:
            raise _fail(where, f"has the id {spec.label!r} of {seen[spec.label]}: ids must be unique")
        seen[spec.label] = where
    return pairs
