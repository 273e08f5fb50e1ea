"""The comparison result: the rows of a sweep and the grid they came from, with the one summary, Pareto frontier,
chart and export that `ak.compare`, `%%auriko --compare`, the comparison panel and `auriko-nb compare` all show.

Also the one rule that splits a text into prompts (`split_prompts`), used by the panel and the command line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import RequestValidationError
from .analysis import (
    CI_METRICS,
    INTERVAL_COLUMNS,
    MODEL,
    STRATEGY,
    SUMMARY_COLUMNS,
    pareto,
    summarize,
    varying_axes,
)
from .stats import Difference, difference

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .sweep import Sweep

__all__ = ["ARROW", "Comparison", "Grid", "parse_prompts", "split_prompts", "summary_html"]

ARROW = "==>"  # `prompt ==> expected answer`: the text form of a prompt with its expectation

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_prompts(text: str) -> list[str]:
    """Prompts from a text: blocks separated by blank lines (spaces, tabs and CRLF allowed), stripped, empty dropped."""
    return [p.strip() for p in _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")) if p.strip()]


def parse_prompts(text: str, expected: str = "") -> list[dict[str, Any]]:
    """Pasted prompts (blocks split by `split_prompts`), each may end with `==> expected answer`, as
    `{"prompt", "expect"}` items; `expected` is the answer of every block without its own (None when neither).
    The one rule of the panel and the command line; a bad block -> one RequestValidationError line."""
    default = expected.strip() or None
    items: list[dict[str, Any]] = []
    for i, block in enumerate(split_prompts(text), start=1):
        prompt, arrow, expect = block.partition(ARROW)
        prompt, expect = prompt.strip(), expect.strip()
        if arrow and not prompt:
            raise RequestValidationError(f"prompts: prompt {i}: nothing before {ARROW} (write the prompt, then "
                                         f"{ARROW} and its expected answer)", param="prompts")
        if arrow and not expect:
            raise RequestValidationError(f"prompts: prompt {i}: nothing after {ARROW} (write the expected answer or drop "
                                         f"the {ARROW})", param="prompts")
        if ARROW in expect:
            raise RequestValidationError(f"prompts: prompt {i}: more than one {ARROW} (one expected answer per prompt)",
                                         param="prompts")
        items.append({"prompt": prompt, "expect": expect if arrow else default})
    return items


@dataclass(frozen=True)
class Grid:
    """What was asked for: prompts × models × strategies × repeats, under one run id."""

    prompts: tuple[Any, ...]
    models: tuple[str, ...]
    strategies: tuple[str | None, ...]
    repeats: int
    run_id: str

    @property
    def cells(self) -> int:
        """How many calls the grid holds."""
        return len(self.prompts) * len(self.models) * len(self.strategies) * self.repeats


class Comparison:
    """The rows of a comparison (`.rows`, one per grid cell) and the grid they came from (`.grid`).

    It reads like its DataFrame of rows (`c["status"]`, `c.status`, `len(c)`, `c.loc[...]`, `c.to_csv()`); use
    `.rows` where a real DataFrame is needed (`pd.concat`, `isinstance`).
    """

    def __init__(self, rows: pd.DataFrame, grid: Grid | None = None) -> None:
        self.rows = rows
        self.grid = grid

    @classmethod
    def from_sweep(cls, sweep: Sweep, rows: pd.DataFrame | None = None) -> Comparison:
        """The comparison of a sweep's rows (default: those it has so far)."""
        grid = Grid(tuple(sweep.prompts), tuple(sweep.models), tuple(sweep.strategies), sweep.repeats, sweep.run_id)
        return cls(sweep.results if rows is None else rows, grid)

    @classmethod
    def of(cls, data: Comparison | pd.DataFrame) -> Comparison:
        """`data` as a Comparison: itself, or rows whose grid is read from the rows (e.g. from a ledger)."""
        return data if isinstance(data, Comparison) else cls(data)

    # -- the pipeline -------------------------------------------------------------------------------------

    def axes(self, *, by_prompt: bool = False) -> list[str]:
        """The columns the summary groups by: model, strategy (requested), provider, where they vary."""
        fixed: list[str] = []
        if self.grid is not None:
            fixed += [MODEL] if len(self.grid.models) > 1 else []
            fixed += [STRATEGY] if len(self.grid.strategies) > 1 else []
        return varying_axes(self.rows, by_prompt=by_prompt, fixed=fixed)

    def summary(self, ci: float | None = None, *, by_prompt: bool = False, resamples: int = 2000,
                seed: int = 0) -> pd.DataFrame:
        """One row per group of the varying axes (see `axes`); with `ci` (e.g. 0.95), the interval columns of
        `summarize` at that level (seeded bootstrap of `resamples` draws, Wilson for the rates)."""
        rows = _empty() if self.rows.empty else self.rows
        return summarize(rows, by=self.axes(by_prompt=by_prompt), ci=ci, resamples=resamples, seed=seed)

    summarize = summary

    def pareto(self, *, per: str | Sequence[str] | None = MODEL, x: str = "cost_mean_usd",
               y: str | None = None) -> pd.DataFrame:
        """The undominated groups on cost and time, one frontier per model (`per=None`: one across all)."""
        per = per if per is None or MODEL in self.rows.columns else None
        return pareto(self.rows, x=x, y=y, by=self.axes(), per=per)

    def plot(self, ax: Axes | None = None, ttft: str = "client", ci: float | None = None) -> Axes:
        """Cost against TTFT of every ok call, with a Pareto frontier per model and, with `ci`, each group's
        interval bars (mean cost, p50 TTFT); returns the Axes."""
        from .plots import cost_vs_ttft

        return cost_vs_ttft(self.rows, ax=ax, ttft=ttft, by=self.axes(), ci=ci)

    def difference(self, metric: str, a: Any, b: Any, *, level: float = 0.95, seed: int = 0,
                   resamples: int = 2000, ttft: str = "client") -> Difference:
        """`difference(self, metric, a, b, ...)`: metric of group a minus that of group b, with interval and p."""
        return difference(self, metric, a=a, b=b, level=level, seed=seed, resamples=resamples, ttft=ttft)

    def export(self, path: str | Path) -> Path:
        """Write the rows to `path`: CSV or Parquet by its suffix (as `Ledger.export`); returns the path."""
        from .ledger import write_rows

        return write_rows(self.rows, path)

    # -- reading like a DataFrame --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> Any:
        return self.rows[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("rows", "grid"):
            raise AttributeError(name)
        return getattr(self.rows, name)

    # -- display ---------------------------------------------------------------------------------------------

    def headline(self) -> str:
        """One line: run, grid and outcome counts."""
        status = self.rows["status"].astype("object") if "status" in self.rows.columns else pd.Series(dtype=object)
        counts = {k: int((status == k).sum()) for k in ("ok", "error", "cancelled")}
        run = self.grid.run_id if self.grid else _first(self.rows, "run_id")
        shape = ""
        if self.grid is not None:
            g = self.grid
            shape = (f" ({_n(len(g.prompts), 'prompt')} × {_n(len(g.models), 'model')} × "
                     f"{_n(len(g.strategies), 'strateg', 'y', 'ies')} × {_n(g.repeats, 'repeat')})")
        offline = " (offline simulation)" if "source" in self.rows.columns and (self.rows["source"] == "offline").any() else ""
        return (f"Comparison {run or ''}{shape}: {len(self.rows)} calls, {counts['ok']} ok, {counts['error']} errors, "
                f"{counts['cancelled']} cancelled{offline}")

    def __repr__(self) -> str:
        with pd.option_context("display.width", 160, "display.max_columns", 12):
            return f"{self.headline()}\n{self.summary().to_string(index=False)}"

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.headline())}</b>{summary_html(self.summary())}"


