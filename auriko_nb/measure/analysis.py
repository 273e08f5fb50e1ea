"""Summaries of call rows (per group: success, TTFT/latency percentiles, cost, provider share) and the
cost–TTFT Pareto frontier. Pure, vectorised functions on DataFrames of records: no I/O.

TTFT exists for streamed calls only: a non-streamed answer arrives whole (its time to headers is
`headers_ms_client`, about its latency), so TTFT statistics use rows with `stream` true and ignore the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AnalysisError
from .ledger import coerce_types
from .stats import bootstrap_ci, check_level, number_column, passed_values, streamed, wilson

__all__ = ["summarize", "pareto", "streamed", "varying_axes", "as_frame", "passed_values", "SUMMARY_COLUMNS",
           "INTERVAL_COLUMNS", "CI_METRICS", "MIN_CALLS", "MODEL", "STRATEGY", "PROVIDER", "PROMPT", "RESOLVED"]

MODEL, STRATEGY, PROVIDER, PROMPT = "model_requested", "optimize", "provider", "prompt_id"  # the comparison axes
NO_PREFERENCE = "no preference"  # how a group that asked for no strategy (`optimize` NA) is shown
RESOLVED = "resolved_strategy"  # summary column: the strategy the gateway applied (`routing_strategy`) per group

SUMMARY_COLUMNS: tuple[str, ...] = (
    RESOLVED, "calls", "ok", "errors", "cancelled", "success_rate", "checked", "pass_rate", "ttft_server_p50",
    "ttft_server_p95", "ttft_client_p50", "ttft_client_p95", "latency_p50", "latency_p95", "throughput_mean",
    "cost_mean_usd", "cost_total_usd", "cost_per_1k_output_tokens_usd", "cost_per_pass_usd", "provider_share",
)
_NUMERIC = {"ttft_server": "ttft_ms_server", "ttft_client": "ttft_ms_client", "latency": "latency_ms"}
_TTFT = ("ttft_server", "ttft_client")
# summary column -> (working column, bootstrap statistic): the metrics that get `_lo` / `_hi` with `ci`
CI_METRICS: dict[str, tuple[str, str]] = {
    "ttft_client_p50": ("ttft_client", "median"), "ttft_client_p95": ("ttft_client", "p95"),
    "ttft_server_p50": ("ttft_server", "median"), "ttft_server_p95": ("ttft_server", "p95"),
    "latency_p50": ("latency", "median"), "latency_p95": ("latency", "p95"), "cost_mean_usd": ("cost_mean_usd", "mean"),
}
INTERVAL_COLUMNS: tuple[str, ...] = (*(f"{m}_{end}" for m in CI_METRICS for end in ("lo", "hi")), "success_rate_lo",
                                     "success_rate_hi", "pass_rate_lo", "pass_rate_hi", "few_calls", "ci_level")
MIN_CALLS = 10  # fewer ok (or, for TTFT, streamed ok) calls than this: the group's intervals are flagged few_calls


def as_frame(data: Any) -> pd.DataFrame:
    """The rows of a `Comparison` (anything with a `rows` DataFrame), or `data` itself."""
    rows = getattr(data, "rows", None) if not isinstance(data, pd.DataFrame) else None
    return rows if isinstance(rows, pd.DataFrame) else data


def rows_and_axes(comparison: Any, who: str, nothing: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows of a Comparison (or a DataFrame) and the axes to group them by: the comparison's own (its grid's
    chosen axes kept), else those that vary. Not rows, or no rows: one-line AnalysisError (`who: ...`)."""
    rows = as_frame(comparison)
    if not isinstance(rows, pd.DataFrame):
        raise AnalysisError(f"{who}: expected a Comparison or a DataFrame of rows, not {type(comparison).__name__}")
    if rows.empty:
        raise AnalysisError(f"{who}: the comparison is empty ({nothing})")
    own = getattr(comparison, "axes", None) if rows is not comparison else None
    return rows, (own() if callable(own) else varying_axes(rows))


