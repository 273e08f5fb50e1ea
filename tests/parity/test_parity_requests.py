"""Request bytes: the same call made with the official `auriko` SDK and with auriko_nb sends the same JSON body
(compared as dicts) and the same auth and content-type headers: chat and Responses, streamed or not, all 20 routing
fields (§3.1), gateway metadata, OpenAI metadata and `extra_body`. Deliberate differences are asserted, not skipped."""

from __future__ import annotations

import json
from typing import Any

import auriko
import httpx
import pytest
from auriko.route_types import GatewayOptions, RoutingOptions
from fakes import KEY, ROUTING_METADATA, Script, client_for, completion, json_response

from auriko_nb.errors import RequestValidationError

ROUTING: dict[str, Any] = {  # all 20 fields of RoutingOptions, each with a value the SDK accepts
    "optimize": "ttft", "weights": {"cost": 1.0, "ttft": 2.0, "throughput": 0.5}, "max_cost_per_1m": 5.0,
    "max_ttft_ms": 800, "min_throughput_tps": 20.0, "ttft_percentile": "p95", "throughput_percentile": "p50",
    "providers": ["openai", "anthropic"], "exclude_providers": ["azure"], "prefer": "openai", "mode": "fallback",
    "allow_fallbacks": True, "max_fallback_attempts": 3, "timeout_ms": 10000, "deadline_ms": 30000,
    "data_policy": "zdr", "only_byok": False, "only_platform": True, "require_parameters": True, "tier": "standard",
}
METADATA = {"tags": ["exp-42", "parity"], "user_id": "u1", "trace_id": "t-abc", "custom_fields": {"team": "ml"}}
ANSWER = completion(routing_metadata={**ROUTING_METADATA, "warnings": []})  # a shape the SDK accepts
RESPONSE = {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o", "status": "completed",
            "output": [], "output_text": ""}


def test_routing_covers_all_20_fields() -> None:
    assert set(ROUTING) == set(RoutingOptions.model_fields) and len(ROUTING) == 20


