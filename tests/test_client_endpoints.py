"""Every endpoint of §2, sync and async, against canned responses through httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest
from fakes import KEY, USAGE, Script, client_for, completion, json_response, sse, sse_response, stream_body

import auriko_nb as ak

MODELS = {"object": "list", "catalog_version": "9950bdc087663c7b", "catalog_age_seconds": 120,
          "data": [{"id": "gpt-4o", "object": "model", "created": 1776656101, "owned_by": "auriko",
                    "context_window": 128000, "supported_endpoints": ["chat_completions", "responses"],
                    "providers": [{"name": "openai", "input_price": 2.5, "output_price": 10,
                                   "data_policy": "no_training"}]}]}
ME = {"credential_type": "api_key", "status": "active", "profile": "default", "key_id": "key_1",
      "key_prefix": "ak_test_ca", "key_name": "notebook", "workspace": {"id": "ws_1", "name": "Lab"},
      "scopes": ["inference"], "rate_limits": {"inference_rpm": 120, "management_reads_rpm": 60,
                                               "management_writes_rpm": 10},
      "expires_at": None, "created_at": "2026-01-01T00:00:00Z"}
PROVIDERS = {"providers": [{"id": "anthropic", "display_name": "Anthropic", "description": "d", "icon": "i",
                            "data_policy": "no_training"}], "count": 1}
REGISTRY = {"models": [{"id": "claude-sonnet-4-6", "family": "claude", "display_name": "Claude Sonnet 4.6",
                        "capabilities": {"tools": True}, "input_modalities": ["text"], "output_modalities": ["text"],
                        "providers": ["anthropic", "bedrock"], "has_free_provider": False}], "count": 1}
DIRECTORY = {"generated_at": "2026-11-25T00:00:00Z", "models": {"gpt-4o": {
    "family": "gpt-4o", "display_name": "GPT-4o", "providers": [
        {"provider": "openai", "provider_model_id": "gpt-4o-2024-08-06",
         "tiers": [{"name": "standard", "input_price": 2.5, "output_price": 10}]}]}}}
RESPONSE = {"id": "resp_1", "object": "response", "created_at": 1745100000, "model": "gpt-4o", "status": "completed",
            "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": "Hi from responses", "annotations": []}]},
                       {"type": "web_search_call", "id": "ws_1", "status": "completed"}],
            "output_text": "Hi from responses",
            "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8,
                      "input_tokens_details": {"cached_tokens": 0}},
            "routing_metadata": {"provider": "openai", "provider_model_id": "gpt-4o", "model_canonical": "gpt-4o",
                                 "routing_strategy": "balanced", "cost": {"usd": 0.00004}}}


def route(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    table = {"/v1/models": MODELS, "/v1/models/gpt-4o": MODELS["data"][0], "/v1/me": ME,
             "/v1/registry/providers": PROVIDERS, "/v1/registry/models": REGISTRY, "/v1/directory/models": DIRECTORY,
             "/v1/workspaces/ws_1/billing/balance": {"balance_microdollars": 48500000, "balance_usd": "48.50"}}
    if path == "/v1/chat/completions":
        if json.loads(request.content).get("stream"):
            return sse_response(stream_body())
        return json_response(completion())
    if path == "/v1/responses":
        return json_response(RESPONSE)
    return json_response(table[path])


def test_chat_plain_returns_result_with_everything() -> None:
    script = Script(route)
    res = client_for(script).chat("Hello", model="gpt-4o", routing={"optimize": "cost", "max_ttft_ms": 1000},
                                  metadata={"tags": ["exp-1"]}, temperature=0.2, seed=7)
    req = script.requests[0]
    assert req.method == "POST" and str(req.url) == "http://gateway.test/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert script.body() == {"messages": [{"role": "user", "content": "Hello"}], "model": "gpt-4o",
                             "temperature": 0.2, "seed": 7,
                             "gateway": {"routing": {"optimize": "cost", "max_ttft_ms": 1000},
                                         "metadata": {"tags": ["exp-1"]}}}
    assert res.text == "Hello there!"
    assert res.request_id == "req_abc123"
    rm = res.routing_metadata
    assert rm and rm.provider == "openai" and rm.routing_strategy == "cost-focus" and rm.cost and rm.cost.usd == 0.000105
    assert res.usage.prompt_tokens == 14 and res.usage.cached_tokens == 4
    assert res.headers.ratelimit_limit == 600 and res.headers.ratelimit_remaining == 599
    assert res.headers.ratelimit_reset == "2026-11-25T10:00:00Z"
    assert res.headers.credits_balance_usd == 48.5
    assert res.attempts == 1 and res.ttft_ms is None and res.headers_ms is not None and res.latency_ms is not None
    assert res.latency_ms >= res.headers_ms >= 0
    assert "stream" not in script.body()


def test_chat_with_message_list_and_system() -> None:
    script = Script(route)
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    client_for(script).chat(msgs, model="gpt-4o", system="be brief", max_tokens=5)
    body = script.body()
    assert body["messages"] == [{"role": "system", "content": "be brief"}, *msgs] and body["max_tokens"] == 5


def test_chat_stream_yields_deltas_then_result() -> None:
    script = Script(route)
    stream = client_for(script).chat("Hello", model="gpt-4o", stream=True)
    assert stream.request_id == "req_abc123"
    assert list(stream) == ["Hel", "lo", " world"]
    res = stream.result
    assert res.text == "Hello world" and script.body()["stream"] is True
    assert res.routing_metadata and res.routing_metadata.ttft_ms == 212.5
    assert res.usage.total_tokens == USAGE["total_tokens"]
    assert res.response.choices[0].finish_reason == "stop"
    assert script.requests[0].headers["accept"] == "text/event-stream"


def test_responses_plain_and_streamed() -> None:
    script = Script(route)
    client = client_for(script)
    res = client.responses("Say hi", model="gpt-4o", instructions="be nice", max_output_tokens=20)
    assert script.body()["input"] == "Say hi" and script.body()["instructions"] == "be nice"
    assert res.text == "Hi from responses" and res.routing_metadata and res.routing_metadata.routing_strategy == "balanced"
    assert res.response.output[1]["type"] == "web_search_call"
    assert res.to_record()["prompt_tokens"] == 5 and res.to_record()["endpoint"] == "responses"

    final = {**RESPONSE, "output_text": "Hi there"}
    events = sse({"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
                 {"type": "response.output_text.delta", "delta": "Hi", "item_id": "m", "output_index": 0},
                 {"type": "response.some_future_event", "x": 1},
                 {"type": "response.output_text.delta", "delta": " there", "item_id": "m", "output_index": 0},
                 {"type": "response.completed", "response": final}, done=False)
    script2 = Script(sse_response(events))
    stream = client_for(script2).responses("Say hi", model="gpt-4o", stream=True)
    assert list(stream) == ["Hi", " there"]
    assert stream.result.text == "Hi there" and stream.result.routing_metadata is not None
    assert stream.result.to_record()["completion_tokens"] == 3


def test_discovery_and_account_endpoints() -> None:
    script = Script(route)
    client = client_for(script)
    models = client.models()
    assert models.ids == ["gpt-4o"] and models.catalog_version == "9950bdc087663c7b"
    assert models.data[0].providers and models.data[0].providers[0].input_price == 2.5
    client.models(endpoint="responses")
    assert script.requests[-1].url.params["endpoint"] == "responses"
    assert client.model("gpt-4o").context_window == 128000
    assert client.me().workspace_id == "ws_1"
    assert client.registry_providers().ids == ["anthropic"]
    assert client.registry_models().models[0].providers == ["anthropic", "bedrock"]
    assert client.directory().models["gpt-4o"].providers[0].tiers[0].output_price == 10
    bal = client.billing_balance("ws_1", session_token="eyJhbGciOi.eyJzdWIi.sig")
    assert bal.balance_microdollars == 48500000
    assert script.requests[-1].headers["authorization"] == "Bearer eyJhbGciOi.eyJzdWIi.sig"


def test_public_endpoints_work_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    script = Script(route)
    client = ak.Client(base_url="http://gateway.test", transport=script.transport)
    assert client.registry_providers().count == 1
    assert "authorization" not in script.requests[-1].headers
    with pytest.raises(ak.AuthenticationError) as info:
        client.chat("hi", model="gpt-4o")
    assert info.value.code == "missing_api_key" and "AURIKO_API_KEY" in str(info.value)
    assert len(script.requests) == 1


def test_billing_balance_needs_a_session_token() -> None:
    client = client_for(Script(route))
    with pytest.raises(ak.AuthenticationError, match="session token"):
        client.billing_balance("ws_1")
    with pytest.raises(ak.AuthenticationError, match="ak_ API key is not accepted"):
        client.billing_balance("ws_1", session_token=KEY)


def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", "http://env-gateway.test/")
    script = Script(route)
    client = ak.Client(transport=script.transport)
    assert client.base_url == "http://env-gateway.test/v1" and client.has_key
    client.me()
    assert str(script.requests[0].url) == "http://env-gateway.test/v1/me"
    assert script.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert ak.Client(api_key="x", base_url="http://h/v1/").base_url == "http://h/v1"


def test_defaults_match_the_official_sdk() -> None:
    client = ak.Client(api_key=KEY)
    assert client.timeout == 60.0 and client.max_retries == 2
    assert client.base_url == "https://api.auriko.ai/v1"


def test_injected_http_client_is_used_and_not_closed() -> None:
    script = Script(route)
    http = httpx.Client(transport=script.transport)
    with ak.Client(api_key=KEY, base_url="http://gateway.test", http_client=http) as client:
        client.models()
    assert len(script.requests) == 1 and not http.is_closed


async def test_async_client_every_endpoint() -> None:
    script = Script(route)
    async with ak.AsyncClient(api_key=KEY, base_url="http://gateway.test",
                              transport=httpx.MockTransport(script)) as client:
        res = await client.chat("Hello", model="gpt-4o", routing=ak.Routing(optimize="ttft"))
        assert res.text == "Hello there!" and script.body()["gateway"]["routing"] == {"optimize": "ttft"}
        stream = await client.chat("Hello", model="gpt-4o", stream=True)
        assert [d async for d in stream] == ["Hel", "lo", " world"]
        assert stream.result.text == "Hello world"
        stream2 = await client.chat("Hello", model="gpt-4o", stream=True)
        assert (await stream2.get_result()).text == "Hello world"
        assert (await client.responses("Say hi", model="gpt-4o")).text == "Hi from responses"
        assert (await client.models()).ids == ["gpt-4o"]
        assert (await client.model("gpt-4o")).id == "gpt-4o"
        assert (await client.me()).workspace_id == "ws_1"
        assert (await client.registry_providers()).count == 1
        assert (await client.registry_models()).count == 1
        assert "gpt-4o" in (await client.directory()).models
        assert (await client.billing_balance("ws_1", session_token="a.b.c")).balance_usd == "48.50"


def test_every_call_emits_one_record_through_on_record() -> None:
    rows: list[dict] = []
    script = Script(route)
    client = client_for(script, on_record=rows.append)
    client.chat("Hello", model="gpt-4o:ttft", metadata={"tags": ["t1"], "trace_id": "tr-1"})
    list(client.chat("Hello", model="gpt-4o", stream=True))
    client.models()
    assert len(rows) == 2
    assert rows[0]["optimize"] == "ttft" and rows[0]["tags"] == '["t1"]' and rows[0]["trace_id"] == "tr-1"
    assert rows[1]["stream"] is True and rows[1]["status"] == "ok" and rows[1]["ttft_ms_client"] is not None
    assert rows[0]["stream"] is False and rows[0]["ttft_ms_client"] is None and rows[0]["headers_ms_client"] is not None
    assert 0 <= rows[1]["headers_ms_client"] <= rows[1]["ttft_ms_client"] <= rows[1]["latency_ms"]
    assert set(rows[0]) == set(ak.RECORD_COLUMNS)
