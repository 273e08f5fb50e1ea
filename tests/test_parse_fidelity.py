"""Parse fidelity (issue 12, items 5, 6, 7, 9), through the client with canned bytes.

routing_metadata is read field by field (a bad part loses only itself and is named in a warning); mid-stream
error events get the registry's class, type and status and stay StreamErrors; a chat stream cut after its
usage and metadata keeps them; client-side timeouts carry the SDK's code.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fakes import (
    KEY,
    ROUTING_METADATA,
    USAGE,
    Script,
    chunk,
    client_for,
    completion,
    json_response,
    sse,
    sse_response,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import auriko_nb as ak
from auriko_nb.errors import StreamError

RM_NO_USD = {**ROUTING_METADATA, "cost": {"billable_cost_usd": 0.000105, "input_tokens": 14}}


def rows_client(*responses: Any, **kw: Any) -> tuple[ak.Client, list[dict[str, Any]], Script]:
    rows: list[dict[str, Any]] = []
    script = Script(*responses)
    return client_for(script, on_record=rows.append, **kw), rows, script


def async_client(script: Script, rows: list[dict[str, Any]], **kw: Any) -> ak.AsyncClient:
    return ak.AsyncClient(KEY, base_url="http://gateway.test", transport=script.transport, on_record=rows.append,
                          **kw)


def unparsed(row: dict[str, Any]) -> list[str]:
    return [w["message"] for w in json.loads(row["warnings"] or "[]") if w.get("code") == "unparsed_field"]


# -- item 5: routing_metadata field by field ------------------------------------------------------------------

def test_an_older_cost_shape_loses_only_the_cost_and_is_named() -> None:
    client, rows, _ = rows_client(json_response(completion(routing_metadata=RM_NO_USD)))
    res = client.chat("hi", model="gpt-4o")
    assert (res.provider, res.routing_metadata and res.routing_metadata.routing_strategy) == ("openai", "cost-focus")
    assert res.cost_usd is None  # never read billable_cost_usd as usd
    (row,) = rows
    assert row["provider"] == "openai" and row["model_canonical"] == "gpt-4o" and row["cost_usd"] is None
    assert row["ttft_ms_server"] == 212.5 and row["provider_model_id"] == "gpt-4o-2024-08-06"
    warnings = json.loads(row["warnings"])
    assert {"type": "auriko_nb", "code": "unparsed_field",
            "message": "routing_metadata.cost: no 'usd' (got keys billable_cost_usd, input_tokens); cost left empty"
            } in warnings
    assert row["warning_count"] == len(warnings) == 3  # the gateway's two warnings are kept, ours added
    assert any("routing_metadata.cost: no 'usd'" in w for w in res.warnings)


def test_a_missing_required_field_and_a_string_for_a_number_lose_only_themselves() -> None:
    rm = {k: v for k, v in ROUTING_METADATA.items() if k != "provider_model_id"}
    rm.update(ttft_ms="fast", throughput_tps="91.2")
    client, rows, _ = rows_client(json_response(completion(routing_metadata=rm)))
    res = client.chat("hi", model="gpt-4o")
    assert res.routing_metadata is not None and res.routing_metadata.provider_model_id is None
    assert res.routing_metadata.ttft_ms is None and res.routing_metadata.throughput_tps is None
    assert res.provider == "openai" and res.cost_usd == pytest.approx(0.000105)
    (row,) = rows
    assert row["provider"] == "openai" and row["routing_strategy"] == "cost-focus" and row["cost_usd"] == 0.000105
    assert sorted(unparsed(row)) == [
        "routing_metadata.provider_model_id: missing; left empty",
        "routing_metadata.throughput_tps: not a number (got str '91.2'); left empty",
        "routing_metadata.ttft_ms: not a number (got str 'fast'); left empty",
    ]
    assert row["warning_count"] == 5


def test_bad_cost_parts_warnings_items_and_extras() -> None:
    rm = {**ROUTING_METADATA, "cost": {"usd": 0.0002, "cache_savings_usd": "lots"},
          "warnings": ["plain", 7, {"type": "provider_timeout", "code": "slow", "message": "retried"}]}
    client, rows, _ = rows_client(json_response(completion(routing_metadata=rm)))
    res = client.chat("hi", model="gpt-4o")
    assert res.cost_usd == 0.0002 and res.routing_metadata is not None
    assert res.routing_metadata.cost is not None and res.routing_metadata.cost.cache_savings_usd is None
    assert res.routing_metadata.model_extra == {"future_field": {"kept": True}}
    assert res.warnings[:2] == ["plain", "slow: retried"]
    assert sorted(unparsed(rows[0])) == [
        "routing_metadata.cost.cache_savings_usd: not a number (got str 'lots'); left empty",
        "routing_metadata.warnings[1]: not a string or a {type, code, message} object (got int 7); dropped",
    ]
    good, _, _ = rows_client(json_response(completion()))
    assert good.chat("hi", model="gpt-4o").routing_metadata.client_warnings == []  # type: ignore[union-attr]


def test_streamed_chat_and_responses_keep_the_good_fields() -> None:
    body = sse(chunk("Hi"), chunk(None, finish="stop"), chunk(choices=False, usage=USAGE, routing_metadata=RM_NO_USD))
    client, rows, _ = rows_client(sse_response(body))
    res = client.chat("hi", model="gpt-4o", stream=True).result
    assert res.provider == "openai" and res.cost_usd is None and rows[0]["provider"] == "openai"
    assert unparsed(rows[0]) == [
        "routing_metadata.cost: no 'usd' (got keys billable_cost_usd, input_tokens); cost left empty"]
    response = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4o",
                "output_text": "Hi", "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
                "routing_metadata": {**ROUTING_METADATA, "routing_strategy": None}}
    client, rows, _ = rows_client(json_response(response))
    res = client.responses("hi", model="gpt-4o")
    assert res.provider == "openai" and res.cost_usd == 0.000105 and rows[0]["routing_strategy"] is None
    assert unparsed(rows[0]) == ["routing_metadata.routing_strategy: null; left empty"]


# -- item 6: mid-stream errors through the registry -----------------------------------------------------------

def responses_stream(*events: dict[str, Any]) -> bytes:
    head = [{"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "status": "in_progress"}},
            {"type": "response.output_text.delta", "sequence_number": 1, "delta": "Partial "},
            {"type": "response.output_text.delta", "sequence_number": 2, "delta": "answer"}]
    return sse(*head, *events, done=False)


@pytest.mark.parametrize(("code", "cls", "status", "type_"), [
    ("rate_limit_exceeded", ak.RateLimitError, 429, "rate_limit_error"),
    ("upstream_timeout", ak.ServerError, 504, "api_error"),
    ("budget_exhausted", ak.RateLimitError, 429, "rate_limit_error"),
    ("some_future_code", ak.ServerError, 500, "api_error"),  # unknown: api_error, 500 (the SDK's default)
])
def test_responses_error_event_takes_type_and_status_from_its_code(code: str, cls: type, status: int,
                                                                    type_: str) -> None:
    event = {"type": "error", "sequence_number": 3, "code": code, "message": "it failed", "provider": "openai"}
    client, rows, script = rows_client(sse_response(responses_stream(event)), max_retries=2)
    stream = client.responses("hi", model="gpt-4o", stream=True)
    with pytest.raises(cls) as info:
        stream.result
    err = info.value
    assert isinstance(err, StreamError) and err.partial_text == "Partial answer"
    assert (err.code, err.status_code, err.type, err.provider) == (code, status, type_, "openai")
    assert err.retryable is False and len(script.requests) == 1  # the stream had begun: never retried
    assert (rows[0]["error_type"], rows[0]["http_status"], rows[0]["error_code"]) == (type_, status, code)


async def test_async_responses_error_event_is_a_rate_limit_stream_error() -> None:
    event = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}
    rows: list[dict[str, Any]] = []
    script = Script(sse_response(responses_stream(event)))
    async with async_client(script, rows, max_retries=2) as client:
        stream = await client.responses("hi", model="gpt-4o", stream=True)
        got: list[str] = []
        with pytest.raises(ak.RateLimitError) as info:
            async for delta in stream:
                got.append(delta)
    assert got == ["Partial ", "answer"] and isinstance(info.value, StreamError)
    assert (info.value.status_code, info.value.type) == (429, "rate_limit_error") and not info.value.retryable
    assert len(script.requests) == 1


def test_chat_error_envelope_mid_stream_keeps_status_200_with_the_registry_class() -> None:
    err_env = {"error": {"message": "throttled upstream", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    client, rows, script = rows_client(sse_response(sse(chunk("Hel"), err_env)), max_retries=2)
    with pytest.raises(ak.RateLimitError) as info:
        client.chat("hi", model="gpt-4o", stream=True).result
    err = info.value
    assert isinstance(err, StreamError) and err.partial_text == "Hel" and err.status_code == 200
    assert err.type == "rate_limit_error" and not err.retryable and len(script.requests) == 1
    assert type(err) is type(info.value)  # one cached class per registry class
    client2, _, _ = rows_client(sse_response(sse(chunk("x"), err_env)))
    with pytest.raises(ak.RateLimitError) as again:
        client2.chat("hi", model="gpt-4o", stream=True).result
    assert type(again.value) is type(err)


# -- item 7: a chat stream without [DONE] after its usage and metadata ----------------------------------------

TAIL_NO_DONE = sse(chunk("Hel"), chunk("lo", finish="stop"), chunk(choices=False, usage=USAGE,
                                                                  routing_metadata=ROUTING_METADATA), done=False)


def _check_incomplete_but_kept(res: ak.Result, rows: list[dict[str, Any]]) -> None:
    assert res.text == "Hello" and res.cost_usd == 0.000105 and res.provider == "openai"
    assert any(w.startswith("stream_incomplete: ") for w in res.warnings)
    (row,) = rows
    assert row["status"] == "ok" and row["cost_usd"] == 0.000105 and row["completion_tokens"] == 7
    codes = [w.get("code") for w in json.loads(row["warnings"])]
    assert "stream_incomplete" in codes and row["warning_count"] == len(codes) == 3


def test_chat_stream_without_done_after_usage_and_metadata_ends_normally() -> None:
    client, rows, _ = rows_client(sse_response(TAIL_NO_DONE))
    stream = client.chat("hi", model="gpt-4o", stream=True)
    assert list(stream) == ["Hel", "lo"]
    _check_incomplete_but_kept(stream.result, rows)


async def test_async_chat_stream_without_done_after_usage_and_metadata_ends_normally() -> None:
    rows: list[dict[str, Any]] = []
    async with async_client(Script(sse_response(TAIL_NO_DONE)), rows) as client:
        stream = await client.chat("hi", model="gpt-4o", stream=True)
        _check_incomplete_but_kept(await stream.get_result(), rows)


@pytest.mark.parametrize("tail", [{"usage": USAGE}, {"routing_metadata": ROUTING_METADATA}],
                         ids=["usage only", "metadata only"])
def test_chat_stream_without_done_and_without_its_tail_is_still_an_error(tail: dict[str, Any]) -> None:
    client, rows, _ = rows_client(sse_response(sse(chunk("Hel"), chunk(choices=False, **tail), done=False)))
    with pytest.raises(StreamError) as info:
        client.chat("hi", model="gpt-4o", stream=True).result
    assert info.value.code == "stream_incomplete" and rows[0]["status"] == "error"


@pytest.fixture
def tail_then_stall() -> Iterator[str]:
    """A raw server: a chat stream's usage and metadata chunk, no [DONE], then silence until the client hangs up."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                         + TAIL_NO_DONE)
            stop.wait(10)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    stop.set()
    t.join(5)
    srv.close()


