"""Offline fidelity details: whole-second Retry-After, X-Rate-Limit-Source, simulated budgets, retryability,
the warnings shape and no ttft_ms on non-streamed answers, checked raw and through the official SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import auriko
import httpx
import openai
import pytest
from gateway_helpers import AUTH, KEY, chat, error_of
from starlette.applications import Starlette

import auriko_nb as ak
from auriko_nb.offline import BudgetConfig, GatewayHandle, create_app, serve
from auriko_nb.offline.envelope import retry_after

MESSAGES = [{"role": "user", "content": "Summarise the benefits of routing"}]


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/v1", headers=AUTH)


def _inference(gw: GatewayHandle) -> list[dict[str, Any]]:
    return [r for r in gw.stats.requests if r["path"].startswith("/v1/chat") or r["path"].startswith("/v1/resp")]


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after(s) for s in (0.01, 0.05, 0.6, 1.0, 1.0000000001, 2.5, 12.0)] == \
        ["1", "1", "1", "1", "1", "3", "12"]


async def test_retry_after_scales_with_speed_in_whole_seconds() -> None:
    async with _client(create_app(speed=2.5)) as c:
        r = await c.post("/chat/completions", json=chat(), headers={"X-Auriko-Fault": "rate_limit"})
    assert r.headers["retry-after"] == "3" and "Retry after 3 seconds." in error_of(r)["message"]  # 1 s x 2.5


# -- budgets -------------------------------------------------------------------------------------------------------


def _budget_429(r: httpx.Response, period: str, scope: str) -> dict[str, Any]:
    assert r.status_code == 429
    err = error_of(r)
    assert (err["type"], err["code"]) == ("rate_limit_error", "budget_exhausted")
    assert r.headers["x-budget-exceeded"] == "true"
    assert (r.headers["x-budget-exceeded-period"], r.headers["x-budget-exceeded-scope"]) == (period, scope)
    assert r.headers[f"x-budget-{period}-limit"] and r.headers[f"x-budget-{period}-spend"]
    assert r.headers["x-rate-limit-source"] == "auriko" and r.headers["x-error-retryable"] == "false"
    assert "retry-after" not in r.headers  # waiting seconds does not help
    return err


async def test_a_configured_budget_reports_spend_then_refuses_with_429() -> None:
    app = create_app(speed=0.005, budget=0.0005)
    async with _client(app) as c:
        spent, responses = 0.0, []
        for i in range(20):
            r = await c.post("/chat/completions", json=chat(f"budget {i}"))
            responses.append(r)
            if r.status_code != 200:
                break
            spent += r.json()["routing_metadata"]["cost"]["usd"]
            assert r.headers["x-budget-daily-limit"] == "0.000500"
            assert float(r.headers["x-budget-daily-spend"]) == pytest.approx(spent, abs=1e-6)  # this call included
        me = await c.get("/me")
    assert responses[0].status_code == 200 and 2 <= len(responses) < 20
    last = responses[-1]
    _budget_429(last, "daily", "workspace")
    assert spent >= 0.0005 and float(last.headers["x-budget-daily-spend"]) == pytest.approx(spent, abs=1e-6)
    assert spent - responses[-2].json()["routing_metadata"]["cost"]["usd"] < 0.0005  # refused only once reached
    assert me.headers["x-budget-daily-limit"] == "0.000500" and me.headers["x-budget-daily-spend"]
    assert app.state.sim.stats.successes == len(responses) - 1


async def test_budget_period_and_scope_and_the_fault_forms() -> None:
    app = create_app(speed=0.005, budget={"limit_usd": 0, "period": "weekly", "scope": "api_key"})
    async with _client(app) as c:
        _budget_429(await c.post("/chat/completions", json=chat()), "weekly", "api_key")
        r = await c.post("/responses", json={"model": "gpt-4o", "input": "hi"})
        _budget_429(r, "weekly", "api_key")
        assert r.headers["x-budget-weekly-limit"] == "0.000000"
    async with _client(create_app(speed=0.005)) as c:  # no budget configured: every fault form still works
        plain = await c.post("/chat/completions", json=chat())
        assert not any(k.startswith("x-budget-") for k in plain.headers)
        r = await c.post("/chat/completions", json=chat(), headers={"X-Auriko-Fault": "budget_exhausted"})
        _budget_429(r, "daily", "workspace")
        assert r.headers["x-budget-daily-limit"] == r.headers["x-budget-daily-spend"]  # reached just now
        r = await c.post("/chat/completions", json=chat(), headers={"X-Auriko-Fault": "budget_exhausted:monthly:byok_provider"})
        _budget_429(r, "monthly", "byok_provider")
        bad = await c.post("/chat/completions", json=chat(), headers={"X-Auriko-Fault": "budget_exhausted:yearly"})
        assert bad.status_code == 400 and error_of(bad)["param"] == "X-Auriko-Fault"
    async with _client(create_app(speed=0.005, faults={"budget_exhausted": 1.0})) as c:
        _budget_429(await c.post("/chat/completions", json=chat()), "daily", "workspace")


def test_budget_config_validation() -> None:
    assert BudgetConfig.coerce(2) == BudgetConfig(2.0, "daily", "workspace")
    for bad in (-1, {"limit_usd": 1, "period": "yearly"}, {"limit_usd": 1, "scope": "team"}, {"limit_usd": 1, "x": 1},
                float("nan"), "10"):
        with pytest.raises(ValueError):
            BudgetConfig.coerce(bad)  # type: ignore[arg-type]


# -- retryability and the SDKs --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def budget_gw() -> Iterator[GatewayHandle]:
    with serve(speed=0.05, budget=0.0) as gw:
        yield gw


@pytest.mark.parametrize("fault", ["server_error", "budget_exhausted"])
def test_the_sdks_do_not_retry_what_the_gateway_calls_not_retryable(gateway: GatewayHandle, fault: str) -> None:
    """X-Error-Retryable agrees with the SDK (§9.2): false on internal_error and budget_exhausted, one attempt each."""
    before = len(_inference(gateway))
    with openai.OpenAI(api_key=KEY, base_url=gateway.base_url, max_retries=0) as oa, \
            pytest.raises(openai.APIStatusError) as info:
        oa.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"X-Auriko-Fault": fault})
    assert info.value.response.headers["x-error-retryable"] == "false"
    assert len(_inference(gateway)) == before + 1
    rows: list[dict] = []
    with pytest.raises(ak.AurikoError) as mine:
        ak.Client(KEY, base_url=gateway.base_url, max_retries=2, on_record=rows.append).chat(
            "hi", model="gpt-4o", extra_headers={"X-Auriko-Fault": fault})
    assert not mine.value.retryable and rows[-1]["attempts"] == 1
    assert len(_inference(gateway)) == before + 2


@pytest.fixture(scope="module")
def upstream_limited() -> Iterator[GatewayHandle]:
    """Every inference call is rate limited by the provider (the auriko SDK cannot send custom headers)."""
    with serve(speed=0.05, faults={"upstream_rate_limit": 1.0}) as gw:
        yield gw


def test_auriko_sdk_against_budget_and_rate_limits(budget_gw: GatewayHandle, upstream_limited: GatewayHandle) -> None:
    with auriko.Client(api_key=KEY, base_url=budget_gw.base_url, max_retries=2) as c, \
            pytest.raises(auriko.RateLimitError) as info:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert info.value.code == "budget_exhausted" and info.value.retry_after_seconds is None
    assert len(_inference(budget_gw)) == 1  # the SDK did not retry it
    headers = info.value.response_headers
    assert headers is not None and headers.get("X-Budget-Exceeded-Scope") == "workspace"

    with auriko.Client(api_key=KEY, base_url=upstream_limited.base_url, max_retries=0) as c, \
            pytest.raises(auriko.RateLimitError) as limited:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert limited.value.retry_after_seconds == 1.0 and limited.value.provider == "openai"
    assert limited.value.response_headers is not None
    assert limited.value.response_headers.get("X-Rate-Limit-Source") == "upstream"


def test_auriko_nb_reads_the_budget_429(budget_gw: GatewayHandle) -> None:
    with pytest.raises(ak.RateLimitError) as info:
        ak.Client(KEY, base_url=budget_gw.base_url, max_retries=2).chat("hi", model="gpt-4o")
    err = info.value
    assert err.code == "budget_exhausted" and not err.retryable and err.status_code == 429


# -- response shapes through the SDKs ----------------------------------------------------------------------------


def test_sdks_see_no_ttft_on_non_streamed_answers_and_documented_warnings(gateway: GatewayHandle) -> None:
    with auriko.Client(api_key=KEY, base_url=gateway.base_url, max_retries=0) as c:
        r = c.chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES, seed=1)
        rm = r.routing_metadata
        assert rm is not None and rm.ttft_ms is None and rm.throughput_tps and rm.cost is not None
        assert [(w.type.value, w.code) for w in rm.warnings or []] == [("unsupported_parameter", "parameter_dropped")]
        resp = c.responses.create(model="gpt-4o", input="Hello")
        assert resp.routing_metadata is not None and resp.routing_metadata.ttft_ms is None
        stream = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        for _ in stream:
            pass
        assert stream.routing_metadata is not None and stream.routing_metadata.ttft_ms  # streams keep it
    with openai.OpenAI(api_key=KEY, base_url=gateway.base_url, max_retries=0) as oa:
        plain = oa.chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES, seed=1)  # type: ignore[arg-type]
        meta = (plain.model_extra or {})["routing_metadata"]
        assert "ttft_ms" not in meta
        assert [set(w) for w in meta["warnings"]] == [{"type", "code", "message"}]


def test_sdks_get_unknown_field_errors(gateway: GatewayHandle) -> None:
    """A typo in a raw gateway dict (sent unvalidated by the SDK) or in extra_body comes back as a 400 naming it."""
    with auriko.Client(api_key=KEY, base_url=gateway.base_url, max_retries=0) as c, \
            pytest.raises(auriko.BadRequestError) as info:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES, gateway={"routing": {"optimise": "ttft"}})
    assert (info.value.code, info.value.param) == ("unknown_field", "gateway.routing.optimise")
    with openai.OpenAI(api_key=KEY, base_url=gateway.base_url, max_retries=0) as oa:
        with pytest.raises(openai.BadRequestError) as bad:
            oa.chat.completions.create(model="gpt-4o", messages=MESSAGES,  # type: ignore[arg-type]
                                       extra_body={"gateway": {"metadata": {"team": "ml"}}})
        assert bad.value.code == "unknown_field" and (bad.value.body or {}).get("param") == "gateway.metadata.team"
        ok = oa.chat.completions.create(model="gpt-4o", messages=MESSAGES,  # type: ignore[arg-type]
                                        extra_body={"gateway": {"routing": {"optimize": "ttft"}}})
        assert (ok.model_extra or {})["routing_metadata"]["routing_strategy"] == "ttft"  # merged by the SDK
    with httpx.Client(base_url=gateway.base_url, headers=AUTH) as raw:  # what a client that forgets to merge sends
        r = raw.post("/chat/completions", json=chat(extra_body={"gateway": {"routing": {"optimize": "ttft"}}}))
    assert r.status_code == 400 and (error_of(r)["code"], error_of(r)["param"]) == ("unknown_field", "extra_body")
