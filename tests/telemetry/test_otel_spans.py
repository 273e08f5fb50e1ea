"""Each call through auriko_nb is one CLIENT span that follows the GenAI semantic conventions, ended exactly once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from conftest import KEY, Otel, every_string
from fakes import HEADERS, Script, completion, envelope, json_response, sse_response, stream_body
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as G
from opentelemetry.semconv.attributes import error_attributes, server_attributes
from opentelemetry.trace import SpanKind, StatusCode

import auriko_nb as ak
from auriko_nb.offline import GatewayHandle
from auriko_nb.telemetry import spans as span_table


def one(otel: Otel) -> ReadableSpan:
    found = otel.client_spans()
    assert len(found) == 1, [s.name for s in found]
    return found[0]


def test_the_attribute_names_are_the_installed_conventions() -> None:
    names = {v for k, v in vars(G).items() if k.startswith("GEN_AI_") and isinstance(v, str)}
    used = set(span_table.REQUEST_PARAMS.values()) | {
        a for a in span_table.RECORD_ATTRIBUTES.values() if a.startswith("gen_ai.")} | {
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
        "gen_ai.response.model", "gen_ai.response.id", "gen_ai.response.finish_reasons", "gen_ai.request.stream",
        "gen_ai.response.time_to_first_chunk", *span_table.CONTENT_ATTRIBUTES}
    assert used - names == set()
    assert {server_attributes.SERVER_ADDRESS, server_attributes.SERVER_PORT, error_attributes.ERROR_TYPE} == {
        "server.address", "server.port", "error.type"}


def test_a_chat_call_is_a_client_span_with_the_routing_outcome(otel: Otel, client: ak.Client,
                                                                gw: GatewayHandle) -> None:
    res = client.chat("Say hello", model="gpt-4o", routing={"optimize": "cost"}, temperature=0.2, top_p=0.9,
                      max_tokens=30, seed=7, stop="END")
    span = one(otel)
    a = dict(span.attributes or {})
    rec = res.to_record()
    assert span.name == "chat gpt-4o" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a[G.GEN_AI_OPERATION_NAME] == "chat" and a[G.GEN_AI_PROVIDER_NAME] == "auriko"
    assert a[G.GEN_AI_REQUEST_MODEL] == "gpt-4o" and a[G.GEN_AI_RESPONSE_MODEL] == res.response.model
    assert a[G.GEN_AI_RESPONSE_ID] == res.response.id and a["auriko.request_id"] == res.request_id
    assert (a[G.GEN_AI_REQUEST_TEMPERATURE], a[G.GEN_AI_REQUEST_TOP_P], a[G.GEN_AI_REQUEST_MAX_TOKENS],
            a[G.GEN_AI_REQUEST_SEED], a[G.GEN_AI_REQUEST_STOP_SEQUENCES]) == (0.2, 0.9, 30, 7, ("END",))
    assert a[G.GEN_AI_USAGE_INPUT_TOKENS] == rec["prompt_tokens"] and a[G.GEN_AI_USAGE_OUTPUT_TOKENS] == rec[
        "completion_tokens"]
    assert a[G.GEN_AI_RESPONSE_FINISH_REASONS] == (rec["finish_reason"],)
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", int(gw.base_url.split(":")[2].split("/")[0]))
    assert a["auriko.provider"] == res.provider and a["auriko.provider_model_id"] == rec["provider_model_id"]
    assert a["auriko.strategy.requested"] == "cost" and a["auriko.strategy.used"] == rec["routing_strategy"]
    assert a["auriko.cost_usd"] == pytest.approx(res.cost_usd) and a["auriko.offline"] is True
    assert "auriko.source" not in a and a["auriko.attempts"] == 1 and G.GEN_AI_REQUEST_STREAM in a
    assert "error.type" not in a
    duration_ms = (span.end_time - span.start_time) / 1e6  # type: ignore[operator]
    assert res.latency_ms is not None and res.latency_ms <= duration_ms < res.latency_ms + 50


def test_a_stream_has_an_event_at_its_first_token_and_ends_at_its_last_byte(otel: Otel, client: ak.Client) -> None:
    with client.chat("Tell me a story", model="gpt-4o", stream=True) as stream:
        chunks = iter(stream)
        assert next(chunks) and otel.client_spans() == []  # still open while the answer streams
        rest = list(chunks)
        res = stream.result
        assert rest
    span = one(otel)
    (event,) = [e for e in span.events if e.name == "gen_ai.first_token"]
    assert span.start_time <= event.timestamp <= span.end_time  # type: ignore[operator]
    a = dict(span.attributes or {})
    assert a[G.GEN_AI_REQUEST_STREAM] is True and res.ttft_ms is not None
    assert a["gen_ai.response.time_to_first_chunk"] == pytest.approx(res.ttft_ms / 1000)
    assert a["auriko.ttft_ms_server"] == res.routing_metadata.ttft_ms  # type: ignore[union-attr]
    assert a[G.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    duration_ms = (span.end_time - span.start_time) / 1e6  # type: ignore[operator]
    assert res.latency_ms is not None and res.latency_ms <= duration_ms < res.latency_ms + 50


def test_the_responses_endpoint_is_a_chat_span_too(otel: Otel, client: ak.Client) -> None:
    res = client.responses("Say hi", model="gpt-4o", max_output_tokens=16)
    a = dict(one(otel).attributes or {})
    assert a["auriko.endpoint"] == "responses" and a[G.GEN_AI_OPERATION_NAME] == "chat"
    assert a[G.GEN_AI_REQUEST_MAX_TOKENS] == 16 and a[G.GEN_AI_RESPONSE_ID] == res.response.id
    assert a[G.GEN_AI_USAGE_OUTPUT_TOKENS] == res.to_record()["completion_tokens"]


def test_an_error_span_has_error_type_and_status_error(otel: Otel) -> None:
    script = Script(json_response(envelope("model_not_found", "invalid_request_error", "no such model"), 404))
    client = ak.Client(KEY, base_url="http://gateway.test", transport=script.transport)
    with pytest.raises(ak.AurikoError):
        client.chat("hi", model="nope")
    span = one(otel)
    assert span.attributes["error.type"] == "model_not_found"  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR and "no such model" in (span.status.description or "")
    assert [e.name for e in span.events] == ["auriko.attempt_failed"]


def _flaky(failures: int) -> Script:
    busy = json_response(envelope("provider_unavailable", "api_error", "busy"), 503, {"retry-after": "0"})
    return Script(*([busy] * failures), json_response(completion()))


def test_retries_are_events_with_attempt_error_and_wait(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("auriko_nb.client.clients.backoff_delay", lambda i, after=None: 0.01 * (i + 1))
    client = ak.Client(KEY, base_url="http://gateway.test", transport=_flaky(2).transport, max_retries=3)
    res = client.chat("hi", model="gpt-4o")
    span = one(otel)
    events = [e for e in span.events if e.name == "auriko.attempt_failed"]
    assert [(e.attributes["auriko.attempt"], e.attributes["error.type"], e.attributes["auriko.retry.delay_s"])  # type: ignore[index]
            for e in events] == [(1, "provider_unavailable", 0.01), (2, "provider_unavailable", 0.02)]
    assert span.attributes["auriko.attempts"] == res.attempts == 3  # type: ignore[index]
    assert span.status.status_code is StatusCode.UNSET


def test_an_error_after_retries_ends_one_span_with_every_attempt(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("auriko_nb.client.clients.backoff_delay", lambda i, after=None: 0.0)
    client = ak.Client(KEY, base_url="http://gateway.test", transport=_flaky(9).transport, max_retries=2)
    with pytest.raises(ak.ServerError):
        client.chat("hi", model="gpt-4o")
    span = one(otel)
    assert [e.attributes["auriko.attempt"] for e in span.events] == [1, 2, 3]  # type: ignore[index]
    assert span.attributes["auriko.attempts"] == 3 and span.status.status_code is StatusCode.ERROR  # type: ignore[index]


def test_a_stream_closed_early_ends_its_span_once_as_cancelled(otel: Otel, client: ak.Client) -> None:
    with client.chat("Tell me a long story", model="gpt-4o", stream=True) as stream:
        for _ in stream:
            break
    stream.close()  # again: still one span
    span = one(otel)
    assert span.attributes["error.type"] == "cancelled" and span.status.status_code is StatusCode.ERROR  # type: ignore[index]
    with client.chat("never read", model="gpt-4o", stream=True):
        pass  # closed without reading a byte
    assert len(otel.client_spans()) == 2


def test_a_stream_failing_mid_way_ends_its_span_with_the_error(otel: Otel) -> None:
    body = stream_body().replace(b"data: [DONE]", b"data: {\"error\": {\"message\": \"boom\", "
                                 b"\"type\": \"api_error\", \"code\": \"provider_error\"}}")
    client = ak.Client(KEY, base_url="http://gateway.test", transport=Script(sse_response(body)).transport)
    with pytest.raises(ak.StreamError), client.chat("hi", model="gpt-4o", stream=True) as stream:
        for _ in stream:
            pass
    span = one(otel)
    assert span.attributes["error.type"] == "provider_error" and span.status.status_code is StatusCode.ERROR  # type: ignore[index]


def test_ctrl_c_ends_the_span(otel: Otel) -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    client = ak.Client(KEY, base_url="http://gateway.test", transport=httpx.MockTransport(interrupt))
    with pytest.raises(KeyboardInterrupt):
        client.chat("hi", model="gpt-4o")
    assert one(otel).attributes["error.type"] == "interrupted"  # type: ignore[index]


async def test_a_cancelled_async_call_ends_its_span(otel: Otel) -> None:
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return httpx.Response(200, json=completion(), headers=HEADERS)

    async with ak.AsyncClient(KEY, base_url="http://gateway.test", transport=httpx.MockTransport(slow)) as client:
        task = asyncio.create_task(client.chat("hi", model="gpt-4o"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert one(otel).attributes["error.type"] == "cancelled"  # type: ignore[index]


async def test_an_async_stream_is_traced_like_a_sync_one(otel: Otel, gw: GatewayHandle) -> None:
    async with ak.AsyncClient(KEY, base_url=gw.base_url, timeout=10) as client:
        stream = await client.chat("Tell me a story", model="gpt-4o", stream=True)
        res = await stream.get_result()
    span = one(otel)
    assert [e.name for e in span.events] == ["gen_ai.first_token"]
    assert span.attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(res.ttft_ms / 1000)  # type: ignore[index,operator]


def _content(otel: Otel) -> list[str]:
    return [s for span in otel.spans() for s in every_string(span)
            if "Secret prompt" in s or "Hello there" in s]


def _content_client() -> ak.Client:
    return ak.Client(KEY, base_url="http://gateway.test", transport=Script(json_response(completion())).transport)


def test_no_prompt_or_answer_text_without_capture(otel: Otel) -> None:
    _content_client().chat("Secret prompt", model="gpt-4o")
    assert _content(otel) == []
    assert not set(span_table.CONTENT_ATTRIBUTES) & set(one(otel).attributes or {})


@pytest.mark.parametrize("how", ["argument", "env"])
def test_capture_content_records_prompt_and_answer(otel: Otel, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "env":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        otel.instrument()
    else:
        otel.instrument(capture_content=True)
    _content_client().chat("Secret prompt", model="gpt-4o", system="Be brief")
    a = one(otel).attributes or {}
    inputs = json.loads(a["gen_ai.input.messages"])  # type: ignore[arg-type]
    assert inputs == [{"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
                      {"role": "user", "parts": [{"type": "text", "content": "Secret prompt"}]}]
    outputs = json.loads(a["gen_ai.output.messages"])  # type: ignore[arg-type]
    assert outputs[0]["parts"][0]["content"] == "Hello there!" and outputs[0]["finish_reason"] == "stop"


def test_the_env_var_other_than_true_keeps_content_out(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    otel.instrument()
    _content_client().chat("Secret prompt", model="gpt-4o")
    assert _content(otel) == []


def test_the_key_never_appears_in_any_span(otel: Otel, client: ak.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attribute and event of every span, content capture on, ok / error / retried / streamed calls."""
    otel.instrument(capture_content=True)
    monkeypatch.setattr("auriko_nb.client.clients.backoff_delay", lambda i, after=None: 0.0)
    client.chat(f"echo this: {KEY[:8]}", model="gpt-4o")
    client.chat("stream", model="gpt-4o", stream=True).text
    echo = json_response(envelope("invalid_api_key", "authentication_error", f"bad key Bearer {KEY}"), 401)
    bad = ak.Client(KEY, base_url="http://gateway.test", transport=Script(echo).transport)
    with pytest.raises(ak.AuthenticationError):
        bad.chat("hi", model="gpt-4o")
    flaky = ak.Client(KEY, base_url="http://gateway.test", transport=_flaky(1).transport)
    flaky.chat("hi", model="gpt-4o")
    strings = [s for span in otel.spans() for s in every_string(span)]
    assert len(otel.spans()) == 4 and strings
    assert [s for s in strings if KEY in s or "Bearer" in s or KEY[8:] in s] == []


