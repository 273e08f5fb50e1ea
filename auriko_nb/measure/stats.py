"""Intervals and differences for comparison metrics: Wilson score intervals for rates, a seeded percentile
bootstrap for medians, 95th percentiles and means, and `difference` between two groups of a comparison with a
permutation p-value. Also the per-row readings both this and `analysis` use (`streamed`, `passed_values`).

The bootstrap resamples each group with replacement, B times, vectorised (no Python loop over resamples):
- a mean draws one (B, n) array of resample indices per group; above `DIRECT_BUDGET` (B·n) it draws the
  bootstrap mean from its Cornish–Fisher expansion (its exact mean, variance and skewness), which at that n agrees
  with index resampling within the Monte-Carlo error;
- a quantile draws, from the same resampling, only the order statistics it needs: the k-th smallest of n
  uniform indices floor(n·U) is floor(n·U_(k)) with U_(k) ~ Beta(k, n-k+1), so the resampled quantile has exactly
  the distribution of sorting each (B, n) index resample, at O(B) cost instead of O(B·n).
Seeded: the same inputs and seed give the same interval.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AnalysisError
from ..types.record_schema import coerce_types

__all__ = ["wilson", "bootstrap_ci", "resampled", "check_level", "Difference", "difference", "compare_paired",
           "compare_unpaired", "streamed", "passed_values", "number_column", "metric_values", "STATS", "MIN_RESAMPLES",
           "DIRECT_BUDGET", "DIFFERENCE_METRICS"]

STATS: dict[str, float | None] = {"median": 0.5, "p95": 0.95, "mean": None}  # stat -> quantile (None: the mean)
MIN_RESAMPLES = 1000
DIRECT_BUDGET = 500_000  # largest B·n for which a mean resamples index by index (beyond: Cornish–Fisher)
_CHUNK = 4_000_000  # largest (rows × n) array a permutation or resampling step holds at once


def check_level(level: Any) -> float:
    """`level` as a float in (0, 1), or a one-line AnalysisError."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < float(level) < 1:
        raise AnalysisError(f"ci must be a level between 0 and 1 (e.g. 0.95), not {level!r}")
    return float(level)


def _check_stat(stat: str) -> float | None:
    if stat not in STATS:
        raise AnalysisError(f"unknown statistic {stat!r}: use one of {', '.join(STATS)}")
    return STATS[stat]


def _check_resamples(resamples: Any) -> int:
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < MIN_RESAMPLES:
        raise AnalysisError(f"resamples must be a whole number of at least {MIN_RESAMPLES}, not {resamples!r}")
    return int(resamples)


