"""7. The decision tools (issue 14): re-pricing a million calls, summaries with intervals, and what quality checks add
to a sweep's wall time."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import numpy as np

from .common import KEY, BenchResult, Check, Gateway, Table, median, profile_text

NAME = "decision"
TITLE = "7. Decision tools: re-pricing, summaries with intervals, quality checks"
WHAT = ("Synthetic but typed call rows (the ledger's dtypes: category models, providers and strategies, Int64 "
        "tokens, 3 % errors without tokens, 1 % ok rows without a reported cost). `reprice(rows, directory=...)` "
        "against the offline gateway's directory (11 models, 13 providers; every provider of each model priced, "
        "7 strategies); `summarize(rows, by=[model, provider], ci=0.95)` (bootstrap and Wilson intervals) over 20 "
        "groups; and one seeded sweep against the offline gateway (`bench._gateway`, every call pinned to the "
        "same latency) run with and without the built-in checks, alternating, the median of the per-pair wall "
        "time ratios reported. Each step timed with `time.perf_counter`.")
NOT_YET = "not available yet"


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"reprice_rows": 100_000, "reprice_reps": 1, "summary_rows": 10_000, "summary_reps": 1,
                "sweep_calls": 60, "sweep_pairs": 2, "concurrency": 20, "latency_ms": 20}
    return {"reprice_rows": 1_000_000, "reprice_reps": 3, "summary_rows": 100_000, "summary_reps": 3,
            "sweep_calls": 600, "sweep_pairs": 7, "concurrency": 50, "latency_ms": 50}


# -- the rows ------------------------------------------------------------------------------------------------------

def _directory() -> Any:
    """The offline gateway's directory, fetched the way a user would (a Client on the embedded gateway)."""
    from auriko_nb.client.clients import Client
    from auriko_nb.offline import serve

    with serve(seed=0, speed=0.01) as gw, Client(KEY, base_url=gw.base_url, timeout=10) as client:
        return client.directory()


