"""A recommendation under an SLO: the cheapest group of a comparison whose interval bounds meet every constraint.

`recommend` summarizes a comparison with intervals (`summarize(..., ci=)`) and hands the summary to `decide`, a
pure function from a summary table and constraints to a `Recommendation`, so the decision can be checked on
hand-made tables.

A group is *confirmed* when every bound meets its constraint (the upper bound under each maximum, the lower bound
over each minimum), *possible* when its point estimates meet every constraint but some bound does not yet, and
*fails* otherwise (a point estimate misses a limit, or the metric is missing). Percentile-bootstrap intervals from
fewer than `MIN_CALLS` calls (the summary's `few_calls` flag) are too narrow to trust, so such a group is at most
possible on the TTFT and latency constraints; Wilson intervals (success and pass rates) are valid at small n.

How many more calls would decide a possible group (`more_calls`), assuming its point estimates stay where they are:
- TTFT / latency p95 (bootstrap): the half-width of the upper side, h = hi − estimate, shrinks like 1/√n. The upper
  bound meets the limit once h·√(n/n') ≤ m, with m = limit − estimate = h − overshoot (overshoot = hi − limit), so
  n' = n·(h/m)², i.e. n·(h/(h − overshoot))².
- Success and pass rates (Wilson): the lower bound of an estimate p̂ over n' calls is at least L exactly when
  p̂ − L ≥ z·√(L(1 − L)/n') (the score test the Wilson interval inverts), so n' = z²·L(1 − L)/(p̂ − L)².
The group's calls scale by n'/n (its ok, streamed and checked calls keep their proportions); a bootstrap constraint
also needs at least `MIN_CALLS` ok calls. A group's `more_calls` is the largest over its undecided constraints.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AnalysisError
from .analysis import (
    INTERVAL_COLUMNS,
    MIN_CALLS,
    SUMMARY_COLUMNS,
    rows_and_axes,
    summarize,
)

__all__ = ["recommend", "decide", "Recommendation", "CONSTRAINTS", "MIN_CALLS", "STATUSES"]

CONSTRAINTS: tuple[str, ...] = ("max_ttft_p95_ms", "max_latency_p95_ms", "min_pass_rate", "min_success_rate")
STATUSES: tuple[str, ...] = ("confirmed", "possible", "fails")
_NOT_KEYS = set(SUMMARY_COLUMNS) | set(INTERVAL_COLUMNS)  # a summary's columns that are not group keys


@dataclass(frozen=True)
class _Constraint:
    """One SLO keyword: which summary columns it reads and which way it points."""

    keyword: str
    label: str  # how the explanation names it
    point: str  # the estimate's column
    upper: bool  # True: a maximum (the upper bound must be under it); False: a minimum
    rate: bool  # a rate with a Wilson interval (else a bootstrap interval of milliseconds)
    count: str = ""  # for a rate: the column counting the calls its interval uses

    @property
    def bound(self) -> str:
        return f"{self.point}_hi" if self.upper else f"{self.point}_lo"

    def show(self, v: float) -> str:
        return _pct(v) if self.rate else f"{v:,.0f} ms"

    def text(self, limit: float) -> str:
        return f"{self.label} {'≤' if self.upper else '≥'} {self.show(limit)}"


def _constraints(ttft: str) -> dict[str, _Constraint]:
    return {
        "max_ttft_p95_ms": _Constraint("max_ttft_p95_ms", "TTFT p95", f"ttft_{ttft}_p95", True, False),
        "max_latency_p95_ms": _Constraint("max_latency_p95_ms", "latency p95", "latency_p95", True, False),
        "min_pass_rate": _Constraint("min_pass_rate", "pass rate", "pass_rate", False, True, "checked"),
        "min_success_rate": _Constraint("min_success_rate", "success rate", "success_rate", False, True, "_attempted"),
    }


def _pct(v: float) -> str:
    return f"{v:.0%}" if abs(v * 100 - round(v * 100)) < 1e-9 else f"{v:.1%}"


@dataclass
class Recommendation:
    """The decision: `choice` (axis values of the cheapest confirmed group, or None), `candidate` (the cheapest
    group whose estimates meet every constraint but not yet its bounds, when cheaper than the choice), `more_calls`
    (about how many more calls per group would decide the candidate), `explanation` and the `table` behind it."""

    choice: dict[str, Any] | None
    candidate: dict[str, Any] | None
    more_calls: int | None
    explanation: str
    table: pd.DataFrame
    constraints: dict[str, float] = field(default_factory=dict)
    level: float | None = None
    axes: list[str] = field(default_factory=list)
    ttft: str = "client"

    def display_table(self) -> pd.DataFrame:
        """The table's group columns, cost and the columns of each constraint given, with meets, status and calls."""
        spec = _constraints(self.ttft)
        cols = [*self.axes, "calls", "cost_mean_usd"]
        for kw in self.constraints:
            c = spec[kw]
            cols += [c.point, f"{c.point}_lo", f"{c.point}_hi", f"meets_{kw}"]
        cols += ["status", "more_calls"]
        return self.table[[c for c in cols if c in self.table.columns]]

    def __str__(self) -> str:
        with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", _short):
            return f"{self.explanation}\n\n{self.display_table().to_string(index=False)}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        t = self.display_table().copy()
        for c in t.columns:
            if pd.api.types.is_float_dtype(t[c]):
                t[c] = t[c].map(lambda v: "" if pd.isna(v) else _short(v))
            elif c == "status" or c.startswith("meets_"):
                t[c] = t[c].map(lambda v: f"<span style='color:{_COLOUR.get(v, 'inherit')}'>{html.escape(str(v))}</span>")
            else:
                t[c] = t[c].map(lambda v: "" if v is None or v is pd.NA or v != v else html.escape(str(v)))
        body: str = t.to_html(index=False, na_rep="", border=0, escape=False, classes="auriko-recommendation")
        return f"<p>{html.escape(self.explanation).replace(chr(10), '<br>')}</p>{body}"


