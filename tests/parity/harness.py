"""Feed one canned gateway answer (a fixture file) to the official `auriko` SDK and to auriko_nb, each through its own
httpx MockTransport, and reduce what each makes of it to the same flat observation dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import auriko
import httpx
from auriko.errors.mapping import is_retryable as sdk_is_retryable
from fakes import KEY, Script, client_for

from auriko_nb import errors as E
from auriko_nb.client._retry import is_retryable

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_HEADERS = {"x-request-id": "req_parity"}
PROMPT = [{"role": "user", "content": "hi"}]

# Our class for each SDK class (dispatch on type, 409/500 special-cased, §8.2); the SDK's bare APIStatusError for
# 502/503/504 and mid-stream api_errors is our ServerError.
SDK_TO_OURS = {"BadRequestError": "BadRequestError", "ConflictError": "ConflictError",
               "AuthenticationError": "AuthenticationError", "PermissionDeniedError": "PermissionDeniedError",
               "NotFoundError": "NotFoundError", "RateLimitError": "RateLimitError",
               "InternalServerError": "ServerError", "APIStatusError": "ServerError",
               "APIConnectionError": "APIConnectionError"}
OUR_PUBLIC = [E.ConflictError, E.BadRequestError, E.AuthenticationError, E.PermissionDeniedError, E.NotFoundError,
              E.RateLimitError, E.ServerError, E.MalformedResponseError, E.APITimeoutError, E.APIConnectionError,
              E.APIStatusError, E.StreamError]


def load(name: str) -> dict[str, Any]:
    """One fixture by file stem."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def names() -> list[str]:
    """Every fixture's file stem, sorted."""
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def raw_bytes(fx: dict[str, Any]) -> tuple[bytes, str]:
    """The response body the fixture describes, and its content type."""
    if "events" in fx:
        out = [e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n" for e in fx["events"]]
        if fx.get("done", True):
            out.append("data: [DONE]\n\n")
        return "".join(out).encode(), "text/event-stream"
    if "raw" in fx:
        return fx["raw"].encode(), fx.get("content_type", "text/html")
    return json.dumps(fx["body"]).encode(), "application/json"


def response_for(fx: dict[str, Any]) -> httpx.Response:
    content, ctype = raw_bytes(fx)
    headers = {**DEFAULT_HEADERS, "content-type": ctype, **fx.get("headers", {})}
    return httpx.Response(fx.get("status", 200), content=content, headers=headers)


# -- the SDK -----------------------------------------------------------------------------------------------------

def sdk_client(fx: dict[str, Any]) -> Any:
    """An `auriko.Client` whose httpx client answers every request with the fixture's bytes."""
    c = auriko.Client(api_key=KEY, base_url="http://gateway.test", max_retries=0)
    c._httpx = httpx.Client(base_url=c.base_url, headers=c._default_headers,
                            transport=httpx.MockTransport(lambda r: response_for(fx)))
    return c


def _rm_fields(rm: Any) -> dict[str, Any]:
    cost = getattr(rm, "cost", None) if rm is not None else None
    warnings = (getattr(rm, "warnings", None) or []) if rm is not None else []
    return {
        "provider": getattr(rm, "provider", None), "provider_model_id": getattr(rm, "provider_model_id", None),
        "model_canonical": getattr(rm, "model_canonical", None),
        "routing_strategy": getattr(rm, "routing_strategy", None),
        "cost_usd": cost.usd if cost is not None else None,
        "cache_savings_usd": cost.cache_savings_usd if cost is not None else None,
        "ttft_ms": getattr(rm, "ttft_ms", None), "throughput_tps": getattr(rm, "throughput_tps", None),
        "warnings": [[getattr(w.type, "value", w.type), w.code, w.message] for w in warnings],
    }


def _usage(u: Any) -> list[Any] | None:
    if u is None:
        return None
    if hasattr(u, "prompt_tokens"):
        d = u.prompt_tokens_details
        return [u.prompt_tokens, u.completion_tokens, u.total_tokens, (d.cached_tokens or 0) if d else 0]
    d = u.input_tokens_details
    cached = d.get("cached_tokens") if isinstance(d, dict) else getattr(d, "cached_tokens", None)
    return [u.input_tokens, u.output_tokens, u.total_tokens, cached or 0]


def _sdk_headers(h: Any) -> dict[str, Any]:
    return {"request_id": h.request_id, "ratelimit_limit": h.rate_limit_limit,
            "ratelimit_remaining": h.rate_limit_remaining, "ratelimit_reset": h.rate_limit_reset,
            "credits_microdollars": h.credits_balance_microdollars}


def sdk_observe(fx: dict[str, Any]) -> dict[str, Any]:
    """What the SDK makes of the fixture: its result's fields, or the error it raises (and whether it retries it)."""
    c, chat, stream = sdk_client(fx), fx["endpoint"] == "chat", fx.get("stream", False)
    parts: list[str] = []
    began = False
    try:
        if chat:
            out = c.chat.completions.create(messages=PROMPT, model="gpt-4o", stream=stream)
        else:
            out = c.responses.create(input="hi", model="gpt-4o", stream=stream)
        if stream:
            began = True
            for ev in out:
                if chat:
                    parts += [ch.delta.content for ch in ev.choices if ch.index == 0 and ch.delta.content]
                elif getattr(ev, "type", None) == "response.output_text.delta" and hasattr(ev, "delta"):
                    parts.append(ev.delta)
    except Exception as exc:  # noqa: BLE001 - the observation records whatever the SDK raised
        return _sdk_error(exc, began, "".join(parts))
    if stream and chat:
        rm, usage, text, status = out.routing_metadata, out.usage, "".join(parts), None
    elif stream:
        final = out.completed_response
        rm, usage = (final.routing_metadata, final.usage) if final else (None, None)
        text, status = "".join(parts), final.status if final else None
    else:
        rm, usage = out.routing_metadata, out.usage
        text = out.choices[0].message.content if chat else out.output_text
        status = None if chat else out.status
    headers = out.response_headers
    return {"outcome": "ok", "text": text, "status": status, **_rm_fields(rm), "usage": _usage(usage),
            **_sdk_headers(headers)}


def _sdk_error(exc: Exception, began: bool, partial: str) -> dict[str, Any]:
    name = type(exc).__name__
    if not isinstance(exc, auriko.AurikoAPIError):  # e.g. pydantic's ValidationError on a shape it rejects
        return {"outcome": "error", "error.class": name, "raised_mid_stream": began}
    return {
        "outcome": "error", "error.class": SDK_TO_OURS.get(name, name), "error.type": exc.type,
        "error.code": exc.code, "error.status": exc.status_code, "error.param": exc.param,
        "error.request_id": exc.request_id, "error.retry_after": exc.retry_after_seconds,
        "raised_mid_stream": began, "partial_text": partial,
        # The SDK's retry loop (§9.2) only sees HTTP >= 400 and connection failures, before a stream body is read.
        "retry": sdk_is_retryable(exc) and not began
                 and (exc.status_code >= 400 or isinstance(exc, auriko.APIConnectionError)),
    }


# -- auriko_nb ---------------------------------------------------------------------------------------------------

def ours_observe(fx: dict[str, Any]) -> dict[str, Any]:
    """What auriko_nb makes of the fixture, in the same shape (plus `client_warnings`: the row's own warnings)."""
    c, chat, stream = client_for(Script(response_for(fx)), max_retries=0), fx["endpoint"] == "chat", fx.get("stream", False)
    call = c.chat if chat else c.responses
    try:
        res = call("hi", model="gpt-4o", stream=stream)
        if stream:
            res = res.result
    except E.AurikoError as err:
        return _ours_error(err)
    h, row = res.headers, res.to_record()
    rm_fields = _rm_fields(res.routing_metadata)
    routing_warnings = [w[2] for w in rm_fields["warnings"]]
    row_warnings = json.loads(row["warnings"]) if row.get("warnings") else []
    own = [w for w in row_warnings if w.get("message") not in routing_warnings]  # the client's, not the gateway's
    return {"outcome": "ok", "text": res.text, "status": None if chat else res.response.status, **rm_fields,
            "usage": _usage(res.usage), "request_id": h.request_id, "ratelimit_limit": h.ratelimit_limit,
            "ratelimit_remaining": h.ratelimit_remaining, "ratelimit_reset": h.ratelimit_reset,
            "credits_microdollars": h.credits_balance_microdollars,
            "client_warnings": [w.get("code") or w.get("message") for w in own], "client_warnings_text": json.dumps(own),
            "row": {k: row.get(k) for k in ("provider", "model_canonical", "cost_usd", "warning_count")}}


def _ours_error(err: E.AurikoError) -> dict[str, Any]:
    cls = next(k.__name__ for k in OUR_PUBLIC if isinstance(err, k))
    began = isinstance(err, E.StreamError)
    return {
        "outcome": "error", "error.class": cls, "error.type": err.type, "error.code": err.code,
        "error.status": err.status_code, "error.param": err.param, "error.request_id": err.request_id,
        "error.retry_after": err.retry_after, "raised_mid_stream": began,
        "partial_text": err.partial_text if isinstance(err, E.StreamError) else "", "retry": is_retryable(err),
    }
