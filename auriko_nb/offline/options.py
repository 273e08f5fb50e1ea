"""The `gateway` request object (§3), validated by the gateway itself: routing (20 fields), metadata, models.

Written from the API reference only. Unknown keys in `gateway`, `gateway.routing`, `gateway.routing.weights`
and `gateway.metadata` are 400 `unknown_field` with the full path as `param` (e.g. `gateway.routing.optimise`);
bad values are 400 `invalid_parameter_value`. `gateway.models` is capped at 10 (the older doc's limit, which
the SDK does not enforce: the server decides, and this simulation keeps that limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .checks import (
    bad,
    check_known,
    want_bool,
    want_enum,
    want_int,
    want_number,
    want_object,
    want_str,
    want_str_list,
)

__all__ = ["STRATEGIES", "Routing", "GatewayOptions", "parse_gateway", "MAX_GATEWAY_MODELS", "ROUTING_FIELDS",
           "METADATA_FIELDS", "GATEWAY_FIELDS"]

STRATEGIES: tuple[str, ...] = ("cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced")
PERCENTILES = ("p50", "p95")
DATA_POLICIES = ("none", "no_training", "zdr")
MODES = ("pool", "fallback")
WEIGHT_KEYS = ("cost", "ttft", "throughput")
GATEWAY_FIELDS = ("routing", "metadata", "models")
METADATA_FIELDS = ("tags", "user_id", "trace_id", "custom_fields")
# §3.2 limits of gateway.metadata; §3.3 (older page) limit of gateway.models.
MAX_TAGS, MAX_TAG_LEN, MAX_ID_LEN = 100, 50, 255
MAX_CUSTOM_FIELDS, MAX_CUSTOM_KEY_LEN, MAX_CUSTOM_VALUE_LEN = 10, 50, 200
MAX_GATEWAY_MODELS = 10


@dataclass(frozen=True)
class Routing:
    """`gateway.routing` as the router reads it: every one of the 20 documented fields, None when not sent."""

    optimize: str | None = None
    weights: Mapping[str, float] | None = None
    max_cost_per_1m: float | None = None
    max_ttft_ms: int | None = None
    min_throughput_tps: float | None = None
    ttft_percentile: str | None = None
    throughput_percentile: str | None = None
    providers: tuple[str, ...] | None = None
    exclude_providers: tuple[str, ...] | None = None
    prefer: str | None = None
    mode: str | None = None
    allow_fallbacks: bool | None = None
    max_fallback_attempts: int | None = None
    timeout_ms: int | None = None
    deadline_ms: int | None = None
    data_policy: str | None = None
    only_byok: bool | None = None
    only_platform: bool | None = None
    require_parameters: bool | None = None
    tier: str | None = None


ROUTING_FIELDS: tuple[str, ...] = tuple(Routing.__dataclass_fields__)


@dataclass(frozen=True)
class GatewayOptions:
    """The validated `gateway` object."""

    routing: Routing
    models: tuple[str, ...] | None
    metadata: Mapping[str, Any] | None


def _weights(value: Any, param: str) -> Mapping[str, float]:
    obj = want_object(value, param)
    check_known(obj, WEIGHT_KEYS, param)
    out = {k: want_number(v, f"{param}.{k}", lo=0) for k, v in obj.items()}
    if not any(v > 0 for v in out.values()):
        raise bad(f"{param}: at least one weight must be > 0.", param)
    return out


def _routing_value(name: str, value: Any, param: str) -> Any:  # one branch per documented type
    if name == "optimize":
        return want_enum(value, param, STRATEGIES)
    if name == "weights":
        return _weights(value, param)
    if name in ("max_cost_per_1m", "min_throughput_tps"):
        return want_number(value, param, gt=0)
    if name in ("max_ttft_ms", "timeout_ms", "deadline_ms"):
        return want_int(value, param, lo=1)
    if name in ("ttft_percentile", "throughput_percentile"):
        return want_enum(value, param, PERCENTILES)
    if name in ("providers", "exclude_providers"):
        return tuple(want_str_list(value, param))
    if name in ("prefer", "tier"):
        return want_str(value, param)
    if name == "mode":
        return want_enum(value, param, MODES)
    if name == "max_fallback_attempts":
        return want_int(value, param, lo=1, hi=19)
    if name == "data_policy":
        return want_enum(value, param, DATA_POLICIES)
    return want_bool(value, param)  # allow_fallbacks, only_byok, only_platform, require_parameters


def parse_routing(value: Any) -> Routing:
    """A validated Routing from the `gateway.routing` JSON (None: no options)."""
    if value is None:
        return Routing()
    obj = want_object(value, "gateway.routing")
    check_known(obj, ROUTING_FIELDS, "gateway.routing")
    fields = {k: _routing_value(k, v, f"gateway.routing.{k}") for k, v in obj.items() if v is not None}
    r = Routing(**fields)
    if r.only_byok and r.only_platform:
        raise bad("only_byok and only_platform are mutually exclusive.", "gateway.routing.only_platform")
    if r.timeout_ms is not None and r.deadline_ms is not None and r.deadline_ms < r.timeout_ms:
        raise bad(f"deadline_ms ({r.deadline_ms}) must be >= timeout_ms ({r.timeout_ms}).", "gateway.routing.deadline_ms")
    return r


def parse_metadata(value: Any) -> Mapping[str, Any] | None:
    """The `gateway.metadata` object checked against its four fields and their limits (§3.2)."""
    if value is None:
        return None
    p = "gateway.metadata"
    obj = want_object(value, p)
    check_known(obj, METADATA_FIELDS, p)
    if obj.get("tags") is not None:
        tags = want_str_list(obj["tags"], f"{p}.tags")
        if len(tags) > MAX_TAGS:
            raise bad(f"{p}.tags has {len(tags)} tags; the limit is {MAX_TAGS}.", f"{p}.tags")
        for i, tag in enumerate(tags):
            if len(tag) > MAX_TAG_LEN:
                raise bad(f"{p}.tags[{i}] is {len(tag)} characters; the limit is {MAX_TAG_LEN}.", f"{p}.tags")
    for name in ("user_id", "trace_id"):
        if obj.get(name) is not None:
            want_str(obj[name], f"{p}.{name}", MAX_ID_LEN)
    if obj.get("custom_fields") is not None:
        param = f"{p}.custom_fields"
        custom = want_object(obj["custom_fields"], param)
        if len(custom) > MAX_CUSTOM_FIELDS:
            raise bad(f"{param} has {len(custom)} fields; the limit is {MAX_CUSTOM_FIELDS}.", param)
        for key, item in custom.items():
            if len(key) > MAX_CUSTOM_KEY_LEN:
                raise bad(f"{param}: key '{key[:20]}...' is {len(key)} characters; the limit is "
                          f"{MAX_CUSTOM_KEY_LEN}.", param)
            if not isinstance(item, str):
                raise bad(f"{param}: the value of '{key}' must be a string, got {type(item).__name__}.", param)
            if len(item) > MAX_CUSTOM_VALUE_LEN:
                raise bad(f"{param}: the value of '{key}' is {len(item)} characters; the limit is "
                          f"{MAX_CUSTOM_VALUE_LEN}.", param)
    return obj


def parse_models(value: Any) -> tuple[str, ...] | None:
    """`gateway.models`: 1 to 10 model ids."""
    if value is None:
        return None
    param = "gateway.models"
    models = want_str_list(value, param)
    if not models:
        raise bad(f"{param} must list at least one model.", param)
    if len(models) > MAX_GATEWAY_MODELS:
        raise bad(f"{param} lists {len(models)} models; the limit is {MAX_GATEWAY_MODELS}.", param)
    return tuple(models)


def parse_gateway(value: Any) -> GatewayOptions:
    """The validated `gateway` object (absent or null: no options)."""
    if value is None:
        return GatewayOptions(Routing(), None, None)
    obj = want_object(value, "gateway")
    check_known(obj, GATEWAY_FIELDS, "gateway")
    return GatewayOptions(parse_routing(obj.get("routing")), parse_models(obj.get("models")),
                          parse_metadata(obj.get("metadata")))