_COLOUR = {"confirmed": "#080", "possible": "#b60", "fails": "#b00"}


def _short(v: float) -> str:
    return f"{v:.6f}" if abs(v) < 0.01 and v != 0 else f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _check_constraints(unknown: Mapping[str, Any], given: Mapping[str, Any], ttft: str, ci: float) -> dict[str, float]:
    """The constraints given (not None) as floats; an unknown keyword or a bad value -> one-line AnalysisError."""
    if unknown:
        name = sorted(unknown)[0]
        raise AnalysisError(f"recommend: unknown constraint {name!r}; known: {', '.join(CONSTRAINTS)}")
    if ttft not in ("client", "server"):
        raise AnalysisError(f"recommend: ttft must be 'client' or 'server', not {ttft!r}")
    if isinstance(ci, bool) or not isinstance(ci, (int, float)) or not 0 < ci < 1:
        raise AnalysisError(f"recommend: ci must be a level between 0 and 1 (e.g. 0.95), not {ci!r}")
    out: dict[str, float] = {}
    for kw, v in given.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise AnalysisError(f"recommend: {kw} must be a number, not {v!r}")
        if kw.startswith("min_") and not 0 <= v <= 1:
            raise AnalysisError(f"recommend: {kw} is a rate between 0 and 1, not {v!r}")
        if kw.startswith("max_") and v <= 0:
            raise AnalysisError(f"recommend: {kw} must be a positive number of milliseconds, not {v!r}")
        out[kw] = float(v)
    return out


def recommend(comparison: Any, *, max_ttft_p95_ms: float | None = None, max_latency_p95_ms: float | None = None,
              min_pass_rate: float | None = None, min_success_rate: float | None = None, ttft: str = "client",
              ci: float = 0.95, seed: int = 0, **unknown: Any) -> Recommendation:
    """The cheapest group of `comparison` whose `ci` interval bounds meet every constraint given (see module doc).

    `ttft` picks the client- or server-measured TTFT. With no constraint, the cheapest group (with a note).
    """
    constraints = _check_constraints(unknown, {"max_ttft_p95_ms": max_ttft_p95_ms,
                                              "max_latency_p95_ms": max_latency_p95_ms,
                                              "min_pass_rate": min_pass_rate,
                                              "min_success_rate": min_success_rate}, ttft, ci)
    rows, axes = rows_and_axes(comparison, "recommend", "no calls to recommend from")
    summary = summarize(rows, by=axes, ci=ci, seed=seed)
    return decide(summary, constraints, ttft=ttft, axes=axes, level=ci)


