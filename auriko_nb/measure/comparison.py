"""The comparison result: the rows of a sweep and the grid they came from, with the one summary, Pareto frontier,
chart and export that `ak.compare`, `%%auriko --compare`, the comparison panel and `auriko-nb compare` all show.

Also the one rule that splits a text into prompts (`split_prompts`), used by the panel and the command line.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import RequestValidationError
from .analysis import (
    INTERVAL_COLUMNS,
    MODEL,
    NO_PREFERENCE,
    RESOLVED,
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

__all__ = ["ARROW", "DEFAULT_COLUMNS", "NO_PREFERENCE", "Comparison", "Grid", "display_summary", "parse_prompts",
           "split_prompts", "summary_html"]

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

    def summary_table(self, ci: float | None = None, *, all_columns: bool = False, by_prompt: bool = False,
                      resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
        """The summary as a person reads it (`display_summary`): text cells under headers with units, rounded per
        unit, zero-only columns hidden unless `all_columns`; with `ci`, each figure with its interval. The raw
        numbers stay in `summary()`."""
        raw = self.summary(ci, by_prompt=by_prompt, resamples=resamples, seed=seed)
        return display_summary(raw, all_columns=all_columns)

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
        table = self.summary_table()
        with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 80):
            return f"{self.headline()}\n{table.to_string(index=False) if len(table) else '(no results)'}"

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.headline())}</b>{summary_html(self.summary())}"



# summary column -> (header with its unit, kind of figure, scale): the display form of a summary
_DISPLAY: dict[str, tuple[str, str, float]] = {
    RESOLVED: ("resolved strategy", "text", 1), "calls": ("calls", "count", 1), "ok": ("ok", "count", 1),
    "errors": ("errors", "count", 1), "cancelled": ("cancelled", "count", 1),
    "success_rate": ("success rate", "rate", 1), "checked": ("checked", "count", 1),
    "pass_rate": ("pass rate", "rate", 1), "ttft_server_p50": ("server TTFT p50 (ms)", "whole", 1),
    "ttft_server_p95": ("server TTFT p95 (ms)", "whole", 1), "ttft_client_p50": ("TTFT p50 (ms)", "whole", 1),
    "ttft_client_p95": ("TTFT p95 (ms)", "whole", 1), "latency_p50": ("latency p50 (ms)", "whole", 1),
    "latency_p95": ("latency p95 (ms)", "whole", 1), "throughput_mean": ("throughput (tokens/s)", "whole", 1),
    "cost_mean_usd": ("cost per 1k calls ($)", "usd", 1000), "cost_total_usd": ("total cost ($)", "usd", 1),
    "cost_per_1k_output_tokens_usd": ("cost per 1k output tokens ($)", "usd", 1),
    "cost_per_pass_usd": ("cost per 1k passes ($)", "usd", 1000), "provider_share": ("provider share", "share", 1),
}
_KEY_HEADERS = {MODEL: "model", STRATEGY: "strategy", "routing_strategy": "resolved strategy", "provider": "provider",
                "prompt_id": "prompt", "model_canonical": "model served"}
# the columns shown by default (`all_columns=False`), each only where it says something (see `display_summary`)
DEFAULT_COLUMNS = ("calls", "errors", "cancelled", "ttft_client_p50", "ttft_client_p95", "latency_p50", "pass_rate",
                   "cost_mean_usd", "cost_per_pass_usd", "cost_total_usd", "provider_share")
_CHECKED_ONLY = ("pass_rate", "cost_per_pass_usd")  # shown by default only when some group ran checks
_ZERO_HIDDEN = ("errors", "cancelled")


def display_summary(summary: pd.DataFrame, *, all_columns: bool = False) -> pd.DataFrame:
    """A summary (`summarize` / `Comparison.summary`) as a person reads it: a DataFrame of text cells with headers
    that carry units ("TTFT p50 (ms)", "cost per 1k calls ($)"), figures rounded per unit (ms whole, $ to 3
    significant digits, rates as %), intervals as "812 [640–990]" when the summary has them, the requested
    strategy with what the gateway resolved it to ("no preference → cost-focus"), and "3 (few calls)" in the
    calls column of a group whose intervals mean little.

    By default only the main columns, and of those not the ones that say nothing here: errors and cancelled when
    all zero, figures missing in every group, pass rate and cost per pass when nothing was checked, provider share
    when every group is one provider serving all its calls. `all_columns=True` shows every summary column."""
    keys = [c for c in summary.columns if c not in SUMMARY_COLUMNS and c not in INTERVAL_COLUMNS]
    table = pd.DataFrame({_KEY_HEADERS.get(k, k): _key_cells(summary, k) for k in keys}, index=summary.index)
    if all_columns and STRATEGY not in keys and RESOLVED in summary.columns and summary[RESOLVED].notna().any():
        table["resolved strategy"] = summary[RESOLVED].astype("object").where(summary[RESOLVED].notna(), "")
    for c in _display_columns(summary, all_columns):
        header, kind, scale = _DISPLAY[c]
        lo, hi = (summary[f"{c}_lo"], summary[f"{c}_hi"]) if f"{c}_lo" in summary.columns else (None, None)
        table[header] = [_cell(kind, v, scale, None if lo is None else lo.iloc[i], None if hi is None else hi.iloc[i])
                         for i, v in enumerate(summary[c])]
    if "few_calls" in summary.columns and "calls" in table.columns:  # the note sits by the count it is about
        few = summary["few_calls"].astype("boolean").fillna(False).to_numpy()
        table["calls"] = [f"{n} (few calls)" if f else n for n, f in zip(table["calls"], few, strict=True)]
    return table.reset_index(drop=True)


def _key_cells(summary: pd.DataFrame, key: str) -> list[str]:
    """A group column's cells: the requested strategy reads "no preference" when none was asked, and shows what
    the gateway resolved it to when that differs ("no preference → cost-focus"); other missing keys read "—"."""
    resolved = summary[RESOLVED] if key == STRATEGY and RESOLVED in summary.columns else None
    cells = []
    for i, v in enumerate(summary[key]):
        missing = v is None or pd.isna(v)
        text = (NO_PREFERENCE if key == STRATEGY else "—") if missing else str(v)
        r = None if resolved is None else resolved.iloc[i]
        if r is not None and not pd.isna(r) and str(r) != text:
            text = f"{text} → {r}"
        cells.append(text)
    return cells


def _display_columns(summary: pd.DataFrame, all_columns: bool) -> list[str]:
    """The summary columns the display form shows (see `display_summary`)."""
    if all_columns:
        return [c for c in SUMMARY_COLUMNS if c in summary.columns and c != RESOLVED]
    shown = []
    for c in DEFAULT_COLUMNS:
        if c not in summary.columns:
            continue
        values = summary[c]
        numeric = pd.to_numeric(values, errors="coerce")
        if values.isna().all() or (c in _ZERO_HIDDEN and bool((numeric.fillna(0) == 0).all())):
            continue
        if c in _CHECKED_ONLY and not bool((pd.to_numeric(summary.get("checked", 0)) > 0).any()):
            continue
        if c == "provider_share" and "provider" in summary.columns and bool((numeric == 1).all()):
            continue
        shown.append(c)
    return shown


def _cell(kind: str, v: Any, scale: float, lo: Any = None, hi: Any = None) -> str:
    """One figure rounded for its unit, with its interval when it has one: "812 [640–990]", "80% [49–94%]"."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if kind in ("text", "share") and isinstance(v, str):
        return v
    if kind == "count":
        return f"{int(v):,}"
    band = not (lo is None or hi is None or pd.isna(lo) or pd.isna(hi))
    if kind in ("rate", "share"):
        head = f"{v:.0%}"
        return f"{head} [{lo * 100:.0f}–{hi * 100:.0f}%]" if band else head
    if kind == "usd":
        places = _places(v * scale)
        head = f"{v * scale:,.{places}f}"
        return f"{head} [{lo * scale:,.{places}f}–{hi * scale:,.{places}f}]" if band else head
    head = f"{v:,.0f}"
    return f"{head} [{lo:,.0f}–{hi:,.0f}]" if band else head


def _places(x: float) -> int:
    """Decimal places that show a dollar amount to 3 significant digits (whole dollars from $100 up)."""
    if x == 0 or not math.isfinite(x):
        return 0
    return max(0, 2 - math.floor(math.log10(abs(x))))


def summary_html(summary: pd.DataFrame, *, all_columns: bool = False) -> str:
    """A summary's display form (`display_summary`) as a compact HTML table: what the magic, the panel and a
    Comparison in a notebook show."""
    if summary.empty:
        return "<i>no results yet</i>"
    out: str = display_summary(summary, all_columns=all_columns).to_html(index=False, border=0,
                                                                         classes="auriko-summary")
    return out


def _n(k: int, stem: str, one: str = "", many: str = "s") -> str:
    return f"{k} {stem}{one if k == 1 else many}"


def _first(df: pd.DataFrame, col: str) -> str | None:
    return str(df[col].iloc[0]) if col in df.columns and len(df) else None


def _empty() -> pd.DataFrame:
    from ..client.records import RECORD_COLUMNS

    return pd.DataFrame(columns=list(RECORD_COLUMNS))
