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

from .ledger import coerce_types

__all__ = ["summarize", "pareto", "streamed", "varying_axes", "as_frame", "SUMMARY_COLUMNS", "MODEL", "STRATEGY",
           "PROVIDER", "PROMPT"]

MODEL, STRATEGY, PROVIDER, PROMPT = "model_requested", "optimize", "provider", "prompt_id"  # the comparison axes

SUMMARY_COLUMNS: tuple[str, ...] = (
    "calls", "ok", "errors", "cancelled", "success_rate", "ttft_server_p50", "ttft_server_p95", "ttft_client_p50",
    "ttft_client_p95", "latency_p50", "latency_p95", "throughput_mean", "cost_mean_usd", "cost_total_usd",
    "cost_per_1k_output_tokens_usd", "provider_share",
)
_NUMERIC = {"ttft_server": "ttft_ms_server", "ttft_client": "ttft_ms_client", "latency": "latency_ms"}
_TTFT = ("ttft_server", "ttft_client")


def as_frame(data: Any) -> pd.DataFrame:
    """The rows of a `Comparison` (anything with a `rows` DataFrame), or `data` itself."""
    rows = getattr(data, "rows", None) if not isinstance(data, pd.DataFrame) else None
    return rows if isinstance(rows, pd.DataFrame) else data


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


def _number(df: pd.DataFrame, col: str) -> pd.Series:
    """`df[col]` as float64 (NaN where missing or unparseable; all NaN when the column is absent)."""
    if col not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    return pd.to_numeric(df[col], errors="coerce").astype("float64")


def streamed(df: pd.DataFrame) -> np.ndarray:
    """Which rows may carry a TTFT: all but those whose `stream` is false (missing counts as unknown, kept).

    An older ledger stored a non-streamed call's time to headers as its TTFT; the `stream` column tells them apart.
    """
    if "stream" not in df.columns:
        return np.ones(len(df), dtype=bool)
    s = df["stream"]
    if s.dtype == object or str(s.dtype) in ("str", "string"):
        s = s.map(lambda v: str(v).strip().lower() not in ("false", "0"), na_action="ignore")
    return s.astype("boolean").fillna(True).to_numpy(dtype=bool)


