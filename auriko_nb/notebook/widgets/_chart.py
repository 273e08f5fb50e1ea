"""Rendering for the comparison panel: the summary as an HTML table (`comparison.summary_html`) and the
cost-vs-TTFT chart as PNG bytes.

The chart is drawn on a `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so refreshing it
from a background task touches no global figure state and opens no window.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ...measure.comparison import summary_html

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["chart_png", "summary_html", "summary_of"]


def summary_of(df: pd.DataFrame, grid: Any = None) -> pd.DataFrame:
    """The comparison summary of the rows: grouped by the axes that vary (see `Comparison.axes`)."""
    from ...measure.comparison import Comparison

    return Comparison(df, grid).summary()


def chart_png(df: pd.DataFrame, *, width: float = 7.0, height: float = 4.2, dpi: int = 80) -> bytes:
    """The cost-vs-TTFT chart of the rows (a Pareto frontier per model) as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ...measure.plots import cost_vs_ttft

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cost_vs_ttft(df, ax=ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
