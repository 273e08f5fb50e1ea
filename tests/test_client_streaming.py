"""Streaming edge cases: metadata on a choice-less last chunk, comments, multi-line data, splits, failures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fakes import HEADERS, ROUTING_METADATA, USAGE, Script, chunk, client_for, sse, sse_response, stream_body

import auriko_nb as ak


class Pieces(httpx.SyncByteStream):
    """A response body delivered in the given pieces (simulates reads that split lines and chunks)."""

    def __init__(self, pieces: list[bytes], fail: Exception | None = None) -> None:
        self.pieces, self.fail = pieces, fail

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.fail:
            raise self.fail


def streamed(pieces: list[bytes], fail: Exception | None = None) -> httpx.Response:
    return httpx.Response(200, stream=Pieces(pieces, fail), headers={**HEADERS, "content-type": "text/event-stream"})


def run(response: httpx.Response, **kw: object) -> ak.ChatStream:
    return client_for(Script(response), **kw).chat("hi", model="gpt-4o", stream=True)


def test_metadata_and_usage_from_last_chunk_with_empty_choices() -> None:
    res = run(sse_response(stream_body())).result
    assert res.routing_metadata and res.routing_metadata.provider == "openai"
    assert res.usage and res.usage.completion_tokens == USAGE["completion_tokens"]


def test_metadata_on_a_content_chunk_and_last_non_null_wins() -> None:
    early = {**ROUTING_METADATA, "provider": "early"}
    body = sse(chunk("a", routing_metadata=early), chunk("b", usage=USAGE, routing_metadata=ROUTING_METADATA),
               chunk(None, finish="stop", routing_metadata=None))
    res = run(sse_response(body)).result
    assert res.text == "ab" and res.routing_metadata and res.routing_metadata.provider == "openai"


def test_comments_events_ids_and_retry_fields_are_ignored() -> None:
    body = (b": keep-alive\n\n" + b"event: message\nid: 1\nretry: 100\n" +
            f"data: {json.dumps(chunk('x'))}\n\n".encode() + b": another comment\n\n" + sse(chunk("y")))
    assert list(run(sse_response(body))) == ["x", "y"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    payload = json.dumps(chunk("multi"), indent=1).replace("\n", "\ndata: ")
    body = f"data: {payload}\n\n".encode() + sse()
    assert run(sse_response(body)).result.text == "multi"


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_chunks_split_across_reads(size: int) -> None:
    raw = stream_body(["Δ", "é", "漢字", " end"])
    pieces = [raw[i:i + size] for i in range(0, len(raw), size)]
    stream = run(streamed(pieces))
    assert list(stream) == ["Δ", "é", "漢字", " end"]
    assert stream.result.routing_metadata is not None


def test_crlf_line_endings() -> None:
    body = stream_body().replace(b"\n", b"\r\n")
    assert run(sse_response(body)).result.text == "Hello world"


def test_no_done_marker_raises_stream_error_with_partial_text() -> None:
    stream = run(sse_response(sse(chunk("part"), chunk("ial"), done=False)))
    with pytest.raises(ak.StreamError) as info:
        list(stream)
    assert info.value.partial_text == "partial" and info.value.code == "stream_incomplete"
    assert "7 characters received" in str(info.value)
    with pytest.raises(ak.StreamError):
        stream.result


def test_error_payload_after_200_keeps_partial_text_and_code() -> None:
    err = {"error": {"message": "provider failed", "type": "api_error", "code": "upstream_error",
                     "provider": "openai"}}
    stream = run(sse_response(sse(chunk("Hello "), chunk("wor"), err)))
    got: list[str] = []
    with pytest.raises(ak.StreamError) as info:
        for d in stream:
            got.append(d)
    e = info.value
    assert got == ["Hello ", "wor"] and e.partial_text == "Hello wor"
    assert (e.code, e.type, e.status_code, e.provider) == ("upstream_error", "api_error", 200, "openai")
    assert e.request_id == "req_abc123" and not e.retryable


def test_disconnect_mid_stream_raises_stream_error() -> None:
    raw = sse(chunk("abc"), done=False)
    with pytest.raises(ak.StreamError) as info:
        run(streamed([raw], fail=httpx.RemoteProtocolError("peer closed"))).result
    assert info.value.partial_text == "abc" and info.value.code == "stream_interrupted"


def test_garbage_data_line_is_a_stream_error_not_a_crash() -> None:
    with pytest.raises(ak.StreamError, match="not JSON"):
        run(sse_response(sse(chunk("ok"), "data: {not json\n\n"))).result
    with pytest.raises(ak.StreamError, match="JSON list"):
        run(sse_response(sse("data: [1, 2]\n\n"))).result


def test_stream_request_answered_with_json_is_reported() -> None:
    resp = httpx.Response(200, json={"id": "x"}, headers={"x-request-id": "req_j"})
    with pytest.raises(ak.MalformedResponseError, match="asked for a stream"):
        run(resp).result


def test_tool_call_arguments_are_concatenated_per_index() -> None:
    def tc(index: int, **fn: str) -> dict:
        c = chunk(None)
        c["choices"][0]["delta"] = {"tool_calls": [{"index": index, "type": "function", "function": fn,
                                                    **({"id": f"call_{index}"} if "name" in fn else {})}]}
        return c
    body = sse(tc(0, name="get_weather", arguments='{"ci'), tc(1, name="noop", arguments="{}"),
               tc(0, arguments='ty": "Paris"}'), chunk(None, finish="tool_calls"))
    res = run(sse_response(body)).result
    calls = res.response.choices[0].message.tool_calls
    assert calls and calls[0].function.arguments == '{"city": "Paris"}' and calls[0].id == "call_0"
    assert calls[1].function.name == "noop" and res.response.choices[0].finish_reason == "tool_calls"


def test_stream_iterates_once() -> None:
    stream = run(sse_response(stream_body()))
    assert list(stream) == ["Hel", "lo", " world"]
    assert list(stream) == []
    assert stream.text == "Hello world"


def test_responses_stream_error_event_and_missing_terminal_event() -> None:
    client = client_for(Script(sse_response(sse(
        {"type": "response.output_text.delta", "delta": "Hi"},
        {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}, done=False))))
    with pytest.raises(ak.StreamError) as info:
        client.responses("x", model="m", stream=True).result
    assert info.value.code == "rate_limit_exceeded" and info.value.partial_text == "Hi"
    client = client_for(Script(sse_response(sse({"type": "response.output_text.delta", "delta": "Hi"}, done=True))))
    with pytest.raises(ak.StreamError, match="end marker"):
        client.responses("x", model="m", stream=True).result


def test_stream_failure_is_recorded_once_with_partial_progress() -> None:
    rows: list[dict] = []
    err = {"error": {"message": "boom", "type": "api_error", "code": "upstream_error"}}
    with pytest.raises(ak.StreamError):
        list(client_for(Script(sse_response(sse(chunk("x"), err))), on_record=rows.append)
             .chat("hi", model="m", stream=True))
    (row,) = rows
    assert row["status"] == "error" and row["error_code"] == "upstream_error" and row["ttft_ms_client"] is not None


async def test_async_stream_edge_cases() -> None:
    class APieces(httpx.AsyncByteStream):
        def __init__(self, pieces: list[bytes]) -> None:
            self.pieces = pieces

        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for p in self.pieces:
                yield p
    raw = stream_body(["a", "b"])
    ok = httpx.Response(200, stream=APieces([raw[i:i + 5] for i in range(0, len(raw), 5)]),
                        headers={"content-type": "text/event-stream"})
    bad = httpx.Response(200, stream=APieces([sse(chunk("a"), done=False)]), headers={"content-type": "text/event-stream"})
    responses = iter([ok, bad])
    client = ak.AsyncClient(api_key="ak_test_x", base_url="http://g.test",
                            transport=httpx.MockTransport(lambda r: next(responses)))
    s = await client.chat("hi", model="m", stream=True)
    assert [d async for d in s] == ["a", "b"] and s.result.routing_metadata is not None
    s2 = await client.chat("hi", model="m", stream=True)
    with pytest.raises(ak.StreamError) as info:
        await s2.get_result()
    assert info.value.partial_text == "a"
