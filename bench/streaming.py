"""2. Streaming: one chat SSE stream of 2,000 content chunks from an in-process transport that delivers it one
event at a time (as paced network delivery does); content chunks per second for auriko_nb, the `openai` SDK
and the official `auriko` SDK, each consuming the stream the way its users do (text deltas for auriko_nb,
chunk objects for the SDKs), with a bare httpx + httpx-sse + json.loads loop as the floor.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from .common import (
    BASE_URL,
    KEY,
    MESSAGES,
    MODEL,
    PROMPT,
    BenchResult,
    Check,
    Table,
    ainterleaved,
    auriko_sdk_client,
    handler,
    interleaved,
    median,
    openai_client,
    ours,
    profile_text,
    sse_events,
)

NAME = "streaming"
TITLE = "2. Streaming throughput (2,000-chunk SSE stream, in-process transport)"

WHAT = ("One chat SSE stream of 2,000 content chunks from an in-process transport that delivers it one event at "
        "a time, as paced network delivery does. Each client consumes it the way its users do: text deltas for "
        "auriko_nb (which also accumulates the answer and builds a Result with usage and routing_metadata), "
        "chunk objects for the SDKs. A bare httpx + httpx-sse + json.loads loop is the floor.")
BARE = "bare httpx + httpx-sse + json.loads"
AK = "auriko_nb"
OA = "openai SDK"
SDK = "auriko SDK"


def _sizes(quick: bool) -> tuple[int, int, int]:
    """(content chunks per stream, timed streams per client, warm-up streams)."""
    return (300, 3, 1) if quick else (2000, 9, 2)


def _count_sdk(stream: Any) -> int:
    n = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
    return n


async def _acount_sdk(stream: Any) -> int:
    n = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
    return n


def _sync(n_chunks: int) -> tuple[dict[str, Callable[[], int]], list[Any]]:
    import httpx
    import httpx2
    from httpx_sse import EventSource

    events = sse_events(n_chunks)
    h1, h2 = handler(httpx, events=events), handler(httpx2, events=events)
    bare = httpx.Client(transport=httpx.MockTransport(h1))
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}

    def bare_stream() -> int:
        n = 0
        with bare.stream("POST", BASE_URL + "/chat/completions", json=body, headers=headers) as r:
            for sse in EventSource(r).iter_sse():
                if sse.data == "[DONE]":
                    break
                chunk = json.loads(sse.data)
                choices = chunk.get("choices")
                if choices and choices[0]["delta"].get("content"):
                    n += 1
        return n

    ak = ours(h1)
    oa = openai_client(h2)
    sdk = auriko_sdk_client(h1)

    def ak_stream() -> int:
        n = 0
        stream = ak.chat(PROMPT, model=MODEL, stream=True)
        for _ in stream:
            n += 1
        assert stream.result.routing_metadata is not None
        return n

    cands = {
        BARE: bare_stream,
        AK: ak_stream,
        OA: lambda: _count_sdk(oa.chat.completions.create(messages=MESSAGES, model=MODEL, stream=True)),
        SDK: lambda: _count_sdk(sdk.chat.completions.create(messages=MESSAGES, model=MODEL, stream=True)),
    }
    return cands, [bare, ak, oa, sdk]


def _async(n_chunks: int) -> tuple[dict[str, Callable[[], Any]], list[Any]]:
    import httpx
    import httpx2
    from httpx_sse import EventSource

    events = sse_events(n_chunks)
    h1, h2 = handler(httpx, events=events), handler(httpx2, events=events)
    bare = httpx.AsyncClient(transport=httpx.MockTransport(h1))
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}

    async def bare_stream() -> int:
        n = 0
        async with bare.stream("POST", BASE_URL + "/chat/completions", json=body, headers=headers) as r:
            async for sse in EventSource(r).aiter_sse():
                if sse.data == "[DONE]":
                    break
                chunk = json.loads(sse.data)
                choices = chunk.get("choices")
                if choices and choices[0]["delta"].get("content"):
                    n += 1
        return n

    ak = ours(h1, asynchronous=True)
    oa = openai_client(h2, asynchronous=True)
    sdk = auriko_sdk_client(h1, asynchronous=True)

    async def ak_stream() -> int:
        n = 0
        stream = await ak.chat(PROMPT, model=MODEL, stream=True)
        async for _ in stream:
            n += 1
        assert stream.result.routing_metadata is not None
        return n

    async def oa_stream() -> int:
        return await _acount_sdk(await oa.chat.completions.create(messages=MESSAGES, model=MODEL, stream=True))

    async def sdk_stream() -> int:
        return await _acount_sdk(await sdk.chat.completions.create(messages=MESSAGES, model=MODEL, stream=True))

    return {BARE: bare_stream, AK: ak_stream, OA: oa_stream, SDK: sdk_stream}, [bare, ak, oa, sdk]


async def _run_async(n_chunks: int, repeats: int, warmup: int) -> dict[str, list[float]]:
    cands, clients = _async(n_chunks)
    for name, fn in cands.items():
        got = await fn()
        if got != n_chunks:
            raise AssertionError(f"{name} (async) saw {got} content chunks, expected {n_chunks}")
    try:
        return await ainterleaved(cands, 1, repeats, warmup)
    finally:
        for c in clients:
            close = getattr(c, "aclose", None) or c.close
            res = close()
            if asyncio.iscoroutine(res):
                await res


def run(quick: bool = False) -> BenchResult:
    t_start = time.perf_counter()
    n_chunks, repeats, warmup = _sizes(quick)
    cands, clients = _sync(n_chunks)
    for name, fn in cands.items():
        got = fn()
        if got != n_chunks:
            raise AssertionError(f"{name} saw {got} content chunks, expected {n_chunks}")
    try:
        sync = interleaved(cands, 1, repeats, warmup)  # µs per whole stream
    finally:
        for c in clients:
            c.close()
    asy = asyncio.run(_run_async(n_chunks, repeats, warmup))

    def rate(us: list[float]) -> float:
        return n_chunks / (median(us) / 1e6)

    s = {k: rate(v) for k, v in sync.items()}
    a = {k: rate(v) for k, v in asy.items()}
    rows = [[name, s[name], 1e6 / s[name], s[name] / s[OA], a[name], 1e6 / a[name], a[name] / a[OA]] for name in sync]
    table = Table(["client", "sync chunks/s", "µs/chunk", "× openai SDK", "async chunks/s", "µs/chunk",
                   "× openai SDK"], rows,
                  caption=f"{n_chunks:,} content chunks per stream (plus role, finish, usage and [DONE] events); "
                          f"median of {repeats} streams per client after {warmup} warm-up, clients taking turns.")
    checks = [Check("auriko_nb / openai SDK chunks per second, sync", s[AK] / s[OA], 2.0, "×", ">="),
              Check("auriko_nb / openai SDK chunks per second, async", a[AK] / a[OA], 2.0, "×", ">=")]
    notes = [f"auriko_nb reaches {s[AK] / s[BARE]:.0%} (sync) and {a[AK] / a[BARE]:.0%} (async) of the bare "
             f"httpx-sse + json.loads floor, while also accumulating the text and validating the final usage and "
             f"routing_metadata into a Result."]
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes,
                      summary=(f"sync {s[AK]:,.0f} chunks/s = {s[AK] / s[OA]:.1f}× openai; "
                               f"async {a[AK]:,.0f} = {a[AK] / a[OA]:.1f}× openai"))
    res.seconds = time.perf_counter() - t_start
    return res


def profile(quick: bool = False) -> str:
    """cProfile of auriko_nb consuming streams (sync)."""
    import httpx

    n_chunks, _, _ = _sizes(quick)
    client = ours(handler(httpx, events=sse_events(n_chunks)))

    def go() -> None:
        for _ in range(3):
            for _ in client.chat(PROMPT, model=MODEL, stream=True):
                pass

    return profile_text(go)
