"""ak.record: responses made with the openai SDK or the official auriko SDK become ledger rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import completion

from auriko_nb.errors import RequestValidationError
from auriko_nb.measure.ingest import record
from auriko_nb.measure.ledger import Ledger
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_ingest"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=7, speed=0.02) as g:
        yield g


def test_openai_chat_completion_is_recorded(gw: GatewayHandle, tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    oa = openai.OpenAI(api_key=KEY, base_url=gw.base_url, max_retries=0)
    resp = oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}],
                                      extra_body={"gateway": {"routing": {"optimize": "ttft"}}})
    ledger = Ledger(tmp_path / "l.sqlite")
    row = record(resp, prompt="hello", routing={"optimize": "ttft"}, ledger=ledger, source="offline")
    rm = resp.model_extra["routing_metadata"]
    assert row["provider"] == rm["provider"] and row["cost_usd"] == rm["cost"]["usd"]
    assert row["routing_strategy"] == "ttft" and row["optimize"] == "ttft"
    assert row["model_requested"] is None and resp.model  # what was asked is unknown; never the provider's model id
    assert row["prompt_tokens"] == resp.usage.prompt_tokens and row["completion_tokens"] == resp.usage.completion_tokens
    assert row["request_id"] == resp._request_id and row["status"] == "ok" and row["source"] == "offline"
    assert len(ledger) == 1 and ledger.to_dataframe()["provider"].iloc[0] == rm["provider"]
    assert KEY not in repr(row)


def test_the_same_extra_body_gives_the_row_its_routing_tags_and_model(gw: GatewayHandle) -> None:
    openai = pytest.importorskip("openai")
    oa = openai.OpenAI(api_key=KEY, base_url=gw.base_url, max_retries=0)
    extra = {"gateway": {"routing": {"optimize": "ttft", "max_ttft_ms": 4000},
                         "metadata": {"tags": ["exp-7"], "trace_id": "tr-7"}}}
    resp = oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}],
                                      extra_body=extra)
    assert resp.model != "gpt-4o"  # the provider's id (e.g. gpt-4o-2024-08-06): what the old row showed
    row = record(resp, prompt="hello", model_requested="gpt-4o", extra_body=extra, ledger=None)
    assert row["optimize"] == "ttft" and row["routing_strategy"] == "ttft" and row["model_requested"] == "gpt-4o"
    assert json.loads(row["routing"]) == {"optimize": "ttft", "max_ttft_ms": 4000}
    assert json.loads(row["tags"]) == ["exp-7"] and row["trace_id"] == "tr-7"
    # the openai SDK requires model=; a gateway.models call names its models in extra_body, and so does its row
    row2 = record(resp, extra_body={"gateway": {"models": ["gpt-4o-mini", "deepseek-chat"]}}, ledger=None)
    assert row2["model_requested"] == "gpt-4o-mini,deepseek-chat"
    assert record(resp, extra_body={"model": "gpt-4o"}, ledger=None)["model_requested"] == "gpt-4o"
    assert record(resp, routing={"max_ttft_ms": 4000}, extra_body=extra, ledger=None)["optimize"] == "ttft"


def test_record_refuses_conflicting_or_malformed_request_fields() -> None:
    resp = completion()
    with pytest.raises(RequestValidationError) as info:
        record(resp, routing={"optimize": "cost"}, extra_body={"gateway": {"routing": {"optimize": "ttft"}}},
               ledger=None)
    assert info.value.message == ("gateway.routing.optimize given twice: routing= says 'cost', "
                                  """extra_body["gateway"]["routing"] says 'ttft'""")
    with pytest.raises(RequestValidationError, match="model given twice: model_requested= says 'a'"):
        record(resp, model_requested="a", extra_body={"model": "b"}, ledger=None)
    with pytest.raises(RequestValidationError, match="extra_body: expected a dict, got list"):
        record(resp, extra_body=["x"], ledger=None)  # type: ignore[arg-type]


def test_openai_responses_object_is_recorded(gw: GatewayHandle) -> None:
    openai = pytest.importorskip("openai")
    oa = openai.OpenAI(api_key=KEY, base_url=gw.base_url, max_retries=0)
    resp = oa.responses.create(model="claude-sonnet-4-6", input="hi there")
    row = record(resp, ledger=None)
    assert row["endpoint"] == "responses" and row["provider"] and row["completion_tokens"] == resp.usage.output_tokens
    assert row["model_requested"] is None
    assert record(resp, model_requested="claude-sonnet-4-6", ledger=None)["model_requested"] == "claude-sonnet-4-6"


def test_auriko_sdk_completion_is_recorded(gw: GatewayHandle) -> None:
    auriko = pytest.importorskip("auriko")
    client = auriko.Client(api_key=KEY, base_url=gw.base_url, max_retries=0)
    resp = client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "hey"}])
    row = record(resp, ledger=None)
    assert row["provider"] == resp.routing_metadata.provider and row["cost_usd"] == resp.routing_metadata.cost.usd
    assert row["request_id"] == resp._response_headers.request_id
    assert row["model_canonical"] == "deepseek-chat"


def test_record_refuses_what_it_cannot_read() -> None:
    with pytest.raises(TypeError, match="record\\(\\) takes a chat completion"):
        record(42, ledger=None)