def _varies(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and df[col].astype("object").nunique(dropna=False) > 1


def varying_axes(df: pd.DataFrame, *, by_prompt: bool = False, fixed: Sequence[str] = ()) -> list[str]:
    """The comparison axes (model, strategy, provider; prompt when asked) whose values differ among the rows.

    Grouping by these alone never pools two models served by one provider. `fixed` axes are kept even when they
    do not vary (a grid's chosen axes); with none varying, the model column alone (one group per model).
    """
    strategy = STRATEGY if STRATEGY in df.columns or "routing_strategy" not in df.columns else "routing_strategy"
    axes = [MODEL, strategy, PROVIDER] + ([PROMPT] if by_prompt else [])
    keep = [a for a in axes if a in df.columns and (a in fixed or _varies(df, a) or (a == PROMPT and by_prompt))]
    return keep or [MODEL if MODEL in df.columns else strategy]


def _by_list(by: str | Sequence[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _share_text(names: Sequence[str], counts: Sequence[int], *, plain_single: bool = False) -> str:
    """Counts by name -> 'openai 60%, groq 40%' (largest first, ties by name); with `plain_single`, one name alone
    reads as just that name."""
    items = sorted(((str(n), int(v)) for n, v in zip(names, counts, strict=True) if v > 0),
                   key=lambda kv: (-kv[1], kv[0]))
    if plain_single and len(items) == 1:
        return items[0][0]
    total = sum(v for _, v in items)
    return ", ".join(f"{name} {v / total:.0%}" for name, v in items)


def _mix_by_group(w: pd.DataFrame, codes: np.ndarray, n: int, values: pd.Series | str, *,
                  rows: np.ndarray | None = None, plain_single: bool = False, per_model: bool = True) -> pd.Series:
    """Per group code 0..n-1, the mix of `values` (a column of `w`) over the chosen `rows` (default: all; NA values
    skipped) as a share text; with `per_model`, one per model ("m1: a 100%; m2: b 50%, c 50%") when a group's rows
    hold several models whose mixes differ."""
    vals = (w[values] if isinstance(values, str) else values).astype("object")
    keep = vals.notna().to_numpy() & (np.ones(len(w), dtype=bool) if rows is None else rows)
    split = per_model and "_model" in w.columns
    models = w["_model"].to_numpy()[keep] if split else np.full(int(keep.sum()), "")
    sub = pd.DataFrame({"g": codes[keep], "m": models, "v": vals.to_numpy()[keep].astype(str)})
    out = pd.Series(np.nan, index=range(n), dtype="object")
    for code, part in sub.groupby("g", sort=True):
        texts: list[tuple[str, str]] = []
        for model, pm in part.groupby("m", sort=True):
            counts = pm["v"].value_counts()
            texts.append((str(model), _share_text(list(counts.index), list(counts.to_numpy()),
                                                  plain_single=plain_single)))
        same = len({t for _, t in texts}) == 1
        out[code] = texts[0][1] if same else "; ".join(f"{m}: {t}" for m, t in texts)
    return out


def summarize(df: pd.DataFrame, by: str | Sequence[str] = ("routing_strategy", "provider"),
              ci: float | None = None, *, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per group: counts over all rows; percentiles, means and per-token cost over `ok` rows only.

    TTFT percentiles (client and server) use the ok rows of streamed calls only; latency uses every ok row.

    `success_rate` is ok / (ok + errors): cancelled calls were never attempted. `cost_total_usd` sums every
    billed row, counting a sweep's `cost_estimated_usd` for calls that may have been billed without a reported
    cost (so it equals the sweep's `spent_usd`); `cost_mean_usd` uses reported costs only. `checked` counts rows
    whose checks ran, `pass_rate` is passed / checked (NaN when none), `cost_per_pass_usd` is cost_total_usd /
    passed (NaN when none passed).

    Rows with no strategy asked (`optimize` NA: "no preference") form their own group, never merged with the
    strategy the gateway resolved them to; `resolved_strategy` says what the gateway applied to each group
    ("cost-focus", or "cost-focus 67%, balanced 33%"; NaN when `routing_strategy` is a key or absent).

    `provider_share` is a routing outcome, counted per model so that a group holding two models never shows the
    model split: a text like "openai 60%, groq 40%" of each group's ok calls ("gpt-4o: openai 100%; llama: groq
    100%" when the group holds several models), or, when 'provider' is one of `by`, that provider's fraction of
    its model's ok calls in its group without 'provider' (NaN when the row's ok calls span several models).

    With `ci` (a level such as 0.95): `M_lo` / `M_hi` for the TTFT and latency percentiles and the mean cost
    (seeded percentile bootstrap, `resamples` draws), Wilson intervals `success_rate_lo/_hi` and
    `pass_rate_lo/_hi`, `few_calls` (fewer than 10 ok calls, or 0 < streamed ok calls < 10) and `ci_level`.
    """
    df = as_frame(df)
    keys = _by_list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise KeyError(f"summarize: no column {missing} in the frame (have {list(df.columns)})")
    if ci is not None:
        ci = check_level(ci)
    w = _working(coerce_types(df), keys)
    g = w.groupby(keys, dropna=False, observed=True, sort=True)
    out, codes = _aggregate(g), g.ngroup().to_numpy()
    out["provider_share"] = _provider_share(w, keys, codes, out)
    if "_resolved" in w.columns:
        out[RESOLVED] = _mix_by_group(w, codes, len(out), "_resolved", plain_single=True,
                                      per_model=False).to_numpy()
    if ci is None:
        return out.reset_index().reindex(columns=[*keys, *SUMMARY_COLUMNS])
    _add_intervals(out, w, codes, ci, resamples, seed)
    return out.reset_index().reindex(columns=[*keys, *SUMMARY_COLUMNS, *INTERVAL_COLUMNS])


def _working(d: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per row, the group keys and the values the summary aggregates (NaN where a row does not count)."""
    status = d["status"].astype("object") if "status" in d.columns else pd.Series("ok", index=d.index)
    ok = (status == "ok").to_numpy()
    w = d[keys].copy()
    if "provider" in d.columns and "provider" not in keys:
        w["provider"] = d["provider"]
    if MODEL in d.columns and MODEL not in keys:  # provider_share is counted per model (a group may pool several)
        w["_model"] = d[MODEL].astype("object").fillna("unknown").astype(str)
    if "routing_strategy" in d.columns and "routing_strategy" not in keys:
        w["_resolved"] = d["routing_strategy"].astype("object")
    w["calls"] = 1
    w["ok"] = ok.astype("int64")
    w["errors"] = (status == "error").to_numpy().astype("int64")
    w["cancelled"] = (status == "cancelled").to_numpy().astype("int64")
    ttft_ok = ok & streamed(d)
    w["_ttft_ok"] = ttft_ok.astype("int64")
    for name, col in _NUMERIC.items():
        w[name] = number_column(d, col).where(ttft_ok if name in _TTFT else ok)
    w["throughput_mean"] = number_column(d, "throughput_tps").where(ok)
    cost, tokens = number_column(d, "cost_usd"), number_column(d, "completion_tokens")
    w["cost_mean_usd"] = cost.where(ok)
    w["cost_total_usd"] = cost.fillna(number_column(d, "cost_estimated_usd"))  # a sweep's estimate where none was reported
    priced = ok & cost.notna().to_numpy() & (tokens > 0).to_numpy()
    w["_priced_cost"], w["_priced_tokens"] = cost.where(priced), tokens.where(priced)
    passed = passed_values(d)
    w["checked"], w["_passed"] = passed.notna().astype("int64"), passed.fillna(0.0)
    return w


def _aggregate(g: Any) -> pd.DataFrame:
    """The summary's point columns from the grouped working frame (provider_share aside)."""
    out = g[["calls", "ok", "errors", "cancelled", "checked", "_ttft_ok"]].sum()
    attempted = out["ok"] + out["errors"]
    out["success_rate"] = (out["ok"] / attempted.where(attempted > 0)).astype("float64")
    out["_passed"] = g["_passed"].sum()
    out["pass_rate"] = (out["_passed"] / out["checked"].where(out["checked"] > 0)).astype("float64")
    p50, p95 = g[list(_NUMERIC)].quantile(0.5), g[list(_NUMERIC)].quantile(0.95)
    for name in _NUMERIC:
        out[f"{name}_p50"], out[f"{name}_p95"] = p50[name], p95[name]
    out[["throughput_mean", "cost_mean_usd"]] = g[["throughput_mean", "cost_mean_usd"]].mean()
    out["cost_total_usd"] = g["cost_total_usd"].sum()
    per_1k = g["_priced_cost"].sum(min_count=1) / g["_priced_tokens"].sum(min_count=1) * 1000
    out["cost_per_1k_output_tokens_usd"] = per_1k
    out["cost_per_pass_usd"] = (out["cost_total_usd"] / out["_passed"].where(out["_passed"] > 0)).astype("float64")
    return out


def _add_intervals(out: pd.DataFrame, w: pd.DataFrame, codes: np.ndarray, level: float, resamples: int,
                   seed: int) -> None:
    """Add the interval columns to `out` (one row per group code 0..len(out)-1, in order): one vectorised
    bootstrap per metric over the groups, Wilson intervals for the rates."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(out) + 1))
    for metric, (col, stat) in CI_METRICS.items():
        values = w[col].to_numpy(dtype="float64")[order]
        groups = [values[bounds[i]:bounds[i + 1]] for i in range(len(out))]
        out[f"{metric}_lo"], out[f"{metric}_hi"] = bootstrap_ci(groups, stat, level, resamples, seed)
    attempted = out["ok"] + out["errors"]
    out["success_rate_lo"], out["success_rate_hi"] = wilson(out["ok"].to_numpy(), attempted.to_numpy(), level)
    out["pass_rate_lo"], out["pass_rate_hi"] = wilson(out["_passed"].to_numpy(), out["checked"].to_numpy(), level)
    streamed_ok = out["_ttft_ok"]
    out["few_calls"] = ((out["ok"] < MIN_CALLS) | ((streamed_ok > 0) & (streamed_ok < MIN_CALLS))).astype(bool)
    out["ci_level"] = level


def _provider_share(w: pd.DataFrame, keys: list[str], codes: np.ndarray, out: pd.DataFrame) -> pd.Series:
    """The provider_share column aligned to `out` (one row per group code, in order); counted per model."""
    ok = w["ok"].to_numpy(dtype=bool)
    if "provider" not in w.columns or not ok.any():
        return pd.Series(np.nan, index=out.index, dtype="object")
    if "provider" not in keys:
        text = _mix_by_group(w, codes, len(out), w["provider"].astype("object").fillna("unknown"), rows=ok)
        return pd.Series(text.to_numpy(), index=out.index, dtype="object")
    rest = [k for k in keys if k != "provider"]
    rest_ok = (out.groupby(level=rest, dropna=False, observed=True)["ok"].transform("sum")
               if rest else pd.Series(out["ok"].sum(), index=out.index))
    share = (out["ok"] / rest_ok.where(rest_ok > 0)).astype("float64")
    if "_model" not in w.columns:
        return share
    # per model: the provider's ok calls over its model's ok calls in the group without 'provider'
    rest_model = (w.groupby([*rest, "_model"], dropna=False, observed=True).ngroup() if rest
                  else w.groupby("_model").ngroup()).to_numpy()
    per = pd.DataFrame({"g": codes[ok], "rm": rest_model[ok]})
    per["den"] = per.groupby("rm")["rm"].transform("size")
    agg = per.groupby("g").agg(models=("rm", "nunique"), den=("den", "first")).reindex(range(len(out)))
    served = agg["models"].fillna(0).to_numpy()
    values = np.where(served == 1, out["ok"].to_numpy() / agg["den"].to_numpy(), np.nan)
    return pd.Series(np.where(served == 0, share.to_numpy(), values), index=out.index, dtype="float64")


def pareto(data: pd.DataFrame, x: str = "cost_mean_usd", y: str | None = None,
           by: str | Sequence[str] = ("routing_strategy", "provider"),
           per: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The groups no other group beats on both `x` and `y` (lower is better), sorted by `x`.

    `data` is a `summarize` result, or raw rows, which are summarized by `by` (plus `per`) first. With `per`
    (e.g. "model_requested") there is one frontier within each value of `per`. `y` defaults to
    "ttft_client_p50", or "latency_p50" when no group has a TTFT (no streamed calls); `.attrs["y"]` says which.
    """
    data = as_frame(data)
    want = y or "ttft_client_p50"
    pers = _by_list(per) if per is not None else []
    keys = [*pers, *(k for k in _by_list(by) if k not in pers)]
    summarized = x in data.columns and want in data.columns
    s = data if summarized else summarize(data, keys)
    if y is None:
        has_ttft = want in s.columns and pd.to_numeric(s[want], errors="coerce").notna().any()
        y = want if has_ttft or "latency_p50" not in s.columns else "latency_p50"
    if not pers:
        front = _front(s, x, y)
    else:
        parts = [_front(g, x, y) for _, g in s.groupby(pers, dropna=False, sort=True, observed=True)]
        front = pd.concat(parts, ignore_index=True) if parts else s.iloc[:0]
    front.attrs["y"] = y
    return front


def _front(s: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The undominated rows of `s` on columns `x` and `y`, sorted by `x`."""
    xs, ys = pd.to_numeric(s[x], errors="coerce"), pd.to_numeric(s[y], errors="coerce")
    valid = s[(xs.notna() & ys.notna()).to_numpy()]
    if valid.empty:
        return valid.reset_index(drop=True)
    order = np.lexsort((ys[valid.index].to_numpy(), xs[valid.index].to_numpy()))
    vx, vy = xs[valid.index].to_numpy()[order], ys[valid.index].to_numpy()[order]
    prev_best = np.concatenate([[np.inf], np.minimum.accumulate(vy)[:-1]])
    improves = vy < prev_best
    last = np.maximum.accumulate(np.where(improves, np.arange(len(vy)), -1))
    prev_last = np.concatenate([[-1], last[:-1]])
    same_point = (prev_last >= 0) & (vy == prev_best) & (vx == vx[np.maximum(prev_last, 0)])
    return valid.iloc[order[improves | same_point]].reset_index(drop=True)
