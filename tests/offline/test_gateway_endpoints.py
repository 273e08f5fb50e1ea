"""Offline gateway endpoints through raw httpx: shapes, headers, SSE framing, validation errors, auth, records."""

from __future__ import annotations

import re

import httpx
import pytest
from auriko.models.common import ApiKeyIdentity
from auriko.models.providers import DirectoryResponse, ModelList, ModelsListResponse, ProviderList
from gateway_helpers import AUTH, KEY, chat, error_of, sse_payloads
from starlette.applications import Starlette

from auriko_nb.offline import GatewayHandle, create_app

RM_KEYS = {"provider", "provider_model_id", "model_canonical", "routing_strategy", "throughput_tps", "cost", "warnings"}
STREAM_RM_KEYS = RM_KEYS | {"ttft_ms"}  # the docs: routing_metadata.ttft_ms is for streams only


def _offline_headers(r: httpx.Response) -> None:
    assert r.headers["x-auriko-offline"] == "simulation"
    assert re.fullmatch(r"req_[0-9a-f]{24}", r.headers["x-request-id"])


def _inference_headers(r: httpx.Response) -> None:
    _offline_headers(r)
    assert int(r.headers["x-ratelimit-limit-requests"]) >= int(r.headers["x-ratelimit-remaining-requests"]) >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r.headers["x-ratelimit-reset-requests"])
    assert int(r.headers["x-credits-balance-microdollars"]) > 0