def decide(summary: pd.DataFrame, constraints: Mapping[str, float] | None = None, *, ttft: str = "client",
           axes: Sequence[str] | None = None, level: float | None = None) -> Recommendation:
    """The decision from a summary with interval columns (`M_lo`, `M_hi`); pure: no calls, no randomness.

    `axes` are the group columns (default: the columns that are not summary figures); `level` defaults to the
    summary's `ci_level` (else 0.95).
    """
    cons = dict(constraints or {})
    bad = [k for k in cons if k not in CONSTRAINTS]
    if bad:
        raise AnalysisError(f"recommend: unknown constraint {bad[0]!r}; known: {', '.join(CONSTRAINTS)}")
    if summary.empty:
        raise AnalysisError("recommend: the comparison is empty (no groups to recommend from)")
    axes = list(axes) if axes is not None else [c for c in summary.columns if c not in _NOT_KEYS
                                                and not c.endswith(("_lo", "_hi"))]
    level = float(level if level is not None else _first_level(summary))
    spec = _constraints(ttft)
    t = _ordered(summary.reset_index(drop=True), ttft)
    _require_columns(t, [spec[k] for k in cons])
    status = np.zeros(len(t), dtype=int)  # index into STATUSES; the worst constraint wins
    factor = np.ones(len(t))
    for kw, limit in cons.items():
        st, f = _judge(t, spec[kw], limit, level)
        t[f"meets_{kw}"] = [STATUSES[s] for s in st]
        status = np.maximum(status, st)
        factor = np.where(st == 1, np.maximum(factor, f), factor)
    t["status"] = [STATUSES[s] for s in status]
    calls = pd.to_numeric(t["calls"], errors="coerce").fillna(0).to_numpy(dtype=float) if "calls" in t else 0.0
    with np.errstate(invalid="ignore"):
        more = np.where(status == 1, np.ceil(calls * (factor - 1) - 1e-9), np.nan)
    t["more_calls"] = pd.array([None if np.isnan(m) else (int(m) if np.isfinite(m) else None) for m in more],
                               dtype="Int64")
    rec = _result(t, cons, spec, axes, level, np.isinf(more))
    rec.ttft = ttft
    return rec


def _first_level(summary: pd.DataFrame) -> float:
    if "ci_level" in summary.columns:
        v = pd.to_numeric(summary["ci_level"], errors="coerce").dropna()
        if len(v):
            return float(v.iloc[0])
    return 0.95


def _ordered(t: pd.DataFrame, ttft: str) -> pd.DataFrame:
    """Cheapest first: lowest mean cost, ties by lower TTFT p50 (latency p50 without TTFT), then table order."""
    cost = _col(t, "cost_mean_usd")
    speed = _col(t, f"ttft_{ttft}_p50")
    speed = np.where(np.isnan(speed), _col(t, "latency_p50"), speed)
    order = np.lexsort((np.arange(len(t)), np.nan_to_num(speed, nan=np.inf), np.nan_to_num(cost, nan=np.inf)))
    return t.iloc[order].reset_index(drop=True)