def test_the_deadline_still_wins_over_a_tail_that_arrived(tail_then_stall: str) -> None:
    client = ak.Client(KEY, base_url=tail_then_stall, timeout=30, max_retries=0, on_record=None)
    with pytest.raises(StreamError) as info:
        client.chat("hi", model="gpt-4o", stream=True, deadline=0.5).result
    assert info.value.code == "deadline_exceeded" and info.value.partial_text == "Hello"


# -- item 9: client-side codes follow the SDK's registry ------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_a_timeout_has_the_sdk_code_and_stays_an_api_timeout_error(stream: bool) -> None:
    client, rows, script = rows_client(httpx.ReadTimeout("slow"), max_retries=1)
    with pytest.raises(ak.APITimeoutError) as info:
        client.chat("hi", model="gpt-4o", stream=stream)
    err = info.value
    assert isinstance(err, ak.APIConnectionError) and not isinstance(err, StreamError)
    assert (err.code, err.status_code, err.type) == ("api_connection_error", 0, "api_error")
    assert len(script.requests) == 2 and rows[0]["error_code"] == "api_connection_error"


# -- the one-validation fast path for well-formed routing_metadata gives what the field-by-field parse gives ---

_ANY = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=6), st.lists(st.text(max_size=3), max_size=2))
_WARNING = st.one_of(st.text(max_size=8), st.fixed_dictionaries({}, optional={
    "type": st.one_of(st.text(max_size=5), st.none(), st.integers()), "code": st.one_of(st.text(max_size=5), st.none()),
    "message": st.one_of(st.text(max_size=8), st.integers(), st.none())}), st.integers())
