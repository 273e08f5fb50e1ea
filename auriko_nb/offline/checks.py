"""Small field checks for request validation; each raises the documented 400 GatewayError naming the field.

The gateway validates on its own, from the API reference (§2.1, §2.3, §3, §8): nothing here comes from the
client side, so a client mistake in a field name or a limit shows up as a 400 in tests.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping
from typing import Any

from .envelope import GatewayError

__all__ = ["bad", "check_known", "want_bool", "want_int", "want_number", "want_str", "want_enum", "want_str_list",
           "want_object", "want_str_map", "want_list"]


def bad(message: str, param: str | None, code: str = "invalid_parameter_value",
        suggestion: str | None = None) -> GatewayError:
    """A 400 invalid_request_error with this code, message and param."""
    return GatewayError(code, message, param=param, suggestion=suggestion)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def check_known(obj: Mapping[str, Any], known: Collection[str], prefix: str = "",
                hints: Mapping[str, str] | None = None) -> None:
    """Reject the first key of `obj` that is not in `known`: 400 unknown_field, param = the full path of the key."""
    for key in obj:
        if key in known:
            continue
        where = f"in {prefix}" if prefix else "in the request body"
        hint = (hints or {}).get(key)
        if hint is None:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"Did you mean '{close[0]}'?" if close else None
        raise bad(f"Unknown field '{key}' {where}.", _join(prefix, str(key)), "unknown_field", hint)


def want_object(value: Any, param: str) -> Mapping[str, Any]:
    """A JSON object, or 400."""
    if not isinstance(value, dict):
        raise bad(f"{param} must be an object, got {type(value).__name__}.", param)
    return value


def want_list(value: Any, param: str) -> list[Any]:
    """A JSON array, or 400."""
    if not isinstance(value, list):
        raise bad(f"{param} must be an array, got {type(value).__name__}.", param)
    return value


def want_bool(value: Any, param: str) -> bool:
    """A JSON boolean, or 400."""
    if not isinstance(value, bool):
        raise bad(f"{param} must be a boolean, got {value!r}.", param)
    return value


def want_str(value: Any, param: str, max_len: int | None = None) -> str:
    """A string (at most `max_len` characters), or 400."""
    if not isinstance(value, str):
        raise bad(f"{param} must be a string, got {type(value).__name__}.", param)
    if max_len is not None and len(value) > max_len:
        raise bad(f"{param} is {len(value)} characters; the limit is {max_len}.", param)
    return value


def want_enum(value: Any, param: str, allowed: Collection[str]) -> str:
    """One of `allowed`, or 400 listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise bad(f"{param} must be one of {', '.join(allowed)}; got {value!r}.", param)
    return value


def want_number(value: Any, param: str, lo: float | None = None, hi: float | None = None,
                gt: float | None = None) -> float:
    """A finite JSON number within [lo, hi] (and > gt), or 400."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (lo is None or value >= lo) and (hi is None or value <= hi) and (gt is None or value > gt)
    if not ok:
        if gt is not None:
            need = f"a number > {gt:g}"
        elif lo is not None and hi is not None:
            need = f"a number between {lo:g} and {hi:g}"
        else:
            need = "a finite number"
        raise bad(f"{param} must be {need}, got {value!r}.", param)
    return float(value)


def want_int(value: Any, param: str, lo: int | None = None, hi: int | None = None) -> int:
    """A JSON integer within [lo, hi] (an integral float like 5.0 counts, as lax JSON schemas accept), or 400."""
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = (f" between {lo} and {hi}" if lo is not None and hi is not None else
                  f" >= {lo}" if lo is not None else f" <= {hi}" if hi is not None else "")
        raise bad(f"{param} must be an integer{bounds}, got {value!r}.", param)
    return int(value)


def want_str_list(value: Any, param: str) -> list[str]:
    """An array of strings, or 400 naming the first bad item."""
    items = want_list(value, param)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise bad(f"{param}[{i}] must be a string, got {type(item).__name__}.", param)
    return items


def want_str_map(value: Any, param: str) -> Mapping[str, str]:
    """An object of string to string, or 400 naming the first bad value."""
    obj = want_object(value, param)
    for key, item in obj.items():
        if not isinstance(item, str):
            raise bad(f"{param}: the value of '{key}' must be a string, got {type(item).__name__}.", param)
    return obj
