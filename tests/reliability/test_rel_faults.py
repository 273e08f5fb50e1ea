"""Faults lose nothing: a 2,000-call sweep through 20% mixed injected faults, checked against the gateway's own
records. Every grid cell ends as exactly one row (ok, or error with the code its last attempt earned); no
call is sent again once its stream began (nor once it succeeded); Retry-After and the backoff are honoured
(gateway-side arrival times); the gateway's count and sum of charged successes equal our ok rows.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rel_support import chat_requests, figure, wait_until

import auriko_nb as ak
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.sweep import RATE_LIMIT_ATTEMPTS, Sweep
from auriko_nb.offline import FAULT_KINDS, serve

KEY = "ak_test_reliability_faults"
SPEED = 0.01  # every simulated delay x0.01; Retry-After is 1 s x speed in whole seconds, rounded up: "1"
RETRY_AFTER = 1.0
CLIENT_TIMEOUT = 1.0  # a read gap this long is a stall, not a busy 2-core machine
STALL_SECONDS = 2.0  # past the client's timeout
# 20% of requests get a fault, every kind represented
RATES = {"rate_limit": 0.02, "stall": 0.015, "upstream_rate_limit": 0.015, "budget_exhausted": 0.015, **{
    k: 0.135 / 6 for k in ("server_error", "unavailable", "stream_error", "disconnect", "malformed_json", "html_error")}}
assert set(RATES) == set(FAULT_KINDS) and abs(sum(RATES.values()) - 0.2) < 1e-9

# what the last attempt of a cell got -> the row it must end as: (status, error_code, http_status)
STREAMED_OUTCOME: dict[str | None, tuple[str, str | None, int | None]] = {
    None: ("ok", None, None),
    "rate_limit": ("error", "rate_limit_exceeded", 429),  # only after RATE_LIMIT_ATTEMPTS in a row
    "upstream_rate_limit": ("error", "rate_limit_exceeded", 429),  # the same, passed on from the provider
    "budget_exhausted": ("error", "budget_exhausted", 429),  # not retryable (the SDK's rule)
    "server_error": ("error", "internal_error", 500),  # not retryable (the SDK's rule)
    "unavailable": ("error", "service_unavailable", 503),  # after max_retries
    "html_error": ("error", "malformed_response", 502),  # after max_retries
    "stall": ("error", "api_connection_error", None),  # after max_retries
    "stream_error": ("error", "upstream_error", 200),  # the stream began: never retried
    "disconnect": ("error", "stream_interrupted", None),
    "malformed_json": ("error", "malformed_chunk", None),
}
NON_STREAMED_OUTCOME = {**STREAMED_OUTCOME,
                        "stream_error": ("error", "upstream_error", 502),  # a plain 502 when not streamed
                        "disconnect": ("error", "api_connection_error", None),  # the body was cut: not retried
                        "malformed_json": ("error", "malformed_response", 200)}
STREAM_BEGAN = {"stream_error", "disconnect", "malformed_json"}
RETRY_AFTER_FAULTS = {"rate_limit", "upstream_rate_limit", "unavailable"}  # answered with Retry-After: "1"
BACKOFF_FLOOR = 0.5 * 0.8  # first retry: 0.5 s with -20% jitter at most


def na(value: Any) -> Any:
    """None for a missing value (None, NaN, pd.NA), else the value."""
    return None if value is None or bool(pd.isna(value)) else value


def cell_of(sweep: Sweep) -> dict[tuple[str, str, str | None], str]:
    """(prompt, model, strategy) as the gateway saw them -> the sweep's cell key."""
    return {(str(sweep.prompts[c.prompt_index]), c.model, c.strategy): c.key for c in sweep.cells}


