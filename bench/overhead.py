"""1. Per-call client overhead: a non-streamed chat against an in-process transport with a canned response.

auriko_nb vs the `openai` SDK (its http_client on the same transport) vs the official `auriko` SDK (its httpx
client on the same transport) vs a bare httpx post + json.loads; sync and async; microseconds per call.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
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
)

NAME = "overhead"
TITLE = "1. Per-call client overhead (non-streamed chat, in-process transport)"
WHAT = ("A non-streamed chat call against an in-process `httpx.MockTransport` that returns a canned "
        "completion (no network): auriko_nb vs the `openai` SDK (its `http_client` on the same kind of transport) "
        "vs the official `auriko` SDK (its httpx client replaced by one on the same transport) vs a bare httpx "
        "post + `json.loads`, sync and async, in microseconds per call.")


PLAIN = "auriko_nb, plain Client (no hook)"
LEDGER = "auriko_nb + session ledger (connect(), magics)"


def _sizes(quick: bool) -> tuple[int, int, int]:
    """(calls per timed block, repetitions, warm-up calls)."""
    return (150, 3, 30) if quick else (2000, 7, 200)


def _sync_candidates(ledger_path: Path) -> tuple[dict[str, Any], list[Any]]:
    import httpx

    from auriko_nb.notebook.attach import attach

    h1 = handler(httpx)
    import httpx2

    h2 = handler(httpx2)
    bare = httpx.Client(transport=httpx.MockTransport(h1))
    headers = {"Authorization": f"Bearer {KEY}"}
    url = BASE_URL + "/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}

    def bare_call() -> Any:
        return json.loads(bare.post(url, json=body, headers=headers).content)

    ak_off = ours(h1)
    ak_rec = ours(h1, on_record=lambda rec: None)
    ak_led = attach(ours(h1))  # what ak.connect() and the magics give: session ledger + session defaults
    oa = openai_client(h2)
    sdk = auriko_sdk_client(h1)
    cands = {
        "bare httpx post + json.loads": bare_call,
        PLAIN: lambda: ak_off.chat(PROMPT, model=MODEL),
        "auriko_nb, record built (no-op hook)": lambda: ak_rec.chat(PROMPT, model=MODEL),
        LEDGER: lambda: ak_led.chat(PROMPT, model=MODEL),
        "openai SDK": lambda: oa.chat.completions.create(messages=MESSAGES, model=MODEL),
        "auriko SDK": lambda: sdk.chat.completions.create(messages=MESSAGES, model=MODEL),
    }
    return cands, [bare, ak_off, ak_rec, ak_led, oa, sdk]


def _async_candidates() -> tuple[dict[str, Any], list[Any]]:
    import httpx
    import httpx2

    h1, h2 = handler(httpx), handler(httpx2)
    bare = httpx.AsyncClient(transport=httpx.MockTransport(h1))
    headers = {"Authorization": f"Bearer {KEY}"}
    url = BASE_URL + "/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}

    async def bare_call() -> Any:
        return json.loads((await bare.post(url, json=body, headers=headers)).content)

    ak_off = ours(h1, asynchronous=True)
    oa = openai_client(h2, asynchronous=True)
    sdk = auriko_sdk_client(h1, asynchronous=True)
    cands = {
        "bare httpx post + json.loads": bare_call,
        PLAIN: lambda: ak_off.chat(PROMPT, model=MODEL),
        "openai SDK": lambda: oa.chat.completions.create(messages=MESSAGES, model=MODEL),
        "auriko SDK": lambda: sdk.chat.completions.create(messages=MESSAGES, model=MODEL),
    }
    return cands, [bare, ak_off, oa, sdk]


def _check_same_answer(cands: dict[str, Any]) -> None:
    """Every candidate really parses the canned answer (so nobody is timed doing less than the others)."""
    from .common import ANSWER

    for name, fn in cands.items():
        out = fn()
        text = (out["choices"][0]["message"]["content"] if isinstance(out, dict)
                else out.text if hasattr(out, "text") else out.choices[0].message.content)
        if text != ANSWER:
            raise AssertionError(f"{name} returned {text!r}")


async def _run_async(n: int, repeats: int, warmup: int) -> dict[str, list[float]]:
    cands, clients = _async_candidates()
    for name, fn in cands.items():
        out = await fn()
        text = out["choices"][0]["message"]["content"] if isinstance(out, dict) else (
            out.text if hasattr(out, "text") else out.choices[0].message.content)
        if not text:
            raise AssertionError(f"{name} returned no text")
    try:
        return await ainterleaved(cands, n, repeats, warmup)
    finally:
        for c in clients:
            close = getattr(c, "aclose", None) or getattr(c, "close", None)
            if close is not None:
                res = close()
                if asyncio.iscoroutine(res):
                    await res


def run(quick: bool = False) -> BenchResult:
    import auriko_nb.measure.ledger as ledger_mod

    t_start = time.perf_counter()
    n, repeats, warmup = _sizes(quick)
    with tempfile.TemporaryDirectory(prefix="auriko-bench-") as tmp:
        session = ledger_mod.set_session_ledger(Path(tmp) / "session.sqlite")
        try:
            cands, clients = _sync_candidates(Path(tmp))
            _check_same_answer(cands)
            sync = interleaved(cands, n, repeats, warmup)
            rows_written = len(session) if session is not None else 0
        finally:
            ledger_mod.set_session_ledger(None)  # the benchmark's process needs no session ledger after this
            if session is not None:
                session.close()
            for c in clients:
                c.close()
    asy = asyncio.run(_run_async(n, repeats, warmup))

    s = {k: median(v) for k, v in sync.items()}
    a = {k: median(v) for k, v in asy.items()}
    bare, ak, oa = "bare httpx post + json.loads", PLAIN, "openai SDK"
    rows = []
    for name in sync:
        row: list[Any] = [name, s[name], s[name] / s[bare], s[name] / s[oa]]
        row += [a[name], a[name] / a[bare], a[name] / a[oa]] if name in a else ["–", "–", "–"]
        rows.append(row)
    table = Table(["client", "sync µs/call", "× bare httpx", "× openai SDK", "async µs/call", "× bare httpx",
                   "× openai SDK"], rows,
                  caption=f"Median of {repeats} timed blocks of {n:,} calls each (after {warmup} warm-up calls), "
                          "clients taking turns.")
    checks = [
        Check("auriko_nb / bare httpx, sync", s[ak] / s[bare], 1.3, "×"),
        Check("auriko_nb / bare httpx, async", a[ak] / a[bare], 1.3, "×"),
        Check("auriko_nb / openai SDK, sync", s[ak] / s[oa], 0.3, "×"),
        Check("auriko_nb / openai SDK, async", a[ak] / a[oa], 0.3, "×"),
    ]
    rec_cost = s["auriko_nb, record built (no-op hook)"] - s[ak]
    led_cost = s[LEDGER] - s[ak]
    notes = [
        f"A plain `ak.Client()` writes nothing. The session ledger that `ak.connect()` and the magics attach "
        f"(build the record, then one committed SQLite WAL insert per call) costs **{led_cost:.0f} µs per call** "
        f"here ({rec_cost:.0f} µs of it building the record, {led_cost - rec_cost:.0f} µs the insert and commit; "
        f"{rows_written:,} rows written to a temporary ledger). Against a real gateway a call takes hundreds of "
        f"milliseconds, so this is well under 0.1 % of a call; `ak.set_session_ledger(None)` turns it off.",
        f"Raw timings (µs/call per block): sync {_raw(sync)}; async {_raw(asy)}.",
    ]
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes,
                      summary=(f"sync {s[ak]:.0f} µs/call = {s[ak] / s[bare]:.2f}× httpx, {s[ak] / s[oa]:.2f}× openai; "
                               f"async {a[ak]:.0f} µs = {a[ak] / a[bare]:.2f}× httpx, {a[ak] / a[oa]:.2f}× openai"))
    res.seconds = time.perf_counter() - t_start
    return res


def _raw(d: dict[str, list[float]]) -> str:
    return "; ".join(f"{k}: " + ", ".join(f"{v:.0f}" for v in vs) for k, vs in d.items())


def profile(quick: bool = False) -> str:
    """cProfile of sync auriko_nb calls (the hot path this benchmark measures)."""
    import httpx

    client = ours(handler(httpx))
    n = 300 if quick else 3000
    for _ in range(50):
        client.chat(PROMPT, model=MODEL)
    return profile_text(lambda: [client.chat(PROMPT, model=MODEL) for _ in range(n)])