def rows(n: int, directory: Any, seed: int = 0) -> Any:
    """`n` typed call rows over the directory's models, each served by one of its model's providers."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    models = sorted(directory.models)
    offers = [[o.provider for o in directory.models[m].providers] for m in models]
    providers = sorted({p for o in offers for p in o})
    table = np.array([[providers.index(o[i % len(o)]) for i in range(8)] for o in offers])
    sizes = np.array([len(o) for o in offers])
    model = rng.integers(0, len(models), n)
    provider = table[model, (rng.random(n) * sizes[model]).astype(np.int64)]
    strategies = ["cost", "cost-focus", "ttft", "ttft-focus", "tps", "tps-focus", "balanced"]
    ok = rng.random(n) > 0.03
    prompt = rng.integers(8, 4000, n)
    cached = np.where(prompt >= 1024, prompt // 1024 * 1024 * (rng.random(n) < 0.3), 0)
    completion = rng.integers(10, 800, n)
    cost = (prompt * 1e-6 + completion * 4e-6) * rng.uniform(0.5, 2.0, n)
    cost[rng.random(n) < 0.01] = np.nan

    def tokens(a: np.ndarray) -> Any:
        return pd.Series(a).astype("Int64").where(ok)

    return pd.DataFrame({
        "model_requested": np.array(models, dtype=object)[model],
        "model_canonical": pd.Categorical.from_codes(np.where(ok, model, -1), models),
        "optimize": pd.Categorical.from_codes(rng.integers(0, len(strategies), n), strategies),
        "provider": pd.Categorical.from_codes(np.where(ok, provider, -1), providers),
        "status": pd.Categorical(np.where(ok, "ok", "error")),
        "prompt_tokens": tokens(prompt), "cached_tokens": tokens(cached), "completion_tokens": tokens(completion),
        "cost_usd": np.where(ok, cost, np.nan),
    })


def summary_rows(n: int, seed: int = 0) -> Any:
    """`n` rows in 20 groups (4 models × 5 providers) with TTFTs, latencies, costs and check verdicts."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = rng.integers(0, 20, n)
    ok = rng.random(n) > 0.03
    ttft = rng.lognormal(5.8, 0.5, n) * (1 + group / 20)
    return pd.DataFrame({
        "model_requested": pd.Categorical.from_codes(group // 5, [f"model-{i}" for i in range(4)]).astype(str),
        "provider": pd.Categorical.from_codes(group % 5, [f"provider-{i}" for i in range(5)]),
        "status": pd.Categorical(np.where(ok, "ok", "error")), "stream": pd.array(np.ones(n, bool), "boolean"),
        "ttft_ms_server": np.where(ok, ttft, np.nan), "ttft_ms_client": np.where(ok, ttft + 2, np.nan),
        "latency_ms": np.where(ok, ttft + rng.integers(10, 800, n) * 12.5, np.nan),
        "cost_usd": np.where(ok, rng.uniform(1e-5, 1e-3, n), np.nan),
        "completion_tokens": pd.Series(rng.integers(10, 800, n)).astype("Int64"),
        "passed": pd.Series(rng.random(n) < 0.8, dtype="boolean").where(ok),
    })


# -- the measurements ----------------------------------------------------------------------------------------------

def _time(fn: Any, reps: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return median(runs), runs


def _reprice(sizes: dict[str, int], directory: Any) -> tuple[list[Any], Check, str]:
    from auriko_nb.measure.reprice import reprice

    df = rows(sizes["reprice_rows"], directory)
    reprice(df.head(1000), directory=directory)  # warm-up (imports)
    t, runs = _time(lambda: reprice(df, directory=directory), sizes["reprice_reps"])
    r = reprice(df, directory=directory)
    shape = f"{len(r.table)} model × provider rows, {len(r.by_strategy)} model × strategy rows"
    row = ["reprice", f"{len(df):,} rows", t, ", ".join(f"{x:.2f}" for x in runs), shape]
    return row, Check(f"reprice over {len(df):,} rows", t, 2.0, " s"), f"reprice {len(df):,} rows {t:.2f} s"


def _summary_ready() -> bool:
    """Whether `summarize` has the bootstrap intervals yet (the contract's `resamples=` keyword)."""
    from auriko_nb.measure.analysis import summarize

    return "resamples" in inspect.signature(summarize).parameters


def _summary(sizes: dict[str, int]) -> tuple[list[Any], Check | None, str]:
    from auriko_nb.measure.analysis import summarize

    if not _summary_ready():
        return ["summarize(ci=0.95)", f"{sizes['summary_rows']:,} rows", NOT_YET, "–",
                "measure/analysis.py has no bootstrap intervals yet"], None, f"summarize(ci) {NOT_YET}"
    df = summary_rows(sizes["summary_rows"])
    by = ["model_requested", "provider"]
    summarize(df.head(500), by=by, ci=0.95)  # warm-up
    t, runs = _time(lambda: summarize(df, by=by, ci=0.95), sizes["summary_reps"])
    out = summarize(df, by=by, ci=0.95)
    shape = f"{len(out)} groups, {sum(c.endswith('_lo') for c in out.columns)} intervals each"
    row = ["summarize(ci=0.95)", f"{len(df):,} rows", t, ", ".join(f"{x:.2f}" for x in runs), shape]
    return row, Check(f"summarize(ci=0.95) over {len(df):,} rows in 20 groups", t, 1.0, " s"), \
        f"summarize(ci) {t:.2f} s"


def _checks_ready() -> bool:
    """Whether the sweep takes `checks=` and the built-in checks exist yet."""
    try:
        from auriko_nb.measure import checks
        from auriko_nb.measure.sweep import Sweep
    except ImportError:
        return False
    names = ("contains", "regex", "equals", "number", "json_valid", "json_schema", "run_checks")
    return "checks" in inspect.signature(Sweep.__init__).parameters and all(hasattr(checks, n) for n in names)


def builtin_checks() -> list[Any]:
    """Every built-in check once: those that compare use each prompt's `expect`."""
    from auriko_nb.measure import checks as ck

    return [ck.contains(), ck.regex(r"\w+"), ck.equals(), ck.number(), ck.json_valid(),
            ck.json_schema({"type": "object"})]


def _prompts(n: int) -> list[dict[str, Any]]:
    """`n` prompts with expectations: the offline task set when it is there, else plain ones."""
    try:
        from auriko_nb.offline.tasks import task_set

        return [{"prompt": t["prompt"], "expect": t["expect"], "id": t["id"]} for t in task_set(n=n, seed=0)]
    except (ImportError, TypeError, ValueError):
        return [{"prompt": f"What is {i} plus {i}?", "expect": str(2 * i), "id": f"q{i}"} for i in range(n)]


def _sweep_once(base_url: str, prompts: list[dict[str, Any]], sizes: dict[str, int], checks: Any) -> tuple[float, Any]:
    import auriko_nb as ak
    from auriko_nb.measure.sweep import Sweep

    k = sizes["concurrency"]
    client = ak.AsyncClient(KEY, base_url=base_url, transport=ak.ShardedTransport(k + 8))
    sweep = Sweep(prompts, models=["llama-3.3-70b"], strategies=["cost"], repeats=1, concurrency=k, client=client,
                  ledger=None, progress=False, max_tokens=32, checks=checks)

    async def go() -> tuple[float, Any]:
        t0 = time.perf_counter()
        try:
            df = await sweep.run()
            return time.perf_counter() - t0, df
        finally:
            await client.aclose()

    return asyncio.run(go())


def _checks_cpu(df: Any, prompts: list[dict[str, Any]], checks: list[Any]) -> float:
    """Seconds the checks alone take over the sweep's ok answers (no network: the noise-free part)."""
    from auriko_nb.measure.checks import run_checks

    expect = {p["id"]: p["expect"] for p in prompts}
    ok = df[df["status"] == "ok"]
    pairs = [(t if isinstance(t, str) else "", expect.get(label)) for t, label in
             zip(ok.get("answer_text", [""] * len(ok)), ok.get("prompt_label", [None] * len(ok)), strict=False)]
    t0 = time.perf_counter()
    for text, exp in pairs:
        run_checks(text, exp, checks)
    return time.perf_counter() - t0


def _checks_overhead(sizes: dict[str, int]) -> tuple[list[Any], Check | None, str, list[str]]:
    if not _checks_ready():
        return (["checks on a sweep", f"{sizes['sweep_calls']:,} calls", NOT_YET, "–",
                 "Sweep(checks=) / measure/checks.py not there yet"], None, f"checks {NOT_YET}", [])
    checks = builtin_checks()
    prompts = _prompts(sizes["sweep_calls"])
    args = ["--speed", "1", "--seed", "0", "--credit-usd", "100000"]
    ratios, walls = [], {"with": [], "without": []}
    with Gateway(args, fixed_ttft_ms=float(sizes["latency_ms"])) as gw:
        _sweep_once(gw.base_url, prompts[:20], sizes, None)  # warm-up: imports, the gateway's first requests,
        _sweep_once(gw.base_url, prompts[:20], sizes, checks)  # and the checks' own (jsonschema)
        for i in range(sizes["sweep_pairs"]):
            order = ("without", "with") if i % 2 == 0 else ("with", "without")
            pair: dict[str, float] = {}
            for name in order:
                pair[name], df = _sweep_once(gw.base_url, prompts, sizes, checks if name == "with" else None)
                walls[name].append(pair[name])
                if name == "with":
                    last = df
            ratios.append(pair["with"] / pair["without"])
    cpu = _checks_cpu(last, prompts, checks)
    ratio = median(ratios)
    checked = int(last["passed"].notna().sum()) if "passed" in last.columns else 0
    row = ["checks on a sweep", f"{len(prompts):,} calls × {len(checks)} checks", ratio,
           ", ".join(f"{r:.3f}" for r in ratios),
           f"median wall {median(walls['without']):.2f} s without, {median(walls['with']):.2f} s with; "
           f"{checked:,} rows checked"]
    notes = [f"Checks: the six built-ins ({', '.join(c.name for c in checks)}) on every ok answer, with each "
             f"prompt's `expect` (the offline task set). Run alone over the same {checked:,} answers they take "
             f"{cpu * 1e3:.1f} ms ({cpu / max(checked, 1) * 1e6:.0f} µs per answer), "
             f"{cpu / median(walls['without']):.2%} of the sweep's wall time: the wall-time ratio above is mostly "
             f"the machine's noise."]
    return (row, Check("sweep wall time with / without the built-in checks (median of pairs)", ratio, 1.05, "×"),
            f"checks ×{ratio:.3f} wall", notes)


def run(quick: bool = False) -> BenchResult:
    t_start = time.perf_counter()
    sizes = _sizes(quick)
    directory = _directory()
    checks: list[Check] = []
    rows_out: list[list[Any]] = []
    summary: list[str] = []
    notes: list[str] = []
    for part in (lambda: _reprice(sizes, directory), lambda: _summary(sizes)):
        row, check, text = part()
        rows_out.append(row)
        checks += [check] if check else []
        summary.append(text)
    row, check, text, more = _checks_overhead(sizes)
    rows_out.append(row)
    checks += [check] if check else []
    summary.append(text)
    notes += more
    if any(r[2] == NOT_YET for r in rows_out):
        notes.append(f"Parts marked '{NOT_YET}' measure code that other issue-14 work has not landed yet; rerun "
                     f"`python -m bench --only decision` once it has.")
    if quick:
        notes.append("Quick mode: 100k rows for reprice, 10k for summarize, a 60-call sweep twice; the targets are "
                     "for the full sizes, so read them as a smoke test only.")
    table = Table(["step", "size", "result (s, or × for the ratio)", "runs", "shape"], rows_out,
                  caption=f"Median of {sizes['reprice_reps']} runs each (the sweep: {sizes['sweep_pairs']} pairs, "
                          f"{sizes['latency_ms']} ms per call at concurrency {sizes['concurrency']}).")
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes, summary=", ".join(summary))
    res.seconds = time.perf_counter() - t_start
    return res


def profile(quick: bool = False) -> str:
    """cProfile of re-pricing the large frame (the step with the most rows)."""
    from auriko_nb.measure.reprice import reprice

    directory = _directory()
    df = rows(_sizes(quick)["reprice_rows"], directory)
    return profile_text(lambda: reprice(df, directory=directory), sort="cumtime", top=25)
