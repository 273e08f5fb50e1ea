"""The request body, assembled from the typed options, the raw `gateway=` and `extra_body` (pure functions).

`extra_body` is merged into the body as the official `auriko` SDK does (its `gateway` one level deep into ours),
with one stricter rule: a field given in two places with different values is a one-line `RequestValidationError`
naming both places, where the SDK lets `extra_body` win silently. Equal values are fine. Apart from these
conflict checks (and JSON-serialisability, checked when the body is encoded) `extra_body` is sent unvalidated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RequestValidationError
from ..types.request import Metadata, Routing, build_gateway, coerce_metadata, coerce_routing

GATEWAY_METADATA_KEYS = ("tags", "user_id", "trace_id", "custom_fields")
TOKEN_LIMIT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_EXTRA_GW = 'extra_body["gateway"]'


@dataclass(frozen=True)
class Sent:
    """What a body sends that its record shows: the model asked for, the routing and the metadata's tags/trace_id."""

    model_requested: str | None
    routing: dict[str, Any] | None
    tags: list[Any] | None
    trace_id: str | None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _conflict(field: str, place: str, value: Any, other_place: str, other: Any) -> RequestValidationError:
    return RequestValidationError(f"{field} given twice: {place} says {_show(value)}, {other_place} says {_show(other)}",
                                  param=field)