def test_uninstrument_stops_spans_and_instrument_twice_does_not_double_them(otel: Otel, client: ak.Client) -> None:
    otel.instrument()
    otel.instrument()
    client.chat("hi", model="gpt-4o")
    assert len(otel.client_spans()) == 1
    ak.uninstrument()
    client.chat("hi", model="gpt-4o")
    assert len(otel.client_spans()) == 1


def test_a_notebook_session_ask_is_traced(otel: Otel, gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Magics and panels call through the session's Client: a session `ask()` is a span like any other."""
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    res: Any = ak.NotebookSession().ask("hello", model="gpt-4o", stream=False)
    span = one(otel)
    assert span.attributes["gen_ai.response.id"] == res.response.id  # type: ignore[index]


@pytest.mark.parametrize("stream", [False, True])
def test_without_record_hooks_the_span_has_the_same_numbers_as_the_row(otel: Otel, client: ak.Client,
                                                                        stream: bool) -> None:
    """Tracing alone builds no row (it reads `Result.numbers()`, where the row takes them): same span either way."""
    rows: list[dict[str, Any]] = []
    hooked = client.with_options(on_record=rows.append)
    for c in (hooked, client):
        res = c.chat("Say hello", model="gpt-4o", stream=stream)
        if stream:
            res = res.result  # type: ignore[union-attr]
    with_row, without = (dict(s.attributes or {}) for s in otel.client_spans())
    volatile = {"auriko.call_id", "auriko.latency_ms", "auriko.headers_ms_client", "gen_ai.response.id",
                "auriko.request_id", "gen_ai.response.time_to_first_chunk", "auriko.ttft_ms_server",
                "auriko.throughput_tps", "auriko.cost_usd", "gen_ai.usage.output_tokens", "gen_ai.usage.input_tokens",
                "auriko.provider", "auriko.provider_model_id", "gen_ai.response.model", "auriko.model_canonical"}
    assert set(with_row) == set(without)
    assert {k: v for k, v in with_row.items() if k not in volatile} == {
        k: v for k, v in without.items() if k not in volatile}
    row = res.to_record()  # the second call's row, built now: the span without hooks has its numbers
    assert (without["gen_ai.usage.input_tokens"], without["gen_ai.usage.output_tokens"], without["auriko.cost_usd"],
            without["auriko.latency_ms"], without["auriko.provider"]) == (
        row["prompt_tokens"], row["completion_tokens"], row["cost_usd"], row["latency_ms"], row["provider"])
    assert len(rows) == 1


def test_the_routing_warnings_are_the_same_with_or_without_record_hooks(otel: Otel) -> None:
    rows: list[dict[str, Any]] = []
    script = Script(json_response(completion()), json_response(completion()))
    client = ak.Client(KEY, base_url="http://gateway.test", transport=script.transport)
    client.with_options(on_record=rows.append).chat("hi", model="gpt-4o")
    res = client.chat("hi", model="gpt-4o")
    with_row, without = (s.attributes or {} for s in otel.client_spans())
    assert with_row["auriko.warnings"] == without["auriko.warnings"] == tuple(res.warnings)
    assert "seed dropped" in without["auriko.warnings"][0]  # type: ignore[index]