TABLE_COLUMNS = ["calls", "ok", "errors", "cancelled", "ttft_client_p50", "ttft_client_p95", "latency_p50",
                 "pass_rate", "cost_mean_usd", "cost_total_usd", "cost_per_pass_usd", "provider_share"]
_CHECK_COLUMNS = ("pass_rate", "cost_per_pass_usd")  # shown only when some group ran checks


def summary_html(summary: pd.DataFrame) -> str:
    """A summary's group columns and main figures as a compact HTML table (the panel's and the notebook's).

    With interval columns (`summarize(..., ci=)`), a figure shows its interval, e.g. "812 ms [640–990]", and a
    group with too few calls for its intervals to mean much is marked "few calls" in a `note` column."""
    if summary.empty:
        return "<i>no results yet</i>"
    keys = [c for c in summary.columns if c not in SUMMARY_COLUMNS and c not in INTERVAL_COLUMNS]
    checked = "checked" in summary.columns and bool((pd.to_numeric(summary["checked"]) > 0).any())
    shown = [c for c in TABLE_COLUMNS if c in summary.columns and (checked or c not in _CHECK_COLUMNS)]
    t = summary[keys + shown].copy()
    for c in keys:
        t[c] = t[c].astype("object").where(t[c].notna(), "—")
    ms, usd = _fmt("{:.1f}"), _fmt("{:.6f}")
    formats = {c: ms for c in ("ttft_client_p50", "ttft_client_p95", "latency_p50")}
    formats.update({c: usd for c in ("cost_mean_usd", "cost_total_usd", "cost_per_pass_usd")})
    formats["provider_share"] = _fmt("{:.0%}")
    formats["pass_rate"] = _fmt("{:.0%}")
    for c in shown:
        if f"{c}_lo" in summary.columns and (c in CI_METRICS or c == "pass_rate"):
            t[c] = [_interval(c, v, lo, hi) for v, lo, hi in zip(summary[c], summary[f"{c}_lo"], summary[f"{c}_hi"],
                                                                 strict=True)]
            formats.pop(c, None)
    if "few_calls" in summary.columns:
        t["note"] = ["few calls" if bool(f) else "" for f in summary["few_calls"].fillna(False)]
    out: str = t.to_html(index=False, na_rep="", border=0, formatters=formats, classes="auriko-summary")
    return out