def wilson(k: Any, n: Any, level: float = 0.95) -> tuple[Any, Any]:
    """The Wilson score interval of the rate k / n at `level` (arrays or numbers; NaN where n is 0)."""
    z = NormalDist().inv_cdf(0.5 + check_level(level) / 2)
    k_arr, n_arr = np.asarray(k, dtype="float64"), np.asarray(n, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        n_arr = np.where(n_arr > 0, n_arr, np.nan)
        p = k_arr / n_arr
        centre = p + z * z / (2 * n_arr)
        half = z * np.sqrt(p * (1 - p) / n_arr + z * z / (4 * n_arr * n_arr))
        scale = 1 + z * z / n_arr
        lo, hi = np.clip((centre - half) / scale, 0, 1), np.clip((centre + half) / scale, 0, 1)
        valid = ~np.isnan(n_arr)
        lo = np.where(valid & (k_arr == 0), 0.0, lo)  # exact ends, not a rounding error away
        hi = np.where(valid & (k_arr == n_arr), 1.0, hi)
    return lo[()], hi[()]


def _row_quantile(v: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of each row (numpy's linear method) by one partition: several times faster than np.quantile."""
    n = v.shape[1]
    h = (n - 1) * q
    j = int(np.floor(h))
    frac = h - j
    part = np.partition(v, j, axis=1)  # one kth: with two, numpy's partition is several times slower
    if frac == 0 or j + 1 >= n:
        return part[:, j]
    above = part[:, j + 1:].min(axis=1)  # the next order statistic: the smallest of those after the kth
    return part[:, j] + frac * (above - part[:, j])


def _stat_rows(q: float | None) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic of each row of a 2-D array."""
    if q is None:
        return lambda v: v.mean(axis=1)
    return lambda v: _row_quantile(v, q)


def _rows_per_chunk(width: int, total: int) -> int:
    return max(1, min(total, _CHUNK // max(width, 1)))


def _resampled_direct(x: np.ndarray, q: float | None, b: int, rng: np.random.Generator) -> np.ndarray:
    """B resampled statistics of `x`, each from n indices drawn with replacement (chunked to bound memory)."""
    n, stat, out = len(x), _stat_rows(q), np.empty(b)
    step = _rows_per_chunk(n, b)
    for start in range(0, b, step):
        rows = min(step, b - start)
        out[start:start + rows] = stat(x[rng.integers(0, n, size=(rows, n))])
    return out


def _resampled_quantile(xs: np.ndarray, q: float, b: int, rng: np.random.Generator) -> np.ndarray:
    """B resampled q-quantiles (numpy's linear method) of the sorted `xs`, drawn through the order statistics.

    The k-th smallest of n uniform indices floor(n·U) is floor(n·U_(k)), U_(k) ~ Beta(k, n-k+1); given U_(k),
    U_(k+1) = U_(k) + (1 - U_(k))·Beta(1, n-k). Same distribution as sorting each of B index resamples."""
    n = len(xs)
    h = (n - 1) * q
    j = int(np.floor(h))
    frac = h - j
    u1 = rng.beta(j + 1, n - j, size=b)
    lo = xs[np.minimum((n * u1).astype(np.int64), n - 1)]
    if frac == 0 or j + 1 >= n:
        return lo
    u2 = u1 + (1 - u1) * rng.beta(1, n - j - 1, size=b)
    hi = xs[np.minimum((n * u2).astype(np.int64), n - 1)]
    return lo + frac * (hi - lo)


def _resampled_mean(x: np.ndarray, b: int, rng: np.random.Generator) -> np.ndarray:
    """B bootstrap means of a large sample from their Cornish–Fisher expansion (mean, variance, skewness)."""
    n, mean = len(x), float(x.mean())
    sd = float(x.std())
    if sd == 0:
        return np.full(b, mean)
    skew = float(np.mean(((x - mean) / sd) ** 3)) / np.sqrt(n)  # the skewness of the bootstrap mean
    z = rng.standard_normal(b)
    return mean + sd / np.sqrt(n) * (z + skew / 6 * (z * z - 1))


def resampled(x: np.ndarray, stat: str, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """`resamples` bootstrap replicates of `stat` on the values `x` (finite, non-empty)."""
    q = _check_stat(stat)
    if q is not None:
        return _resampled_quantile(np.sort(x), q, resamples, rng)
    if len(x) * resamples <= DIRECT_BUDGET:
        return _resampled_direct(x, None, resamples, rng)
    return _resampled_mean(x, resamples, rng)


def _clean(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype="float64").ravel()
    return x[np.isfinite(x)]


def bootstrap_ci(groups: Sequence[Any], stat: str = "median", level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap intervals of `stat` ("median", "p95" or "mean") for each group of values.

    Returns (lo, hi) arrays, one entry per group; NaN values are ignored, an empty group gets NaN, a group of
    one value a zero-width interval. Seeded: one generator for the whole call, groups drawn in order."""
    level, resamples = check_level(level), _check_resamples(resamples)
    _check_stat(stat)
    rng = np.random.default_rng(seed)
    tails = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.full(len(groups), np.nan), np.full(len(groups), np.nan)
    for i, values in enumerate(groups):
        x = _clean(values)
        if len(x):
            lo[i], hi[i] = np.quantile(resampled(x, stat, resamples, rng), tails)
    return lo, hi


# -- differences between two groups -------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """The difference a − b of a metric between two groups, with its interval and a two-sided p-value.

    `paired`: both groups answered the same prompts, so the estimate is the median (or mean) of the per-prompt
    differences, the interval resamples them and the p-value flips their signs; otherwise the groups are
    resampled independently and the p-value permutes the group labels."""

    metric: str
    estimate: float
    lo: float
    hi: float
    p_value: float
    paired: bool
    n_a: int
    n_b: int
    level: float
    a: str
    b: str
    text: str
    few: bool = False  # fewer than FEW_UNITS prompts (paired) or calls per group: the interval means little

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        how = "paired by prompt" if self.paired else "unpaired"
        return (f"<div class='auriko-difference'><b>{html.escape(self.metric)}: {html.escape(self.a)} − "
                f"{html.escape(self.b)}</b> = {self.estimate:.4g} [{self.lo:.4g}, {self.hi:.4g}] "
                f"({self.level:.0%} interval), p = {self.p_value:.3g}, {how}, n = {self.n_a} / {self.n_b}"
                f"<br>{html.escape(self.text)}</div>")


FEW_UNITS = 5  # below this many pairs (or calls per group) a difference is reported as too few to tell


def _p_value(observed: float, null: np.ndarray) -> float:
    """Two-sided permutation p-value, counting the observed arrangement (never 0)."""
    tol = 1e-12 * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(np.abs(null) >= abs(observed) - tol)) / (1 + len(null)))


def compare_paired(a: Any, b: Any, stat: str, level: float = 0.95, resamples: int = 2000,
                   seed: int = 0) -> tuple[float, float, float, float]:
    """(estimate, lo, hi, p) of `stat` of the paired differences a − b (one pair per prompt).

    Interval: percentile bootstrap of the differences, resampled as one (B, n) index array; p-value: random sign
    flips of the differences (a and b swapped within a pair), the permutation test for paired data."""
    q, level, resamples = _check_stat(stat), check_level(level), _check_resamples(resamples)
    d = np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64")
    f, rng, n = _stat_rows(q), np.random.default_rng(seed), len(d)
    observed = float(f(d[None, :])[0])
    boot, null = np.empty(resamples), np.empty(resamples)
    step = _rows_per_chunk(n, resamples)
    for s in range(0, resamples, step):
        rows = min(step, resamples - s)
        boot[s:s + rows] = f(d[rng.integers(0, n, size=(rows, n))])
        null[s:s + rows] = f(np.where(rng.random((rows, n)) < 0.5, -d, d))
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return observed, float(lo), float(hi), _p_value(observed, null)


def compare_unpaired(a: Any, b: Any, stat: str, level: float = 0.95, resamples: int = 2000,
                     seed: int = 0) -> tuple[float, float, float, float]:
    """(estimate, lo, hi, p) of stat(a) − stat(b) for two independent samples.

    Interval: percentile bootstrap of each group independently; p-value: random relabelling of the pooled values."""
    q, level, resamples = _check_stat(stat), check_level(level), _check_resamples(resamples)
    x, y = _clean(a), _clean(b)
    f, rng = _stat_rows(q), np.random.default_rng(seed)
    observed = float(f(x[None, :])[0] - f(y[None, :])[0])
    boot = resampled(x, stat, resamples, rng) - resampled(y, stat, resamples, rng)
    pooled, na, null = np.concatenate([x, y]), len(x), np.empty(resamples)
    step = _rows_per_chunk(len(pooled), resamples)
    for s in range(0, resamples, step):
        rows = min(step, resamples - s)
        perm = pooled[np.argsort(rng.random((rows, len(pooled))), axis=1)]
        null[s:s + rows] = f(perm[:, :na]) - f(perm[:, na:])
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return observed, float(lo), float(hi), _p_value(observed, null)


# -- reading values from rows (shared with `analysis`) -----------------------------------------------------

# `difference` metric -> (record column, bootstrap statistic); rates are means of 1/0 values
DIFFERENCE_METRICS: dict[str, tuple[str, str]] = {
    "ttft": ("ttft_ms", "median"), "ttft_p95": ("ttft_ms", "p95"), "latency": ("latency_ms", "median"),
    "latency_p95": ("latency_ms", "p95"), "cost": ("cost_usd", "mean"), "pass_rate": ("passed", "mean"),
    "success_rate": ("status", "mean"),
}
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def number_column(df: pd.DataFrame, col: str) -> pd.Series:
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


def passed_values(df: pd.DataFrame) -> pd.Series:
    """The `passed` column as 1.0 / 0.0, NaN where no checks ran (or for every row of a frame without it).

    Accepts booleans, nullable booleans and their text forms ("true"/"false", as a CSV gives them back)."""
    if "passed" not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    s = df["passed"]
    if s.dtype == object or str(s.dtype) in ("str", "string"):
        text = s.map(lambda v: str(v).strip().lower(), na_action="ignore")
        return pd.Series(np.where(text.isin(_TRUE), 1.0, np.where(text.isin(_FALSE), 0.0, np.nan)), index=df.index)
    return pd.to_numeric(s.astype("boolean") if s.dtype == bool else s, errors="coerce").astype("float64")


def metric_values(df: pd.DataFrame, metric: str, ttft: str = "client") -> tuple[pd.Series, str]:
    """Per row, the value a `difference` metric compares (NaN where the row has none), and its statistic.

    TTFT: ok streamed calls; latency and cost: ok calls; pass_rate: 1/0 on checked rows; success_rate: 1/0 on
    attempted (ok or error) rows."""
    if metric not in DIFFERENCE_METRICS:
        raise AnalysisError(f"unknown metric {metric!r}: use one of {', '.join(DIFFERENCE_METRICS)}")
    col, stat = DIFFERENCE_METRICS[metric]
    status = df["status"].astype("object") if "status" in df.columns else pd.Series("ok", index=df.index)
    ok = (status == "ok").to_numpy()
    if metric == "success_rate":
        return pd.Series(np.where(ok, 1.0, np.where(status == "error", 0.0, np.nan)), index=df.index), stat
    if metric == "pass_rate":
        return passed_values(df), stat
    if col == "ttft_ms":
        return number_column(df, f"ttft_ms_{ttft}").where(ok & streamed(df)), stat
    return number_column(df, col).where(ok), stat


# -- the difference between two groups ---------------------------------------------------------------------

_AXIS_COLUMNS = ("model_requested", "optimize", "routing_strategy", "provider")  # as in `analysis`
PROMPT = "prompt_id"
_LABELS = {"ttft": "median TTFT ({ttft})", "ttft_p95": "95th-percentile TTFT ({ttft})", "latency": "median latency",
           "latency_p95": "95th-percentile latency", "cost": "mean cost per call", "pass_rate": "pass rate",
           "success_rate": "success rate"}


def difference(comparison: Any, metric: str, a: Any, b: Any, level: float = 0.95, seed: int = 0, *,
               resamples: int = 2000, ttft: str = "client") -> Difference:
    """The `metric` of group `a` minus that of group `b`, with a seeded percentile-bootstrap interval at `level`
    and a two-sided permutation p-value.

    `metric`: ttft, ttft_p95, latency, latency_p95, cost, pass_rate or success_rate. A group is a dict of column
    values (`{"provider": "groq"}`: the rows with those values) or a string (the rows whose model, strategy or
    provider is that string). Paired by `prompt_id` when both groups answered the same prompts: one value per
    prompt and group (the mean of its repeats), the estimate the median (cost, rates: mean) of the per-prompt
    differences. Unpaired otherwise, and always for the p95 metrics (a tail belongs to each group's whole
    distribution): the difference of the groups' statistics. Bad input: a one-line AnalysisError."""
    rows = comparison if isinstance(comparison, pd.DataFrame) else getattr(comparison, "rows", None)
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise AnalysisError("difference: the comparison has no rows")
    if metric not in DIFFERENCE_METRICS:
        raise AnalysisError(f"difference: unknown metric {metric!r}: use one of {', '.join(DIFFERENCE_METRICS)}")
    if ttft not in ("client", "server"):
        raise AnalysisError(f"difference: ttft must be 'client' or 'server', not {ttft!r}")
    level = check_level(level)
    axes = comparison.axes() if callable(getattr(comparison, "axes", None)) else _axis_columns(rows)
    ma, mb = _select(rows, a, "a", axes), _select(rows, b, "b", axes)
    if (ma & mb).any():
        raise AnalysisError(f"difference: a={a!r} and b={b!r} select some of the same calls; name two different groups")
    values, stat = metric_values(coerce_types(rows), metric, ttft)
    va, vb = values[ma].dropna(), values[mb].dropna()
    for name, spec, v in (("a", a, va), ("b", b, vb)):
        if v.empty:
            raise AnalysisError(f"difference: group {name}={spec!r} has no {metric} values (no such calls, or none "
                                "ok / streamed / checked)")
    pairs = _pairs(rows, va, vb) if stat != "p95" else None  # a tail is each group's own: never paired
    if pairs is not None:
        est, lo, hi, p = compare_paired(pairs[0], pairs[1], stat, level, resamples, seed)
    else:
        est, lo, hi, p = compare_unpaired(va.to_numpy(), vb.to_numpy(), stat, level, resamples, seed)
    la, lb = _label(a), _label(b)
    how = f"paired over {len(pairs[0])} prompts" if pairs is not None else "unpaired"
    units = len(pairs[0]) if pairs is not None else min(len(va), len(vb))
    text = _sentence(_LABELS[metric].format(ttft=ttft), metric, la, lb, (est, lo, hi, p), level, how, units)
    return Difference(metric=metric, estimate=est, lo=lo, hi=hi, p_value=p, paired=pairs is not None,
                      n_a=len(va), n_b=len(vb), level=level, a=la, b=lb, text=text, few=units < FEW_UNITS)


def _axis_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in _AXIS_COLUMNS if c in rows.columns]


def _groups_text(rows: pd.DataFrame, axes: list[str]) -> str:
    keys = [k for k in axes if k in rows.columns]
    if not keys:
        return "(none)"
    combos = rows[keys].astype("object").fillna("—").astype(str).drop_duplicates().to_numpy().tolist()
    return "; ".join(" · ".join(c) for c in sorted(combos)[:12])


def _select(rows: pd.DataFrame, spec: Any, name: str, axes: list[str]) -> pd.Series:
    """The rows of group `spec` (a dict of column values, or a string matched against the axis columns)."""
    if isinstance(spec, dict) and spec:
        unknown = [k for k in spec if k not in rows.columns]
        if unknown:
            raise AnalysisError(f"difference: {name}={spec!r} names no column {unknown[0]!r} (axes: {', '.join(axes)})")
        mask = pd.Series(True, index=rows.index)
        for k, v in spec.items():
            mask &= rows[k].astype("object").map(str) == str(v)
    elif isinstance(spec, str) and spec:
        mask = pd.Series(False, index=rows.index)
        for col in (c for c in _AXIS_COLUMNS if c in rows.columns):
            mask |= rows[col].astype("object").map(str) == spec
    else:
        raise AnalysisError(f"difference: {name} must be a dict of axis values or a group name, not {spec!r}")
    if not mask.any():
        raise AnalysisError(f"difference: no group matches {name}={spec!r}; groups: {_groups_text(rows, axes)}")
    return mask


def _pairs(rows: pd.DataFrame, va: pd.Series, vb: pd.Series) -> tuple[Any, Any] | None:
    """Per-prompt means of both groups, aligned, when both answered the same (two or more) prompts; else None."""
    if PROMPT not in rows.columns:
        return None
    pa, pb = rows.loc[va.index, PROMPT], rows.loc[vb.index, PROMPT]
    if pa.isna().any() or pb.isna().any() or set(pa) != set(pb) or pa.nunique() < 2:
        return None
    ma, mb = va.groupby(pa.to_numpy()).mean().sort_index(), vb.groupby(pb.to_numpy()).mean().sort_index()
    return ma.to_numpy(), mb.reindex(ma.index).to_numpy()


def _label(spec: Any) -> str:
    return spec if isinstance(spec, str) else " · ".join(str(v) for v in spec.values())


def _amount(metric: str, v: float, signed: bool = True, unit: bool = True) -> str:
    """A difference in the metric's unit: ms, USD or percentage points (signed: with + or −)."""
    sign = ("+" if v > 0 else "−" if v < 0 else "") if signed else ""
    if metric in ("pass_rate", "success_rate"):
        return f"{sign}{abs(v) * 100:.1f}" + (" percentage points" if unit else "")
    if metric == "cost":
        return f"{sign}{abs(v):.6f}" + (" USD" if unit else "")
    return f"{sign}{abs(v):,.0f}" + (" ms" if unit else "")


def _sentence(label: str, metric: str, la: str, lb: str, result: tuple[float, float, float, float], level: float,
              how: str, units: int) -> str:
    """One plain sentence: which group is higher, by how much, the interval, the p-value and how it was paired."""
    est, lo, hi, p = result
    if est == 0:
        head = f"{la}'s {label} is the same as {lb}'s"
    else:
        head = f"{la}'s {label} is {_amount(metric, est, False)} {'higher' if est > 0 else 'lower'} than {lb}'s"
    if units < FEW_UNITS:
        clear = f", too few {'prompts' if 'paired' in how else 'calls'} ({units}) to tell"
    elif (lo > 0 or hi < 0) and p < 1 - level:
        clear = ""
    else:
        clear = ", so the data do not show a clear difference"
    return (f"{head} ({la} − {lb}: {_amount(metric, est)}, {level:.0%} interval {_amount(metric, lo, unit=False)} "
            f"to {_amount(metric, hi)}; p = {p:.3g}, {how}){clear}.")
