"""On the same canned responses, our parse of routing_metadata, usage and errors agrees with the official
`auriko` SDK and the `openai` SDK (both given the canned bytes through their own mock transports)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import auriko
import httpx
import pytest
from fakes import (
    KEY,
    ROUTING_METADATA,
    Script,
    client_for,
    completion,
    envelope,
    json_response,
    sse_response,
    stream_body,
)


def _openai() -> tuple[Any, Any]:
    """The openai module and the HTTP library it is built on (httpx2 since openai 3, a hard dependency; httpx
    before). Imported here, not at module level: the `auriko` comparisons never depend on it, and both SDKs come
    with the dev extra, so a missing one fails the openai comparisons instead of skipping anything."""
    base = importlib.import_module("openai._base_client")
    return importlib.import_module("openai"), getattr(base, "httpx2", None) or base.httpx

# The SDK's StructuredWarning needs objects with a known type: give both the object form (ours also takes strings).
RM = {**ROUTING_METADATA, "warnings": [ROUTING_METADATA["warnings"][0]]}
BODY = completion(routing_metadata=RM)
STREAM = stream_body().replace(json.dumps(ROUTING_METADATA).encode(), json.dumps(RM).encode())
HEADERS = {"x-request-id": "req_abc123", "content-type": "application/json"}


def sdk_client(status: int, content: bytes, ctype: str = "application/json") -> Any:
    c = auriko.Client(api_key=KEY, base_url="http://gateway.test", max_retries=0)
    handler = lambda r: httpx.Response(status, content=content, headers={**HEADERS, "content-type": ctype})  # noqa: E731
    c._httpx = httpx.Client(base_url=c.base_url, headers=c._default_headers, transport=httpx.MockTransport(handler))
    return c


def openai_client(status: int, content: bytes, ctype: str = "application/json") -> Any:
    openai, httpx2 = _openai()
    handler = lambda r: httpx2.Response(status, content=content, headers={**HEADERS, "content-type": ctype})  # noqa: E731
    return openai.OpenAI(api_key=KEY, base_url="http://gateway.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


def ours(response: httpx.Response, **kw: Any) -> Any:
    return client_for(Script(response), max_retries=0).chat("hi", model="gpt-4o", **kw)


def test_non_streamed_metadata_and_usage_agree() -> None:
    mine = ours(json_response(BODY))
    theirs = sdk_client(200, json.dumps(BODY).encode()).chat.completions.create(
        messages=[{"role": "user", "content": "hi"}], model="gpt-4o")
    oa = openai_client(200, json.dumps(BODY).encode()).chat.completions.create(
        messages=[{"role": "user", "content": "hi"}], model="gpt-4o")
    oa_rm = auriko.route_types.parse_routing_metadata(oa)
    for other in (theirs.routing_metadata, oa_rm):
        assert other is not None and mine.routing_metadata is not None
        assert mine.routing_metadata.provider == other.provider
        assert mine.routing_metadata.provider_model_id == other.provider_model_id
        assert mine.routing_metadata.model_canonical == other.model_canonical
        assert mine.routing_metadata.routing_strategy == other.routing_strategy
        assert mine.routing_metadata.ttft_ms == other.ttft_ms
        assert mine.routing_metadata.throughput_tps == other.throughput_tps
        assert mine.routing_metadata.cost.usd == other.cost.usd
        assert mine.routing_metadata.cost.cache_savings_usd == other.cost.cache_savings_usd
        assert [w.code for w in mine.routing_metadata.warnings] == [w.code for w in other.warnings]
    for u in (theirs.usage, oa.usage):
        assert (mine.usage.prompt_tokens, mine.usage.completion_tokens, mine.usage.total_tokens) == (
            u.prompt_tokens, u.completion_tokens, u.total_tokens)
        assert mine.usage.cached_tokens == u.prompt_tokens_details.cached_tokens
    assert mine.text == theirs.choices[0].message.content == oa.choices[0].message.content


def test_streamed_metadata_usage_and_text_agree() -> None:
    mine = ours(sse_response(STREAM), stream=True).result
    s = sdk_client(200, STREAM, "text/event-stream").chat.completions.create(
        messages=[{"role": "user", "content": "hi"}], model="gpt-4o", stream=True)
    sdk_text = "".join((c.choices[0].delta.content or "") for c in s if c.choices)
    oa_chunks = list(openai_client(200, STREAM, "text/event-stream").chat.completions.create(
        messages=[{"role": "user", "content": "hi"}], model="gpt-4o", stream=True))
    oa_text = "".join((c.choices[0].delta.content or "") for c in oa_chunks if c.choices)
    assert mine.text == sdk_text == oa_text == "Hello world"
    assert s.routing_metadata is not None and mine.routing_metadata is not None
    assert mine.routing_metadata.cost.usd == s.routing_metadata.cost.usd
    assert mine.routing_metadata.provider == s.routing_metadata.provider
    assert mine.usage.total_tokens == s.usage.total_tokens == oa_chunks[-1].usage.total_tokens


ERRORS = [
    (400, "invalid_request_error", "latency_constraint_exceeded", "BadRequestError", "BadRequestError"),
    (401, "authentication_error", "invalid_api_key", "AuthenticationError", "AuthenticationError"),
    (403, "permission_error", "insufficient_permissions", "PermissionDeniedError", "PermissionDeniedError"),
    (404, "not_found_error", "model_not_found", "NotFoundError", "NotFoundError"),
    (409, "invalid_request_error", "duplicate_resource", "ConflictError", "ConflictError"),
    (429, "rate_limit_error", "rate_limit_exceeded", "RateLimitError", "RateLimitError"),
    (500, "api_error", "internal_error", "InternalServerError", "InternalServerError"),
    (503, "api_error", "no_provider_available", "APIStatusError", "InternalServerError"),
]
OUR_CLASS = {"BadRequestError": "BadRequestError", "AuthenticationError": "AuthenticationError",
             "PermissionDeniedError": "PermissionDeniedError", "NotFoundError": "NotFoundError",
             "ConflictError": "ConflictError", "RateLimitError": "RateLimitError",
             "InternalServerError": "ServerError", "APIStatusError": "ServerError"}


@pytest.mark.parametrize(("status", "type_", "code", "sdk_cls", "openai_cls"), ERRORS)
def test_errors_agree(status: int, type_: str, code: str, sdk_cls: str, openai_cls: str) -> None:
    body = json.dumps(envelope(code, type_, param="model")).encode()
    with pytest.raises(auriko.AurikoAPIError) as theirs:
        sdk_client(status, body).chat.completions.create(messages=[{"role": "user", "content": "hi"}], model="m")
    with pytest.raises(_openai()[0].APIStatusError) as oa:
        openai_client(status, body).chat.completions.create(messages=[{"role": "user", "content": "hi"}], model="m")
    with pytest.raises(Exception) as mine:
        ours(httpx.Response(status, content=body, headers=HEADERS))
    assert type(theirs.value).__name__ == sdk_cls and type(oa.value).__name__ == openai_cls
    assert type(mine.value).__name__ == OUR_CLASS[sdk_cls]
    m, t = mine.value, theirs.value
    assert (m.status_code, m.type, m.code, m.param, m.request_id) == (t.status_code, t.type, t.code, t.param,
                                                                      t.request_id)
    assert m.code == oa.value.code and m.status_code == oa.value.status_code
