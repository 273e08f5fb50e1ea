"""Request-side validation (routing §3.1, metadata limits §3.2) and tolerant response parsing."""

from __future__ import annotations

import pytest
from fakes import ROUTING_METADATA, Script, client_for, completion, json_response

import auriko_nb as ak
from auriko_nb.types import ChatCompletion, Directory, Identity, parse_routing_metadata
from auriko_nb.types.request import build_gateway, coerce_metadata, coerce_routing


def test_routing_has_all_twenty_documented_fields() -> None:
    assert len(ak.Routing.model_fields) == 20
    full = dict(optimize="balanced", weights={"cost": 1, "ttft": 0, "throughput": 2}, max_cost_per_1m=3.0,
                max_ttft_ms=500, min_throughput_tps=20, ttft_percentile="p95", throughput_percentile="p50",
                providers=["openai"], exclude_providers=["groq"], prefer="openai", mode="fallback",
                allow_fallbacks=True, max_fallback_attempts=3, timeout_ms=1000, deadline_ms=5000,
                data_policy="zdr", only_byok=False, only_platform=True, require_parameters=True, tier="standard")
    assert set(full) == set(ak.Routing.model_fields)
    assert coerce_routing(full).to_dict() == {**full, "weights": {"cost": 1.0, "ttft": 0.0, "throughput": 2.0}}


@pytest.mark.parametrize("strategy", ak.STRATEGIES)
def test_each_strategy_is_accepted(strategy: str) -> None:
    assert coerce_routing({"optimize": strategy}).optimize == strategy
    assert len(ak.STRATEGIES) == 7


@pytest.mark.parametrize(("routing", "needle"), [
    ({"optimize": "cheapest"}, "gateway.routing.optimize"),
    ({"optimise": "cost"}, "gateway.routing.optimise: unknown field"),
    ({"weights": {"cost": 0, "ttft": 0}}, "at least one weight must be > 0"),
    ({"weights": {"latency": 1}}, "unknown weight 'latency'"),
    ({"weights": {"cost": -1, "ttft": 1}}, "finite number >= 0"),
    ({"weights": {"cost": float("inf")}}, "finite number >= 0"),
    ({"only_byok": True, "only_platform": True}, "mutually exclusive"),
    ({"timeout_ms": 2000, "deadline_ms": 1000}, "deadline_ms (1000) must be >= timeout_ms (2000)"),
    ({"max_ttft_ms": 0}, "gateway.routing.max_ttft_ms"),
    ({"max_cost_per_1m": -2}, "gateway.routing.max_cost_per_1m"),
    ({"min_throughput_tps": 0}, "gateway.routing.min_throughput_tps"),
    ({"max_fallback_attempts": 20}, "gateway.routing.max_fallback_attempts"),
    ({"timeout_ms": -5}, "gateway.routing.timeout_ms"),
    ({"mode": "race"}, "gateway.routing.mode"),
    ({"data_policy": "strict"}, "gateway.routing.data_policy"),
    ({"ttft_percentile": "p99"}, "gateway.routing.ttft_percentile"),
])
def test_invalid_routing_raises_one_line_naming_the_field(routing: dict, needle: str) -> None:
    with pytest.raises(ak.RequestValidationError) as info:
        coerce_routing(routing)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_deadline_equal_to_timeout_is_fine() -> None:
    assert coerce_routing({"timeout_ms": 1000, "deadline_ms": 1000}).deadline_ms == 1000


LIMIT_CASES = [
    ("tags", ["t"] * 100, ["t"] * 101, "the limit is 100"),
    ("tags", ["x" * 50], ["x" * 51], "the limit is 50"),
    ("user_id", "u" * 255, "u" * 256, "the limit is 255"),
    ("trace_id", "t" * 255, "t" * 256, "the limit is 255"),
    ("custom_fields", {f"k{i}": "v" for i in range(10)}, {f"k{i}": "v" for i in range(11)}, "the limit is 10"),
    ("custom_fields", {"k" * 50: "v"}, {"k" * 51: "v"}, "the limit is 50"),
    ("custom_fields", {"k": "v" * 200}, {"k": "v" * 201}, "the limit is 200"),
]


