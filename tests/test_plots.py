"""Each chart draws on the Axes it is given, labels its axes with units, and survives empty/all-error frames."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from auriko_nb.measure import plots  # noqa: E402
from auriko_nb.measure.analysis import pareto, summarize  # noqa: E402
from auriko_nb.measure.ledger import Ledger  # noqa: E402

CHARTS: list[Callable[..., Axes]] = [plots.cost_vs_ttft, plots.ttft_distribution, plots.cost_by_strategy,
                                     plots.provider_share, plots.spend_over_time]


def call(i: int, strategy: str, provider: str | None, status: str = "ok", cost: float | None = 0.001,
         ttft_c: float = 100.0, ttft_s: float = 80.0) -> dict[str, Any]:
    ok = status == "ok"
    return dict(run_id="r", call_id=f"c{i}", started_at=f"2025-03-01T12:00:{i:02d}+00:00", status=status,
                routing_strategy=strategy if ok else None, optimize=strategy, provider=provider if ok else None,
                cost_usd=cost if ok else None, ttft_ms_client=ttft_c if ok else None,
                ttft_ms_server=ttft_s if ok else None, completion_tokens=50 if ok else None)


ROWS = [
    call(0, "cost", "groq", cost=0.001, ttft_c=300, ttft_s=250),
    call(1, "cost", "groq", cost=0.001, ttft_c=320, ttft_s=260),
    call(2, "cost", "openai", cost=0.004, ttft_c=200, ttft_s=150),
    call(3, "ttft", "fireworks", cost=0.006, ttft_c=90, ttft_s=70),
    call(4, "ttft", "fireworks", cost=0.006, ttft_c=110, ttft_s=90),
    call(5, "ttft", "openai", cost=0.005, ttft_c=150, ttft_s=120),
    call(6, "balanced", "openai", cost=0.003, ttft_c=180, ttft_s=140),
    call(7, "balanced", None, status="error"),
]


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(ROWS)  # raw records: string timestamps, object columns


@pytest.fixture
def ax() -> Iterator[Axes]:
    fig = Figure()
    yield fig.subplots()


def texts(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts]


def bar_heights(ax: Axes) -> list[float]:
    return [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]


def assert_labelled(ax: Axes, x_unit: str | None, y_unit: str) -> None:
    assert ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    if x_unit:
        assert x_unit in ax.get_xlabel()
    assert y_unit in ax.get_ylabel()


def test_cost_vs_ttft_one_scatter_per_provider_and_strategy_and_the_frontier(df: pd.DataFrame, ax: Axes) -> None:
    # API change (issue 15): one scatter per (provider, strategy), coloured by provider, marked by strategy
    assert plots.cost_vs_ttft(df, ax=ax) is ax
    assert_labelled(ax, "per 1k calls ($)", "ms")
    labels = [c.get_label() for c in ax.collections]
    assert labels == ["fireworks · ttft", "groq · cost", "openai · balanced", "openai · cost", "openai · ttft"]
    groq = ax.collections[1].get_offsets()
    assert np.asarray(groq).tolist() == [[0.001, 300.0], [0.001, 320.0]]
    frontier = [ln for ln in ax.get_lines() if "Pareto" in str(ln.get_label())]
    assert len(frontier) == 1
    expected = pareto(df, x="cost_mean_usd", y="ttft_client_p50")
    # groups: cost·groq (0.001, 310), balanced·openai (0.003, 180), cost·openai (0.004, 200: dominated),
    # ttft·openai (0.005, 150), ttft·fireworks (0.006, 100)
    assert expected["cost_mean_usd"].tolist() == pytest.approx([0.001, 0.003, 0.005, 0.006])
    assert np.asarray(frontier[0].get_xdata()).tolist() == pytest.approx(expected["cost_mean_usd"].tolist())
    assert "cost · groq" in texts(ax) and "ttft · fireworks" in texts(ax)
    assert frontier[0].get_drawstyle() == "steps-post"


def test_cost_vs_ttft_server_side_uses_the_server_ttft(df: pd.DataFrame, ax: Axes) -> None:
    plots.cost_vs_ttft(df, ax=ax, ttft="server")
    assert "server" in ax.get_ylabel()
    assert np.asarray(ax.collections[1].get_offsets())[:, 1].tolist() == [250.0, 260.0]
    with pytest.raises(ValueError, match="client"):
        plots.cost_vs_ttft(df, ax=ax, ttft="wall")


def test_ttft_distribution_one_box_per_provider_or_strategy(df: pd.DataFrame, ax: Axes) -> None:
    assert plots.ttft_distribution(df, ax=ax) is ax
    assert_labelled(ax, None, "ms")
    assert ax.get_xlabel() == "provider"
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fireworks\n(n=2)", "groq\n(n=2)", "openai\n(n=3)"]
    other = Figure().subplots()
    plots.ttft_distribution(df, by="routing_strategy", ax=other)
    assert len(other.patches) == 3 and other.get_xlabel() == "routing strategy"
    medians = [np.asarray(ln.get_ydata())[0] for ln in other.get_lines()[4::6]]  # boxplot: 6 lines per box, median 5th
    assert medians == [180.0, 300.0, 110.0]  # balanced (180), cost (200, 300, 320), ttft (90, 110, 150)


def test_cost_by_strategy_bars_are_mean_costs_with_totals(df: pd.DataFrame, ax: Axes) -> None:
    assert plots.cost_by_strategy(df, ax=ax) is ax
    assert_labelled(ax, None, "USD")
    heights = bar_heights(ax)
    assert len(heights) == 3  # balanced, cost, ttft (the error row has no strategy and no cost)
    assert heights == pytest.approx([0.003, 0.002, 0.017 / 3])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["balanced", "cost", "ttft"]
    assert texts(ax) == ["total $0.003", "total $0.006", "total $0.017"]


def test_provider_share_stacks_to_100_percent_per_strategy(df: pd.DataFrame, ax: Axes) -> None:
    assert plots.provider_share(df, ax=ax) is ax
    assert_labelled(ax, None, "%")
    assert len(ax.containers) == 3 and all(len(c) == 3 for c in ax.containers)  # 3 providers × 3 strategies
    heights = np.array([[p.get_height() for p in c] for c in ax.containers])  # provider × strategy
    assert heights.sum(axis=0).tolist() == pytest.approx([100.0, 100.0, 100.0])
    # strategies balanced, cost, ttft; providers fireworks, groq, openai
    np.testing.assert_allclose(heights, [[0, 0, 200 / 3], [0, 200 / 3, 0], [100, 100 / 3, 100 / 3]])
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["fireworks", "groq", "openai"]


def test_spend_over_time_is_the_cumulative_cost_in_time_order(df: pd.DataFrame, ax: Axes) -> None:
    shuffled = df.sample(frac=1.0, random_state=3)
    assert plots.spend_over_time(shuffled, ax=ax) is ax
    assert_labelled(ax, "UTC", "USD")
    (line,) = ax.get_lines()
    assert np.asarray(line.get_ydata()).tolist() == pytest.approx(np.cumsum([0.001, 0.001, 0.004, 0.006, 0.006, 0.005, 0.003]))
    assert texts(ax) == ["$0.026"]


def test_charts_read_typed_ledger_frames_too(df: pd.DataFrame, tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    led.append_many(ROWS)
    typed = led.to_dataframe()
    for chart in CHARTS:
        a, b = Figure().subplots(), Figure().subplots()
        chart(typed, ax=a)
        chart(df, ax=b)
        assert len(a.patches) == len(b.patches) and len(a.collections) == len(b.collections)
        assert len(a.get_lines()) == len(b.get_lines()) and texts(a) == texts(b)


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("case", ["empty", "all-error", "no-columns"])
def test_empty_and_all_error_frames_draw_a_message_not_a_traceback(chart: Callable[..., Axes], case: str,
                                                                   df: pd.DataFrame, ax: Axes) -> None:
    frame = {"empty": df.iloc[:0], "all-error": df[df["status"] == "error"], "no-columns": pd.DataFrame()}[case]
    assert chart(frame, ax=ax) is ax
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len(ax.texts) == 1 and ax.texts[0].get_text().startswith("no ")
    assert not ax.collections and not ax.patches and not ax.get_lines()


def test_without_ax_a_new_figure_is_made(df: pd.DataFrame) -> None:
    for chart in CHARTS:
        ax = chart(df)
        assert isinstance(ax, Axes) and ax.figure is not None
        plt.close(ax.figure)  # type: ignore[arg-type]


def test_importing_plots_does_not_import_pyplot() -> None:
    code = "import sys, auriko_nb.measure.plots, auriko_nb.measure.analysis; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_summary_and_charts_agree_on_costs(df: pd.DataFrame, ax: Axes) -> None:
    plots.cost_by_strategy(df, ax=ax)
    s = summarize(df, by="routing_strategy").dropna(subset=["cost_mean_usd"])
    assert bar_heights(ax) == pytest.approx(s["cost_mean_usd"].tolist())


def error_bars(ax: Axes) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_cost_vs_ttft_draws_interval_bars_only_with_ci(df: pd.DataFrame, ax: Axes) -> None:
    plots.cost_vs_ttft(df, ax=ax)
    assert error_bars(ax) == []
    fig = Figure()
    with_ci = fig.subplots()
    assert plots.cost_vs_ttft(df, ax=with_ci, ci=0.95) is with_ci
    (bars,) = error_bars(with_ci)
    s = summarize(df, by=["routing_strategy", "provider"], ci=0.95).dropna(subset=["cost_mean_usd"])
    line, caps, (xbars, ybars) = bars.lines[0], bars.lines[1], bars.lines[2]
    assert line is None and len(caps) == 4 and len(xbars.get_segments()) == len(s) == 5
    # y bars span the p50 interval at each group's mean cost
    spans = sorted((float(seg[0][1]), float(seg[1][1])) for seg in ybars.get_segments())
    expected = sorted(zip(s["ttft_client_p50_lo"], s["ttft_client_p50_hi"], strict=True))
    assert np.allclose(spans, expected)


def checked_rows() -> pd.DataFrame:
    rows = []
    for i, (provider, cost, passes) in enumerate((("groq", 0.001, 6), ("openai", 0.004, 9))):
        for j in range(10):
            rows.append(call(10 * i + j, "cost", provider, cost=cost) | {"passed": j < passes})
    return pd.DataFrame(rows)


def test_pass_rate_vs_cost_one_point_per_group_with_wilson_bars(ax: Axes) -> None:
    d = checked_rows()
    assert plots.pass_rate_vs_cost(d, ax=ax) is ax
    assert_labelled(ax, "per 1k calls ($)", "pass rate")
    points = sorted(tuple(np.asarray(c.get_offsets())[0]) for c in ax.collections if isinstance(c, PathCollection))
    assert np.allclose(points, [(0.001, 0.6), (0.004, 0.9)])
    (bars,) = error_bars(ax)
    assert not bars.has_xerr and bars.has_yerr
    ybars = bars.lines[2][0]
    from auriko_nb.measure.stats import wilson

    lo, hi = wilson(np.array([6, 9]), np.array([10, 10]), 0.95)
    spans = sorted((float(seg[0][1]), float(seg[1][1])) for seg in ybars.get_segments())
    assert np.allclose(spans, sorted(zip(lo, hi, strict=True)))
    assert any(t == "groq (n=10)" for t in texts(ax))
    plain = Figure().subplots()
    plots.pass_rate_vs_cost(d, ax=plain, ci=None)
    assert error_bars(plain) == []


def test_pass_rate_vs_cost_without_checked_calls_says_so(df: pd.DataFrame, ax: Axes) -> None:
    plots.pass_rate_vs_cost(df, ax=ax)
    assert texts(ax) == ["no checked calls with a cost to plot"]


# -- issue 15: what a person sees ---------------------------------------------------------------------------

def cheap_rows() -> pd.DataFrame:
    """Costs of ~$0.00002 a call in a narrow band (matplotlib's default ticks: 0.00002 with a 1e-5 offset)."""
    rows = []
    for i in range(12):
        strategy, provider = [("cost", "groq"), ("ttft", "fireworks"), ("balanced", "openai")][i % 3]
        rows.append(call(i, strategy, provider, cost=2.0e-5 + 1e-7 * i, ttft_c=100.0 + 20 * (i % 3) + i)
                    | {"passed": i % 2 == 0})
    return pd.DataFrame(rows)


def drawn(ax: Axes) -> Axes:
    """`ax` after a real Agg draw (a bare Figure's canvas draws nothing, so no offset text would be set)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    FigureCanvasAgg(fig).draw()
    return ax


def point_charts(d: pd.DataFrame) -> list[Axes]:
    out = []
    for chart, kwargs in ((plots.cost_vs_ttft, {}), (plots.cost_vs_ttft, {"ci": 0.95}), (plots.pass_rate_vs_cost, {})):
        fig = Figure(figsize=(7, 4.2), dpi=100)
        out.append(drawn(chart(d, ax=fig.add_subplot(), **kwargs)))
    return out


def test_cost_ticks_read_as_dollars_per_1k_calls_without_offset() -> None:
    for ax in point_charts(cheap_rows()):
        assert ax.get_xlabel() == "cost per 1k calls ($)"
        assert ax.xaxis.get_offset_text().get_text() == ""
        locs = ax.get_xticks()
        shown = [t.get_text() for t in ax.get_xticklabels()]
        assert len(shown) == len(locs) >= 2
        assert all(t and "e" not in t.lower() and "×" not in t for t in shown), shown
        assert [float(t.replace("\u2212", "-")) for t in shown] == pytest.approx([x * 1000 for x in locs], abs=1e-9)
        inside = [t for t, x in zip(shown, locs, strict=True) if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
        assert any(t.startswith("0.02") for t in inside), shown  # $0.00002 a call is $0.02 per 1k calls
        assert len(set(shown)) == len(shown)  # enough decimals to tell the ticks apart


def test_the_legend_covers_no_point() -> None:
    for ax in point_charts(cheap_rows()):
        legend = ax.get_legend()
        assert legend is not None
        box = legend.get_window_extent()
        points = [ax.transData.transform(np.asarray(c.get_offsets())) for c in ax.collections
                  if isinstance(c, PathCollection)]
        points += [ax.transData.transform(np.asarray(ln.get_xydata())) for ln in ax.get_lines()]
        xy = np.vstack(points)
        assert len(xy) >= 3
        inside = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
        assert not inside.any(), xy[inside]
        assert not box.overlaps(ax.get_window_extent())  # beside the axes, not over them


def test_each_point_is_identifiable_by_colour_and_marker() -> None:
    ax = point_charts(cheap_rows())[0]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    looks = {(tuple(np.round(c.get_facecolor()[0][:3], 3)), c.get_paths()[0].vertices.tobytes()) for c in scatters}
    assert len(looks) == len(scatters) == 3  # one look per provider × strategy
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == ["provider", "fireworks", "groq", "openai"]
    assert legend[4:8] == ["strategy", "balanced", "cost", "ttft"]
    assert ax.get_legend().get_texts()[0].get_fontweight() == "bold"
    # the frontier's open diamonds are a marker no call point uses
    assert all(ln.get_marker() == "D" for ln in ax.get_lines() if "Pareto" in str(ln.get_label()))
    assert "D" not in plots.MARKERS


def merged_rows() -> pd.DataFrame:
    rows = []
    for i in range(4):  # two strategies pick groq and land on one point
        rows.append(call(i, "cost" if i < 2 else "cost-focus", "groq", cost=0.001, ttft_c=300 + 20 * (i % 2)))
    rows += [call(4 + i, "ttft", "fireworks", cost=0.006, ttft_c=90 + 20 * i) for i in range(2)]
    return pd.DataFrame(rows)


def test_a_merged_frontier_point_names_every_group_at_it(ax: Axes) -> None:
    plots.cost_vs_ttft(merged_rows(), ax=ax)
    labels = texts(ax)
    assert "cost, cost-focus · groq" in labels and "ttft · fireworks" in labels
    assert len(labels) == 2  # one label per point, not two stacked at the same place
    (front,) = [ln for ln in ax.get_lines() if "Pareto" in str(ln.get_label())]
    assert np.asarray(front.get_xydata()).tolist() == [[0.001, 310.0], [0.001, 310.0], [0.006, 100.0]]


def test_frontier_points_sit_at_the_statistics_their_labels_state(ax: Axes) -> None:
    costs, ttfts = [0.001, 0.001, 0.004], [100.0, 110.0, 400.0]  # mean cost 0.002, p50 TTFT 110 (mean 203.3)
    d = pd.DataFrame([call(i, "cost", "groq", cost=c, ttft_c=t) for i, (c, t) in enumerate(zip(costs, ttfts, strict=True))]
                     + [call(9, "ttft", "fireworks", cost=0.01, ttft_c=50.0)])
    drawn(plots.cost_vs_ttft(d, ax=ax))
    (front,) = [ln for ln in ax.get_lines() if "Pareto" in str(ln.get_label())]
    assert "mean cost, p50 TTFT" in str(front.get_label())
    assert ax.get_xlabel() == "cost per 1k calls ($)" and ax.get_ylabel() == "TTFT, client (ms)"
    assert np.allclose(np.asarray(front.get_xydata()), [[0.002, 110.0], [0.01, 50.0]])
    # read through the axis, the point is at $2 per 1k calls: the group's mean cost × 1000
    assert ax.xaxis.get_major_formatter().format_data_short(0.002) == "$2 per 1k calls"


def test_new_figures_have_a_capped_height_and_hold_their_legend(df: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    for chart in (plots.cost_vs_ttft, plots.pass_rate_vs_cost):
        ax = chart(checked_rows() if chart is plots.pass_rate_vs_cost else df)
        fig = ax.figure
        try:
            assert fig.get_figheight() <= 4.5 and fig.get_figwidth() >= 7
            fig.canvas.draw()  # type: ignore[union-attr]
            box, frame = ax.get_legend().get_window_extent(), fig.bbox  # type: ignore[union-attr]
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 <= box.y0 and box.y1 <= frame.y1 + 1
        finally:
            plt.close(fig)  # type: ignore[arg-type]


def test_the_panel_chart_still_draws(df: pd.DataFrame) -> None:
    from auriko_nb.notebook.widgets._chart import chart_png

    assert chart_png(df).startswith(b"\x89PNG")


def test_strategy_charts_group_by_what_was_asked_with_no_preference_its_own_bar(ax: Axes) -> None:
    """Issue 15, point 1: a call that asked for no strategy is not merged with the strategy the gateway applied."""
    rows = [dict(status="ok", optimize=asked, routing_strategy="cost-focus", provider=p, cost_usd=c, stream=True,
                 ttft_ms_client=100.0, latency_ms=200.0, model_requested="m")
            for asked, p, c in ((None, "groq", 0.001), (None, "groq", 0.003), ("cost-focus", "deepinfra", 0.0005))]
    df = pd.DataFrame(rows)
    plots.cost_by_strategy(df, ax=ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cost-focus", "no preference"]
    assert bar_heights(ax) == pytest.approx([0.0005, 0.002]) and ax.get_xlabel() == "strategy"
    other = plots.provider_share(df)
    assert [t.get_text() for t in other.get_xticklabels()] == ["cost-focus", "no preference"]
    applied = plots.cost_by_strategy(df, by="routing_strategy")  # what the gateway applied, when asked
    assert [t.get_text() for t in applied.get_xticklabels()] == ["cost-focus"]
