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

from .analysis import MODEL, STRATEGY, pareto, summarize, varying_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .sweep import Sweep

__all__ = ["Comparison", "Grid", "split_prompts", "summary_html"]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_prompts(text: str) -> list[str]:
    """Prompts from a text: blocks separated by blank lines (spaces, tabs and CRLF allowed), stripped, empty dropped."""
    return [p.strip() for p in _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")) if p.strip()]


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

    def summary(self, ci: float | None = None, *, by_prompt: bool = False) -> pd.DataFrame:
        """One row per group of the varying axes (see `axes`); with `ci`, a success-rate interval at that level."""
        if self.rows.empty:
            return summarize(_empty(), by=self.axes(by_prompt=by_prompt), ci=ci)
        return summarize(self.rows, by=self.axes(by_prompt=by_prompt), ci=ci)

    summarize = summary

    def pareto(self, *, per: str | Sequence[str] | None = MODEL, x: str = "cost_mean_usd",
               y: str | None = None) -> pd.DataFrame:
        """The undominated groups on cost and time, one frontier per model (`per=None`: one across all)."""
        per = per if per is None or MODEL in self.rows.columns else None
        return pareto(self.rows, x=x, y=y, by=self.axes(), per=per)

    def plot(self, ax: Axes | None = None, ttft: str = "client") -> Axes:
        """Cost against TTFT of every ok call, with a Pareto frontier per model; returns the Axes."""
        from .plots import cost_vs_ttft

        return cost_vs_ttft(self.rows, ax=ax, ttft=ttft, by=self.axes())

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
                 "cost_mean_usd", "cost_total_usd", "provider_share"]


def summary_html(summary: pd.DataFrame) -> str:
    """A summary's group columns and main figures as a compact HTML table (the panel's and the notebook's)."""
    from .analysis import SUMMARY_COLUMNS

    if summary.empty:
        return "<i>no results yet</i>"
    keys = [c for c in summary.columns if c not in SUMMARY_COLUMNS and not c.startswith("success_rate_ci")]
    t = summary[keys + [c for c in TABLE_COLUMNS if c in summary.columns]].copy()
    for c in keys:
        t[c] = t[c].astype("object").where(t[c].notna(), "—")
    formats = {c: _fmt("{:.1f}") for c in ("ttft_client_p50", "ttft_client_p95", "latency_p50")}
    formats.update({c: _fmt("{:.6f}") for c in ("cost_mean_usd", "cost_total_usd")})
    formats["provider_share"] = _fmt("{:.0%}")
    out: str = t.to_html(index=False, na_rep="", border=0, formatters=formats, classes="auriko-summary")
    return out


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
