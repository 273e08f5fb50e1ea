"""3. Sweep concurrency: 2,000 calls to the offline gateway over loopback at 100 ms simulated latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .common import (
    KEY,
    BenchResult,
    Check,
    Gateway,
    Table,
    median,
    process_cpu,
    profile_text,
)

NAME = "sweep"
TITLE = "3. Sweep concurrency (offline gateway over loopback, 100 ms per call)"
MODEL = "gpt-4o-mini"
N_PROMPTS = 20


def _sizes(quick: bool) -> tuple[int, float, dict[int, int]]:
    """(calls per sweep, latency ms, concurrency -> repetitions)."""
    return (300, 50.0, {10: 1, 100: 1, 300: 1}) if quick else (2000, 100.0, {10: 1, 100: 3, 300: 3})


WHAT = ("`ak.compare` (the `Sweep` behind it: streamed calls, adaptive limiter, one row per cell) with "
        "`ledger=None, progress=False` against the offline gateway in its own process (`auriko-nb serve`, "
        "through `bench._gateway`, which pins every call's latency to exactly 100 ms: TTFT 100 ms and the whole "
        "answer right after it, instead of the per-provider random profile). 20 prompts × 100 repeats of one "
        "model, `max_tokens=32`. Wall time of the whole `compare` "
        "call (directory lookup for the estimate, connection set-up, DataFrame at the end included) against "
        "the ideal calls ÷ concurrency × latency (at 300 the calls come in ⌈2000/300⌉ = 7 rounds, so even a "
        "perfect client needs 1.05× that ideal).")


def _prompts() -> list[str]:
    return [f"Summarise benchmark note {i} in one sentence." for i in range(N_PROMPTS)]


def _sweep(base_url: str, calls: int, concurrency: int) -> tuple[Any, Any]:
    import auriko_nb as ak
    from auriko_nb.measure.sweep import Sweep

    client = ak.AsyncClient(KEY, base_url=base_url, transport=ak.ShardedTransport(concurrency + 8))  # used as given
    return Sweep(_prompts(), models=[MODEL], strategies=[None], repeats=calls // N_PROMPTS, concurrency=concurrency,
                 client=client, ledger=None, progress=False, max_tokens=32), client


def _one(gw: Gateway, calls: int, concurrency: int) -> dict[str, Any]:
    sweep, client = _sweep(gw.base_url, calls, concurrency)
    cpu0, gcpu0 = process_cpu(), gw.cpu_seconds()

    async def go() -> tuple[Any, float]:
        t0 = time.perf_counter()
        try:
            return await sweep.run(), time.perf_counter() - t0
        finally:
            await client.aclose()  # on the loop its connections belong to

    df, wall = asyncio.run(go())
    cpu1, gcpu1 = process_cpu(), gw.cpu_seconds()
    ok = int((df["status"] == "ok").sum())
    if len(df) != calls:
        raise AssertionError(f"sweep returned {len(df)} rows for {calls} calls")
    return {"wall": wall, "ok": ok, "peak": sweep.limiter.peak if sweep.limiter else None,
            "client_cpu": (cpu1 - cpu0) / wall,
            "gateway_cpu": (gcpu1 - gcpu0) / wall if gcpu0 is not None and gcpu1 is not None else None,
            "latency_p50": float(df["latency_ms"].median())}


def _bare(gw: Gateway, calls: int, concurrency: int, latency_ms: float, pool: int = 10) -> dict[str, Any]:
    """The transport alone: K workers posting the same streamed request with bare httpx and reading each stream
    to its end (so connections are reused), one `httpx.AsyncClient` per `pool` workers (httpcore's pool does
    O(connections²) bookkeeping per request, so one pool of 100 is far slower)."""
    import httpx

    async def go() -> float:
        n_pools = max(1, concurrency // pool)
        https = [httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=pool + 2)) for _ in range(n_pools)]
        body = {"model": MODEL, "messages": [{"role": "user", "content": _prompts()[0]}], "max_tokens": 32,
                "stream": True}
        headers = {"Authorization": f"Bearer {KEY}"}
        todo = iter(range(calls))

        async def worker(i: int) -> None:
            http = https[i % n_pools]
            for _ in todo:
                async with http.stream("POST", gw.base_url + "/chat/completions", json=body, headers=headers) as r:
                    async for _line in r.aiter_lines():
                        pass

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - t0
        for h in https:
            await h.aclose()
        return wall

    cpu0, gcpu0 = process_cpu(), gw.cpu_seconds()
    wall = asyncio.run(go())
    cpu1, gcpu1 = process_cpu(), gw.cpu_seconds()
    return {"wall": wall, "client_cpu": (cpu1 - cpu0) / wall,
            "gateway_cpu": (gcpu1 - gcpu0) / wall if gcpu0 is not None and gcpu1 is not None else None}


def run(quick: bool = False) -> BenchResult:
    t_start = time.perf_counter()
    calls, latency_ms, levels = _sizes(quick)
    rows: list[list[Any]] = []
    ratios: dict[int, float] = {}
    with Gateway(["--speed", "1", "--seed", "0", "--credit-usd", "100000"], fixed_ttft_ms=latency_ms) as gw:
        _one(gw, 100, 50)  # warm-up: imports, the gateway's first requests
        for k, reps in levels.items():
            runs = [_one(gw, calls, k) for _ in range(reps)]
            wall = median([r["wall"] for r in runs])
            best = min(runs, key=lambda r: abs(r["wall"] - wall))
            ideal = calls / k * latency_ms / 1000
            ratios[k] = wall / ideal
            rows.append([k, ideal, wall, wall / ideal, calls / wall, f"{best['ok']:,}/{calls:,}", best["peak"],
                         best["latency_p50"], f"{best['client_cpu']:.0%}",
                         "–" if best["gateway_cpu"] is None else f"{best['gateway_cpu']:.0%}",
                         ", ".join(f"{r['wall']:.2f}" for r in runs)])
        ref = _bare(gw, calls, 100, latency_ms)
        ideal = calls / 100 * latency_ms / 1000
        rows.append(["100, bare httpx (reference)", ideal, ref["wall"], ref["wall"] / ideal, calls / ref["wall"], "–", 100,
                     "–", f"{ref['client_cpu']:.0%}",
                     "–" if ref["gateway_cpu"] is None else f"{ref['gateway_cpu']:.0%}", f"{ref['wall']:.2f}"])
        bare_ratio = ref["wall"] / ideal
    table = Table(["concurrency", "ideal s", "wall s (median)", "× ideal", "calls/s", "ok", "peak in flight",
                   "call latency p50 ms", "client CPU", "gateway CPU", "runs s"], rows,
                  caption=f"{calls:,} streamed calls, {latency_ms:.0f} ms each at the gateway. CPU = process CPU "
                          f"time ÷ wall time (100 % = one core busy); this machine has "
                          f"{_cores()} cores for client and gateway together.")
    checks = [Check("wall / ideal at concurrency 100", ratios[100], 1.2, "×")]
    notes = [f"The reference row is the transport alone: bare `httpx.AsyncClient`s (one per 10 workers, streams "
             f"read to their end so connections are reused), 100 workers posting the same streamed request, no "
             f"parsing, no records: {bare_ratio:.2f}× ideal. That is what an httpx-based client reaches against this "
             f"gateway on this machine before doing any work of its own per call."]
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes,
                      summary=", ".join(f"K={k}: {r:.2f}× ideal" for k, r in ratios.items()))
    res.seconds = time.perf_counter() - t_start
    return res


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def profile(quick: bool = False) -> str:
    """cProfile of the client side of one concurrency-100 sweep (the gateway runs in its own process)."""
    calls, latency_ms, _ = _sizes(quick)
    with Gateway(["--speed", "1", "--seed", "0", "--credit-usd", "100000"], fixed_ttft_ms=latency_ms) as gw:
        _one(gw, 100, 50)
        sweep, client = _sweep(gw.base_url, calls, 100)
        try:
            return profile_text(lambda: asyncio.run(sweep.run()))
        finally:
            client.close()