async def test_chat_plain_shape_and_headers(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/chat/completions", json=chat())
    assert r.status_code == 200
    _inference_headers(r)
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    rm = body["routing_metadata"]
    assert set(rm) >= RM_KEYS and "ttft_ms" not in rm  # a non-streamed answer has no time to first token
    assert rm["model_canonical"] == "gpt-4o" and body["model"] == rm["provider_model_id"]
    assert rm["routing_strategy"] == "cost-focus" and rm["cost"]["usd"] > 0 and rm["throughput_tps"] > 0


async def test_chat_stream_framing(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/chat/completions", json=chat(stream=True))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    _inference_headers(r)
    assert r.text.endswith("data: [DONE]\n\n")
    events = sse_payloads(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant" and first["content"]
    final = chunks[-1]
    assert final["choices"] == [] and final["usage"]["completion_tokens"] > 0
    assert set(final["routing_metadata"]) >= STREAM_RM_KEYS and final["routing_metadata"]["ttft_ms"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    plain = (await aclient.post("/chat/completions", json=chat())).json()
    assert text == plain["choices"][0]["message"]["content"]  # same seed + prompt -> same text


async def test_text_is_deterministic_by_seed_and_prompt() -> None:
    async def text(seed: int, prompt: str) -> str:
        app = create_app(seed=seed, speed=0.01)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/v1", headers=AUTH) as c:
            return str((await c.post("/chat/completions", json=chat(prompt))).json()["choices"][0]["message"]["content"])

    assert await text(1, "Why is the sky blue?") == await text(1, "Why is the sky blue?")
    assert await text(1, "Why is the sky blue?") != await text(2, "Why is the sky blue?")
    assert await text(1, "Why is the sky blue?") != await text(1, "How do tides work?")


async def test_max_tokens_truncates_with_length(aclient: httpx.AsyncClient) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        body = (await aclient.post("/chat/completions", json=chat(**{field: 3}))).json()
        assert body["choices"][0]["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 3
    r = await aclient.post("/responses", json={"model": "gpt-4o", "input": "hello", "max_output_tokens": 4})
    assert r.json()["status"] == "incomplete" and r.json()["usage"]["output_tokens"] == 4
    assert r.json()["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_responses_plain_and_stream(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/responses", json={"model": "claude-haiku-4-5", "input": "Explain SSE",
                                               "instructions": "Be brief"})
    assert r.status_code == 200
    _inference_headers(r)
    body = r.json()
    assert body["object"] == "response" and body["status"] == "completed" and body["id"].startswith("resp_")
    assert body["output"][0]["content"][0]["text"] == body["output_text"] != ""
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    assert set(body["routing_metadata"]) >= RM_KEYS and body["instructions"] == "Be brief"
    assert "ttft_ms" not in body["routing_metadata"]

    s = await aclient.post("/responses", json={"model": "claude-haiku-4-5", "input": "Explain SSE",
                                               "instructions": "Be brief", "stream": True})
    events = sse_payloads(s.text)
    types = [e["type"] for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = events[-1]["response"]
    assert deltas == done["output_text"] == body["output_text"]
    assert set(done["routing_metadata"]) >= STREAM_RM_KEYS and done["usage"]["output_tokens"] > 0


async def test_models_listing_and_retrieve(aclient: httpx.AsyncClient) -> None:
    chat_models = ModelList.model_validate((await aclient.get("/models")).json())
    all_models = ModelList.model_validate((await aclient.get("/models", params={"endpoint": "responses"})).json())
    chat_ids, all_ids = {m.id for m in chat_models.data}, {m.id for m in all_models.data}
    assert len(chat_ids) >= 10 and "o3-pro" not in chat_ids and "o3-pro" in all_ids and chat_ids < all_ids
    assert chat_models.catalog_version and chat_models.catalog_age_seconds is not None
    assert all(m.owned_by == "auriko" and 2 <= len(m.providers or []) <= 5 for m in all_models.data)
    r = await aclient.get("/models/anthropic/claude-sonnet-4-6")
    assert r.status_code == 200 and r.json()["id"] == "claude-sonnet-4-6"
    missing = await aclient.get("/models/gpt-17")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "model_not_found" and error_of(missing)["type"] == "not_found_error"


async def test_discovery_endpoints_need_no_key(app: Starlette) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/v1") as anon:
        providers = ProviderList.model_validate((await anon.get("/registry/providers")).json())
        registry = ModelsListResponse.model_validate((await anon.get("/registry/models")).json())
        directory = DirectoryResponse.model_validate((await anon.get("/directory/models")).json())
        assert (await anon.get("/models")).status_code == 401
    assert providers.count == len(providers.providers) >= 8
    assert registry.count >= 10
    gpt = directory.models["gpt-4o"]
    assert "gpt-4o-2024-08-06" in (gpt.aliases or [])
    tiers = {(p.provider, t.name): t for p in gpt.providers for t in p.tiers or []}
    assert tiers[("openai", "standard")].input_price == 2.5 and tiers[("openai", "standard")].cache_read_price == 1.25
    sonnet = directory.models["claude-sonnet-4-6"]
    assert any(t.name == "priority" for p in sonnet.providers for t in p.tiers or [])


async def test_me_shape_never_echoes_key(aclient: httpx.AsyncClient) -> None:
    r = await aclient.get("/me")
    me = ApiKeyIdentity.model_validate(r.json())
    assert me.workspace.id and me.rate_limits.inference_rpm > 0
    assert KEY not in r.text


async def test_billing_balance_requires_session_token(aclient: httpx.AsyncClient, app: Starlette) -> None:
    ws = app.state.sim.workspace_id
    with_key = await aclient.get(f"/workspaces/{ws}/billing/balance")
    assert with_key.status_code in (401, 403) and "session token" in error_of(with_key)["message"]
    jwt = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"}
    ok = await aclient.get(f"/workspaces/{ws}/billing/balance", headers=jwt)
    assert ok.status_code == 200
    bal = ok.json()
    assert bal["balance_microdollars"] == 25_000_000 and bal["balance_usd"] == "25.00" and bal["balance_cents"] == 2500
    assert (await aclient.get("/workspaces/ws_other/billing/balance", headers=jwt)).status_code == 404


@pytest.mark.parametrize("auth", [None, "Bearer sk-not-auriko", "Basic ak_test", "Bearer "])
async def test_inference_rejects_missing_or_malformed_key(app: Starlette, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/v1", headers=headers) as c:
        r = await c.post("/chat/completions", json=chat())
    assert r.status_code == 401
    _offline_headers(r)
    err = error_of(r)
    assert (err["type"], err["code"]) == ("authentication_error", "invalid_api_key")
    assert r.headers["x-error-retryable"] == "false" and r.headers["x-error-type"] == "authentication"


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"model": "gpt-4o"}, "missing_required_parameter", "messages"),
    (chat(gateway={"models": ["gpt-4o"]}), "invalid_parameter_value", "gateway.models"),
    (chat(model=None), "missing_required_parameter", "model"),
    (chat(gateway={"metadata": {"tags": ["t"] * 101}}), "invalid_parameter_value", "gateway.metadata.tags"),
    (chat(gateway={"metadata": {"user_id": "u" * 256}}), "invalid_parameter_value", "gateway.metadata.user_id"),
    (chat(gateway={"metadata": {"custom_fields": {f"k{i}": "v" for i in range(11)}}}), "invalid_parameter_value",
     "gateway.metadata.custom_fields"),
    (chat(gateway={"routing": {"optimize": "fastest"}}), "invalid_parameter_value", "gateway.routing.optimize"),
    (chat(gateway={"routing": {"optimise": "cost"}}), "unknown_field", "gateway.routing.optimise"),
    (chat(model="gpt-4o:warp"), "invalid_parameter_value", "model"),
    (chat(model="o3-pro"), "response_api_only", "model"),
    (chat(temperature=3), "invalid_parameter_value", "temperature"),
    ({"model": "gpt-4o", "messages": []}, "invalid_parameter_value", "messages"),
])
async def test_invalid_chat_bodies(aclient: httpx.AsyncClient, body: dict, code: str, param: str) -> None:
    r = await aclient.post("/chat/completions", json=body)
    assert r.status_code == 400
    err = error_of(r)
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", code, param)
    assert "\n" not in err["message"]


async def test_invalid_responses_and_json(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/responses", json={"model": "gpt-4o", "input": "x", "store": True})
    assert r.status_code == 400 and error_of(r)["param"] == "store"
    r = await aclient.post("/responses", json={"model": "gpt-4o"})
    assert error_of(r)["code"] == "missing_required_parameter" and error_of(r)["param"] == "input"
    r = await aclient.post("/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_request"
    r = await aclient.post("/chat/completions", json=chat(model="gpt-99"))
    assert r.status_code == 404 and error_of(r)["code"] == "model_not_found"


async def test_unknown_route_and_method(aclient: httpx.AsyncClient) -> None:
    r = await aclient.get("/nope")
    assert r.status_code == 404 and error_of(r)["code"] == "resource_not_found"
    _offline_headers(r)
    r = await aclient.get("/chat/completions")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"


async def test_records_and_balance(aclient: httpx.AsyncClient, app: Starlette) -> None:
    stats = app.state.sim.stats
    r1 = await aclient.post("/chat/completions", json=chat(gateway={"metadata": {"tags": ["exp-1"]}}),
                            headers={"X-Trace": "t1"})
    rec = stats.requests[-1]
    assert rec["body"]["gateway"] == {"metadata": {"tags": ["exp-1"]}}
    assert rec["method"] == "POST" and rec["path"] == "/v1/chat/completions" and rec["status"] == 200
    assert rec["headers"]["x-trace"] == "t1" and "authorization" not in rec["headers"]
    assert rec["request_id"] == r1.headers["x-request-id"] and rec["provider"] == "openai" and rec["fault"] is None
    assert KEY not in repr(stats.requests)
    r2 = await aclient.post("/chat/completions", json=chat("another prompt"))
    fall = int(r1.headers["x-credits-balance-microdollars"]) - int(r2.headers["x-credits-balance-microdollars"])
    assert abs(fall - r2.json()["routing_metadata"]["cost"]["usd"] * 1e6) <= 1
    assert 25_000_000 - int(r1.headers["x-credits-balance-microdollars"]) == pytest.approx(
        r1.json()["routing_metadata"]["cost"]["usd"] * 1e6, abs=1)
    assert stats.successes == 2 and stats.in_flight == 0 and stats.max_in_flight >= 1
    stats.reset()
    assert stats.requests == [] and stats.successes == 0


def test_loopback_chat_and_stream(gateway: GatewayHandle, client: httpx.Client) -> None:
    r = client.post("/chat/completions", json=chat())
    assert r.status_code == 200 and r.json()["routing_metadata"]["provider"] == "openai"
    _inference_headers(r)
    with client.stream("POST", "/chat/completions", json=chat(stream=True)) as s:
        assert s.headers["x-auriko-offline"] == "simulation"
        text = "".join(s.iter_text())
    assert sse_payloads(text)[-1] == "[DONE]"
    assert gateway.stats.requests[-1]["body"]["stream"] is True
