"""Fault injection: each kind by header, deterministic rates, provider outages with fallback, the rpm limit."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from gateway_helpers import AUTH, chat, error_of, routing, sse_payloads
from starlette.applications import Starlette

from auriko_nb.offline import FAULT_KINDS, GatewayHandle, create_app


def _fault(kind: str) -> dict[str, str]:
    return {"X-Auriko-Fault": kind}


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/v1", headers=AUTH)


@pytest.mark.parametrize(("kind", "status", "type_", "code", "retryable"), [
    ("rate_limit", 429, "rate_limit_error", "rate_limit_exceeded", "true"),
    ("upstream_rate_limit", 429, "rate_limit_error", "rate_limit_exceeded", "true"),
    ("server_error", 500, "api_error", "internal_error", "false"),  # neither SDK retries internal_error (§9.2)
    ("unavailable", 503, "api_error", "service_unavailable", "true"),
    ("stream_error", 502, "api_error", "upstream_error", "true"),  # non-stream form
    ("budget_exhausted", 429, "rate_limit_error", "budget_exhausted", "false"),
])
async def test_error_faults(aclient: httpx.AsyncClient, app: Starlette, kind: str, status: int, type_: str,
                            code: str, retryable: str) -> None:
    r = await aclient.post("/chat/completions", json=chat(), headers=_fault(kind))
    assert r.status_code == status
    err = error_of(r)
    assert (err["type"], err["code"]) == (type_, code)
    assert r.headers["x-error-retryable"] == retryable and r.headers["x-auriko-offline"] == "simulation"
    assert "x-ratelimit-remaining-requests" in r.headers
    if kind in ("rate_limit", "upstream_rate_limit", "unavailable"):
        assert r.headers["retry-after"] == "1"  # 1 s x speed 0.01, in whole seconds (rounded up) as servers send it
    else:
        assert "retry-after" not in r.headers
    source = {"rate_limit": "auriko", "upstream_rate_limit": "upstream", "budget_exhausted": "auriko"}.get(kind)
    assert r.headers.get("x-rate-limit-source") == source  # on every 429, and only there
    assert err["provider"] == r.headers.get("x-error-provider") == ("openai" if kind == "upstream_rate_limit" else None)
    stats = app.state.sim.stats
    assert stats.faults == {kind: 1} and stats.requests[-1]["fault"] == kind and stats.successes == 0


async def test_stream_error_sends_chunks_then_error_payload(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/chat/completions", json=chat(stream=True), headers=_fault("stream_error"))
    assert r.status_code == 200
    events = sse_payloads(r.text)
    assert "[DONE]" not in events
    assert 1 <= sum(1 for e in events if "choices" in e) <= 3
    err = events[-1]["error"]
    assert (err["type"], err["code"]) == ("api_error", "upstream_error") and err["provider"] == "openai"

    r = await aclient.post("/responses", json={"model": "gpt-4o", "input": "hi", "stream": True},
                           headers=_fault("stream_error"))
    last = sse_payloads(r.text)[-1]
    assert (last["type"], last["code"]) == ("error", "upstream_error")  # flat §6.2 error event


async def test_malformed_json_and_html_error(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/chat/completions", json=chat(), headers=_fault("malformed_json"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)
    r = await aclient.post("/chat/completions", json=chat(stream=True), headers=_fault("malformed_json"))
    with pytest.raises(json.JSONDecodeError):
        sse_payloads(r.text)
    r = await aclient.post("/chat/completions", json=chat(), headers=_fault("html_error"))
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html") and "<html>" in r.text


async def test_short_stall_ends_in_504() -> None:
    app = create_app(speed=0.01, faults={"stall_seconds": 0.1})
    async with _client(app) as c:
        t0 = time.monotonic()
        r = await c.post("/chat/completions", json=chat(), headers=_fault("stall"))
    assert time.monotonic() - t0 >= 0.1
    assert r.status_code == 504 and error_of(r)["code"] == "upstream_timeout"


def test_disconnect_mid_stream_and_before_body(gateway: GatewayHandle, client: httpx.Client) -> None:
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError), client.stream(
            "POST", "/chat/completions", json=chat(stream=True), headers=_fault("disconnect")) as s:
        assert s.status_code == 200
        for line in s.iter_lines():
            received.append(line)
    assert any('"content"' in line for line in received) and "data: [DONE]" not in received
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=chat(), headers=_fault("disconnect"))
    assert gateway.stats.faults.get("disconnect", 0) >= 2
    ok = client.post("/chat/completions", json=chat())  # the server survives
    assert ok.status_code == 200


def test_stall_outlasts_client_timeout_and_is_cancelled(gateway: GatewayHandle) -> None:
    with httpx.Client(base_url=gateway.base_url, headers=AUTH, timeout=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.post("/chat/completions", json=chat(), headers=_fault("stall"))
        assert time.monotonic() - t0 < 2
    deadline = time.monotonic() + 3
    while gateway.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gateway.stats.in_flight == 0  # the 30 s stall was cancelled when the client went away


async def test_rates_are_deterministic_by_seed() -> None:
    async def statuses(seed: int) -> tuple[list[int], dict[str, int]]:
        app = create_app(seed=seed, speed=0.005, faults={"server_error": 0.3, "rate_limit": 0.2})
        async with _client(app) as c:
            out = [(await c.post("/chat/completions", json=chat(f"q{i}"))).status_code for i in range(30)]
        return out, dict(app.state.sim.stats.faults)

    a, faults_a = await statuses(5)
    b, faults_b = await statuses(5)
    other, _ = await statuses(6)
    assert a == b and faults_a == faults_b and a != other
    assert faults_a.get("server_error", 0) == a.count(500) > 0 and faults_a.get("rate_limit", 0) == a.count(429) > 0


async def test_provider_outage_falls_back_with_warning(aclient: httpx.AsyncClient, app: Starlette) -> None:
    r = await aclient.post("/chat/completions", json=chat(), headers=_fault("provider_down:openai"))
    meta = r.json()["routing_metadata"]
    assert meta["provider"] == "azure"
    [warning] = meta["warnings"]
    assert set(warning) == {"type", "code", "message"}  # the documented shape (§5.2), nothing else
    assert warning["type"] == "provider_timeout" and warning["message"].startswith("openai failed to respond")
    assert app.state.sim.stats.faults == {"provider_down": 1} and app.state.sim.stats.requests[-1]["fault"] == "provider_down"

    r = await aclient.post("/chat/completions", json=chat(gateway=routing(allow_fallbacks=False)),
                           headers=_fault("provider_down:openai"))
    assert r.status_code == 503 and error_of(r)["code"] == "no_provider_available"
    assert r.headers["x-error-retryable"] == "true" and error_of(r)["provider"] == "openai"
    r = await aclient.post("/chat/completions", json=chat(), headers=_fault("provider_down:openai,azure"))
    assert r.status_code == 503 and error_of(r)["type"] == "api_error"


async def test_max_fallback_attempts_and_server_level_outage() -> None:
    app = create_app(speed=0.005, faults={"providers_down": ["deepinfra", "groq"]})
    async with _client(app) as c:
        one = await c.post("/chat/completions", json=chat(model="llama-3.3-70b",
                                                          gateway=routing(max_fallback_attempts=1)))
        assert one.status_code == 503 and error_of(one)["code"] == "no_provider_available"
        two = await c.post("/chat/completions", json=chat(model="llama-3.3-70b",
                                                          gateway=routing(max_fallback_attempts=2)))
        meta = two.json()["routing_metadata"]
        assert meta["provider"] == "together"
        assert [w["message"].split()[0] for w in meta["warnings"]] == ["deepinfra", "groq"]


async def test_rpm_window_limits_then_recovers() -> None:
    app = create_app(speed=0.01, rpm=3)  # window = 60 s x 0.01 = 0.6 s
    async with _client(app) as c:
        first = [await c.post("/chat/completions", json=chat()) for _ in range(3)]
        assert [r.status_code for r in first] == [200, 200, 200]
        assert [r.headers["x-ratelimit-remaining-requests"] for r in first] == ["2", "1", "0"]
        limited = await c.post("/chat/completions", json=chat())
        assert limited.status_code == 429 and error_of(limited)["code"] == "rate_limit_exceeded"
        assert limited.headers["x-rate-limit-source"] == "auriko" and limited.headers["x-error-retryable"] == "true"
        # the window frees up within 0.6 s; Retry-After says it in whole seconds, rounded up, as servers do
        assert limited.headers["retry-after"] == "1" and "Retry after 1 second." in error_of(limited)["message"]
        await asyncio.sleep(0.62)
        assert (await c.post("/chat/completions", json=chat())).status_code == 200


async def test_unknown_fault_header_is_a_400(aclient: httpx.AsyncClient) -> None:
    r = await aclient.post("/chat/completions", json=chat(), headers=_fault("meteor"))
    assert r.status_code == 400 and error_of(r)["param"] == "X-Auriko-Fault"


def test_fault_config_validation() -> None:
    assert set(FAULT_KINDS) == {"rate_limit", "server_error", "unavailable", "stream_error", "disconnect",
                                "malformed_json", "html_error", "stall", "upstream_rate_limit", "budget_exhausted"}
    with pytest.raises(ValueError, match="unknown fault kind"):
        create_app(faults={"meteor": 0.1})
    with pytest.raises(ValueError, match="more than 1"):
        create_app(faults={"rate_limit": 0.7, "stall": 0.5})


async def test_exhausted_credits_are_a_non_retryable_429() -> None:
    app = create_app(speed=0.005, credit_usd=0.0005)
    async with _client(app) as c:
        statuses = [(await c.post("/chat/completions", json=chat(f"spend {i}"))).status_code for i in range(5)]
        assert statuses[0] == 200 and statuses[-1] == 429
        r = await c.post("/chat/completions", json=chat())
    err = error_of(r)
    assert (err["type"], err["code"]) == ("rate_limit_error", "insufficient_quota")
    assert r.headers["x-error-retryable"] == "false" and int(r.headers["x-credits-balance-microdollars"]) <= 0


async def test_in_process_disconnect_looks_like_a_dropped_connection(aclient: httpx.AsyncClient) -> None:
    for body in (chat(), chat(stream=True)):
        with pytest.raises(httpx.RemoteProtocolError):
            await aclient.post("/chat/completions", json=body, headers=_fault("disconnect"))
