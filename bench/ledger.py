"""5. Ledger and analytics: append records, load them into a DataFrame, summarize, draw the cost-vs-TTFT chart."""

from __future__ import annotations

import json
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .common import BenchResult, Check, Table, median, profile_text

NAME = "ledger"
TITLE = "5. Ledger and analytics at 100k and 1M records"
WHAT = ("Synthetic but realistic call records (every `RECORD_COLUMNS` field: 11 models, 13 providers, 7 "
        "strategies, 3 % errors, JSON routing/warnings/tags, canonical UTC timestamps) written to a fresh "
        "SQLite ledger with `Ledger.append_many` (one transaction), then `Ledger.to_dataframe()` (typed "
        "columns), `ak.summarize(df)` (by strategy × provider) and `ak.plots.cost_vs_ttft(df, ax=...)` "
        "(Agg backend; the draw to pixels timed separately). Each step timed with `time.perf_counter`.")

PROVIDERS = ("openai", "azure", "anthropic", "bedrock", "vertex", "google", "groq", "together", "fireworks_ai",
             "deepinfra", "cerebras", "deepseek", "mistral")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6", "claude-haiku-4-5", "gemini-2.5-flash", "gemini-2.5-pro",
          "llama-3.3-70b", "deepseek-chat", "mistral-large", "qwen-2.5-72b", "o3-pro")
STRATEGIES = ("cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced", None)
BATCH = 100_000


def _sizes(quick: bool) -> tuple[int, int, int, int]:
    """(small n, large n, repetitions at the small n, single-row appends)."""
    return (10_000, 50_000, 1, 300) if quick else (100_000, 1_000_000, 3, 3_000)