@pytest.mark.parametrize(("field", "at_limit", "over", "message"), LIMIT_CASES)
def test_metadata_limits_at_and_over_each_bound(field: str, at_limit: object, over: object, message: str) -> None:
    assert coerce_metadata({field: at_limit}) is not None
    with pytest.raises(ak.RequestValidationError) as info:
        coerce_metadata({field: over})
    text = str(info.value)
    assert f"gateway.metadata.{field}" in text and message in text and "\n" not in text


@pytest.mark.parametrize(("field", "at_limit", "over", "message"), LIMIT_CASES)
def test_over_limit_metadata_is_refused_before_sending(field: str, at_limit: object, over: object,
                                                       message: str) -> None:
    script = Script(json_response(completion()))
    client = client_for(script)
    with pytest.raises(ak.RequestValidationError, match=message):
        client.chat("hi", model="gpt-4o", metadata={field: over})
    with pytest.raises(ak.RequestValidationError, match=message):
        client.chat("hi", model="gpt-4o", metadata=ak.Metadata.model_construct(**{field: over}).model_dump())
    assert script.requests == []
    client.chat("hi", model="gpt-4o", metadata={field: at_limit})
    assert script.body()["gateway"]["metadata"][field] == at_limit


def test_metadata_rejects_unknown_keys_and_non_string_values() -> None:
    with pytest.raises(ak.RequestValidationError, match="gateway.metadata.team: unknown field"):
        coerce_metadata({"team": "ml"})
    with pytest.raises(ak.RequestValidationError, match="custom_fields"):
        coerce_metadata({"custom_fields": {"n": 3}})


def test_models_and_dicts_are_equivalent() -> None:
    as_dicts = build_gateway(routing={"optimize": "ttft", "max_ttft_ms": 800}, metadata={"tags": ["a"]})
    as_models = build_gateway(routing=ak.Routing(optimize="ttft", max_ttft_ms=800), metadata=ak.Metadata(tags=["a"]))
    assert as_dicts == as_models == {"routing": {"optimize": "ttft", "max_ttft_ms": 800}, "metadata": {"tags": ["a"]}}
    assert build_gateway() is None


def test_model_and_gateway_models_are_exclusive_and_one_is_required() -> None:
    script = Script(json_response(completion()))
    client = client_for(script)
    with pytest.raises(ak.RequestValidationError) as both:
        client.chat("hi", model="gpt-4o", models=["gpt-4o", "claude-sonnet-4-6"])
    assert both.value.param == "gateway.models"
    with pytest.raises(ak.RequestValidationError) as neither:
        client.chat("hi")
    assert neither.value.param == "model" and neither.value.code == "missing_required_parameter"
    with pytest.raises(ak.RequestValidationError, match="gateway.models"):
        client.chat("hi", models=[])  # at least one; the maximum is the server's (tests/test_request_extra_body.py)
    assert script.requests == []
    client.chat("hi", models=["gpt-4o", "claude-sonnet-4-6"], routing={"mode": "fallback"})
    body = script.body()
    assert "model" not in body and body["gateway"]["models"] == ["gpt-4o", "claude-sonnet-4-6"]


def test_raw_gateway_escape_hatch_merges_one_level_deep() -> None:
    script = Script(json_response(completion()))
    client = client_for(script)
    client.chat("hi", model="gpt-4o", routing={"optimize": "cost"}, metadata={"tags": ["a"]},
                gateway={"routing": {"optimize": "future-strategy"}, "experimental": 1})
    gw = script.body()["gateway"]
    assert gw == {"routing": {"optimize": "future-strategy"}, "metadata": {"tags": ["a"]}, "experimental": 1}


