"""`routing_metadata` (§5): who served the request, by which strategy, how fast and at what cost.

Parsed field by field: a malformed or missing field is left empty (None) and named in a client-side warning,
so one bad part (an older `cost` shape, a missing `provider_model_id`) never loses the provider or the cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, PrivateAttr, ValidationError, field_validator

from ._base import OpenModel


class Cost(OpenModel):
    """Billable cost of one request in USD, with cache savings and hosted-tool spend."""

    usd: float
    cache_savings_percent: float | None = None
    cache_savings_usd: float | None = None
    hosted_tool_usd: float | None = None


class RoutingWarning(OpenModel):
    """A routing warning; plain-string warnings from older servers become `message` only."""

    type: str | None = None
    code: str | None = None
    message: str = ""

    def __str__(self) -> str:
        label = self.code or self.type
        return f"{label}: {self.message}" if label else self.message


class RoutingMetadata(OpenModel):
    """The routing decision attached to a completion (provider, strategy, TTFT, throughput, cost).

    Every field may be None: the gateway documents the first four as required, but a malformed one is left empty
    rather than losing the rest; `client_warnings` names each field the parser could not read.
    """

    provider: str | None = None
    provider_model_id: str | None = None
    model_canonical: str | None = None
    routing_strategy: str | None = None
    cost: Cost | None = None
    ttft_ms: float | None = None
    throughput_tps: float | None = None
    warnings: list[RoutingWarning] | None = None
    _client_warnings: list[dict[str, str]] = PrivateAttr(default_factory=list)

    @field_validator("warnings", mode="before")
    @classmethod
    def _normalise_warnings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"message": w} if isinstance(w, str) else w for w in value]
        return value

    @property
    def cost_usd(self) -> float | None:
        """The billable cost in USD, or None when the gateway sent none."""
        return self.cost.usd if self.cost else None

    @property
    def client_warnings(self) -> list[dict[str, str]]:
        """Warnings from the parser (`{type: "auriko_nb", code: "unparsed_field", message}`), one per lost field."""
        return list(self._client_warnings)

    def note_unparsed(self, notes: list[str]) -> RoutingMetadata:
        """Record the fields the lenient parser had to leave empty (as `client_warnings`); returns self."""
        self._client_warnings = [client_warning("unparsed_field", n) for n in notes]
        return self


REQUIRED = ("provider", "provider_model_id", "model_canonical", "routing_strategy")
_STRINGS = frozenset(REQUIRED)
_NUMBERS = frozenset({"ttft_ms", "throughput_tps"})
_COST_NUMBERS = ("cache_savings_percent", "cache_savings_usd", "hosted_tool_usd")


def client_warning(code: str, message: str) -> dict[str, str]:
    """A warning raised by auriko_nb itself, in the gateway's `{type, code, message}` shape."""
    return {"type": "auriko_nb", "code": code, "message": message}


