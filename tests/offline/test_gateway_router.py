"""Routing decisions: strategies pick who they should, constraints exclude and fail right, cost = tokens x price."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from gateway_helpers import chat, error_of, routing

from auriko_nb.offline import load_catalog
from auriko_nb.offline.catalog import DATA_POLICY_RANK, ModelInfo

CATALOG = load_catalog()
CHAT_MODELS = [m for m in CATALOG.models.values() if "chat_completions" in m.endpoints]


def _standard(model: ModelInfo) -> list[tuple[str, Any, Any]]:
    return [(o.provider, o, o.tiers[0]) for o in model.offers if "chat_completions" in o.endpoints]


async def _meta(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/chat/completions", json=body)
    assert r.status_code == 200, r.text
    meta: dict[str, Any] = r.json()["routing_metadata"]
    meta["_usage"] = r.json()["usage"]
    return meta


async def _all(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(_meta(client, b) for b in bodies)))


async def test_cost_focus_picks_cheapest_and_is_the_default(aclient: httpx.AsyncClient) -> None:
    explicit = await _all(aclient, [chat(model=m.id, gateway=routing(optimize="cost-focus")) for m in CHAT_MODELS])
    default = await _all(aclient, [chat(model=m.id) for m in CHAT_MODELS])
    for model, meta, dmeta in zip(CHAT_MODELS, explicit, default, strict=True):
        cheapest = min(t.blended_price for _, _, t in _standard(model))
        chosen = next(t for p, _, t in _standard(model) if p == meta["provider"])
        assert chosen.blended_price == cheapest, (model.id, meta["provider"])
        assert (dmeta["provider"], dmeta["routing_strategy"]) == (meta["provider"], "cost-focus")


@pytest.mark.parametrize(("strategy", "best"), [
    ("ttft-focus", lambda t: -t.ttft_p50),
    ("tps-focus", lambda t: t.tps_p50),
])
async def test_focus_strategies_pick_the_best_on_their_dimension(aclient: httpx.AsyncClient, strategy: str,
                                                                 best: Any) -> None:
    metas = await _all(aclient, [chat(model=m.id, gateway=routing(optimize=strategy)) for m in CHAT_MODELS])
    for model, meta in zip(CHAT_MODELS, metas, strict=True):
        top = max(best(t) for _, _, t in _standard(model))
        chosen = next(t for p, _, t in _standard(model) if p == meta["provider"])
        assert best(chosen) == top and meta["routing_strategy"] == strategy, model.id


async def test_ttft_ceiling_uses_the_requested_percentile(aclient: httpx.AsyncClient) -> None:
    # llama: cerebras has the best p50 and p95 TTFT; groq second. Check the p95 ceiling uses p95 (newer docs).
    p50 = await _meta(aclient, chat(model="llama-3.3-70b", gateway=routing(optimize="ttft-focus", max_ttft_ms=420)))
    assert p50["provider"] == "cerebras"
    r = await aclient.post("/chat/completions", json=chat(model="llama-3.3-70b", gateway=routing(
        max_ttft_ms=300, ttft_percentile="p95")))
    assert error_of(r)["code"] == "latency_constraint_exceeded"


async def test_base_balanced_and_custom_strategies(aclient: httpx.AsyncClient) -> None:
    llama = "llama-3.3-70b"
    assert (await _meta(aclient, chat(model=llama, gateway=routing(optimize="tps"))))["provider"] == "cerebras"
    assert (await _meta(aclient, chat(model=llama, gateway=routing(optimize="cost"))))["provider"] == "deepinfra"
    custom = await _meta(aclient, chat(model=llama, gateway=routing(weights={"ttft": 1})))
    assert custom["routing_strategy"] == "custom" and custom["provider"] == "cerebras"
    balanced = await _meta(aclient, chat(model=llama, gateway=routing(optimize="balanced")))
    assert balanced["routing_strategy"] == "balanced"


def _weighted_best(model: ModelInfo, w: tuple[float, float, float]) -> set[str]:
    """The providers with the top weighted score: each dimension min-max scaled to [0, 1] over the candidates."""
    offers = _standard(model)

    def scaled(values: list[float], higher_is_better: bool) -> list[float]:
        lo, hi = min(values), max(values)
        out = [0.0 if hi == lo else (v - lo) / (hi - lo) for v in values]
        return out if higher_is_better else [1 - x for x in out]

    cost = scaled([t.blended_price for _, _, t in offers], False)
    ttft = scaled([t.ttft_p50 for _, _, t in offers], False)
    tps = scaled([t.tps_p50 for _, _, t in offers], True)
    scores = [w[0] * c + w[1] * f + w[2] * r for c, f, r in zip(cost, ttft, tps, strict=True)]
    top = max(scores)
    return {p for (p, _, _), sc in zip(offers, scores, strict=True) if sc >= top - 1e-9}


@pytest.mark.parametrize(("strategy", "weights"), [
    ("ttft", (0.2, 0.6, 0.2)), ("balanced", (1, 1, 1)), ("cost", (0.6, 0.2, 0.2)), ("tps", (0.2, 0.2, 0.6)),
])
async def test_base_strategies_pick_the_best_weighted_score(aclient: httpx.AsyncClient, strategy: str,
                                                            weights: tuple[float, float, float]) -> None:
    """The base strategies weigh their dimension 3x the others (balanced: all equal), for every model."""
    metas = await _all(aclient, [chat(model=m.id, gateway=routing(optimize=strategy)) for m in CHAT_MODELS])
    differs = 0
    for model, meta in zip(CHAT_MODELS, metas, strict=True):
        assert meta["provider"] in _weighted_best(model, weights), (model.id, strategy, meta["provider"])
        differs += meta["provider"] not in _weighted_best(model, (1, 0, 0))  # not just the cheapest
    assert strategy == "cost" or differs > 0, strategy


async def test_suffix_shortcut_and_explicit_option_wins(aclient: httpx.AsyncClient) -> None:
    suffix = await _meta(aclient, chat(model="llama-3.3-70b:ttft-focus"))
    assert (suffix["routing_strategy"], suffix["provider"], suffix["model_canonical"]) == (
        "ttft-focus", "cerebras", "llama-3.3-70b")
    both = await _meta(aclient, chat(model="llama-3.3-70b:ttft-focus", gateway=routing(optimize="cost-focus")))
    assert (both["routing_strategy"], both["provider"]) == ("cost-focus", "deepinfra")


async def test_constraints_exclude_whom_they_should(aclient: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"max_cost_per_1m": 1.0}, lambda o, t: t.blended_price <= 1.0),
        ({"max_ttft_ms": 500}, lambda o, t: t.ttft_p50 <= 500),
        ({"min_throughput_tps": 100}, lambda o, t: t.tps_p50 >= 100),
        ({"data_policy": "zdr"}, lambda o, t: o.data_policy == "zdr"),
        ({"data_policy": "no_training"}, lambda o, t: DATA_POLICY_RANK[o.data_policy] >= 1),
        ({"exclude_providers": ["deepinfra", "groq"]}, lambda o, t: o.provider not in ("deepinfra", "groq")),
        ({"providers": ["together", "fireworks_ai"]}, lambda o, t: o.provider in ("together", "fireworks_ai")),
        ({"only_byok": True}, lambda o, t: o.byok),
        ({"only_platform": True}, lambda o, t: o.platform),
    ]
    for options, allowed in cases:
        for model in CHAT_MODELS:
            eligible = [(p, t) for p, o, t in _standard(model) if allowed(o, t)]
            r = await aclient.post("/chat/completions", json=chat(model=model.id, gateway=routing(**options)))
            if not eligible:
                assert r.status_code == 400, (options, model.id)
                continue
            meta = r.json()["routing_metadata"]
            assert meta["provider"] in {p for p, _ in eligible}, (options, model.id)
            cheapest = min(t.blended_price for _, t in eligible)
            assert next(t for p, t in eligible if p == meta["provider"]).blended_price == cheapest


@pytest.mark.parametrize(("model", "options", "code", "param"), [
    ("gpt-4o", {"max_cost_per_1m": 1}, "cost_constraint_exceeded", "gateway.routing.max_cost_per_1m"),
    ("deepseek-chat", {"max_ttft_ms": 100}, "latency_constraint_exceeded", "gateway.routing.max_ttft_ms"),
    ("gpt-4o", {"min_throughput_tps": 500}, "throughput_constraint_not_met", "gateway.routing.min_throughput_tps"),
    ("gpt-4o", {"providers": ["groq"]}, "provider_not_in_allowlist", "gateway.routing.providers"),
    ("gpt-4o", {"exclude_providers": ["openai", "azure"]}, "provider_blocked", "gateway.routing.exclude_providers"),
    ("deepseek-chat", {"exclude_providers": ["fireworks_ai", "deepinfra"], "data_policy": "zdr"},
     "routing_constraint_unsatisfiable", "gateway.routing.data_policy"),
    ("llama-3.3-70b", {"only_byok": True}, "byok_keys_required", "gateway.routing.only_byok"),
    ("mistral-large", {"providers": ["bedrock"], "only_platform": True}, "platform_keys_unavailable",
     "gateway.routing.only_platform"),
    ("gpt-4o", {"tier": "priority"}, "routing_constraint_unsatisfiable", "gateway.routing.tier"),
])
async def test_constraint_errors(aclient: httpx.AsyncClient, model: str, options: dict[str, Any], code: str,
                                 param: str) -> None:
    r = await aclient.post("/chat/completions", json=chat(model=model, gateway=routing(**options)))
    assert r.status_code == 400
    err = error_of(r)
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", code, param)
    assert err["suggestion"] and r.headers["x-error-retryable"] == "false"


async def test_require_parameters_and_dropped_param_warnings(aclient: httpx.AsyncClient) -> None:
    dropped = await _meta(aclient, chat(model="claude-haiku-4-5", seed=7, temperature=0.3))
    assert dropped["provider"] == "anthropic"
    assert dropped["warnings"] == [{"type": "unsupported_parameter", "code": "parameter_dropped",  # §5.2 shape
                                    "message": "seed is not supported by anthropic and was dropped."}]
    r = await aclient.post("/chat/completions", json=chat(model="claude-haiku-4-5", seed=7,
                                                          gateway=routing(require_parameters=True)))
    assert error_of(r)["code"] == "required_params_not_supported"
    ok = await _meta(aclient, chat(model="deepseek-chat", seed=7, gateway=routing(require_parameters=True)))
    assert "seed" in next(o for o in CATALOG.models["deepseek-chat"].offers if o.provider == ok["provider"]).parameters
    assert ok["warnings"] == []


async def test_prefer_tier_and_multi_model_modes(aclient: httpx.AsyncClient) -> None:
    assert (await _meta(aclient, chat(model="gpt-4o", gateway=routing(prefer="azure"))))["provider"] == "azure"
    assert (await _meta(aclient, chat(model="gpt-4o", gateway=routing(prefer="groq"))))["provider"] == "openai"
    prio = await _meta(aclient, chat(model="claude-sonnet-4-6", gateway=routing(tier="priority")))
    assert (prio["provider"], prio["tier"]) == ("anthropic", "priority")
    usage = prio["_usage"]
    assert prio["cost"]["usd"] == pytest.approx((usage["prompt_tokens"] * 18 + usage["completion_tokens"] * 90) / 1e6)
    models = ["gpt-4o", "llama-3.3-70b"]
    pool = await _meta(aclient, chat(model=None, gateway={"models": models}))
    assert (pool["model_canonical"], pool["provider"]) == ("llama-3.3-70b", "deepinfra")
    fallback = await _meta(aclient, chat(model=None, gateway={"models": models, "routing": {"mode": "fallback"}}))
    assert (fallback["model_canonical"], fallback["provider"]) == ("gpt-4o", "openai")


async def test_reported_cost_is_tokens_times_catalog_price(aclient: httpx.AsyncClient) -> None:
    bodies = [chat(f"Question {i} about {m.id}", model=m.id, gateway=routing(optimize=s))
              for i, m in enumerate(CHAT_MODELS) for s in ("cost-focus", "ttft-focus", "balanced")]
    for meta in await _all(aclient, bodies):
        offer = next(o for o in CATALOG.models[meta["model_canonical"]].offers if o.provider == meta["provider"])
        tier = offer.tiers[0]
        u = meta["_usage"]
        assert u["prompt_tokens_details"]["cached_tokens"] == 0
        expected = (u["prompt_tokens"] * tier.input + u["completion_tokens"] * tier.output) / 1e6
        assert meta["cost"]["usd"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert meta["provider_model_id"] == offer.provider_model_id


async def test_repeated_long_prompt_is_cached(aclient: httpx.AsyncClient) -> None:
    long_prompt = "Context paragraph about gateways and providers. " * 120  # ~1,450 tokens
    first = await _meta(aclient, chat(long_prompt))
    second = await _meta(aclient, chat(long_prompt))
    assert first["_usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["_usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached > 1000 and cached % 128 == 0
    u = second["_usage"]
    expected = ((u["prompt_tokens"] - cached) * 2.5 + cached * 1.25 + u["completion_tokens"] * 10.0) / 1e6
    assert second["cost"]["usd"] == pytest.approx(expected, rel=1e-9)
    assert second["cost"]["cache_savings_usd"] == pytest.approx(cached * 1.25 / 1e6, rel=1e-9)
    assert 0 < second["cost"]["cache_savings_percent"] < 100