def _checked_dict(value: Any, name: str, expected: str, problem: Callable[[Any, Any], str | None]) -> dict[str, Any] | None:
    """`value` copied to a dict (None passes through); refused unless it is a mapping whose every item
    `problem(key, item)` finds nothing wrong with (its answer is the error's tail)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RequestValidationError(f"{name}: expected {expected}, got {type(value).__name__}", param=name)
    for key, item in value.items():
        bad = problem(key, item)
        if bad is not None:
            raise RequestValidationError(f"{name}: {bad}", param=name)
    return dict(value)


def _string_key(key: Any, _item: Any) -> str | None:
    return None if isinstance(key, str) else f"keys must be strings, got {key!r}"


def _str_to_str(key: Any, item: Any) -> str | None:
    if isinstance(key, str) and isinstance(item, str):
        return None
    bad = f"key {key!r}" if not isinstance(key, str) else f"value of {key!r} is {type(item).__name__}"
    return f"expected a dict of str to str; {bad}"


def check_extra_body(extra_body: Any) -> dict[str, Any] | None:
    """`extra_body` as a dict (None when absent or empty); anything but a mapping with string keys is refused."""
    return _checked_dict(extra_body, "extra_body", "a dict", _string_key) or None


def extra_gateway(extra: Mapping[str, Any] | None, child: str) -> Any:
    """`extra_body["gateway"][child]`, or None when it is not there."""
    gw = (extra or {}).get("gateway")
    return gw.get(child) if isinstance(gw, Mapping) else None


def check_response_metadata(value: Any) -> dict[str, str] | None:
    """The Responses API's own top-level `metadata` (OpenAI's, string to string), checked; None passes through."""
    return _checked_dict(value, "response_metadata", "a dict of str to str", _str_to_str)


def coerce_gateway_metadata(value: Metadata | Mapping[str, Any] | None, endpoint: str) -> Metadata | None:
    """`metadata=` (always Auriko's gateway metadata); an unknown key's error lists the keys and, on the Responses
    endpoint, points to `response_metadata=` for the OpenAI-style top-level metadata."""
    try:
        return coerce_metadata(value)
    except RequestValidationError as e:
        if not e.message.endswith(": unknown field"):
            raise
        hint = " (for the Responses API's own top-level metadata use response_metadata=)" if endpoint == "responses" else ""
        raise RequestValidationError(f"{e.message}; gateway metadata takes only {', '.join(GATEWAY_METADATA_KEYS)}{hint}",
                                     param=e.param) from None


def yield_to_extra(default_routing: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Session default routing minus the fields `extra_body["gateway"]["routing"]` sets: explicit beats default."""
    if not default_routing:
        return None
    given = extra_gateway(extra, "routing")
    out = {k: v for k, v in default_routing.items() if not (isinstance(given, Mapping) and k in given)}
    return out or None


def merge_gateway(typed: Mapping[str, Any] | None, places: Mapping[str, str], extra: Any) -> Any:
    """`extra_body["gateway"]` merged one level deep into the typed gateway (the SDK's rule); a child that is a dict
    on both sides merges field by field, and a field (or non-dict child) given twice with different values is a
    conflict. `places` names where each typed child came from (`routing=`, `gateway["routing"]`, ...)."""
    if extra is None:
        return dict(typed) if typed else None
    if not typed:
        return dict(extra) if isinstance(extra, Mapping) else extra  # sent as is: the server decides
    if not isinstance(extra, Mapping):
        place = "/".join(dict.fromkeys(places.get(k, "gateway=") for k in typed))
        raise _conflict("gateway", place, dict(typed), _EXTRA_GW, extra)
    out = dict(typed)
    for child, value in extra.items():
        if child not in out:
            out[child] = value
            continue
        mine, place, where = out[child], places.get(child, "gateway="), f'{_EXTRA_GW}["{child}"]'
        if isinstance(mine, Mapping) and isinstance(value, Mapping):
            merged = dict(mine)
            for field, v in value.items():
                if field in merged and merged[field] != v:
                    raise _conflict(f"gateway.{child}.{field}", place, merged[field], where, v)
                merged[field] = v
            out[child] = merged
        elif mine != value:
            raise _conflict(f"gateway.{child}", place, mine, where, value)
    return out


def merge_extra_body(body: Mapping[str, Any], extra: Mapping[str, Any], *, stream: bool,
                     places: Mapping[str, str]) -> dict[str, Any]:
    """`extra_body`'s top-level keys (all but `gateway`) added to the body; one the call already sets with a different
    value is a conflict (`stream` against the call's `stream=`, which alone decides whether `stream` is sent)."""
    out = dict(body)
    for key, value in extra.items():
        if key == "gateway":
            continue
        if key == "stream":
            if value is not None and bool(value) != stream:
                raise _conflict("stream", "stream=", stream, 'extra_body["stream"]', value)
            continue
        if key in out and out[key] != value:
            raise _conflict(key, places.get(key, f"{key}="), out[key], f'extra_body["{key}"]', value)
        out[key] = value
    return out


def assemble(payload_key: str, payload: Any, *, endpoint: str, model: str | None,
             routing: Routing | Mapping[str, Any] | None, metadata: Metadata | Mapping[str, Any] | None,
             models: Sequence[str] | None, gateway: Mapping[str, Any] | None, params: Mapping[str, Any],
             stream: bool, extra_body: Any = None, response_metadata: Any = None) -> dict[str, Any]:
    """The JSON body to send: typed options validated, `gateway=` merged on top (wholesale per child, as before),
    then `extra_body` merged with conflict checks; exactly one of `model` / `gateway.models` must result."""
    extra = check_extra_body(extra_body)
    gw: Any = build_gateway(routing=coerce_routing(routing), metadata=coerce_gateway_metadata(metadata, endpoint),
                            models=list(models) if models is not None else None, raw=gateway)
    extra_gw = extra.get("gateway") if extra else None
    if extra_gw is not None:
        places = {"routing": "routing=", "metadata": "metadata=", "models": "models=",
                  **{k: f'gateway["{k}"]' for k in (gateway or {})}}
        gw = merge_gateway(gw, places, extra_gw)
    body: dict[str, Any] = {payload_key: payload}
    if model:
        body["model"] = model
    for key, value in params.items():
        if value is not None:
            body[key] = value
    rm = check_response_metadata(response_metadata)
    if rm is not None:
        body["metadata"] = rm
    if extra:
        top_places = {payload_key: "the prompt" if payload_key == "messages" else "the input", "model": "model="}
        if rm is not None:
            top_places["metadata"] = "response_metadata="
        body = merge_extra_body(body, extra, stream=stream, places=top_places)
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    if gw:
        body["gateway"] = gw
    has_models = gw is not None and isinstance(gw, Mapping) and bool(gw.get("models"))
    if body.get("model") and has_models:
        raise RequestValidationError("model and gateway.models are mutually exclusive: send one of them",
                                     param="gateway.models")
    if not body.get("model") and not has_models:
        raise RequestValidationError("model: no model given (pass model= or models=[...])", param="model",
                                     code="missing_required_parameter")
    return body


def sent_fields(body: Mapping[str, Any]) -> Sent:
    """What the record shows of a body about to be sent: read from the body itself, so it is what was sent."""
    model = body.get("model")
    gw = body.get("gateway")
    if gw is None or not isinstance(gw, Mapping):  # the common case, no gateway object, costs no ABC checks
        requested = model if isinstance(model, str) and model else None
        return Sent(requested, None, None, None)
    meta = gw.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    routing, models = gw.get("routing"), gw.get("models")
    if isinstance(model, str) and model:
        requested = model
    elif isinstance(models, Sequence) and not isinstance(models, str) and models:
        requested = ",".join(str(m) for m in models)
    else:
        requested = None
    tags, trace = meta.get("tags"), meta.get("trace_id")
    return Sent(requested, dict(routing) if isinstance(routing, Mapping) else None,
                list(tags) if isinstance(tags, list) else None,
                trace if isinstance(trace, str) or trace is None else json.dumps(trace, default=str))
