"""Charts of call rows: cost against TTFT with the Pareto frontier, TTFT spread, cost and provider share by
strategy, spend over time. Each takes a DataFrame of records and an optional `ax=`, and returns the Axes;
matplotlib is imported only when a chart is drawn.

TTFT comes from streamed calls only; when the rows have none, the TTFT charts plot latency instead and say so
on the axis. Cost axes read in $ per 1k calls (the data stays in USD per call; only the tick text is scaled), and
the point charts colour by provider and mark by the other axes, with the legend beside the axes, never over a point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .analysis import (
    MODEL,
    NO_PREFERENCE,
    PROMPT,
    PROVIDER,
    STRATEGY,
    as_frame,
    pareto,
    streamed,
    summarize,
    varying_axes,
)
from .ledger import coerce_types

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["cost_vs_ttft", "pass_rate_vs_cost", "ttft_distribution", "cost_by_strategy", "provider_share",
           "spend_over_time"]

NO_OK_CALLS = "no successful calls to plot"
UNKNOWN = "unknown"
COST_LABEL = "cost per 1k calls ($)"  # a call's cost × 1000; a group's mean cost × 1000 (its spend per 1k calls)
FIGSIZE = (8.0, 4.2)  # a new figure: room for the legend beside the axes, its height capped to fit a screen
MARKERS = ("o", "s", "^", "v", "P", "X", "*", "<", ">", "p", "h", "8")  # no "D": diamonds mark frontier points
_AXIS_NAMES = {MODEL: "model", STRATEGY: "strategy", "routing_strategy": "strategy", PROVIDER: "provider",
               PROMPT: "prompt"}


def _axes(ax: Axes | None) -> Axes:
    """The given Axes, or a new figure's (pyplot, so a notebook shows it inline; constrained layout, so the
    legend beside the axes fits in the figure)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    return new_ax


def _decimals(step: float) -> int:
    """The fewest decimals that write `step` exactly (0.25 -> 2, 5 -> 0), at most 12."""
    for d in range(13):
        if abs(round(step, d) - step) <= abs(step) * 1e-6:
            return d
    return 12


def _per_thousand(locs: Sequence[float], x: float) -> str:
    """The tick text at `x` USD per call as plain $ per 1k calls, with the decimals the tick step needs."""
    v = float(x) * 1000
    scaled = np.sort(np.asarray(locs, dtype="float64")) * 1000
    steps = np.diff(scaled)
    steps = steps[steps > 0]
    d = _decimals(float(steps.min())) if len(steps) else _decimals(float(f"{v:.3g}"))
    text = f"{v:.{d}f}"
    return f"{0.0:.{d}f}" if float(text) == 0 else text


def _cost_axis(axis: Any) -> None:
    """Show a USD-per-call axis (`ax.xaxis`) in $ per 1k calls: no offset, no scientific notation."""
    from matplotlib.ticker import Formatter

    class PerThousand(Formatter):
        ticks: Sequence[float] = ()

        def set_locs(self, locs: Sequence[float]) -> None:
            self.ticks = list(locs)

        def __call__(self, x: float, pos: int | None = None) -> str:
            return _per_thousand(self.ticks, x)

        def format_data_short(self, value: float) -> str:
            return f"${value * 1000:.4g} per 1k calls"

    axis.set_major_formatter(PerThousand())