def test_empty_prompt_is_refused() -> None:
    client = client_for(Script(json_response(completion())))
    with pytest.raises(ak.RequestValidationError, match="empty"):
        client.chat("   ", model="gpt-4o")
    with pytest.raises(ak.RequestValidationError, match="empty"):
        client.chat([], model="gpt-4o")


def test_routing_metadata_tolerates_unknown_fields_and_string_warnings() -> None:
    rm = parse_routing_metadata(ROUTING_METADATA)
    assert rm is not None
    assert rm.cost is not None and rm.cost.usd == 0.000105 and rm.cost.cache_savings_usd == 0.00001
    assert rm.cost.hosted_tool_usd == 0.0 and rm.cost.cache_savings_percent == 10
    assert rm.warnings is not None and rm.warnings[1].message == "plain string warning"
    assert rm.warnings[1].type is None and rm.warnings[0].type == "unsupported_parameter"
    assert rm.model_extra == {"future_field": {"kept": True}}
    partial = parse_routing_metadata({"provider": "x"})  # field by field: what is there is kept, the rest named
    assert partial is not None and partial.provider == "x" and partial.routing_strategy is None
    assert [w["message"] for w in partial.client_warnings][0] == "routing_metadata.provider_model_id: missing; left empty"
    assert parse_routing_metadata(None) is None and parse_routing_metadata("not an object") is None


def test_completion_with_broken_routing_metadata_still_parses() -> None:
    parsed = ChatCompletion.model_validate(completion(routing_metadata={"provider": 3}, new_top_level="x"))
    assert parsed.routing_metadata is not None and parsed.routing_metadata.provider is None
    assert parsed.text == "Hello there!" and len(parsed.routing_metadata.client_warnings) == 4
    assert ChatCompletion.model_validate(completion(routing_metadata=[1])).routing_metadata is None
    assert parsed.model_extra == {"new_top_level": "x"}


def test_identity_reads_both_documented_shapes() -> None:
    new = Identity.model_validate({"credential_type": "api_key", "status": "active", "profile": "default",
                                   "key_id": "k1", "key_prefix": "ak_live_ab", "key_name": "nb",
                                   "workspace": {"id": "ws_1", "name": "Lab"}, "scopes": ["inference"],
                                   "rate_limits": {"inference_rpm": 120, "management_reads_rpm": 60,
                                                   "management_writes_rpm": 10},
                                   "expires_at": None, "created_at": "2026-01-01T00:00:00Z"})
    old = Identity.model_validate({"object": "api_key_identity", "user_id": "u", "workspace_id": "ws_2",
                                   "tier": "growth", "rate_limit_rpm": 30})
    assert new.workspace_id == "ws_1" and new.rate_limits and new.rate_limits.inference_rpm == 120
    assert old.workspace_id == "ws_2" and old.rate_limits and old.rate_limits.inference_rpm == 30


def test_directory_is_a_dict_keyed_by_model_and_resolves_aliases() -> None:
    d = Directory.model_validate({"generated_at": "now", "models": {"gpt-4o": {
        "family": "gpt-4o", "display_name": "GPT-4o", "aliases": ["gpt4o"], "providers": [
            {"provider": "openai", "provider_model_id": "gpt-4o-2024-08-06", "tiers": [
                {"name": "standard", "input_price": 2.5, "output_price": 10, "cache_read_price": 1.25,
                 "price_variants": [{"role": "long", "price": 5.0, "constraints": {"min_tokens": "128000"}}]}]}]}}})
    assert d.resolve("gpt4o") == "gpt-4o" and d.resolve("gpt-4o:cost") == "gpt-4o" and d.resolve("nope") is None
    tier = d.models["gpt-4o"].providers[0].tier()
    assert tier is not None and tier.input_price == 2.5 and tier.price_variants[0].price == 5.0
