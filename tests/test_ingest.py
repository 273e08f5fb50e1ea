"""ak.record: responses made with the openai SDK or the official auriko SDK become ledger rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auriko_nb.ingest import record
from auriko_nb.ledger import Ledger
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
    assert row["prompt_tokens"] == resp.usage.prompt_tokens and row["completion_tokens"] == resp.usage.completion_tokens
    assert row["request_id"] == resp._request_id and row["status"] == "ok" and row["source"] == "offline"
    assert len(ledger) == 1 and ledger.to_dataframe()["provider"].iloc[0] == rm["provider"]
    assert KEY not in repr(row)


def test_openai_responses_object_is_recorded(gw: GatewayHandle) -> None:
    openai = pytest.importorskip("openai")
    oa = openai.OpenAI(api_key=KEY, base_url=gw.base_url, max_retries=0)
    resp = oa.responses.create(model="claude-sonnet-4-6", input="hi there")
    row = record(resp, ledger=None)
    assert row["endpoint"] == "responses" and row["provider"] and row["completion_tokens"] == resp.usage.output_tokens


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