def _decorate(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _message(ax: Axes, text: str = NO_OK_CALLS) -> Axes:
    """Say why there is no chart, centred, instead of raising on an empty or all-error frame."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    """The typed `ok` rows (every row when there is no status column)."""
    d = coerce_types(df)
    return d[(d["status"] == "ok").to_numpy()] if "status" in d.columns else d


def _labels(d: pd.DataFrame, col: str) -> pd.Series:
    """`d[col]` as text labels, 'unknown' where missing (or for every row when the column is absent); a strategy
    that was not asked for reads 'no preference'."""
    if col not in d.columns:
        return pd.Series(UNKNOWN, index=d.index, dtype="object")
    missing = NO_PREFERENCE if col == STRATEGY else UNKNOWN
    return d[col].astype("object").where(d[col].notna(), missing).astype(str)


def _strategy_by(df: pd.DataFrame) -> str:
    """Group by the strategy the user asked for (`optimize`, "no preference" its own group) when the rows say;
    older rows without it by the strategy the gateway applied."""
    return STRATEGY if STRATEGY in df.columns and df[STRATEGY].notna().any() else "routing_strategy"


def _number(d: pd.DataFrame, col: str) -> pd.Series:
    if col not in d.columns:
        return pd.Series(np.nan, index=d.index, dtype="float64")
    return pd.to_numeric(d[col], errors="coerce").astype("float64")


def _colours(names: list[str]) -> dict[str, Any]:
    """One stable colour per name (sorted, so a provider keeps its colour across charts of the same frame)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(sorted(names))}


def _check_ttft(ttft: str) -> str:
    if ttft not in ("client", "server"):
        raise ValueError(f"ttft must be 'client' or 'server', not {ttft!r}")
    return ttft


def _timing(ok: pd.DataFrame, ttft: str) -> tuple[pd.Series, str, str]:
    """Per ok call: the TTFT of streamed calls, with its axis label and summary column; or, when no call has
    one, the latency, labelled with the reason there is no TTFT."""
    is_streamed = streamed(ok)
    t = _number(ok, f"ttft_ms_{ttft}").where(is_streamed)
    if t.notna().any():
        return t, f"TTFT, {ttft} (ms)", f"ttft_{ttft}_p50"
    reason = "no streamed calls, so no TTFT" if not is_streamed.any() else f"no {ttft}-side TTFT reported"
    return _number(ok, "latency_ms"), f"latency (ms) — {reason}", "latency_p50"


def cost_vs_ttft(df: pd.DataFrame, ax: Axes | None = None, ttft: str = "client",
                 by: Sequence[str] | None = None, ci: float | None = None) -> Axes:
    """Each ok call as a point (cost, TTFT), coloured by provider and marked by the other `by` axes (default: the
    axes that vary among model, strategy and provider), with one Pareto frontier per model of the `by` groups:
    step lines through open diamonds at each group's (mean cost, p50 TTFT), each naming every group it stands for.

    Cost reads in $ per 1k calls (a group's mean cost × 1000 is its spend per 1k calls). With `ci` (e.g. 0.95),
    each group also gets interval bars at (mean cost, p50 TTFT): x the mean cost's bootstrap interval, y the
    p50's (see `summarize`). TTFT is that of the streamed calls; with none, the chart uses latency and its axis
    label says so. The legend sits beside the axes."""
    _check_ttft(ttft)
    df = as_frame(df)
    ax = _axes(ax)
    ok = _ok(df)
    t, ylabel, ycol = _timing(ok, ttft)
    metric = "TTFT" if ycol.startswith("ttft") else "latency"
    title = f"Cost vs time to first token ({ttft} side)" if metric == "TTFT" else "Cost vs latency"
    _decorate(ax, title, COST_LABEL, ylabel)
    cost = _number(ok, "cost_usd")
    keep = (cost.notna() & t.notna()).to_numpy()
    if not keep.any():
        return _message(ax)
    keys = list(by) if by is not None else varying_axes(df)
    style = _PointStyle(ok[keep], keys)
    for (colour, marker), mask in style.groups():
        ax.scatter(cost[keep][mask], t[keep][mask], s=22, alpha=0.7, color=style.colours[colour],
                   marker=style.markers[marker], label=" · ".join(n for n in (colour, marker) if n), zorder=2)
    _frontiers(ax, df, ycol, metric, keys)
    if ci is not None:
        _interval_bars(ax, summarize(df, by=keys, ci=ci), "cost_mean_usd", ycol,
                       f"{ci:.0%} intervals (mean cost, p50 {metric})")
    _cost_axis(ax.xaxis)
    _legend(ax, style)
    ax.grid(alpha=0.3)
    return ax