def _got(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"


def _is_number(value: Any) -> bool:
    """A JSON number (not a bool, not a numeric string: never guess a value)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cost(raw: Any, notes: list[str]) -> dict[str, Any] | None:
    """The cost object with its bad optional parts dropped; None (and a note) when `usd` is missing or bad."""
    where = "routing_metadata.cost"
    if not isinstance(raw, Mapping):
        notes.append(f"{where}: not an object (got {_got(raw)}); cost left empty")
        return None
    if "usd" not in raw or raw["usd"] is None:
        keys = ", ".join(sorted(map(str, raw))) or "none"
        notes.append(f"{where}: no 'usd' (got keys {keys}); cost left empty")
        return None
    if not _is_number(raw["usd"]):
        notes.append(f"{where}.usd: not a number (got {_got(raw['usd'])}); cost left empty")
        return None
    out = dict(raw)
    for name in _COST_NUMBERS:
        if out.get(name) is not None and not _is_number(out[name]):
            notes.append(f"{where}.{name}: not a number (got {_got(out.pop(name))}); left empty")
    return out


def _warnings(raw: Any, notes: list[str]) -> list[Any] | None:
    """The warning list with unreadable items dropped (strings and `{type, code, message}` objects are kept)."""
    if not isinstance(raw, list):
        notes.append(f"routing_metadata.warnings: not a list (got {_got(raw)}); warnings left empty")
        return None
    kept = []
    for i, w in enumerate(raw):
        if isinstance(w, str):
            kept.append(w)
            continue
        try:
            RoutingWarning.model_validate(w)
        except ValidationError:
            notes.append(f"routing_metadata.warnings[{i}]: not a string or a {{type, code, message}} object "
                         f"(got {_got(w)}); dropped")
            continue
        kept.append(w)
    return kept


def _fields(raw: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    data = {str(k): v for k, v in raw.items()}
    for name in REQUIRED:
        value = data.get(name)
        if value is None:
            notes.append(f"routing_metadata.{name}: {'missing' if name not in data else 'null'}; left empty")
            data.pop(name, None)
    for name in list(data):
        value = data[name]
        if value is None:
            continue
        if name in _STRINGS and not isinstance(value, str):
            notes.append(f"routing_metadata.{name}: not a string (got {_got(data.pop(name))}); left empty")
        elif name in _NUMBERS and not _is_number(value):
            notes.append(f"routing_metadata.{name}: not a number (got {_got(data.pop(name))}); left empty")
    if data.get("cost") is not None:
        data["cost"] = _cost(data["cost"], notes)
    if data.get("warnings") is not None:
        data["warnings"] = _warnings(data["warnings"], notes)
    return data


def _numbers_or_none(d: dict[Any, Any], names: Iterable[str]) -> bool:
    return all(d.get(name) is None or _is_number(d.get(name)) for name in names)


def _well_formed(raw: dict[Any, Any]) -> bool:
    """Whether the field-by-field parse would leave `raw` as it is (then one validation gives the same model)."""
    if not all(isinstance(raw.get(name), str) for name in REQUIRED) or not _numbers_or_none(raw, _NUMBERS):
        return False
    cost = raw.get("cost")
    if cost is not None and (type(cost) is not dict or not _is_number(cost.get("usd"))
                             or not _numbers_or_none(cost, _COST_NUMBERS)):
        return False
    warnings = raw.get("warnings")
    return (warnings is None or isinstance(warnings, list)) and all(isinstance(k, str) for k in raw)


def parse_routing_metadata(raw: Any) -> RoutingMetadata | None:
    """Parse a raw `routing_metadata` value field by field; None (never an exception) when absent or not an object.

    A bad or missing field is left empty and named in `client_warnings`; unknown keys are kept.
    """
    if raw is None:
        return None
    if isinstance(raw, RoutingMetadata):
        return raw
    if type(raw) is dict and _well_formed(raw):  # the usual case, on every call: validated once, nothing left out
        try:
            return RoutingMetadata.model_validate(raw)
        except ValidationError:
            pass  # a bad warning item (or a case the checks miss): the field-by-field parse below drops just that
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump()
    if not isinstance(raw, Mapping):
        return None
    notes: list[str] = []
    data = _fields(raw, notes)
    try:
        rm = RoutingMetadata.model_validate(data)
    except ValidationError as e:  # a case the field checks above missed: drop what failed, keep the rest
        for err in e.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            if name in data:
                notes.append(f"routing_metadata.{name}: {err['msg']}; left empty")
                data.pop(name)
        try:
            rm = RoutingMetadata.model_validate(data)
        except ValidationError:
            return None
    return rm.note_unparsed(notes)


def _lenient(raw: Any) -> RoutingMetadata | None:
    return parse_routing_metadata(raw)


LenientRoutingMetadata = Annotated[RoutingMetadata | None, BeforeValidator(_lenient)]
"""A `routing_metadata` field that is parsed field by field and never fails its parent model."""
