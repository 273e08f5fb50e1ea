"""Request-side models: routing options (§3.1), request metadata with its limits (§3.2), the gateway object.

Each model rejects unknown keys, so a typo fails before anything is sent. `coerce_*` accept a model
or a plain dict and turn pydantic's report into one `RequestValidationError` line naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import RequestValidationError

Strategy = Literal["cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
DataPolicy = Literal["none", "no_training", "zdr"]
Percentile = Literal["p50", "p95"]
WEIGHT_KEYS = ("cost", "ttft", "throughput")

# Documented limits of gateway.metadata (§3.2).
MAX_TAGS, MAX_TAG_LEN = 100, 50
MAX_ID_LEN = 255
MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LEN, MAX_CUSTOM_VALUE_LEN = 10, 50, 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object to send: only fields that were set, never nulls."""
        return self.model_dump(mode="json", exclude_none=True)


class Routing(_Strict):
    """`gateway.routing`: strategy, custom weights and constraints (all 20 documented fields)."""

    optimize: Strategy | None = None
    weights: dict[str, float] | None = None
    max_cost_per_1m: float | None = Field(default=None, gt=0)
    max_ttft_ms: int | None = Field(default=None, gt=0)
    min_throughput_tps: float | None = Field(default=None, gt=0)
    ttft_percentile: Percentile | None = None
    throughput_percentile: Percentile | None = None
    providers: list[str] | None = None
    exclude_providers: list[str] | None = None
    prefer: str | None = None
    mode: Literal["pool", "fallback"] | None = None
    allow_fallbacks: bool | None = None
    max_fallback_attempts: int | None = Field(default=None, ge=1, le=19)
    timeout_ms: int | None = Field(default=None, gt=0)
    deadline_ms: int | None = Field(default=None, gt=0)
    data_policy: DataPolicy | None = None
    only_byok: bool | None = None
    only_platform: bool | None = None
    require_parameters: bool | None = None
    tier: str | None = None

    @field_validator("weights")
    @classmethod
    def _check_weights(cls, w: dict[str, float] | None) -> dict[str, float] | None:
        if w is None:
            return w
        for key, value in w.items():
            if key not in WEIGHT_KEYS:
                raise ValueError(f"unknown weight {key!r}; the keys are {', '.join(WEIGHT_KEYS)}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"weight {key!r} must be a finite number >= 0, got {value}")
        if not any(v > 0 for v in w.values()):
            raise ValueError("at least one weight must be > 0")
        return w

    @model_validator(mode="after")
    def _check_combinations(self) -> Routing:
        if self.only_byok and self.only_platform:
            raise ValueError("only_byok and only_platform are mutually exclusive")
        if self.timeout_ms is not None and self.deadline_ms is not None and self.deadline_ms < self.timeout_ms:
            raise ValueError(f"deadline_ms ({self.deadline_ms}) must be >= timeout_ms ({self.timeout_ms})")
        return self


class Metadata(_Strict):
    """`gateway.metadata`: your own tracking fields; limits enforced here, before sending."""

    tags: list[str] | None = None
    user_id: str | None = Field(default=None, max_length=MAX_ID_LEN)
    trace_id: str | None = Field(default=None, max_length=MAX_ID_LEN)
    custom_fields: dict[str, str] | None = None

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return tags
        if len(tags) > MAX_TAGS:
            raise ValueError(f"{len(tags)} tags; the limit is {MAX_TAGS}")
        for i, tag in enumerate(tags):
            if len(tag) > MAX_TAG_LEN:
                raise ValueError(f"tag {i} is {len(tag)} characters; the limit is {MAX_TAG_LEN}")
        return tags

    @field_validator("custom_fields")
    @classmethod
    def _check_custom(cls, fields: dict[str, str] | None) -> dict[str, str] | None:
        if fields is None:
            return fields
        if len(fields) > MAX_CUSTOM_FIELDS:
            raise ValueError(f"{len(fields)} fields; the limit is {MAX_CUSTOM_FIELDS}")
        for key, value in fields.items():
            if len(key) > MAX_CUSTOM_KEY_LEN:
                raise ValueError(f"key {key[:20]!r}... is {len(key)} characters; the limit is {MAX_CUSTOM_KEY_LEN}")
            if len(value) > MAX_CUSTOM_VALUE_LEN:
                raise ValueError(
                    f"value of {key!r} is {len(value)} characters; the limit is {MAX_CUSTOM_VALUE_LEN}"
                )
        return fields


class Gateway(_Strict):
    """The `gateway` request object: routing, metadata and the multi-model list.

    `models` needs at least one id; its maximum is the server's to decide (an old doc page said 10; the SDK does
    not check it), so a longer list is sent and a 400 from the gateway says so.
    """

    routing: Routing | None = None
    metadata: Metadata | None = None
    models: list[str] | None = Field(default=None, min_length=1)


M = TypeVar("M", bound=_Strict)


def _one_line(err: ValidationError, prefix: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if p != "__root__")
    where = f"{prefix}.{loc}" if loc else prefix
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "string_too_long":
        limit = first.get("ctx", {}).get("max_length")
        msg = f"is {len(str(first.get('input', '')))} characters; the limit is {limit}"
    elif first["type"] == "literal_error":
        msg = f"got {first.get('input')!r}; expected {first.get('ctx', {}).get('expected', '')}"
    more = len(err.errors()) - 1
    return f"{where}: {msg}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _coerce(model: type[M], value: M | Mapping[str, Any] | None, prefix: str) -> M | None:
    if value is None or isinstance(value, model):
        return value
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{prefix}: expected a dict or {model.__name__}, got {type(value).__name__}",
                                     param=prefix)
    try:
        return model.model_validate(dict(value))
    except ValidationError as e:
        line = _one_line(e, prefix)
        raise RequestValidationError(line, param=line.split(":", 1)[0]) from None


def coerce_routing(value: Routing | Mapping[str, Any] | None) -> Routing | None:
    """A validated `Routing` from a model or a plain dict (None passes through)."""
    return _coerce(Routing, value, "gateway.routing")


def coerce_metadata(value: Metadata | Mapping[str, Any] | None) -> Metadata | None:
    """A validated `Metadata` from a model or a plain dict; over-limit fields raise naming the limit."""
    return _coerce(Metadata, value, "gateway.metadata")


def coerce_gateway(value: Gateway | Mapping[str, Any] | None) -> Gateway | None:
    """A validated `Gateway` from a model or a plain dict."""
    return _coerce(Gateway, value, "gateway")


def build_gateway(
    *,
    routing: Routing | Mapping[str, Any] | None = None,
    metadata: Metadata | Mapping[str, Any] | None = None,
    models: list[str] | None = None,
    raw: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The `gateway` JSON to send, or None when empty.

    Typed parts are validated; `raw` (the `gateway=` escape hatch) is merged one level deep on top, unvalidated,
    each of its children replacing the typed one wholesale. `extra_body["gateway"]` is merged later, with
    conflict checks (`auriko_nb._body.merge_gateway`).
    """
    out: dict[str, Any] = {}
    r = coerce_routing(routing)
    if r is not None and (r_dict := r.to_dict()):  # each model dumped once
        out["routing"] = r_dict
    m = coerce_metadata(metadata)
    if m is not None and (m_dict := m.to_dict()):
        out["metadata"] = m_dict
    if models is not None:
        g = coerce_gateway({"models": list(models)})
        assert g is not None
        out["models"] = g.models
    if raw:
        out.update(dict(raw))
    return out or None
