"""Property tests (hypothesis) of the parsing edge: SSE framing and whatever bytes a server may send.

1. Any split of a valid SSE byte stream into chunks (inside lines, inside CRLF pairs, inside multi-byte
   characters) parses to the same text, routing metadata and usage as the stream it was generated from.
2. Arbitrary bytes (and arbitrary JSON of almost the right shape) as a response body, streamed or not, on
   any status, through the sync and async clients, never raise anything but `ak.AurikoError`s, whose text is
   one line, and every call leaves exactly one record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_support import figure

import auriko_nb as ak

KEY = "ak_test_reliability_properties"
EXAMPLES = 1000
PROFILE = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                   derandomize=True, database=None)  # the same examples on every run: a CI failure reproduces


class Pieces(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


class APieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for p in self.pieces:
            yield p


def headers_for(ctype: str, encoding: str | None) -> dict[str, str]:
    return {"content-type": ctype, "x-request-id": "req_p", **({"content-encoding": encoding} if encoding else {})}


def sse_client(pieces: list[bytes], rows: list[dict[str, Any]], status: int = 200,
               ctype: str = "text/event-stream", encoding: str | None = None) -> ak.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, stream=Pieces(pieces), headers=headers_for(ctype, encoding))
    return ak.Client(KEY, base_url="http://g.test", transport=httpx.MockTransport(handler), max_retries=0,
                     on_record=rows.append)


def async_client(pieces: list[bytes], rows: list[dict[str, Any]], status: int, ctype: str,
                 encoding: str | None = None) -> ak.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, stream=APieces(pieces), headers=headers_for(ctype, encoding))
    return ak.AsyncClient(KEY, base_url="http://g.test", transport=httpx.MockTransport(handler), max_retries=0,
                          on_record=rows.append)


# -- 1. valid streams, split anywhere --------------------------------------------------------------------

delta_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6)
name = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
usage = st.builds(lambda p, c, cached: {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
                                        "prompt_tokens_details": {"cached_tokens": cached}},
                  st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 1000))
metadata = st.builds(lambda provider, model, strategy, usd, ttft: {
    "provider": provider, "provider_model_id": model + "-v1", "model_canonical": model, "routing_strategy": strategy,
    "ttft_ms": ttft, "throughput_tps": 50.0, "cost": {"usd": usd}, "warnings": []},
    name, name, st.sampled_from(ak.STRATEGIES), st.floats(0, 1, allow_nan=False), st.floats(0, 1e5, allow_nan=False))


@st.composite
def valid_stream(draw: st.DrawFn) -> tuple[bytes, list[str], dict[str, Any], dict[str, Any]]:
    """A valid chat SSE body with random framing, and the text deltas, usage and metadata it carries."""
    deltas = draw(st.lists(delta_text, max_size=10))
    u, meta = draw(usage), draw(metadata)
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    meta_on_last_content = draw(st.booleans()) and bool(deltas)
    events: list[str] = [": keep-alive"] if draw(st.booleans()) else []
    for i, d in enumerate(deltas):
        chunk: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                 "choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]}
        if meta_on_last_content and i == len(deltas) - 1:
            chunk.update(usage=u, routing_metadata=meta)
        fields = []
        if draw(st.booleans()):
            fields.append(draw(st.sampled_from(["event: message", "id: 7", "retry: 100", ": comment"])))
        if draw(st.booleans()):  # the same JSON spread over several data: lines (joined again with "\n")
            fields += ["data: " + line for line in json.dumps(chunk, ensure_ascii=False, indent=1).split("\n")]
        else:
            fields.append("data: " + json.dumps(chunk, ensure_ascii=False))
        events.append(eol.join(fields))
    events.append("data: " + json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if not meta_on_last_content:
        events.append("data: " + json.dumps({"id": "c1", "choices": [], "usage": u, "routing_metadata": meta},
                                            ensure_ascii=False))
    events.append("data: [DONE]")
    body = (eol + eol).join(events) + eol + eol
    return body.encode(), deltas, u, meta


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in zip(points, points[1:], strict=False)]


@PROFILE
@given(valid_stream(), st.data())
def test_any_split_of_a_valid_stream_parses_the_same(stream: Any, data: st.DataObject) -> None:
    body, deltas, u, meta = stream
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=40) | st.just(list(range(len(body)))))
    rows: list[dict[str, Any]] = []
    s = sse_client(split(body, cuts), rows).chat("hi", model="m", stream=True)
    got = list(s)
    res = s.result
    assert "".join(got) == res.text == "".join(deltas)
    assert res.usage is not None and res.usage.model_dump(exclude_none=True)["prompt_tokens"] == u["prompt_tokens"]
    assert (res.usage.completion_tokens, res.usage.cached_tokens) == (u["completion_tokens"],
                                                                     u["prompt_tokens_details"]["cached_tokens"])
    rm = res.routing_metadata
    assert rm is not None and (rm.provider, rm.model_canonical, rm.routing_strategy, rm.cost_usd) == (
        meta["provider"], meta["model_canonical"], meta["routing_strategy"], meta["cost"]["usd"])
    assert res.response.choices[0].finish_reason == "stop"
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["cost_usd"] == meta["cost"]["usd"]


@settings(max_examples=EXAMPLES // 5, deadline=None, derandomize=True, database=None)
@given(valid_stream(), st.data())
def test_any_split_parses_the_same_in_the_async_client(stream: Any, data: st.DataObject) -> None:
    body, deltas, u, meta = stream
    pieces = split(body, data.draw(st.lists(st.integers(0, len(body)), max_size=40)))
    rows: list[dict[str, Any]] = []

    async def go() -> ak.Result:
        client = async_client(pieces, rows, 200, "text/event-stream")
        s = await client.chat("hi", model="m", stream=True)
        assert "".join([d async for d in s]) == "".join(deltas)
        return s.result
    res = asyncio.run(go())
    assert res.text == "".join(deltas) and res.usage is not None and res.usage.completion_tokens == u["completion_tokens"]
    assert res.routing_metadata is not None and res.routing_metadata.provider == meta["provider"]


# -- 2. arbitrary bytes ------------------------------------------------------------------------------------

KEYS = ["choices", "delta", "content", "message", "index", "finish_reason", "usage", "routing_metadata", "error",
        "tool_calls", "function", "arguments", "name", "id", "role", "reasoning_content", "type", "response",
        "output_text", "prompt_tokens", "completion_tokens", "total_tokens", "provider", "cost", "usd", "warnings",
        "message", "code", "prompt_tokens_details", "cached_tokens", "output", "status", "text"]
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=8) | st.sampled_from(["[DONE]", "response.completed", "response.output_text.delta",
                                                   "error", "stop", "assistant"]))
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=5),
                         max_leaves=15)


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


# documented shapes, each to be bent at one random place
TEMPLATES: list[Any] = [
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi", "reasoning_content": "r",
                                        "tool_calls": [{"index": 0, "id": "t", "function": {"name": "f",
                                                                                            "arguments": "{}"}}]},
                  "finish_reason": None}]},
    {"id": "c", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                                         "prompt_tokens_details": {"cached_tokens": 0}},
     "routing_metadata": {"provider": "p", "provider_model_id": "m", "model_canonical": "m",
                          "routing_strategy": "cost", "cost": {"usd": 0.1}, "warnings": [{"code": "w"}]}},
    {"error": {"message": "m", "type": "api_error", "code": "upstream_error", "provider": "p"}},
    {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                                                          "finish_reason": "stop"}],
     "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
    {"type": "response.output_text.delta", "delta": "hi", "sequence_number": 1},
    {"type": "response.completed", "response": {"id": "r", "status": "completed", "output_text": "hi",
                                                "output": [{"type": "message", "content": [{"type": "output_text",
                                                                                            "text": "hi"}]}],
                                                "usage": {"input_tokens": 1, "output_tokens": 1,
                                                          "input_tokens_details": {"cached_tokens": 0}}}},
    {"type": "error", "code": "rate_limit_exceeded", "message": "slow down"},
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def bent(draw: st.DrawFn) -> Any:
    """A documented chunk, event or body with one node replaced by arbitrary JSON (or removed)."""
    value = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    path = draw(st.sampled_from(paths(value)))
    if not path:
        return draw(json_like)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.integers(0, 4)) == 0 and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_like)
    return value


@st.composite
def sse_of_json(draw: st.DrawFn) -> bytes:
    """An SSE body whose events carry arbitrary or bent JSON, maybe ending with [DONE]."""
    events = draw(st.lists(json_like.map(dumps) | bent().map(dumps) | st.sampled_from(["[DONE]", "{", "", "null"]),
                           max_size=6))
    if draw(st.booleans()):
        events.append("[DONE]")
    return "".join(f"data: {e}\n\n" for e in events).encode()


bodies = (st.binary(max_size=600) | sse_of_json() | json_like.map(lambda v: dumps(v).encode())
          | bent().map(lambda v: dumps(v).encode())
          | st.builds(lambda head, tail: head + tail, sse_of_json(), st.binary(max_size=40)))
statuses = st.sampled_from([200, 200, 200, 201, 204, 400, 401, 404, 409, 429, 500, 502, 503])
ctypes = st.sampled_from(["text/event-stream", "application/json", "text/html", "text/event-stream; charset=latin-1",
                          "", "application/octet-stream"])
encodings = st.sampled_from([None, None, None, "gzip", "deflate", "br", "identity", "zstd"])


def check_outcome(call: Any, rows: list[dict[str, Any]]) -> str:
    try:
        call()
        outcome = "ok"
    except ak.AurikoError as e:  # anything else fails the test
        text = str(e)
        assert "\n" not in text and text.strip(), repr(text)
        outcome = type(e).__name__
    assert len(rows) == 1, rows  # exactly one record per call, whatever happened
    return outcome


OUTCOMES: dict[str, int] = {}


@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
          database=None)
@given(bodies, statuses, ctypes, encodings, st.booleans(), st.sampled_from(["chat", "responses"]), st.data())
def test_arbitrary_bytes_raise_only_our_errors(body: bytes, status: int, ctype: str, encoding: str | None, stream: bool,
                                               endpoint: str, data: st.DataObject) -> None:
    pieces = split(body, data.draw(st.lists(st.integers(0, len(body)), max_size=5)))
    rows: list[dict[str, Any]] = []
    client = sse_client(pieces, rows, status, ctype, encoding)
    fn = client.chat if endpoint == "chat" else client.responses

    def call() -> None:
        if stream:
            s = fn("hi", model="m", stream=True)
            for _ in s:  # type: ignore[union-attr]
                pass
            s.result  # type: ignore[union-attr]
        else:
            fn("hi", model="m")
    outcome = check_outcome(call, rows)
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
          database=None)
@given(bodies, statuses, ctypes, encodings, st.booleans(), st.sampled_from(["chat", "responses"]))
def test_arbitrary_bytes_raise_only_our_errors_async(body: bytes, status: int, ctype: str, encoding: str | None,
                                                     stream: bool, endpoint: str) -> None:
    rows: list[dict[str, Any]] = []

    async def call() -> None:
        client = async_client([body], rows, status, ctype, encoding)
        fn = client.chat if endpoint == "chat" else client.responses
        if stream:
            s = await fn("hi", model="m", stream=True)
            await s.get_result()  # type: ignore[union-attr]
        else:
            await fn("hi", model="m")
    check_outcome(lambda: asyncio.run(call()), rows)


def test_zz_report_outcomes() -> None:
    """Figures: how the arbitrary-bytes examples ended (run after the property above)."""
    figure("properties", "examples", {"valid stream split (sync)": EXAMPLES, "valid stream split (async)": EXAMPLES // 5,
                                      "arbitrary bytes (sync)": EXAMPLES * 2, "arbitrary bytes (async)": EXAMPLES})
    figure("properties", "arbitrary-bytes outcomes", dict(sorted(OUTCOMES.items())))