def _interval(col: str, v: Any, lo: Any, hi: Any) -> str:
    """One figure with its interval: "812 ms [640–990]", "0.000120 [0.000100–0.000150]", "80% [49–94%]"."""
    if v is None or pd.isna(v):
        return ""
    if col == "pass_rate":
        head, band = f"{v:.0%}", f"{lo * 100:.0f}–{hi * 100:.0f}%"
    elif col.startswith("cost"):
        head, band = f"{v:.6f}", f"{lo:.6f}–{hi:.6f}"
    else:
        head, band = f"{v:.0f} ms", f"{lo:.0f}–{hi:.0f}"
    return head if pd.isna(lo) or pd.isna(hi) else f"{head} [{band}]"


def _fmt(spec: str) -> Callable[[Any], str]:
    """A cell formatter that leaves missing values blank."""
    def f(v: Any) -> str:
        try:
            return "" if v is None or v != v else spec.format(v)
        except (TypeError, ValueError):
            return str(v)
    return f


def _n(k: int, stem: str, one: str = "", many: str = "s") -> str:
    return f"{k} {stem}{one if k == 1 else many}"


def _first(df: pd.DataFrame, col: str) -> str | None:
    return str(df[col].iloc[0]) if col in df.columns and len(df) else None


def _empty() -> pd.DataFrame:
    from ..client.records import RECORD_COLUMNS

    return pd.DataFrame(columns=list(RECORD_COLUMNS))