def requests_by_cell(sweep: Sweep, records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    index = cell_of(sweep)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        b = r["body"]
        strategy = ((b.get("gateway") or {}).get("routing") or {}).get("optimize")
        out.setdefault(index[(b["messages"][0]["content"], b["model"], strategy)], []).append(r)
    return out


def check_sweep(sweep: Sweep, df: Any, gw: Any, outcome: dict[str | None, tuple[str, str | None, int | None]],
                stream: bool) -> dict[str, Any]:
    """Every invariant of part 1; returns the figures."""
    n = len(sweep.cells)
    # one final row per cell, nothing cancelled, nothing extra
    assert len(df) == n and df["cell"].is_unique and set(df["cell"]) == {c.key for c in sweep.cells}
    assert set(df["status"]) <= {"ok", "error"}
    assert wait_until(lambda: gw.stats.in_flight == 0, timeout=10), gw.stats.snapshot()
    records = chat_requests(gw.stats)
    by_cell = requests_by_cell(sweep, records)
    assert set(by_cell) == set(df["cell"])
    rows = {r["cell"]: r for r in df.to_dict("records")}
    retry_gaps: list[float] = []
    backoff_gaps: list[float] = []
    for key, reqs in by_cell.items():
        row = rows[key]
        # the row counts every HTTP attempt the gateway received for the cell
        assert int(row["attempts"]) == len(reqs), (key, row["attempts"], [r["fault"] for r in reqs])
        # never sent again once a response began (a stream, a success, or a body cut short: the SDK does not
        # retry protocol errors): one 200 at most, and it is the last
        began = [i for i, r in enumerate(reqs) if r["status"] == 200]
        assert len(began) <= 1 and (not began or began[0] == len(reqs) - 1), (key, [r["fault"] for r in reqs])
        final_faults = STREAM_BEGAN if stream else {"disconnect", "malformed_json"}  # a 200 had arrived
        assert all(r["fault"] not in final_faults for r in reqs[:-1]), key
        # the final row is what the last attempt earned
        last = reqs[-1]
        want_status, want_code, want_http = outcome[last["fault"]]
        got = (row["status"], na(row["error_code"]), None if na(row["http_status"]) is None else int(row["http_status"]))
        assert got[:2] == (want_status, want_code), (key, got, last["fault"], [r["fault"] for r in reqs])
        if want_http is not None:
            assert got[2] == want_http, (key, got)
        if last["fault"] != "stall":
            assert na(row["request_id"]) == last["request_id"], key
        # Retry-After and backoff, as the gateway's clock saw them
        for prev, nxt in zip(reqs, reqs[1:], strict=False):
            gap = nxt["received_at"] - prev["received_at"]
            if prev["fault"] in RETRY_AFTER_FAULTS:
                assert gap >= RETRY_AFTER, (key, prev["fault"], gap)
                retry_gaps.append(gap)
            if prev["fault"] in ("unavailable", "html_error", "stall"):
                floor = BACKOFF_FLOOR + (CLIENT_TIMEOUT if prev["fault"] == "stall" else 0.0)
                assert gap >= floor, (key, prev["fault"], gap)
                backoff_gaps.append(gap - floor)
    ok = int((df["status"] == "ok").sum())
    # nothing charged and not recorded, nothing recorded and not charged
    assert gw.stats.successes == ok
    charged = gw.app.state.sim.spent_micro / 1e6
    assert df["cost_usd"].astype(float).sum() == pytest.approx(charged, rel=1e-9, abs=1e-12)
    faults = Counter(r["fault"] for r in records if r["fault"])
    return {"cells": n, "requests": len(records), "faults": dict(sorted(faults.items())), "ok_rows": ok,
            "gateway_successes": gw.stats.successes, "charged_usd": round(charged, 6),
            "recorded_usd": round(float(df["cost_usd"].astype(float).sum()), 6),
            "error_rows_by_code": dict(sorted(Counter(df.loc[df.status == "error", "error_code"]).items())),
            "max_200s_per_cell": max(sum(r["status"] == 200 for r in reqs) for reqs in by_cell.values()),
            "retry_after_s": RETRY_AFTER, "min_gap_after_retry_after_s": round(min(retry_gaps), 4),
            "min_backoff_margin_s": round(min(backoff_gaps), 4) if backoff_gaps else None}


def test_two_thousand_streamed_calls_through_twenty_percent_faults(tmp_path: Path) -> None:
    faults = {**RATES, "stall_seconds": STALL_SECONDS}
    with serve(seed=3, speed=SPEED, faults=faults) as gw:
        ledger = Ledger(tmp_path / "faults.sqlite")
        sweep = Sweep([f"Reliability probe number {i}" for i in range(500)], models=["gpt-4o-mini", "llama-3.3-70b"],
                      strategies=["cost", "ttft-focus"], concurrency=50, ledger=ledger, progress=False,
                      client=ak.Client(KEY, base_url=gw.base_url, timeout=CLIENT_TIMEOUT), max_tokens=24)
        t0 = time.perf_counter()
        df = asyncio.run(sweep.run())
        wall = time.perf_counter() - t0
        figures = check_sweep(sweep, df, gw, STREAMED_OUTCOME, stream=True)
    assert figures["cells"] == 2000
    faults_seen = figures["faults"]
    assert set(faults_seen) == set(FAULT_KINDS) and all(v >= 20 for v in faults_seen.values()), faults_seen
    assert 0.17 <= sum(faults_seen.values()) / figures["requests"] <= 0.23
    # the ledger holds the same single row per cell
    stored = ledger.to_dataframe(run_id=sweep.run_id)
    assert len(stored) == 2000 and stored["cell"].is_unique
    assert stored.set_index("cell")["status"].astype(str).to_dict() == df.set_index("cell")["status"].astype(str).to_dict()
    for k, v in {**figures, "wall_s": round(wall, 1)}.items():
        figure("faults", f"streamed.{k}", v)


def test_non_streamed_sweep_through_the_same_faults() -> None:
    faults = {**RATES, "stall_seconds": STALL_SECONDS}
    with serve(seed=5, speed=SPEED, faults=faults) as gw:
        sweep = Sweep([f"Plain probe {i}" for i in range(400)], models=["gpt-4o-mini"], concurrency=50, ledger=None,
                      progress=False, stream=False, max_tokens=24,
                      client=ak.Client(KEY, base_url=gw.base_url, timeout=CLIENT_TIMEOUT))
        df = asyncio.run(sweep.run())
        figures = check_sweep(sweep, df, gw, NON_STREAMED_OUTCOME, stream=False)
    assert figures["cells"] == 400 and len(figures["faults"]) == len(FAULT_KINDS)
    for k, v in figures.items():
        figure("faults", f"non_streamed.{k}", v)


def test_retry_after_longer_than_the_backoff_is_waited_out() -> None:
    """A 429 with Retry-After 1 s (0.8 s rounded up to whole seconds): the client's next attempt arrives no sooner,
    though its backoff is 0.5 s."""
    with serve(seed=1, speed=0.8, faults={"rate_limit": 1.0}) as gw:
        client = ak.Client(KEY, base_url=gw.base_url, max_retries=2, on_record=None)
        with pytest.raises(ak.RateLimitError) as info:
            client.chat("hi", model="gpt-4o-mini")
        reqs = chat_requests(gw.stats)
    assert info.value.attempts == 3 and len(reqs) == 3 and info.value.retry_after == 1.0
    gaps = [b["received_at"] - a["received_at"] for a, b in zip(reqs, reqs[1:], strict=False)]
    assert all(g >= 1.0 for g in gaps), gaps
    figure("faults", "client.retry_after_s", 1.0)
    figure("faults", "client.gaps_s", [round(g, 3) for g in gaps])


def test_a_sweep_pauses_a_cell_for_its_retry_after() -> None:
    """In a sweep a 429 pauses new sends for Retry-After (1 s: 0.3 s rounded up) and the cell is retried."""
    with serve(seed=2, speed=0.3, faults={"rate_limit": 0.3}) as gw:
        sweep = Sweep([f"pause {i}" for i in range(12)], models=["gpt-4o-mini"], concurrency=4, ledger=None,
                      progress=False, stream=False, max_tokens=5, client=ak.Client(KEY, base_url=gw.base_url))
        df = asyncio.run(sweep.run())
        by_cell = requests_by_cell(sweep, chat_requests(gw.stats))
    assert (df.status == "ok").all() and len(df) == 12
    gaps = [b["received_at"] - a["received_at"] for reqs in by_cell.values() for a, b in zip(reqs, reqs[1:], strict=False)
            if a["status"] == 429]
    assert gaps and min(gaps) >= 1.0, gaps
    assert sweep.limiter is not None and sweep.limiter.rate_limited == len(gaps)
    assert max(len(r) for r in by_cell.values()) <= RATE_LIMIT_ATTEMPTS
    figure("faults", "sweep_pause.min_gap_s", round(min(gaps), 3))