def _col(t: pd.DataFrame, name: str) -> np.ndarray:
    if name not in t.columns:
        return np.full(len(t), np.nan)
    return pd.to_numeric(t[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _require_columns(t: pd.DataFrame, specs: Sequence[_Constraint]) -> None:
    """Every constraint's estimate and bound columns exist, and some group has the estimate."""
    for c in specs:
        missing = [col for col in (c.point, c.bound) if col not in t.columns]
        if missing:
            raise AnalysisError(f"recommend: {c.keyword} needs the summary column {missing[0]!r} "
                                "(summarize with ci=...)")
        if np.isnan(_col(t, c.point)).all():
            why = {"pass_rate": "no call was checked (compare with checks=...)",
                   "latency_p95": "no call succeeded", "success_rate": "no call was attempted"}
            raise AnalysisError(f"recommend: {c.keyword} cannot be judged: "
                                f"{why.get(c.point, 'no streamed call succeeded (TTFT needs stream=True)')}")


def _judge(t: pd.DataFrame, c: _Constraint, limit: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per group: status index (0 confirmed, 1 possible, 2 fails) and the factor n'/n that would decide it."""
    point, bound = _col(t, c.point), _col(t, c.bound)
    sign = 1.0 if c.upper else -1.0  # compare as "value <= limit" for both directions
    meets_point = sign * point <= sign * limit
    meets_bound = sign * bound <= sign * limit
    margin = sign * (limit - point)  # m >= 0 where the point meets
    with np.errstate(divide="ignore", invalid="ignore"):
        if c.rate:
            z = NormalDist().inv_cdf(0.5 + level / 2)
            n = _col(t, c.count) if c.count in t.columns else _attempted(t)
            factor = z * z * limit * (1 - limit) / (margin * margin) / n
        else:
            half = sign * (bound - point)
            factor = (half / margin) ** 2
            ok = _col(t, "ok")
            few = _flag(t, "few_calls") | (ok < MIN_CALLS)
            meets_bound &= ~few
            factor = np.where(few, np.maximum(factor, MIN_CALLS / ok), factor)
    factor = np.where(np.isnan(factor), np.inf, np.maximum(factor, 1.0))
    status = np.where(meets_point & meets_bound, 0, np.where(meets_point, 1, 2))
    return status, factor


def _attempted(t: pd.DataFrame) -> np.ndarray:
    return _col(t, "ok") + np.nan_to_num(_col(t, "errors"))


def _flag(t: pd.DataFrame, name: str) -> np.ndarray:
    if name not in t.columns:
        return np.zeros(len(t), dtype=bool)
    return t[name].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _label(row: pd.Series, axes: Sequence[str]) -> str:
    return " / ".join("—" if pd.isna(row[a]) else str(row[a]) for a in axes)


def _values(row: pd.Series, axes: Sequence[str]) -> dict[str, Any]:
    return {a: (None if pd.isna(row[a]) else row[a]) for a in axes}


def _result(t: pd.DataFrame, cons: dict[str, float], spec: dict[str, _Constraint], axes: list[str], level: float,
            undecidable: np.ndarray) -> Recommendation:
    """Pick the choice and the candidate from the ordered, judged table and say why in plain words."""
    confirmed = np.flatnonzero(t["status"].to_numpy() == "confirmed")
    possible = np.flatnonzero(t["status"].to_numpy() == "possible")
    ci = f"{level:.0%} interval"
    pick = int(confirmed[0]) if len(confirmed) else None
    cand = next((int(i) for i in possible if pick is None or i < pick), None)
    more = None if cand is None or undecidable[cand] else int(t["more_calls"].iloc[cand])
    lines: list[str] = []
    if not cons:
        lines.append(f"No constraints given: {_label(t.iloc[0], axes)} is the cheapest group"
                     f"{_cost(t.iloc[0])}. Pass max_ttft_p95_ms=, max_latency_p95_ms=, min_pass_rate= or "
                     "min_success_rate= to recommend under an SLO.")
    elif pick is not None:
        lines.append(f"Recommended: {_label(t.iloc[pick], axes)}{_cost(t.iloc[pick])}, the cheapest group whose "
                     f"{ci} bounds meet every constraint ({_bounds(t.iloc[pick], cons, spec)}).")
    else:
        lines.append(f"No group is confirmed: none has {ci} bounds that meet every constraint "
                     f"({'; '.join(spec[k].text(v) for k, v in cons.items())}).")
    if cand is not None:
        row = t.iloc[cand]
        lead = "A cheaper group" if pick is not None else "Best candidate"
        lines.append(f"{lead}, {_label(row, axes)}{_cost(row)}, meets every constraint on its estimates "
                     f"({_points(row, cons, spec)}) but not yet on its bounds.")
        lines.append("Its estimates sit on a limit: more calls may not decide it." if more is None else
                     f"About {more} more calls per group would decide it (intervals narrow like 1/√n).")
    elif pick is None and cons:
        lines.append("No group meets every constraint even on its estimates: " + "; ".join(
            f"{spec[k].text(v)}: {int((t[f'meets_{k}'] != 'fails').sum())} of {len(t)} groups"
            for k, v in cons.items()) + ".")
    choice = None if pick is None else _values(t.iloc[pick], axes)
    return Recommendation(choice, None if cand is None else _values(t.iloc[cand], axes), more, "\n".join(lines),
                          t, cons, level, axes)


def _cost(row: pd.Series) -> str:
    v = row.get("cost_mean_usd")
    return "" if v is None or pd.isna(v) else f" (${float(v):.6f} per call)"


def _bounds(row: pd.Series, cons: dict[str, float], spec: dict[str, _Constraint]) -> str:
    return "; ".join(f"{spec[k].text(v)}: {'upper' if spec[k].upper else 'lower'} bound "
                     f"{spec[k].show(float(row[spec[k].bound]))}" for k, v in cons.items())


def _points(row: pd.Series, cons: dict[str, float], spec: dict[str, _Constraint]) -> str:
    return "; ".join(f"{spec[k].label} {spec[k].show(float(row[spec[k].point]))} "
                     f"[{spec[k].show(float(row[f'{spec[k].point}_lo']))}, "
                     f"{spec[k].show(float(row[f'{spec[k].point}_hi']))}]" for k in cons)