def _share_text(counts: pd.Series) -> str:
    """Ok-call counts by (group..., provider) -> 'openai 60%, groq 40%' (largest first, ties by name)."""
    total = counts.sum()
    names = counts.index.get_level_values(-1).astype(str)
    items = sorted(((n, int(v)) for n, v in zip(names, counts, strict=True) if v > 0), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {v / total:.0%}" for name, v in items)


def summarize(df: pd.DataFrame, by: str | Sequence[str] = ("routing_strategy", "provider"),
              ci: float | None = None) -> pd.DataFrame:
    """One row per group: counts over all rows; percentiles, means and per-token cost over `ok` rows only.

    TTFT percentiles (client and server) use the ok rows of streamed calls only; latency uses every ok row.

    `success_rate` is ok / (ok + errors): cancelled calls were never attempted. `cost_total_usd` sums every
    billed row, counting a sweep's `cost_estimated_usd` for calls that may have been billed without a reported
    cost (so it equals the sweep's `spent_usd`); `cost_mean_usd` uses reported costs only. `provider_share` is a text like "openai 60%, groq 40%" of each group's ok calls, or, when
    'provider' is one of `by`, that provider's fraction of the ok calls in its group without 'provider'.
    With `ci` (a level such as 0.95), `success_rate_ci_low` / `_high` give its Wilson score interval.
    """
    df = as_frame(df)
    keys = _by_list(by)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise KeyError(f"summarize: no column {missing} in the frame (have {list(df.columns)})")
    d = coerce_types(df)
    status = d["status"].astype("object") if "status" in d.columns else pd.Series("ok", index=d.index)
    ok = (status == "ok").to_numpy()
    w = d[keys].copy()
    w["calls"] = 1
    w["ok"] = ok.astype("int64")
    w["errors"] = (status == "error").to_numpy().astype("int64")
    w["cancelled"] = (status == "cancelled").to_numpy().astype("int64")
    ttft_ok = ok & streamed(d)
    for name, col in _NUMERIC.items():
        w[name] = _number(d, col).where(ttft_ok if name in _TTFT else ok)
    w["throughput_mean"] = _number(d, "throughput_tps").where(ok)
    cost, tokens = _number(d, "cost_usd"), _number(d, "completion_tokens")
    w["cost_mean_usd"] = cost.where(ok)
    w["cost_total_usd"] = cost.fillna(_number(d, "cost_estimated_usd"))  # a sweep's estimate where none was reported
    priced = ok & cost.notna().to_numpy() & (tokens > 0).to_numpy()
    w["_priced_cost"], w["_priced_tokens"] = cost.where(priced), tokens.where(priced)

    g = w.groupby(keys, dropna=False, observed=True, sort=True)
    out = g[["calls", "ok", "errors", "cancelled"]].sum()
    attempted = out["ok"] + out["errors"]
    out["success_rate"] = (out["ok"] / attempted.where(attempted > 0)).astype("float64")
    p50, p95 = g[list(_NUMERIC)].quantile(0.5), g[list(_NUMERIC)].quantile(0.95)
    for name in _NUMERIC:
        out[f"{name}_p50"], out[f"{name}_p95"] = p50[name], p95[name]
    out[["throughput_mean", "cost_mean_usd"]] = g[["throughput_mean", "cost_mean_usd"]].mean()
    out["cost_total_usd"] = g["cost_total_usd"].sum()
    per_1k = g["_priced_cost"].sum(min_count=1) / g["_priced_tokens"].sum(min_count=1) * 1000
    out["cost_per_1k_output_tokens_usd"] = per_1k
    out["provider_share"] = _provider_share(d, keys, ok, out)
    extra: list[str] = []
    if ci is not None:
        out["success_rate_ci_low"], out["success_rate_ci_high"] = _wilson(out["ok"], attempted, ci)
        extra = ["success_rate_ci_low", "success_rate_ci_high"]
    return out.reset_index().reindex(columns=[*keys, *SUMMARY_COLUMNS, *extra])


def _wilson(ok: pd.Series, n: pd.Series, level: float) -> tuple[pd.Series, pd.Series]:
    """The Wilson score interval of ok / n at `level` (NaN where n is 0)."""
    from statistics import NormalDist

    if not 0 < level < 1:
        raise ValueError(f"ci must be a level between 0 and 1 (e.g. 0.95), not {level!r}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    n = n.astype("float64").where(n > 0)
    p = ok / n
    centre, half = (p + z * z / (2 * n)), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return ((centre - half) / scale).astype("float64"), ((centre + half) / scale).astype("float64")


def _provider_share(d: pd.DataFrame, keys: list[str], ok: np.ndarray, out: pd.DataFrame) -> pd.Series:
    """The provider_share column aligned to `out`'s group index."""
    if "provider" not in d.columns or not ok.any():
        return pd.Series(np.nan, index=out.index, dtype="object")
    served = d.loc[ok, keys + ([] if "provider" in keys else ["provider"])].copy()
    served["provider"] = served["provider"].astype("object").fillna("unknown")
    if "provider" in keys:
        rest = [k for k in keys if k != "provider"]
        rest_ok = (out.groupby(level=rest, dropna=False, observed=True)["ok"].transform("sum")
                   if rest else pd.Series(out["ok"].sum(), index=out.index))
        return (out["ok"] / rest_ok.where(rest_ok > 0)).astype("float64")
    counts = served.groupby([*keys, "provider"], dropna=False, observed=True, sort=False).size()
    text = counts.groupby(level=list(range(len(keys))), dropna=False, sort=False).agg(_share_text)
    if len(keys) == 1:
        text.index = text.index.get_level_values(0)
    return text.reindex(out.index).astype("object")


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