class _PointStyle:
    """Which axis colours the points (the provider, else the first key) and which mark them (the other keys),
    with a colour per colour value and a marker per marker value, so every group's points look unlike the rest."""

    def __init__(self, d: pd.DataFrame, keys: Sequence[str]) -> None:
        self.colour_by = PROVIDER if PROVIDER in keys or not keys else keys[0]
        self.marker_by = [k for k in keys if k != self.colour_by]
        self.colour = _labels(d, self.colour_by)
        self.marker = _joined(d, self.marker_by)
        self.colours = _colours(sorted(set(self.colour)))
        self.markers = {n: MARKERS[i % len(MARKERS)] for i, n in enumerate(sorted(set(self.marker)))}

    def groups(self) -> list[tuple[tuple[str, str], np.ndarray]]:
        """Each (colour value, marker value) with the mask of its rows, in sorted order."""
        out = []
        for c in sorted(self.colours):
            for m in sorted(self.markers):
                mask = ((self.colour == c) & (self.marker == m)).to_numpy()
                if mask.any():
                    out.append(((c, m), mask))
        return out

    def titles(self) -> tuple[str, str]:
        return _axis_name(self.colour_by), " · ".join(_axis_name(k) for k in self.marker_by)


def _axis_name(col: str) -> str:
    return _AXIS_NAMES.get(col, col.replace("_", " "))


def _joined(d: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """Each row's values of `cols` as one label ("cost · gpt-4o"), '' for no columns."""
    if not cols:
        return pd.Series("", index=d.index, dtype="object")
    parts = [_labels(d, c) for c in cols]
    out = parts[0]
    for p in parts[1:]:
        out = out + " · " + p
    return out


def _legend(ax: Axes, style: _PointStyle) -> None:
    """One legend beside the axes (never over a point): a colour section, a marker section (when the markers
    differ), then the labelled lines and bars (frontiers, intervals)."""
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D

    colour_title, marker_title = style.titles()
    handles: list[Any] = [Line2D([], [], ls="", marker="")]
    labels = [colour_title]
    for name, colour in sorted(style.colours.items()):
        handles.append(Line2D([], [], ls="", marker="o", color=colour, ms=6))
        labels.append(name)
    headers = {0}
    if style.marker_by:
        headers.add(len(handles))
        handles.append(Line2D([], [], ls="", marker=""))
        labels.append(marker_title)
        for name, marker in sorted(style.markers.items()):
            handles.append(Line2D([], [], ls="", marker=marker, color="0.35", ms=6))
            labels.append(name)
    for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
        if not isinstance(h, PathCollection):
            handles.append(h)
            labels.append(label)
    legend = ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                       frameon=False, ncols=1 if len(handles) <= 18 else 2)
    for i, text in enumerate(legend.get_texts()):
        if i in headers:
            text.set_fontweight("bold")


def _interval_bars(ax: Axes, s: pd.DataFrame, x: str, y: str, label: str, x_bars: bool = True) -> None:
    """Error bars at each summary row's (x, y) point: from the `_lo` / `_hi` columns (x ones only if `x_bars`)."""
    keep = (s[x].notna() & s[y].notna()).to_numpy()
    if not keep.any():
        return
    s = s[keep]
    yerr = np.vstack([s[y] - s[f"{y}_lo"], s[f"{y}_hi"] - s[y]]).clip(min=0)
    xerr = np.vstack([s[x] - s[f"{x}_lo"], s[f"{x}_hi"] - s[x]]).clip(min=0) if x_bars else None
    ax.errorbar(s[x], s[y], xerr=xerr, yerr=yerr, fmt="none", ecolor="0.3", elinewidth=1, capsize=3, label=label)


