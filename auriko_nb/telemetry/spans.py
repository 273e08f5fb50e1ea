"""A call's span attributes, per the OpenTelemetry GenAI semantic conventions, from what the client knows (pure).

The attribute names are the conventions' (a test checks them against the installed
`opentelemetry.semconv._incubating.attributes.gen_ai_attributes`); Auriko's routing outcome goes in `auriko.*`.
No header is ever read (the request body and the record hold no key); free text that a server could echo a key
into (warnings, error codes and messages) and captured content go through `errors.redact` as well. Prompt and answer
text appear only when content capture is on. Built for a small per-call cost: values are passed once, as they are
(the SDK checks them), and what repeats (server, constant attributes, metric attribute sets) is built once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..client.observe import CallStart
from ..client.records import requested_strategy
from ..client.result import Result
from ..errors import redact

PROVIDER = "auriko"
OPERATION = {"chat.completions": "chat", "responses": "chat"}  # the conventions' operation for each endpoint

# request body field -> attribute (the request parameters the conventions name)
REQUEST_PARAMS: dict[str, str] = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "stop": "gen_ai.request.stop_sequences",
}

# record column -> attribute, set when the column is not None
RECORD_ATTRIBUTES: dict[str, str] = {
    "prompt_tokens": "gen_ai.usage.input_tokens",
    "completion_tokens": "gen_ai.usage.output_tokens",
    "cached_tokens": "gen_ai.usage.cache_read.input_tokens",
    "provider": "auriko.provider",
    "provider_model_id": "auriko.provider_model_id",
    "model_canonical": "auriko.model_canonical",
    "routing_strategy": "auriko.strategy.used",
    "cost_usd": "auriko.cost_usd",
    "ttft_ms_server": "auriko.ttft_ms_server",
    "headers_ms_client": "auriko.headers_ms_client",
    "latency_ms": "auriko.latency_ms",
    "throughput_tps": "auriko.throughput_tps",
    "request_id": "auriko.request_id",
    "attempts": "auriko.attempts",
}

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
CONTENT_ATTRIBUTES = (INPUT_MESSAGES, OUTPUT_MESSAGES)
RESPONSE_MODEL = "gen_ai.response.model"
ERROR_TYPE = "error.type"
TOKEN_TYPE = "gen_ai.token.type"
PRIMITIVE = (str, bool, int, float)
RECORD_PAIRS = tuple(RECORD_ATTRIBUTES.items())


@lru_cache(maxsize=64)
def server(base_url: str) -> tuple[str, int]:
    """(server.address, server.port) of a base URL (the scheme's default port when none is written)."""
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@lru_cache(maxsize=64)
def constant_attributes(endpoint: str, base_url: str, stream: bool) -> dict[str, Any]:
    """The attributes every call to one endpoint of one gateway shares (built once; callers copy, never mutate)."""
    address, port = server(base_url)
    return {"gen_ai.operation.name": OPERATION.get(endpoint, endpoint), "gen_ai.provider.name": PROVIDER,
            "server.address": address, "server.port": port, "gen_ai.request.stream": stream,
            "auriko.endpoint": endpoint}


def request_model(call: CallStart) -> str | None:
    """The model asked for (None when only a fallback list was given)."""
    model = call.body.get("model")
    return model if isinstance(model, str) else call.context.model_requested


def span_name(call: CallStart) -> str:
    """"{operation} {request model}", as the conventions name a client inference span."""
    model = request_model(call)
    op = OPERATION.get(call.endpoint, call.endpoint)
    return f"{op} {model}" if model else op


def start_attributes(call: CallStart, capture: bool) -> dict[str, Any]:
    """What is known when the call starts: operation, models, request parameters, server, run and cell.

    Values are ids, model names, numbers and the caller's own parameters (none holds a secret), passed as they are:
    the SDK checks them once; only the captured prompt, free text, is redacted.
    """
    ctx = call.context
    attrs = constant_attributes(call.endpoint, call.base_url, call.stream).copy()
    attrs["auriko.call_id"] = ctx.call_id
    model = request_model(call)
    if model is not None:
        attrs["gen_ai.request.model"] = model
    strategy = requested_strategy(ctx.model_requested, ctx.routing)
    if strategy is not None:
        attrs["auriko.strategy.requested"] = strategy
    for key, value in (("auriko.run_id", ctx.run_id), ("auriko.cell", ctx.cell), ("auriko.trace_id", ctx.trace_id)):
        if value is not None:
            attrs[key] = value if isinstance(value, str) else str(value)
    for name, value in call.body.items():
        attr = REQUEST_PARAMS.get(name)
        if attr is None or value is None:
            continue
        if isinstance(value, PRIMITIVE):
            attrs[attr] = (value,) if name == "stop" else value
        elif isinstance(value, (list, tuple)):
            attrs[attr] = tuple(v for v in value if isinstance(v, PRIMITIVE))
    if capture:
        attrs[INPUT_MESSAGES] = scrub(json.dumps(input_messages(call.body), ensure_ascii=False, default=str))
    return attrs


def end_attributes(record: Mapping[str, Any], result: Result | None, capture: bool) -> dict[str, Any]:
    """What the call's end adds: response model and id, usage, finish reason, the routing outcome, the error.

    The numbers are the record's (or, when no record is built, `Result.numbers()`, where the record takes them);
    the warnings are the Result's; the server's free text (warnings, the error code) is redacted, ids and numbers
    are passed as they are.
    """
    get = record.get
    attrs: dict[str, Any] = {attr: v for col, attr in RECORD_PAIRS if (v := get(col)) is not None}
    attrs["auriko.offline"] = get("source") == "offline"
    response = result.response if result is not None else None
    model = getattr(response, "model", None) or get("model_canonical")
    if model:
        attrs[RESPONSE_MODEL] = model
    response_id = getattr(response, "id", None)
    if response_id:
        attrs["gen_ai.response.id"] = response_id
    finish = get("finish_reason")
    if finish:
        attrs["gen_ai.response.finish_reasons"] = (str(finish),)
    ttft = get("ttft_ms_client")
    if ttft is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = ttft / 1000
    texts = result.warnings if result is not None else warnings_of(get("warnings"))
    if texts:
        attrs["auriko.warnings"] = tuple(scrub(w) for w in texts)
    if get("status") != "ok":
        attrs[ERROR_TYPE] = scrub(error_type(record))
    if capture and get("answer_text") is not None:
        attrs[OUTPUT_MESSAGES] = scrub(json.dumps(output_messages(record), ensure_ascii=False))
    return attrs


def error_type(record: Mapping[str, Any]) -> str:
    """The `error.type` of a failed or cancelled call: its error code, else its error type, else `_OTHER`."""
    return str(record.get("error_code") or record.get("error_type") or "_OTHER")


def error_message(record: Mapping[str, Any]) -> str:
    """The one-line error message (redacted) for the span status."""
    return scrub(str(record.get("error_message") or error_type(record)))


@lru_cache(maxsize=256)
def warnings_of(raw: str | None) -> tuple[str, ...]:
    """A record's warnings (JSON) as `code: message` strings, as `Result.warnings` words them (cached: they recur)."""
    if not raw:
        return ()
    try:
        items = json.loads(raw)
    except ValueError:
        return (raw,)
    out = []
    for w in items if isinstance(items, list) else [items]:
        if isinstance(w, dict):
            out.append(f"{w.get('code') or w.get('type') or 'warning'}: {w.get('message') or ''}".rstrip(": "))
        else:
            out.append(str(w))
    return tuple(out)


def input_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's messages (or Responses input) in the conventions' shape: role and text parts."""
    raw = body.get("messages", body.get("input"))
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    out = []
    for m in raw if isinstance(raw, list) else []:
        if not isinstance(m, Mapping):
            continue
        content = m.get("content")
        texts = [content] if isinstance(content, str) else [
            p.get("text") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        ] if isinstance(content, list) else []
        out.append({"role": m.get("role"), "parts": [{"type": "text", "content": t} for t in texts]})
    return out


def output_messages(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer in the conventions' shape."""
    return [{"role": "assistant", "parts": [{"type": "text", "content": record.get("answer_text")}],
             "finish_reason": record.get("finish_reason") or ""}]


def clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values OpenTelemetry accepts (str, bool, int, float, or lists of one kind), every string redacted
    (for the rare, arbitrary ones: retry events, sweep totals)."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, (list, tuple)):
            out[key] = [scrub(v) if isinstance(v, str) else v for v in value
                        if isinstance(v, (str, bool, int, float))]
        elif isinstance(value, str):
            out[key] = scrub(value)
        elif isinstance(value, (bool, int, float)):
            out[key] = value
        elif value is not None:
            out[key] = scrub(str(value))
    return out


def scrub(text: str) -> str:
    """`text` with API keys and bearer tokens removed (`errors.redact`), the word "Bearer" with them."""
    low = text.lower()
    if "ak_" not in low and "bearer" not in low:  # what `redact` looks for: most strings skip the regex
        return text
    return str(redact(text)).replace("Bearer [redacted]", "[redacted]")


class Points(NamedTuple):
    """One call's metric attributes: for every instrument, and the token histogram's input and output variants."""

    base: Mapping[str, Any]
    input: Mapping[str, Any]
    output: Mapping[str, Any]


def metric_key(start: Mapping[str, Any]) -> tuple[Any, ...]:
    """The start attributes the metric points carry: operation, request model, server address and port."""
    return (start["gen_ai.operation.name"], start.get("gen_ai.request.model"), start["server.address"],
            start["server.port"])


def metric_points(key: tuple[Any, ...], start: Mapping[str, Any], end: Mapping[str, Any]) -> Points:
    """The low-cardinality attributes of a call's metric points: operation, models, server, provider, strategy and,
    for failures, error.type (the conventions' set, plus Auriko's provider and strategy)."""
    strategy = end.get("auriko.strategy.used") or start.get("auriko.strategy.requested")
    return points(*key, end.get(RESPONSE_MODEL), end.get("auriko.provider"), strategy, end.get(ERROR_TYPE))


@lru_cache(maxsize=512)
def points(operation: str, request_model: str | None, address: str, port: int, response_model: str | None,
           provider: str | None, strategy: str | None, error: str | None) -> Points:
    """Built once per distinct combination (the SDK copies what it keeps, so the shared dicts stay as they are)."""
    base: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.provider.name": PROVIDER}
    optional = (("gen_ai.request.model", request_model), (RESPONSE_MODEL, response_model),
                ("auriko.provider", provider), ("auriko.strategy", strategy), (ERROR_TYPE, error))
    base.update((k, v) for k, v in optional if v is not None)
    base["server.address"], base["server.port"] = address, port
    return Points(base, {**base, TOKEN_TYPE: "input"}, {**base, TOKEN_TYPE: "output"})
