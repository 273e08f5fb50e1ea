"""Rendering for the comparison panel: the summary as an HTML table (`comparison.summary_html`), the
cost-vs-TTFT chart as PNG bytes, the recommendation line and the answer matrix as HTML.

The chart is drawn on a `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so refreshing it
from a background task touches no global figure state and opens no window. `render_views` computes everything
but the table from a comparison and nothing else, so it can run in a worker thread while a sweep goes on.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ...errors import AurikoError
from ...measure.comparison import summary_html
from ._common import NOTE_STYLE, WARNING_STYLE, message_html, one_line

if TYPE_CHECKING:
    import pandas as pd

    from ...measure.comparison import Comparison
    from ...measure.recommend import Recommendation

__all__ = ["Views", "answers_html", "chart_png", "png_size", "recommendation_html", "render_views", "scroll_box",
           "summary_html", "summary_of", "table_html"]

CI = 0.95  # the level of the panel's intervals and of its recommendation
# The panel's chart is shown at CHART_CSS (CSS px, height capped so it fits a laptop screen under the table) and
# drawn at CHART_DENSITY × that many pixels: figure inches × CSS_DPI = the CSS size, so text reads at its point size
# and the browser scales the PNG down by a whole factor (sharp on 1× and 2× screens), never up.
CHART_CSS = (720, 400)
CSS_DPI = 100
CHART_DENSITY = 2
CHART_DPI = CSS_DPI * CHART_DENSITY
CHART_WIDTH = f"{CHART_CSS[0]}px"
NO_ANSWERS = "<i>no answers yet</i>"
_KEYWORD_HINT = re.compile(r"Pass max_ttft_p95_ms=.*?under an SLO\.")
_PANEL_HINT = "Set an SLO (max TTFT p95, min pass rate) to recommend under it."


# A wide table scrolls inside its own box: the box is at most as wide as the panel (the HTML widget's content box
# may not grow to the table's width either), and its cells stay on one line ("812 ms [640–990]" unbroken).
SCROLL_BOX = "overflow-x:auto;max-width:100%"
_TABLE_STYLE = ("<style>.auriko-panel-table td { white-space: nowrap; } "
                ".jupyter-widget-html-content:has(> .auriko-scroll-box) { min-width: 0; }</style>")


def scroll_box(content: str, cls: str = "") -> str:
    """`content` in a box that scrolls sideways inside the panel instead of widening it."""
    classes = f"auriko-scroll-box {cls}".strip()
    return f'{_TABLE_STYLE}<div class="{classes}" style="{SCROLL_BOX}">{content}</div>'


def table_html(summary: pd.DataFrame) -> str:
    """The panel's summary table (`summary_html`) in its own sideways-scrolling box."""
    return scroll_box(summary_html(summary), "auriko-panel-table")


def summary_of(df: pd.DataFrame, grid: Any = None) -> pd.DataFrame:
    """The comparison summary of the rows: grouped by the axes that vary (see `Comparison.axes`)."""
    from ...measure.comparison import Comparison

    return Comparison(df, grid).summary()


def chart_png(df: pd.DataFrame, *, size: tuple[int, int] = CHART_CSS, density: int = CHART_DENSITY) -> bytes:
    """The cost-vs-TTFT chart of the rows (a Pareto frontier per model) as PNG bytes, to be shown at `size` CSS px:
    `density` × that many pixels (the figure is size / CSS_DPI inches, drawn at CSS_DPI × density dots per inch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ...measure.plots import cost_vs_ttft

    dpi = CSS_DPI * density
    fig = Figure(figsize=(size[0] / CSS_DPI, size[1] / CSS_DPI), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cost_vs_ttft(df, ax=ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def recommendation_html(comparison: Comparison, slo: dict[str, float]) -> tuple[str, Recommendation | None]:
    """The recommendation line (`recommend(comparison, **slo)` at the panel's level) and the Recommendation;
    a constraint the rows cannot judge shows its one-line reason instead ("" when there are no rows yet)."""
    from ...measure.recommend import recommend

    if comparison.rows.empty:
        return "", None
    try:
        rec = recommend(comparison, ci=CI, **cast("dict[str, Any]", slo))
    except AurikoError as e:
        return message_html(f"No recommendation: {one_line(e)}", WARNING_STYLE), None
    text = _KEYWORD_HINT.sub(_PANEL_HINT, rec.explanation)
    lines = "<br>".join(html.escape(line) for line in text.splitlines())
    colour = "#080" if rec.choice is not None and slo else "inherit"
    return (f'<div class="auriko-recommendation-line"><b style="color:{colour}">Recommendation</b> '
            f'<span style="{NOTE_STYLE}">({CI:.0%} intervals)</span>: {lines}</div>'), rec


def answers_html(comparison: Comparison) -> str:
    """The answer matrix (`answers(comparison)`) as HTML: prompts × groups, ✔/✘ where checks ran."""
    from ...measure.answers import answers

    if comparison.rows.empty:
        return NO_ANSWERS
    try:
        return scroll_box(answers(comparison)._repr_html_())
    except AurikoError as e:
        return message_html(f"no answers: {one_line(e)}", WARNING_STYLE)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG bytes, from the IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        raise ValueError("not a PNG image")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@dataclass(frozen=True)
class Views:
    """What the panel shows besides the table: the chart, the recommendation line and the answer matrix."""

    png: bytes
    recommendation: str
    answers: str
    result: Recommendation | None


def render_views(comparison: Comparison, slo: dict[str, float]) -> Views:
    """Every view but the table from the comparison alone (safe in a worker thread: no widget is touched)."""
    rec, result = recommendation_html(comparison, slo)
    return Views(chart_png(comparison.rows), rec, answers_html(comparison), result)
