"""Shared helpers for the offline gateway tests (a uniquely named module, importable from every test file)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

KEY = "ak_test_offline_suite"
AUTH = {"Authorization": f"Bearer {KEY}"}


def chat(content: str = "Explain prompt caching", model: str | None = "gpt-4o", **extra: Any) -> dict[str, Any]:
    """A chat body with one user message."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": content}], **extra}
    if model is not None:
        body["model"] = model
    return body


def routing(**options: Any) -> dict[str, Any]:
    """The `gateway` field carrying these routing options."""
    return {"routing": options}


def sse_payloads(text: str) -> list[Any]:
    """The decoded `data:` payloads of an SSE body ("[DONE]" kept as the string)."""
    out: list[Any] = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = line[6:]
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The inner error object of an envelope response (checks the envelope shape on the way)."""
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"error"}
    err: dict[str, Any] = body["error"]
    assert {"message", "type", "code", "param", "doc_url", "provider"} <= set(err)
    assert err["doc_url"] == f"https://docs.auriko.ai/errors/{err['code']}"
    return err


def stream_first_content(client: httpx.Client, path: str, body: dict[str, Any],
                         is_content: Callable[[dict[str, Any]], bool]) -> tuple[float, dict[str, Any], httpx.Response]:
    """Stream a call: (ms from send to the first content event, the last payload (it carries routing_metadata),
    the response)."""
    t0 = time.perf_counter()
    first = None
    last: dict[str, Any] = {}
    with client.stream("POST", path, json=body) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            payload = json.loads(line[6:])
            if first is None and is_content(payload):
                first = (time.perf_counter() - t0) * 1000
            last = payload
    assert r.status_code == 200 and first is not None
    return first, last, r


def chat_content(p: dict[str, Any]) -> bool:
    """Whether a chat chunk carries text."""
    return bool(p.get("choices") and p["choices"][0]["delta"].get("content"))


def responses_content(p: dict[str, Any]) -> bool:
    """Whether a Responses event is a text delta."""
    return p.get("type") == "response.output_text.delta"