_COST = st.one_of(_ANY, st.fixed_dictionaries({}, optional={
    "usd": st.one_of(st.floats(0, 1), _ANY), "cache_savings_usd": st.one_of(st.floats(0, 1), _ANY),
    "cache_savings_percent": _ANY, "hosted_tool_usd": _ANY, "extra": _ANY}))
_METADATA = st.fixed_dictionaries({}, optional={
    "provider": st.one_of(st.sampled_from(["openai", "groq"]), _ANY),
    "provider_model_id": st.one_of(st.text(max_size=6), _ANY), "model_canonical": st.one_of(st.text(max_size=6), _ANY),
    "routing_strategy": st.one_of(st.sampled_from(["cost", "ttft"]), _ANY), "cost": _COST,
    "ttft_ms": st.one_of(st.floats(0, 5000), _ANY), "throughput_tps": st.one_of(st.floats(0, 500), _ANY),
    "warnings": st.one_of(st.none(), st.lists(_WARNING, max_size=3), _ANY), "tier": _ANY, "new_field": _ANY})


def _well_formed_sample() -> dict[str, Any]:
    return {"provider": "groq", "provider_model_id": "llama-3.3-70b-versatile", "model_canonical": "llama-3.3-70b",
            "routing_strategy": "cost", "cost": {"usd": 0.0001, "cache_savings_usd": 0.0},
            "ttft_ms": 120.5, "throughput_tps": 300, "warnings": [{"type": "routing", "code": "x", "message": "m"}]}


@settings(max_examples=400, deadline=None)
@given(raw=_METADATA)
def test_the_fast_path_parses_exactly_as_the_field_by_field_path(raw: dict[str, Any]) -> None:
    from types import MappingProxyType

    from auriko_nb.types.routing_metadata import parse_routing_metadata

    fast = parse_routing_metadata(raw)  # a plain dict: the one-validation path when it is well formed
    slow = parse_routing_metadata(MappingProxyType(raw))  # any other mapping: always field by field
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert fast.model_dump() == slow.model_dump()
        assert fast.client_warnings == slow.client_warnings


def test_the_fast_path_is_taken_for_well_formed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    from auriko_nb.types import routing_metadata as rm

    calls: list[Any] = []
    monkeypatch.setattr(rm, "_fields", lambda raw, notes: calls.append(raw) or dict(raw))
    assert rm.parse_routing_metadata(_well_formed_sample()).provider == "groq"
    assert calls == []  # validated once, never taken apart
    rm.parse_routing_metadata({**_well_formed_sample(), "ttft_ms": "fast"})
    assert len(calls) == 1  # a malformed field: the field-by-field parse