def _frontiers(ax: Axes, df: pd.DataFrame, ycol: str, metric: str, keys: list[str]) -> None:
    """One Pareto step line per model through open diamonds at each frontier group's (mean cost, p50 time); each
    point labelled with every group at it (groups that land on one point share one label)."""
    per = [MODEL] if MODEL in df.columns else None
    front = pareto(df, x="cost_mean_usd", y=ycol, by=keys, per=per)
    if front.empty:
        return
    groups = list(front.groupby(per, dropna=False, sort=True)) if per else [((None,), front)]
    styles = ["-", "--", ":", "-."]
    for i, (model, g) in enumerate(groups):
        name = model[0] if isinstance(model, tuple) else model
        label = f"Pareto frontier (mean cost, p50 {metric})" + (f" · {name}" if per and len(groups) > 1 else "")
        ax.step(g["cost_mean_usd"], g[ycol], where="post", color="black", lw=1.2, ls=styles[i % len(styles)],
                marker="D", ms=7, mfc="none", mec="black", mew=1.2, label=label, zorder=3)
    shown = [k for k in keys if k in front.columns and not (per and k in per and len(groups) == 1)]
    for (x, y), rows in front.groupby(["cost_mean_usd", ycol], sort=False):
        ax.annotate(_group_names(rows, shown), (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8,
                    clip_on=True)


def _group_names(rows: pd.DataFrame, keys: Sequence[str]) -> str:
    """The groups of `rows` as one label: per key its distinct values ("cost, cost-focus · groq") when they
    differ in one key only, else each group in full, separated by '; '."""
    values = [[UNKNOWN if pd.isna(v) else str(v) for v in rows[k]] for k in keys]
    distinct = [list(dict.fromkeys(v)) for v in values]
    if sum(len(d) > 1 for d in distinct) <= 1:
        return " · ".join(", ".join(d) for d in distinct)
    return "; ".join(" · ".join(v[i] for v in values) for i in range(len(rows)))


def pass_rate_vs_cost(df: pd.DataFrame, ax: Axes | None = None, ci: float | None = 0.95,
                      by: Sequence[str] | None = None) -> Axes:
    """Each group's pass rate (of its checked calls) against its cost per 1k calls (mean cost × 1000), with
    Wilson interval bars at level `ci` (none with `ci=None`); groups are `by` (default: the axes that vary), each
    point labelled, coloured by provider and marked by the other axes, the legend beside the axes."""
    df = as_frame(df)
    ax = _axes(ax)
    _decorate(ax, "Pass rate vs cost", COST_LABEL, "pass rate (checked calls)")
    keys = list(by) if by is not None else varying_axes(df)
    s = summarize(df, by=keys, ci=ci)
    s = s[((s["checked"] > 0) & s["cost_mean_usd"].notna()).to_numpy()]
    if s.empty:
        return _message(ax, "no checked calls with a cost to plot")
    style = _PointStyle(s, keys)
    labels = _joined(s, keys)  # each point (and its line in a legend of its own) names its group
    for i, (_, r) in enumerate(s.iterrows()):
        colour, marker = style.colour.iloc[i], style.marker.iloc[i]
        ax.scatter([r["cost_mean_usd"]], [r["pass_rate"]], s=40, color=style.colours[colour],
                   marker=style.markers[marker], label=labels.iloc[i], zorder=3)
    for (x, y), rows in s.groupby(["cost_mean_usd", "pass_rate"], sort=False):
        n = ", ".join(str(int(c)) for c in rows["checked"])
        ax.annotate(f"{_group_names(rows, keys)} (n={n})", (x, y), xytext=(5, 4), textcoords="offset points",
                    fontsize=8, clip_on=True)
    if ci is not None:
        _interval_bars(ax, s, "cost_mean_usd", "pass_rate", f"{ci:.0%} Wilson intervals", x_bars=False)
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _cost_axis(ax.xaxis)
    ax.set_ylim(-0.05, 1.05)
    _legend(ax, style)
    ax.grid(alpha=0.3)
    return ax


def ttft_distribution(df: pd.DataFrame, by: str = "provider", ax: Axes | None = None,
                      ttft: str = "client") -> Axes:
    """A box of TTFT (ok streamed calls) per provider or per routing strategy, with the call count under each box.

    With no streamed calls, the boxes are of latency and the axis label says so."""
    _check_ttft(ttft)
    df = as_frame(df)
    ax = _axes(ax)
    ok = _ok(df)
    t, ylabel, ycol = _timing(ok, ttft)
    what = f"TTFT by {by.replace('_', ' ')} ({ttft} side)" if ycol.startswith("ttft") else \
        f"Latency by {by.replace('_', ' ')}"
    _decorate(ax, what, by.replace("_", " "), ylabel)
    groups = {name: s.to_numpy() for name, s in t[t.notna()].groupby(_labels(ok, by)[t.notna()], sort=True)}
    if not groups:
        return _message(ax)
    names = list(groups)
    parts = ax.boxplot([groups[n] for n in names], patch_artist=True, widths=0.6)
    colours = _colours(names)
    for box, name in zip(parts["boxes"], names, strict=True):
        box.set_facecolor(colours[name])
        box.set_alpha(0.7)
    ax.set_xticks(range(1, len(names) + 1), [f"{n}\n(n={len(groups[n])})" for n in names])
    ax.grid(axis="y", alpha=0.3)
    return ax


def cost_by_strategy(df: pd.DataFrame, ax: Axes | None = None, by: str | None = None) -> Axes:
    """A bar of mean cost per ok call for each strategy asked for (or `by`), annotated with its total spend."""
    df = as_frame(df)
    by = by or _strategy_by(df)
    ax = _axes(ax)
    name = _AXIS_NAMES.get(by, by.replace("_", " "))
    _decorate(ax, f"Cost by {name}", name, "mean cost per call (USD)")
    d = coerce_types(df)
    if by not in d.columns:
        d = d.assign(**{by: pd.Series(np.nan, index=d.index, dtype="object")})
    s = summarize(d, by=by)
    s = s[s["cost_mean_usd"].notna()]
    if s.empty:
        return _message(ax)
    missing = NO_PREFERENCE if by == STRATEGY else UNKNOWN
    names = [missing if pd.isna(v) else str(v) for v in s[by]]
    bars = ax.bar(names, s["cost_mean_usd"], color="tab:blue", alpha=0.8)
    ax.bar_label(bars, labels=[f"total ${v:.4g}" for v in s["cost_total_usd"]], fontsize=8, padding=2)
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    return ax


def provider_share(df: pd.DataFrame, by: str | None = None, ax: Axes | None = None) -> Axes:
    """Stacked bars: for each strategy asked for (or `by` group), the percentage of its ok calls each provider
    served."""
    df = as_frame(df)
    by = by or _strategy_by(df)
    ax = _axes(ax)
    name = _AXIS_NAMES.get(by, by.replace("_", " "))
    _decorate(ax, f"Provider share by {name}", name, "share of ok calls (%)")
    ok = _ok(df)
    if ok.empty:
        return _message(ax)
    table = pd.crosstab(_labels(ok, by), _labels(ok, "provider"), normalize="index") * 100
    colours = _colours(list(table.columns))
    bottom = np.zeros(len(table))
    for name in table.columns:
        ax.bar(table.index, table[name].to_numpy(), bottom=bottom, label=name, color=colours[name])
        bottom += table[name].to_numpy()
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, title="provider", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def spend_over_time(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The cumulative cost of every billed call against its start time (UTC), with the total at the end."""
    df = as_frame(df)
    ax = _axes(ax)
    _decorate(ax, "Cumulative spend", "started at (UTC)", "cumulative spend (USD)")
    d = coerce_types(df)
    cost = _number(d, "cost_usd")
    if "started_at" not in d.columns:
        return _message(ax, "no timestamps to plot")
    keep = (cost.notna() & d["started_at"].notna()).to_numpy()
    if not keep.any():
        return _message(ax, "no billed calls to plot")
    times = d.loc[keep, "started_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    order = np.argsort(times.to_numpy(), kind="stable")
    t = times.to_numpy()[order]
    total = np.cumsum(cost[keep].to_numpy()[order])
    ax.plot(t, total, drawstyle="steps-post", color="tab:green", marker=".", ms=3)
    ax.annotate(f"${total[-1]:.4g}", (t[-1], total[-1]), xytext=(4, 0), textcoords="offset points", fontsize=8)
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(alpha=0.3)
    return ax