def sdk_request(endpoint: str, **kw: Any) -> httpx.Request:
    """The request the SDK sends for `endpoint` with these arguments."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(ANSWER if endpoint == "chat" else RESPONSE)

    c = auriko.Client(api_key=KEY, base_url="http://gateway.test", max_retries=0)
    c._httpx = httpx.Client(base_url=c.base_url, headers=c._default_headers, transport=httpx.MockTransport(handler))
    if endpoint == "chat":
        out = c.chat.completions.create(messages=[{"role": "user", "content": "hi"}], **kw)
    else:
        out = c.responses.create(input="hi", **kw)
    if kw.get("stream"):
        out.close()
    return seen[0]


def ours_request(endpoint: str, **kw: Any) -> httpx.Request:
    """The request auriko_nb sends for `endpoint` with these arguments."""
    script = Script(json_response(ANSWER if endpoint == "chat" else RESPONSE))
    c = client_for(script, max_retries=0)
    out = (c.chat if endpoint == "chat" else c.responses)("hi", **kw)
    if kw.get("stream"):
        out.close()
    return script.requests[0]


def assert_same_request(sdk: httpx.Request, ours: httpx.Request) -> dict[str, Any]:
    body = json.loads(ours.content)
    assert body == json.loads(sdk.content)
    assert ours.url.path == sdk.url.path and ours.method == sdk.method == "POST"
    for h in ("authorization", "content-type"):
        assert ours.headers[h] == sdk.headers[h], h
    assert ours.headers["authorization"] == f"Bearer {KEY}"
    return body


@pytest.mark.parametrize("stream", [False, True])
def test_chat_with_every_routing_field_and_metadata(stream: bool) -> None:
    sdk = sdk_request("chat", model="gpt-4o", stream=stream, temperature=0.2, max_tokens=50, seed=7,
                      gateway=GatewayOptions(routing=RoutingOptions(**ROUTING), metadata=METADATA))
    ours = ours_request("chat", model="gpt-4o", stream=stream, temperature=0.2, max_tokens=50, seed=7,
                        routing=ROUTING, metadata=METADATA)
    body = assert_same_request(sdk, ours)
    assert body["gateway"] == {"routing": ROUTING, "metadata": METADATA} and body.get("stream") is (True if stream else None)


def test_chat_with_gateway_models_instead_of_model() -> None:
    sdk = sdk_request("chat", gateway={"models": ["gpt-4o", "claude-sonnet-4-6"], "routing": {"mode": "pool"}})
    ours = ours_request("chat", models=["gpt-4o", "claude-sonnet-4-6"], routing={"mode": "pool"})
    assert "model" not in assert_same_request(sdk, ours)


@pytest.mark.parametrize("stream", [False, True])
def test_responses_with_every_routing_field_and_both_metadata(stream: bool) -> None:
    sdk = sdk_request("responses", model="gpt-4o", stream=stream, instructions="be brief", max_output_tokens=60,
                      metadata={"experiment": "parity"},
                      gateway=GatewayOptions(routing=RoutingOptions(**ROUTING), metadata=METADATA))
    ours = ours_request("responses", model="gpt-4o", stream=stream, instructions="be brief", max_output_tokens=60,
                        response_metadata={"experiment": "parity"}, routing=ROUTING, metadata=METADATA)
    body = assert_same_request(sdk, ours)
    assert body["metadata"] == {"experiment": "parity"} and body["gateway"]["metadata"] == METADATA


def test_extra_body_quick_start_is_merged_not_nested() -> None:
    eb = {"gateway": {"routing": {"optimize": "ttft"}}}
    body = assert_same_request(sdk_request("chat", model="gpt-4o", extra_body=eb),
                               ours_request("chat", model="gpt-4o", extra_body=eb))
    assert "extra_body" not in body and body["gateway"] == {"routing": {"optimize": "ttft"}}


def test_extra_body_merges_with_typed_options_one_level_deep() -> None:
    eb = {"top_k": 5, "custom_flag": True, "gateway": {"metadata": METADATA}}
    sdk = sdk_request("chat", model="gpt-4o", gateway={"routing": {"optimize": "cost"}}, extra_body=eb)
    ours = ours_request("chat", model="gpt-4o", routing={"optimize": "cost"}, extra_body=eb)
    body = assert_same_request(sdk, ours)
    assert body["gateway"] == {"routing": {"optimize": "cost"}, "metadata": METADATA} and body["top_k"] == 5


def test_responses_extra_body_carries_openai_metadata_and_gateway() -> None:
    eb = {"metadata": {"run": "7"}, "gateway": {"routing": {"optimize": "tps"}}, "truncation": "auto"}
    body = assert_same_request(sdk_request("responses", model="gpt-4o", extra_body=eb),
                               ours_request("responses", model="gpt-4o", extra_body=eb))
    assert body["metadata"] == {"run": "7"} and body["gateway"] == {"routing": {"optimize": "tps"}}


def test_same_child_in_both_places_differs_on_purpose() -> None:
    """Deliberate: the SDK lets `extra_body.gateway.routing` replace the typed routing wholesale (optimize is
    silently dropped); we merge the two routing dicts field by field, so nothing the caller wrote is lost."""
    eb = {"gateway": {"routing": {"max_ttft_ms": 500}}}
    sdk = json.loads(sdk_request("chat", model="gpt-4o", gateway={"routing": {"optimize": "cost"}}, extra_body=eb).content)
    ours = json.loads(ours_request("chat", model="gpt-4o", routing={"optimize": "cost"}, extra_body=eb).content)
    assert sdk["gateway"]["routing"] == {"max_ttft_ms": 500}
    assert ours["gateway"]["routing"] == {"optimize": "cost", "max_ttft_ms": 500}
    assert {k: v for k, v in sdk.items() if k != "gateway"} == {k: v for k, v in ours.items() if k != "gateway"}


def test_a_real_conflict_differs_on_purpose() -> None:
    """Deliberate: the same field with two values is silently won by `extra_body` in the SDK; we refuse to send,
    with one line naming both places."""
    eb = {"gateway": {"routing": {"optimize": "ttft"}}}
    sdk = json.loads(sdk_request("chat", model="gpt-4o", gateway={"routing": {"optimize": "cost"}}, extra_body=eb).content)
    assert sdk["gateway"]["routing"] == {"optimize": "ttft"}
    with pytest.raises(RequestValidationError) as e:
        ours_request("chat", model="gpt-4o", routing={"optimize": "cost"}, extra_body=eb)
    msg = str(e.value)
    assert "\n" not in msg and "optimize" in msg and "extra_body" in msg and "routing" in msg
