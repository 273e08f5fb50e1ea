"""The GenAI client metrics and the cost counter carry exactly the records' numbers."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import KEY, Otel
from fakes import Script, envelope, json_response
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics as M

import auriko_nb as ak


def _points(otel: Otel, name: str, **attrs: Any) -> list[Any]:
    return [p for p in otel.metrics().get(name, []) if all(p.attributes.get(k) == v for k, v in attrs.items())]


def test_metric_values_equal_the_records(otel: Otel, client: ak.Client) -> None:
    records: list[dict[str, Any]] = []
    c = client.with_options(on_record=records.append)
    c.chat("one", model="gpt-4o", max_tokens=20)
    c.chat("two", model="gpt-4o", routing={"optimize": "ttft"}, max_tokens=20)
    c.chat("three", model="gpt-4o", stream=True, max_tokens=20).text
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)

    duration = _points(otel, M.GEN_AI_CLIENT_OPERATION_DURATION)
    assert sum(p.count for p in duration) == 3
    assert sum(p.sum for p in duration) == pytest.approx(sum(r["latency_ms"] for r in records) / 1000)
    for kind, column in (("input", "prompt_tokens"), ("output", "completion_tokens")):
        pts = _points(otel, M.GEN_AI_CLIENT_TOKEN_USAGE, **{"gen_ai.token.type": kind})
        assert sum(p.sum for p in pts) == sum(r[column] for r in records) and sum(p.count for p in pts) == 3
    (ttft,) = _points(otel, M.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
    assert ttft.count == 1 and ttft.sum == pytest.approx(records[2]["ttft_ms_client"] / 1000)
    cost = _points(otel, "auriko.cost")
    assert sum(p.value for p in cost) == pytest.approx(sum(r["cost_usd"] for r in records))
    for p in duration + cost:
        assert p.attributes["gen_ai.provider.name"] == "auriko" and p.attributes["auriko.provider"]
        assert p.attributes["auriko.strategy"] and p.attributes["gen_ai.request.model"] == "gpt-4o"
    assert {p.attributes["auriko.strategy"] for p in cost} >= {r["routing_strategy"] for r in records}


def test_a_failed_call_counts_its_duration_with_error_type(otel: Otel) -> None:
    script = Script(json_response(envelope("invalid_parameter_value", "invalid_request_error", "bad"), 400))
    with pytest.raises(ak.AurikoError):
        ak.Client(KEY, base_url="http://gateway.test", transport=script.transport).chat("hi", model="gpt-4o")
    (p,) = _points(otel, M.GEN_AI_CLIENT_OPERATION_DURATION)
    assert p.count == 1 and p.attributes["error.type"] == "invalid_parameter_value" and 0 < p.sum < 5
    assert _points(otel, "auriko.cost") == [] and _points(otel, M.GEN_AI_CLIENT_TOKEN_USAGE) == []
