"""Request validation: turn a chat or Responses body into an InferenceRequest, or raise the documented 400/404."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RequestValidationError
from ..types.request import STRATEGIES, Routing, coerce_gateway
from .catalog import PER_PROVIDER_PARAMS, Catalog, ModelInfo
from .envelope import GatewayError
from .textgen import content_text, estimate_tokens, messages_tokens

__all__ = ["InferenceRequest", "parse_chat", "parse_responses", "DEFAULT_STRATEGY"]

DEFAULT_STRATEGY = "cost-focus"  # newer docs: the default when nothing is requested
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})


@dataclass(frozen=True)
class InferenceRequest:
    """What the router and the simulator need from one validated inference body."""

    endpoint: str  # "chat_completions" or "responses"
    models: tuple[ModelInfo, ...]
    model_param: str  # where the models came from: "model" or "gateway.models"
    routing: Routing
    strategy: str  # one of the 7 strategies, or "custom"
    weights: tuple[float, float, float]  # cost, ttft, throughput (only used for "custom")
    stream: bool
    max_tokens: int | None
    prompt_text: str
    prompt_tokens: int
    sent_params: tuple[str, ...]
    json_mode: bool


def _bad(code: str, message: str, param: str | None, suggestion: str | None = None) -> GatewayError:
    return GatewayError(code, message, param=param, suggestion=suggestion)


def _int_param(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad("invalid_parameter_value", f"{name} must be an integer >= 1, got {value!r}", name)
    return value


def _range_param(body: Mapping[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _bad("invalid_parameter_value", f"{name} must be a number between {lo:g} and {hi:g}, got {value!r}", name)


def _split_suffix(name: str, param: str) -> tuple[str, str | None]:
    """`gpt-4o:ttft` -> ("gpt-4o", "ttft"); parsed only with exactly one colon (§4)."""
    if name.count(":") != 1:
        return name, None
    base, suffix = name.split(":")
    if suffix not in STRATEGIES:
        raise _bad("invalid_parameter_value", f"{param}: unknown routing suffix ':{suffix}' in {name!r}", param,
                   f"Valid suffixes: {', '.join(':' + s for s in STRATEGIES)}.")
    return base, suffix


def _resolve(catalog: Catalog, name: Any, param: str) -> tuple[ModelInfo, str | None]:
    if not isinstance(name, str) or not name:
        raise _bad("invalid_parameter_value", f"{param} must be a non-empty model id string", param)
    base, suffix = _split_suffix(name, param)
    model = catalog.resolve(base)
    if model is None:
        raise GatewayError("model_not_found", f"The model '{base}' does not exist or is not available.", param=param,
                           suggestion="GET /v1/models lists the available models and their aliases.")
    return model, suffix


def _common(body: Any, catalog: Catalog) -> tuple[dict[str, Any], tuple[ModelInfo, ...], str,
                                                                  Routing, str, tuple[float, float, float]]:
    if not isinstance(body, dict):
        raise _bad("invalid_request", "The request body must be a JSON object.", None)
    try:
        gateway = coerce_gateway(body.get("gateway"))
    except RequestValidationError as e:
        code = "unknown_field" if e.message.endswith("unknown field") else (e.code or "invalid_parameter_value")
        raise _bad(code, e.message, e.param) from None
    gw_models = gateway.models if gateway is not None else None
    model = body.get("model")
    if model is not None and gw_models is not None:
        raise _bad("invalid_parameter_value", "model and gateway.models are mutually exclusive; send only one.",
                   "gateway.models")
    if model is None and not gw_models:
        raise _bad("missing_required_parameter", "One of model or gateway.models is required.", "model")
    if model is not None:
        resolved = [_resolve(catalog, model, "model")]
        param = "model"
    else:
        resolved = [_resolve(catalog, m, "gateway.models") for m in gw_models or []]
        param = "gateway.models"
    routing = (gateway.routing if gateway is not None else None) or Routing()
    suffix = next((s for _, s in resolved if s is not None), None)
    if routing.weights:
        w = routing.weights
        weights = (float(w.get("cost", 0)), float(w.get("ttft", 0)), float(w.get("throughput", 0)))
        strategy = "custom"  # uncertain: weights together with optimize; weights win (they are more specific)
    else:
        weights = (0.0, 0.0, 0.0)
        # uncertain: suffix vs explicit gateway.routing.optimize; the explicit option wins.
        strategy = routing.optimize or suffix or DEFAULT_STRATEGY
    models = tuple(dict.fromkeys(m for m, _ in resolved))
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _bad("invalid_parameter_value", "stream must be a boolean", "stream")
    _range_param(body, "temperature", 0, 2)
    _range_param(body, "top_p", 0, 1)
    return body, models, param, routing, strategy, weights


def _sent_params(body: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(p for p in PER_PROVIDER_PARAMS if body.get(p) is not None)


def parse_chat(body: Any, catalog: Catalog) -> InferenceRequest:
    """Validate a /v1/chat/completions body (§2.1)."""
    body, models, param, routing, strategy, weights = _common(body, catalog)
    messages = body.get("messages")
    if messages is None:
        raise _bad("missing_required_parameter", "messages is required.", "messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("invalid_parameter_value", "messages must be a non-empty array.", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in CHAT_ROLES:
            raise _bad("invalid_parameter_value",
                       f"messages[{i}].role must be one of {', '.join(sorted(CHAT_ROLES))}", f"messages[{i}].role")
    max_tokens = _int_param(body, "max_completion_tokens") or _int_param(body, "max_tokens")
    fmt = body.get("response_format")
    json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    prompt = "\n".join(content_text(m.get("content")) for m in messages)
    return InferenceRequest(
        endpoint="chat_completions", models=models, model_param=param, routing=routing, strategy=strategy,
        weights=weights, stream=bool(body.get("stream")), max_tokens=max_tokens, prompt_text=prompt,
        prompt_tokens=messages_tokens(messages), sent_params=_sent_params(body), json_mode=json_mode,
    )


def parse_responses(body: Any, catalog: Catalog) -> InferenceRequest:
    """Validate a /v1/responses body (§2.3)."""
    body, models, param, routing, strategy, weights = _common(body, catalog)
    if body.get("store") is True:
        raise _bad("invalid_parameter_value", "store must be omitted or false; Auriko does not store responses.",
                   "store")
    raw = body.get("input")
    if raw is None:
        raise _bad("missing_required_parameter", "input is required.", "input")
    if isinstance(raw, str):
        items: list[dict[str, Any]] = [{"role": "user", "content": raw}]
    elif isinstance(raw, list) and raw and all(isinstance(i, dict) for i in raw):
        items = raw
    else:
        raise _bad("invalid_parameter_value", "input must be a string or a non-empty array of items.", "input")
    texts = [content_text(i.get("content", i.get("output", ""))) for i in items]
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        texts.insert(0, instructions)
    prompt = "\n".join(texts)
    text_cfg = body.get("text")
    fmt = text_cfg.get("format") if isinstance(text_cfg, dict) else None
    json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    prompt_tokens = 3 + sum(4 + estimate_tokens(t) for t in texts)
    return InferenceRequest(
        endpoint="responses", models=models, model_param=param, routing=routing, strategy=strategy, weights=weights,
        stream=bool(body.get("stream")), max_tokens=_int_param(body, "max_output_tokens"), prompt_text=prompt,
        prompt_tokens=prompt_tokens, sent_params=_sent_params(body), json_mode=json_mode,
    )
