"""Charts of call rows: cost against TTFT with the Pareto frontier, TTFT spread, cost and provider share by
strategy, spend over time. Each takes a DataFrame of records and an optional `ax=`, and returns the Axes;
matplotlib is imported only when a chart is drawn.

TTFT comes from streamed calls only; when the rows have none, the TTFT charts plot latency instead and say so
on the axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .analysis import MODEL, as_frame, pareto, streamed, summarize, varying_axes
from .ledger import coerce_types

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["cost_vs_ttft", "pass_rate_vs_cost", "ttft_distribution", "cost_by_strategy", "provider_share",
           "spend_over_time"]

NO_OK_CALLS = "no successful calls to plot"
UNKNOWN = "unknown"


def _axes(ax: Axes | None) -> Axes:
    """The given Axes, or a new figure's (pyplot, so a notebook shows it inline)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=(7, 4.5))
    return new_ax


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
    """`d[col]` as text labels, 'unknown' where missing (or for every row when the column is absent)."""
    if col not in d.columns:
        return pd.Series(UNKNOWN, index=d.index, dtype="object")
    return d[col].astype("object").where(d[col].notna(), UNKNOWN).astype(str)


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
    """Each ok call as a point (cost, TTFT), one colour per provider, with one Pareto frontier per model of the
    `by` groups (default: the axes that vary among model, strategy and provider) as labelled step lines.

    With `ci` (e.g. 0.95), each group also gets interval bars at (mean cost, p50 TTFT): x the mean cost's
    bootstrap interval, y the p50's (see `summarize`). TTFT is that of the streamed calls; with none, the chart
    uses latency and its axis label says so."""
    _check_ttft(ttft)
    df = as_frame(df)
    ax = _axes(ax)
    ok = _ok(df)
    t, ylabel, ycol = _timing(ok, ttft)
    metric = "TTFT" if ycol.startswith("ttft") else "latency"
    title = f"Cost vs time to first token ({ttft} side)" if metric == "TTFT" else "Cost vs latency"
    _decorate(ax, title, "cost per call (USD)", ylabel)
    cost = _number(ok, "cost_usd")
    keep = (cost.notna() & t.notna()).to_numpy()
    if not keep.any():
        return _message(ax)
    providers = _labels(ok, "provider")[keep]
    colours = _colours(sorted(set(providers)))
    for name in sorted(colours):
        mask = (providers == name).to_numpy()
        ax.scatter(cost[keep][mask], t[keep][mask], s=18, alpha=0.6, color=colours[name], label=name)
    keys = list(by) if by is not None else varying_axes(df)
    _frontiers(ax, df, ycol, metric, keys)
    if ci is not None:
        _interval_bars(ax, summarize(df, by=keys, ci=ci), "cost_mean_usd", ycol,
                       f"{ci:.0%} intervals (mean cost, p50 {metric})")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return ax


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
    """One Pareto step line per model (mean cost, p50 time) over the `keys` groups, each point labelled."""
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
                marker="D", ms=5, label=label)
        shown = [k for k in keys if k in g.columns and not (per and k in per and len(groups) == 1)]
        for _, r in g.iterrows():
            text = " · ".join(UNKNOWN if pd.isna(r[k]) else str(r[k]) for k in shown)
            ax.annotate(text, (r["cost_mean_usd"], r[ycol]), xytext=(4, 4), textcoords="offset points", fontsize=8)


def pass_rate_vs_cost(df: pd.DataFrame, ax: Axes | None = None, ci: float | None = 0.95,
                      by: Sequence[str] | None = None) -> Axes:
    """Each group's pass rate (of its checked calls) against its mean cost per call, with Wilson interval bars at
    level `ci` (none with `ci=None`); groups are `by` (default: the axes that vary), each point labelled."""
    df = as_frame(df)
    ax = _axes(ax)
    _decorate(ax, "Pass rate vs cost", "mean cost per call (USD)", "pass rate (checked calls)")
    keys = list(by) if by is not None else varying_axes(df)
    s = summarize(df, by=keys, ci=ci)
    s = s[((s["checked"] > 0) & s["cost_mean_usd"].notna()).to_numpy()]
    if s.empty:
        return _message(ax, "no checked calls with a cost to plot")
    labels = [" · ".join(UNKNOWN if pd.isna(r[k]) else str(r[k]) for k in keys) for _, r in s.iterrows()]
    colours = _colours(labels)
    for label, (_, r) in zip(labels, s.iterrows(), strict=True):
        ax.scatter([r["cost_mean_usd"]], [r["pass_rate"]], s=36, color=colours[label], label=label, zorder=3)
        ax.annotate(f"{label} (n={int(r['checked'])})", (r["cost_mean_usd"], r["pass_rate"]), xytext=(4, 4),
                    textcoords="offset points", fontsize=8)
    if ci is not None:
        _interval_bars(ax, s, "cost_mean_usd", "pass_rate", f"{ci:.0%} Wilson intervals", x_bars=False)
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8, loc="best")
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


def cost_by_strategy(df: pd.DataFrame, ax: Axes | None = None, by: str = "routing_strategy") -> Axes:
    """A bar of mean cost per ok call for each strategy, annotated with the strategy's total spend."""
    df = as_frame(df)
    ax = _axes(ax)
    _decorate(ax, f"Cost by {by.replace('_', ' ')}", by.replace("_", " "), "mean cost per call (USD)")
    d = coerce_types(df)
    if by not in d.columns:
        d = d.assign(**{by: pd.Series(np.nan, index=d.index, dtype="object")})
    s = summarize(d, by=by)
    s = s[s["cost_mean_usd"].notna()]
    if s.empty:
        return _message(ax)
    names = [UNKNOWN if pd.isna(v) else str(v) for v in s[by]]
    bars = ax.bar(names, s["cost_mean_usd"], color="tab:blue", alpha=0.8)
    ax.bar_label(bars, labels=[f"total ${v:.4g}" for v in s["cost_total_usd"]], fontsize=8, padding=2)
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    return ax


def provider_share(df: pd.DataFrame, by: str = "routing_strategy", ax: Axes | None = None) -> Axes:
    """Stacked bars: for each strategy (or `by` group), the percentage of its ok calls each provider served."""
    df = as_frame(df)
    ax = _axes(ax)
    _decorate(ax, f"Provider share by {by.replace('_', ' ')}", by.replace("_", " "), "share of ok calls (%)")
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
