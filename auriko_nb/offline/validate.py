"""Request validation: turn a chat or Responses body into an InferenceRequest, or raise the documented 400/404.

The gateway knows every documented top-level field of each endpoint (§2.1 chat, §2.3 Responses) and rejects
any other with 400 `unknown_field` (param = the field), as it does inside `gateway` (see options.py). So a
client that sends a literal `extra_body` key, or misspells a field, gets an error instead of being ignored.
Chat's OpenAI `metadata`, `prediction` and `service_tier` are accepted but ignored with a warning (§2.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import checks as ck
from .catalog import PER_PROVIDER_PARAMS, Catalog, ModelInfo
from .checks import bad, check_known
from .envelope import GatewayError
from .options import STRATEGIES, Routing, parse_gateway
from .textgen import content_text, estimate_tokens, messages_tokens

__all__ = ["InferenceRequest", "parse_chat", "parse_responses", "DEFAULT_STRATEGY", "CHAT_FIELDS",
           "RESPONSES_FIELDS", "CHAT_IGNORED_FIELDS"]

DEFAULT_STRATEGY = "cost-focus"  # newer docs: the default when nothing is requested
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
TOOL_CHOICES = ("auto", "none", "required")
Check = Callable[[Any, str], object]


def _number(lo: float, hi: float) -> Check:
    return lambda v, p: ck.want_number(v, p, lo, hi)


def _int(lo: int | None = None, hi: int | None = None) -> Check:
    return lambda v, p: ck.want_int(v, p, lo, hi)


def _any(v: Any, p: str) -> None:
    return None


def _stop(v: Any, p: str) -> None:
    if not isinstance(v, str):
        ck.want_str_list(v, p)


def _tool_choice(v: Any, p: str) -> None:
    if not isinstance(v, dict):
        ck.want_enum(v, p, TOOL_CHOICES)


def _str_or_object(v: Any, p: str) -> None:
    if not isinstance(v, (str, dict)):
        raise bad(f"{p} must be a string or an object, got {type(v).__name__}.", p)


def _response_format(v: Any, p: str) -> None:
    ck.want_enum(ck.want_object(v, p).get("type"), f"{p}.type", ("text", "json_object", "json_schema"))


def _chat_reasoning(v: Any, p: str) -> None:
    obj = ck.want_object(v, p)
    if obj.get("exclude") is not None:
        ck.want_bool(obj["exclude"], f"{p}.exclude")


EFFORTS = ("low", "medium", "high", "xhigh", "max", "off")
RESPONSES_EFFORTS = ("none", "minimal", *EFFORTS)
SUMMARIES = ("auto", "concise", "detailed")


def _responses_reasoning(v: Any, p: str) -> None:
    obj = ck.want_object(v, p)
    if obj.get("effort") is not None:
        ck.want_enum(obj["effort"], f"{p}.effort", RESPONSES_EFFORTS)
    for key in ("summary", "generate_summary"):
        if obj.get(key) is not None:
            ck.want_enum(obj[key], f"{p}.{key}", SUMMARIES)


_SHARED: dict[str, Check] = {
    "model": _any, "stream": ck.want_bool, "gateway": _any, "extensions": ck.want_object,  # model/gateway: see _common
    "temperature": _number(0, 2), "top_p": _number(0, 1),
    "frequency_penalty": _number(-2, 2), "presence_penalty": _number(-2, 2),
    "tools": ck.want_list, "tool_choice": _tool_choice, "parallel_tool_calls": ck.want_bool,
    "user": ck.want_str, "prompt_cache_key": ck.want_str, "safety_identifier": ck.want_str,
}
# §2.1, plus the legacy functions/function_call (converted) and the accepted-but-ignored OpenAI fields.
CHAT_IGNORED_FIELDS = ("metadata", "prediction", "service_tier")
CHAT_FIELDS: dict[str, Check] = {
    **_SHARED, "messages": _any, "max_tokens": _int(1), "max_completion_tokens": _int(1),
    "reasoning_effort": lambda v, p: ck.want_enum(v, p, EFFORTS), "reasoning": _chat_reasoning,
    "top_k": ck.want_number, "min_p": ck.want_number, "top_a": ck.want_number, "repetition_penalty": ck.want_number,
    "stop": _stop, "seed": _int(), "n": _int(1), "response_format": _response_format, "stream_options": ck.want_object,
    "logprobs": ck.want_bool, "top_logprobs": _int(0, 20), "logit_bias": ck.want_object,
    "web_search_options": ck.want_object, "verbosity": ck.want_str,
    "functions": ck.want_list, "function_call": _str_or_object, **dict.fromkeys(CHAT_IGNORED_FIELDS, _any),
}
# §2.3 (`store` and `input` are checked in parse_responses).
RESPONSES_FIELDS: dict[str, Check] = {
    **_SHARED, "input": _any, "store": _any, "instructions": ck.want_str, "max_output_tokens": _int(1),
    "top_k": ck.want_number, "top_logprobs": _int(0, 20), "max_tool_calls": _int(1), "reasoning": _responses_reasoning,
    "text": ck.want_object, "metadata": ck.want_str_map, "include": ck.want_str_list, "truncation": ck.want_str,
}
HINTS = {"extra_body": "extra_body is an SDK argument, not a field: merge its keys into the request body.",
         "routing": "Auriko options go in the gateway object: gateway.routing.",
         "models": "Send several models as gateway.models.", "auriko_metadata": "Use gateway.metadata."}


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
    ignored_fields: tuple[str, ...] = ()  # accepted but ignored (each gets a warning)
    user_text: str = ""  # the last user message's text (what the quality simulation recognises tasks in)


def _split_suffix(name: str, param: str) -> tuple[str, str | None]:
    """`gpt-4o:ttft` -> ("gpt-4o", "ttft"); parsed only with exactly one colon (§4)."""
    if name.count(":") != 1:
        return name, None
    base, suffix = name.split(":")
    if suffix not in STRATEGIES:
        raise bad(f"{param}: unknown routing suffix ':{suffix}' in {name!r}.", param,
                  suggestion=f"Valid suffixes: {', '.join(':' + s for s in STRATEGIES)}.")
    return base, suffix


def _resolve(catalog: Catalog, name: Any, param: str) -> tuple[ModelInfo, str | None]:
    if not isinstance(name, str) or not name:
        raise bad(f"{param} must be a non-empty model id string.", param)
    base, suffix = _split_suffix(name, param)
    model = catalog.resolve(base)
    if model is None:
        raise GatewayError("model_not_found", f"The model '{base}' does not exist or is not available.", param=param,
                           suggestion="GET /v1/models lists the available models and their aliases.")
    return model, suffix


def _fields(body: Mapping[str, Any], known: Mapping[str, Check]) -> None:
    check_known(body, known, hints=HINTS)
    for name, value in body.items():
        if value is not None:
            known[name](value, name)


def _common(body: Any, catalog: Catalog, known: Mapping[str, Check]) -> tuple[
        dict[str, Any], tuple[ModelInfo, ...], str, Routing, str, tuple[float, float, float]]:
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", None, "invalid_request")
    _fields(body, known)
    gateway = parse_gateway(body.get("gateway"))
    model = body.get("model")
    if model is not None and gateway.models is not None:
        raise bad("model and gateway.models are mutually exclusive; send only one.", "gateway.models")
    if model is None and not gateway.models:
        raise bad("One of model or gateway.models is required.", "model", "missing_required_parameter")
    if model is not None:
        resolved = [_resolve(catalog, model, "model")]
        param = "model"
    else:
        resolved = [_resolve(catalog, m, "gateway.models") for m in gateway.models or ()]
        param = "gateway.models"
    routing = gateway.routing
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
    return body, models, param, routing, strategy, weights


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)  # already checked: an integer (or an integral float)


def _sent_params(body: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(p for p in PER_PROVIDER_PARAMS if body.get(p) is not None)


def parse_chat(body: Any, catalog: Catalog) -> InferenceRequest:
    """Validate a /v1/chat/completions body (§2.1)."""
    body, models, param, routing, strategy, weights = _common(body, catalog, CHAT_FIELDS)
    messages = body.get("messages")
    if messages is None:
        raise bad("messages is required.", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise bad("messages must be a non-empty array.", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in CHAT_ROLES:
            raise bad(f"messages[{i}].role must be one of {', '.join(sorted(CHAT_ROLES))}.", f"messages[{i}].role")
    max_tokens = _opt_int(body.get("max_completion_tokens")) or _opt_int(body.get("max_tokens"))
    fmt = body.get("response_format")
    json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    prompt = "\n".join(content_text(m.get("content")) for m in messages)
    user = next((content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return InferenceRequest(
        endpoint="chat_completions", models=models, model_param=param, routing=routing, strategy=strategy,
        weights=weights, stream=bool(body.get("stream")), max_tokens=max_tokens, prompt_text=prompt,
        prompt_tokens=messages_tokens(messages), sent_params=_sent_params(body), json_mode=json_mode,
        ignored_fields=tuple(f for f in CHAT_IGNORED_FIELDS if body.get(f) is not None), user_text=user,
    )


def parse_responses(body: Any, catalog: Catalog) -> InferenceRequest:
    """Validate a /v1/responses body (§2.3)."""
    body, models, param, routing, strategy, weights = _common(body, catalog, RESPONSES_FIELDS)
    if body.get("store") not in (None, False):
        raise bad("store must be omitted or false; Auriko does not store responses.", "store")
    raw = body.get("input")
    if raw is None:
        raise bad("input is required.", "input", "missing_required_parameter")
    if isinstance(raw, str):
        items: list[dict[str, Any]] = [{"role": "user", "content": raw}]
    elif isinstance(raw, list) and raw and all(isinstance(i, dict) for i in raw):
        items = raw
    else:
        raise bad("input must be a string or a non-empty array of items.", "input")
    texts = [content_text(i.get("content", i.get("output", ""))) for i in items]
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        texts.insert(0, instructions)
    prompt = "\n".join(texts)
    user = next((content_text(i.get("content")) for i in reversed(items) if i.get("role") == "user"), "")
    text_cfg = body.get("text")
    fmt = text_cfg.get("format") if isinstance(text_cfg, dict) else None
    json_mode = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    prompt_tokens = 3 + sum(4 + estimate_tokens(t) for t in texts)
    return InferenceRequest(
        endpoint="responses", models=models, model_param=param, routing=routing, strategy=strategy, weights=weights,
        stream=bool(body.get("stream")), max_tokens=_opt_int(body.get("max_output_tokens")), prompt_text=prompt,
        prompt_tokens=prompt_tokens, sent_params=_sent_params(body), json_mode=json_mode, user_text=user,
    )
