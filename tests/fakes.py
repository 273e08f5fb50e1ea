"""Canned gateway responses and a scripted httpx.MockTransport for client-layer tests (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx

KEY = "ak_test_canary_9f8e7d6c5b4a"

ROUTING_METADATA = {
    "provider": "openai", "provider_model_id": "gpt-4o-2024-08-06", "model_canonical": "gpt-4o",
    "routing_strategy": "cost-focus", "ttft_ms": 212.5, "throughput_tps": 91.2,
    "cost": {"usd": 0.000105, "cache_savings_percent": 10, "cache_savings_usd": 0.00001, "hosted_tool_usd": 0.0},
    "warnings": [{"type": "unsupported_parameter", "code": "parameter_dropped", "message": "seed dropped"},
                 "plain string warning"],
    "future_field": {"kept": True},
}
USAGE = {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21,
         "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 0}}


def completion(text: str = "Hello there!", **over: Any) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1745100000, "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": USAGE, "system_fingerprint": "fp_1", "routing_metadata": ROUTING_METADATA,
    }
    body.update(over)
    return body


def chunk(content: str | None = None, *, finish: str | None = None, choices: bool = True,
          **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1745100000,
                         "model": "gpt-4o-2024-08-06", "choices": []}
    if choices:
        delta = {} if content is None else {"content": content}
        c["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    c.update(extra)
    return c


def sse(*events: dict[str, Any] | str, done: bool = True) -> bytes:
    out = []
    for e in events:
        out.append(e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def stream_body(words: Iterable[str] = ("Hel", "lo", " world")) -> bytes:
    first = chunk(None)
    first["choices"][0]["delta"] = {"role": "assistant"}
    parts: list[dict[str, Any] | str] = [first]
    parts += [chunk(w) for w in words]
    parts.append(chunk(None, finish="stop"))
    parts.append(chunk(choices=False, usage=USAGE, routing_metadata=ROUTING_METADATA))
    return sse(*parts)


def envelope(code: str, type_: str, message: str = "something failed", **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None,
                      "doc_url": f"https://docs.auriko.ai/errors/{code}", **extra}}


HEADERS = {"x-request-id": "req_abc123", "x-ratelimit-limit-requests": "600",
           "x-ratelimit-remaining-requests": "599", "x-ratelimit-reset-requests": "2026-11-25T10:00:00Z",
           "x-credits-balance-microdollars": "48500000"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers={**HEADERS, **(headers or {})})


def sse_response(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, headers={**HEADERS, "content-type": "text/event-stream"})


class Script:
    """A MockTransport handler that serves queued responses in order and records every request."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception) -> None:
        self.queue = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        if isinstance(item, Exception):
            raise item
        return item(request) if callable(item) else item

    def body(self, i: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[i].content)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def client_for(script: Script, **kw: Any) -> Any:
    import auriko_nb as ak

    kw.setdefault("api_key", KEY)
    kw.setdefault("base_url", "http://gateway.test")
    return ak.Client(transport=script.transport, **kw)
