"""Rendering for the comparison panel: the summary as an HTML table and the cost-vs-TTFT chart as PNG bytes.

The chart is drawn on a `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so refreshing it
from a background task touches no global figure state and opens no window.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_BY = ["routing_strategy", "provider"]
TABLE_COLUMNS = ["routing_strategy", "provider", "calls", "ok", "errors", "cancelled", "ttft_client_p50",
                 "ttft_client_p95", "latency_p50", "cost_mean_usd", "cost_total_usd", "provider_share"]


def summary_of(df: pd.DataFrame) -> pd.DataFrame:
    """`summarize` per strategy × provider (an empty frame when there are no rows)."""
    import pandas as pd

    from ..analysis import SUMMARY_COLUMNS, summarize

    if df.empty:
        return pd.DataFrame(columns=[*SUMMARY_BY, *SUMMARY_COLUMNS])
    return summarize(df, by=SUMMARY_BY)


def _fmt(spec: str) -> Callable[[Any], str]:
    """A cell formatter that leaves missing values blank."""
    def f(v: Any) -> str:
        try:
            return "" if v is None or v != v else spec.format(v)
        except (TypeError, ValueError):
            return str(v)
    return f


def summary_html(summary: pd.DataFrame) -> str:
    """The summary's main columns as a compact HTML table."""
    if summary.empty:
        return "<i>no results yet</i>"
    cols = [c for c in TABLE_COLUMNS if c in summary.columns]
    t = summary[cols].copy()
    for c in ("routing_strategy", "provider"):
        if c in t.columns:
            t[c] = t[c].astype("object").where(t[c].notna(), "—")
    formats = {c: _fmt("{:.1f}") for c in ("ttft_client_p50", "ttft_client_p95", "latency_p50")}
    formats.update({c: _fmt("{:.6f}") for c in ("cost_mean_usd", "cost_total_usd")})
    formats["provider_share"] = _fmt("{:.0%}")
    out: str = t.to_html(index=False, na_rep="", border=0, formatters=formats, classes="auriko-summary")
    return out


def chart_png(df: pd.DataFrame, *, width: float = 7.0, height: float = 4.2, dpi: int = 80) -> bytes:
    """The cost-vs-TTFT chart of the rows (with the Pareto frontier) as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..plots import cost_vs_ttft

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cost_vs_ttft(df, ax=ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
