"""Client-side timing: TTFT from sending to the first content delta (streams only), headers_ms to the headers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
from fakes import HEADERS, Script, chunk, client_for, completion, json_response, sse

import auriko_nb as ak

DELAY = 0.20
TAIL = 0.10


class Delayed(httpx.SyncByteStream):
    """A role-only chunk at once, the first content after DELAY, the end after TAIL more."""

    def __iter__(self) -> Iterator[bytes]:
        first = chunk(None)
        first["choices"][0]["delta"] = {"role": "assistant"}
        yield sse(first, done=False)
        time.sleep(DELAY)
        yield sse(chunk("first"), done=False)
        time.sleep(TAIL)
        yield sse(chunk(" last"), chunk(choices=False, usage={"prompt_tokens": 1, "completion_tokens": 2,
                                                               "total_tokens": 3}))


class ADelayed(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse(chunk(None), done=False)
        await asyncio.sleep(DELAY)
        yield sse(chunk("first"), done=False)
        await asyncio.sleep(TAIL)
        yield sse(chunk(" last"))


def test_stream_ttft_matches_the_delay_before_the_first_content() -> None:
    resp = httpx.Response(200, stream=Delayed(), headers={**HEADERS, "content-type": "text/event-stream"})
    res = client_for(Script(resp)).chat("hi", model="m", stream=True).result
    assert res.ttft_ms is not None and res.latency_ms is not None
    assert DELAY * 1000 <= res.ttft_ms < DELAY * 1000 + 40
    assert (DELAY + TAIL) * 1000 <= res.latency_ms < (DELAY + TAIL) * 1000 + 60


class SlowBody(httpx.SyncByteStream):
    """A non-streamed JSON body whose bytes arrive TAIL after the headers."""

    def __iter__(self) -> Iterator[bytes]:
        body = json_response(completion()).content
        yield body[:10]
        time.sleep(TAIL)
        yield body[10:]


def test_non_streamed_has_no_ttft_and_headers_ms_is_time_to_headers() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(DELAY)  # the headers come after DELAY, the rest of the body TAIL later
        return httpx.Response(200, stream=SlowBody(), headers={**HEADERS, "content-type": "application/json"})
    res = client_for(Script(slow)).chat("hi", model="m")
    assert res.ttft_ms is None and res.to_record()["ttft_ms_client"] is None  # no first token without a stream
    assert res.headers_ms is not None and DELAY * 1000 <= res.headers_ms < DELAY * 1000 + 40  # not the last byte
    assert res.latency_ms is not None and (DELAY + TAIL) * 1000 <= res.latency_ms < (DELAY + TAIL) * 1000 + 60


async def test_async_stream_ttft() -> None:
    client = ak.AsyncClient(api_key="ak_test_x", base_url="http://g.test", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, stream=ADelayed(), headers={"content-type": "text/event-stream"})))
    stream = await client.chat("hi", model="m", stream=True)
    res = await stream.get_result()
    assert res.ttft_ms is not None and DELAY * 1000 <= res.ttft_ms < DELAY * 1000 + 40
    assert res.latency_ms is not None and res.latency_ms >= (DELAY + TAIL) * 1000
