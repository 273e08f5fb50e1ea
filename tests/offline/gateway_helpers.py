"""Shared helpers for the offline gateway tests (a uniquely named module, importable from every test file)."""

from __future__ import annotations

import json
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
