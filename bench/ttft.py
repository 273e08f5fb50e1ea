"""4. TTFT fidelity: client-measured TTFT minus the TTFT the gateway applied, at 1, 50 and 200 concurrent streams."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .common import (
    KEY,
    BenchResult,
    Check,
    Gateway,
    Table,
    median,
    percentile,
    process_cpu,
    profile_text,
)

NAME = "ttft"
TITLE = "4. TTFT fidelity (client-measured minus gateway-applied TTFT, offline gateway over loopback)"
SPEED = 1.0  # real time: streams last as long as the catalog's providers make them (about 0.5-3 s)
QUICK_SPEED = 0.1
MODEL = "llama-3.3-70b"  # five providers with different TTFT profiles: a spread of applied TTFTs
PROMPTS = [f"Explain topic number {i} of latency engineering, briefly." for i in range(40)]
WHAT = (f"Streamed chats to the offline gateway (`auriko-nb serve --speed {SPEED}`, its own process, real "
        f"per-provider TTFT and token-rate sampling in real time, model `{MODEL}`) from one `auriko_nb.AsyncClient`. N workers each run "
        "streams back to back (started at random offsets, so N streams are open at any time); each stream's "
        "`Result.ttft_ms` (request sent → first content delta parsed) minus `routing_metadata.ttft_ms` (the delay "
        "the gateway applied between receiving the request and emitting the first token) is the error. The "
        "first stream of every worker (connection set-up) is not counted. The same harness with a bare httpx + "
        "httpx-sse loop (time to the first content event) shows how much of the error the client adds.")


def _sizes(quick: bool) -> dict[int, int]:
    """Concurrency -> streams per worker (the first of each is a warm-up)."""
    return {1: 3, 50: 2, 200: 2} if quick else {1: 21, 50: 4, 200: 3}


Measure = Callable[[str], Awaitable[tuple[float, float]]]


def _ours(base_url: str, limit: int) -> tuple[Measure, Any]:
    import httpx

    import auriko_nb as ak

    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=limit + 8, max_keepalive_connections=limit + 8),
                             timeout=60.0)
    client = ak.AsyncClient(KEY, base_url=base_url, on_record=None, max_retries=0, http_client=http)

    async def one(prompt: str) -> tuple[float, float]:
        stream = await client.chat(prompt, model=MODEL, stream=True)
        res = await stream.get_result()
        assert res.ttft_ms is not None and res.routing_metadata is not None
        return res.ttft_ms, float(res.routing_metadata.ttft_ms or 0.0)

    return one, http


def _bare(base_url: str, limit: int) -> tuple[Measure, Any]:
    import httpx
    from httpx_sse import EventSource

    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=limit + 8, max_keepalive_connections=limit + 8),
                             timeout=60.0)
    headers = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}

    async def one(prompt: str) -> tuple[float, float]:
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
        first = server = None
        sent = time.perf_counter()
        async with http.stream("POST", base_url + "/chat/completions", json=body, headers=headers) as r:
            async for sse in EventSource(r).aiter_sse():
                if sse.data == "[DONE]":
                    continue  # read to the end of the body, so the connection is reused (as auriko_nb does)
                chunk = json.loads(sse.data)
                if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or ()):
                    first = time.perf_counter()
                if chunk.get("routing_metadata"):
                    server = chunk["routing_metadata"]["ttft_ms"]
        assert first is not None and server is not None
        return (first - sent) * 1000, float(server)

    return one, http


async def _level(measure: Measure, workers: int, per_worker: int, seed: int) -> tuple[list[float], float]:
    """Errors (ms) of every counted stream, and the wall time of the level."""
    rng = random.Random(seed)
    errors: list[float] = []

    async def worker(i: int) -> None:
        await asyncio.sleep(rng.uniform(0, 0.15) if workers > 1 else 0)
        for k in range(per_worker):
            client_ms, server_ms = await measure(PROMPTS[(i + k) % len(PROMPTS)])
            if k > 0:
                errors.append(client_ms - server_ms)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return errors, time.perf_counter() - t0


async def _run(base_url: str, sizes: dict[int, int], gw: Gateway) -> list[dict[str, Any]]:
    out = []
    for n, per_worker in sizes.items():
        for label, factory in (("auriko_nb", _ours), ("bare httpx + httpx-sse", _bare)):
            measure, http = factory(base_url, n)
            try:
                cpu0, gcpu0 = process_cpu(), gw.cpu_seconds()
                errors, wall = await _level(measure, n, per_worker, seed=n)
                cpu1, gcpu1 = process_cpu(), gw.cpu_seconds()
            finally:
                await http.aclose()
            out.append({"client": label, "n": n, "errors": errors, "wall": wall, "client_cpu": (cpu1 - cpu0) / wall,
                        "gateway_cpu": (gcpu1 - gcpu0) / wall if gcpu0 is not None and gcpu1 is not None else None})
    return out


def run(quick: bool = False) -> BenchResult:
    t_start = time.perf_counter()
    sizes = _sizes(quick)
    speed = QUICK_SPEED if quick else SPEED
    with Gateway(["--speed", str(speed), "--seed", "0", "--credit-usd", "100000"]) as gw:
        levels = asyncio.run(_run(gw.base_url, sizes, gw))
    rows = []
    for lv in levels:
        e = lv["errors"]
        rows.append([lv["client"], lv["n"], len(e), percentile(e, 50), percentile(e, 95), max(e), min(e),
                     f"{lv['client_cpu']:.0%}", "–" if lv["gateway_cpu"] is None else f"{lv['gateway_cpu']:.0%}"])
    table = Table(["client", "concurrent streams", "streams counted", "error p50 ms", "error p95 ms", "max ms",
                   "min ms", "client CPU", "gateway CPU"], rows,
                  caption="Error = client-measured TTFT − gateway-applied TTFT. CPU = process CPU time ÷ wall time "
                          "of the level (100 % = one core busy).")
    ours = {lv["n"]: lv["errors"] for lv in levels if lv["client"] == "auriko_nb"}
    bare = {lv["n"]: lv["errors"] for lv in levels if lv["client"] != "auriko_nb"}
    checks = [Check("auriko_nb error p95 at 50 concurrent streams", percentile(ours[50], 95), 5.0, " ms")]
    notes = ["What the client adds on top of the gateway and loopback (auriko_nb p50 − bare p50): " + ", ".join(
        f"{n} streams {median(ours[n]) - median(bare[n]):+.2f} ms" for n in ours) + "."]
    if quick:
        notes.append(f"Quick mode: gateway speed {QUICK_SPEED} (10× faster delays) and very few streams.")
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes,
                      summary=", ".join(f"{n} streams p50 {percentile(e, 50):.1f} / p95 {percentile(e, 95):.1f} ms"
                                        for n, e in ours.items()))
    res.seconds = time.perf_counter() - t_start
    return res


def profile(quick: bool = False) -> str:
    """cProfile of the client side of the 50-stream level (the gateway runs in its own process)."""
    with Gateway(["--speed", str(SPEED), "--seed", "0", "--credit-usd", "100000"]) as gw:
        measure, http = _ours(gw.base_url, 50)

        async def go() -> None:
            try:
                await _level(measure, 50, 2 if quick else 6, seed=50)
            finally:
                await http.aclose()

        return profile_text(lambda: asyncio.run(go()), sort="tottime")