def records(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`n` plausible records, deterministic for a seed."""
    from auriko_nb.client.records import RECORD_COLUMNS

    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    runs = [f"run-{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}" for _ in range(max(1, n // 500))]
    for i in range(n):
        model = MODELS[rng.randrange(len(MODELS))]
        provider = PROVIDERS[rng.randrange(len(PROVIDERS))]
        strategy = STRATEGIES[rng.randrange(len(STRATEGIES))]
        ok = rng.random() > 0.03
        ttft = rng.lognormvariate(5.8, 0.5)
        completion = rng.randint(20, 600)
        rec = dict.fromkeys(RECORD_COLUMNS)
        rec.update(
            run_id=runs[i % len(runs)], call_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            cell=f"p{i % 50}|{model}|{strategy or 'none'}|r{i % 3}",
            started_at=(start + timedelta(seconds=i * 0.37)).isoformat(timespec="microseconds"),
            source="offline", endpoint="chat.completions", prompt_id=f"{rng.getrandbits(64):016x}",
            model_requested=model, optimize=strategy,
            routing=json.dumps({"optimize": strategy}) if strategy else None,
            status="ok" if ok else "error", attempts=1 if ok else 3, stream=True,
            request_id=f"req_{rng.getrandbits(96):024x}", tags='["bench"]' if i % 4 == 0 else None,
            trace_id=None, warning_count=0,
        )
        if ok:
            rec.update(
                provider=provider, provider_model_id=f"{model}-{provider}", model_canonical=model,
                routing_strategy=strategy or "balanced", ttft_ms_server=round(ttft, 3),
                ttft_ms_client=round(ttft + rng.uniform(0.5, 4.0), 3), headers_ms_client=round(ttft * 0.4, 3),
                latency_ms=round(ttft + completion * 12.5, 3),
                throughput_tps=round(rng.uniform(30, 1100), 3), prompt_tokens=rng.randint(8, 2000),
                completion_tokens=completion, cached_tokens=0, cost_usd=round(completion * rng.uniform(1e-7, 6e-5), 10),
                cache_savings_usd=0.0, finish_reason="stop",
                warnings=('[{"code": "parameter_dropped", "message": "seed dropped"}]' if i % 10 == 0 else None),
                warning_count=1 if i % 10 == 0 else 0,
            )
        else:
            rec.update(error_code="rate_limit_exceeded", error_type="rate_limit_error", http_status=429,
                       error_message="Rate limit exceeded. Retry after 1 seconds.")
        yield rec


def _batches(n: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    it = records(n, seed)
    left = n
    while left:
        size = min(BATCH, left)
        yield [next(it) for _ in range(size)]
        left -= size


def _fill(path: Path, n: int) -> float:
    """Append n records in batches of 100k; returns the seconds spent inside append_many only."""
    from auriko_nb.measure.ledger import Ledger

    spent = 0.0
    with Ledger(path) as led:
        for batch in _batches(n, seed=n):
            t0 = time.perf_counter()
            led.append_many(batch)
            spent += time.perf_counter() - t0
    return spent


def _analyse(path: Path, chart: bool, arrow: bool = True) -> dict[str, float]:
    """Load (through Arrow when the [fast] extra is installed and `arrow`, else sqlite3), summarize, chart."""
    import auriko_nb as ak
    from auriko_nb.measure import _ledger_arrow
    from auriko_nb.measure.ledger import Ledger

    out: dict[str, float] = {}
    available = _ledger_arrow.available
    with Ledger(path) as led:
        if not arrow:
            _ledger_arrow.available = lambda: False  # type: ignore[assignment]
        try:
            t0 = time.perf_counter()
            df = led.to_dataframe()
            out["load"] = time.perf_counter() - t0
        finally:
            _ledger_arrow.available = available  # type: ignore[assignment]
    t0 = time.perf_counter()
    summary = ak.summarize(df)
    out["summarize"] = time.perf_counter() - t0
    out["rows"] = len(df)
    out["groups"] = len(summary)
    if chart:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        t0 = time.perf_counter()
        ak.plots.cost_vs_ttft(df, ax=ax)
        out["chart"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fig.canvas.draw()
        out["draw"] = time.perf_counter() - t0
        plt.close(fig)
    return out


def run(quick: bool = False) -> BenchResult:
    import matplotlib

    matplotlib.use("Agg")
    import auriko_nb.measure.plots  # noqa: F401  (imported outside the timed regions, as in a notebook)
    from auriko_nb.measure import _ledger_arrow
    from auriko_nb.measure.ledger import Ledger

    t_start = time.perf_counter()
    small, large, reps, singles = _sizes(quick)
    arrow_path = _ledger_arrow.available()
    rows: list[list[Any]] = []
    checks: list[Check] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="auriko-bench-ledger-") as tmp:
        # single committed appends: what the default session ledger does once per call
        one = list(records(singles, seed=1))
        with Ledger(Path(tmp) / "single.sqlite") as led:
            t0 = time.perf_counter()
            for r in one:
                led.append(r)
            single_s = time.perf_counter() - t0
        for n, chart in ((small, True), (large, False)):
            path = Path(tmp) / f"ledger-{n}.sqlite"
            append_s = _fill(path, n)
            runs = [_analyse(path, chart) for _ in range(reps if n == small else 1)]
            load = median([r["load"] for r in runs])
            summ = median([r["summarize"] for r in runs])
            chart_s = median([r["chart"] for r in runs]) if chart else float("nan")
            draw_s = median([r["draw"] for r in runs]) if chart else float("nan")
            size_mb = path.stat().st_size / 1e6
            rows.append([f"{n:,}", f"{n / append_s:,.0f}", append_s, load, summ, load + summ, chart_s, draw_s,
                         f"{size_mb:.0f} MB"])
            limit = 1.0 if n == small else 5.0
            checks.append(Check(f"load + summarize, {n:,} records", load + summ, limit, " s"))
            if n == small and arrow_path:  # the same load without the [fast] extra, for comparison
                plain = _analyse(path, chart=False, arrow=False)
                rows.append([f"{n:,} (sqlite3 read path)", "–", float("nan"), plain["load"], plain["summarize"],
                             plain["load"] + plain["summarize"], float("nan"), float("nan"), f"{size_mb:.0f} MB"])
        notes.append("Read path: " + ("Arrow, through the ADBC SQLite driver (the `fast` extra, installed with `dev`); "
                                      "the row marked sqlite3 is the same load without it." if arrow_path else
                                      "sqlite3 (the `fast` extra is not installed)."))
        notes.append(f"Single-row `Ledger.append` (one committed WAL transaction each, what the default session "
                     f"ledger does per call): {singles / single_s:,.0f} rows/s, {single_s / singles * 1e6:.0f} µs "
                     f"per row.")
        if quick:
            notes.append("Quick mode: 10k and 50k records instead of 100k and 1M; the targets are scaled to the "
                         "full sizes, so read them as a smoke test only.")
    table = Table(["records", "append_many rows/s", "append s", "load s", "summarize s", "load + summarize s",
                   "cost_vs_ttft s", "draw s", "file"], rows,
                  caption=(f"Median of {reps} loads at {small:,} records; one at {large:,}." if reps > 1 else ""))
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes,
                      summary=", ".join(f"{r[0]} records load+summary {r[5]:.2f} s" for r in rows if "sqlite3" not in r[0]))
    res.seconds = time.perf_counter() - t_start
    return res


def profile(quick: bool = False) -> str:
    """cProfile of loading and summarizing the large ledger."""
    _, large, _, _ = _sizes(quick)
    with tempfile.TemporaryDirectory(prefix="auriko-bench-ledger-") as tmp:
        path = Path(tmp) / "p.sqlite"
        _fill(path, large)
        return profile_text(lambda: _analyse(path, chart=False), sort="cumtime", top=25)
