"""What-if re-pricing: what the calls in a ledger or comparison would have cost at each provider of the same model,
from their real prompt, cached and completion tokens at the directory's prices, and under each strategy's choice.

Nothing is guessed: a provider that does not serve a model is marked `served=False` and gets no price, and a
strategy that was not observed for a model is marked `not observed`. The rows are reduced in one vectorised
pass (integer keys and `numpy.bincount`), so a million rows take well under a second; the rest works on the
few (model, strategy, provider) groups.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from ..errors import AnalysisError
from ..types.catalog import Directory, DirectoryProvider, PriceTier
from ..types.request import STRATEGIES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["reprice", "Repricing", "DEFAULT_STRATEGY", "PINNED"]

DEFAULT_STRATEGY = "default"  # the label of rows that asked for no strategy
PINNED = "pinned"  # rows that chose their providers themselves: no strategy chose them
_SUMS = ("calls", "with_tokens", "prompt", "cached", "completion", "paid", "costed", "prompt_c", "cached_c",
         "completion_c")
TABLE_COLUMNS = ("model", "provider", "served", "priced", "tier", "input_price", "output_price", "cache_read_price",
                 "calls", "observed_calls", "prompt_tokens", "cached_tokens", "completion_tokens",
                 "cost_at_prices_usd", "paid_usd", "savings_usd", "no_cost_calls")
STRATEGY_COLUMNS = ("model", "strategy", "status", "choice", "observed_calls", "calls", "cost_at_prices_usd",
                    "paid_usd", "savings_usd")
TOTAL_COLUMNS = ("scenario", "kind", "name", "models", "models_missing", "calls", "cost_at_prices_usd", "paid_usd",
                 "savings_usd", "complete")


# -- input --------------------------------------------------------------------------------------------------------

def _frame(rows: Any) -> pd.DataFrame:
    """The rows of a DataFrame, a Comparison (`.rows`) or a Ledger (`.to_dataframe()`)."""
    if isinstance(rows, pd.DataFrame):
        df = rows
    elif isinstance(getattr(rows, "rows", None), pd.DataFrame):
        df = rows.rows
    elif callable(getattr(rows, "to_dataframe", None)):
        df = rows.to_dataframe()
    else:
        raise AnalysisError(f"reprice takes a DataFrame, Comparison or Ledger of call rows, not {type(rows).__name__}")
    if df.empty:
        raise AnalysisError("reprice: there are no rows to re-price")
    missing = [c for c in ("prompt_tokens", "completion_tokens") if c not in df.columns]
    if "model_canonical" not in df.columns and "model_requested" not in df.columns:
        missing.append("model_canonical or model_requested")
    if missing:
        raise AnalysisError(f"reprice: the rows have no {', '.join(missing)} column")
    return df


def _names(value: Any, what: str) -> list[str] | None:
    """None, or `value` (a name or a list of names) as a non-empty list of strings (None in a strategy list
    stands for the default strategy)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not items:
        raise AnalysisError(f"reprice: {what} must be a name or a non-empty list of names, got {value!r}")
    out = []
    for item in items:
        if item is None and what == "strategies":
            item = DEFAULT_STRATEGY
        if not isinstance(item, str) or not item:
            raise AnalysisError(f"reprice: {what} must be names (text), got {item!r}")
        out.append(item)
    return list(dict.fromkeys(out))


def _pins_providers(routing_json: str) -> bool:
    """Whether a row's routing (as the record stores it, JSON) names its own providers."""
    try:
        routing = json.loads(routing_json)
    except ValueError:
        return False
    return isinstance(routing, dict) and bool(routing.get("providers"))


def _strategy_column(df: pd.DataFrame) -> pd.Series | None:
    """The strategy each row asked for (`optimize`); a row that pinned its providers (`routing.providers`, no
    strategy) is `pinned`, never counted as a strategy's choice. Ledgers without `optimize` fall back to the
    strategy the gateway applied."""
    if "optimize" not in df.columns or not df["optimize"].notna().any():
        return df["routing_strategy"] if "routing_strategy" in df.columns else None
    asked = df["optimize"].astype("object")
    if "routing" in df.columns:
        no_strategy = asked.isna() & df["routing"].notna()
        if no_strategy.any():
            routing = df.loc[no_strategy, "routing"].astype(str)
            pinned = routing.map({r: _pins_providers(r) for r in routing.unique()})  # parsed once per distinct value
            asked = asked.copy()
            asked.loc[pinned[pinned].index] = PINNED
    return asked


def _directory(directory: Any, client: Any) -> Directory:
    """`directory=` (a Directory or its JSON as a dict), else `client.directory()`, else the session's client's."""
    if directory is not None:
        if isinstance(directory, Directory):
            return directory
        if isinstance(directory, Mapping):
            try:
                return Directory.model_validate(directory)
            except ValidationError as e:
                raise AnalysisError(f"reprice: directory= is not a directory: {e.errors()[0]['msg']}") from None
        raise AnalysisError(f"reprice: directory= must be a Directory (client.directory()), not "
                            f"{type(directory).__name__}")
    from ..client.clients import AsyncClient

    if isinstance(client, AsyncClient):
        raise AnalysisError("reprice needs a sync Client or directory=(await client.directory()), not an AsyncClient")
    if client is None:
        from ..notebook.connect import connect  # no client given: the session's (as `compare` does)

        own = connect()
        try:
            return own.directory()
        finally:
            own.close()
    if not callable(getattr(client, "directory", None)):
        raise AnalysisError(f"reprice: client= must be an auriko_nb Client, not {type(client).__name__}")
    found = client.directory()
    if not isinstance(found, Directory):
        raise AnalysisError(f"reprice: client.directory() returned {type(found).__name__}, not a Directory")
    return found


# -- one pass over the rows ------------------------------------------------------------------------------------

def _codes(s: pd.Series | None, n: int) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of a key column and the value of each code (the last one, None, for missing values)."""
    if s is None:
        return np.zeros(n, dtype=np.int64), [None]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64)
        values = list(s.cat.categories)
    else:
        raw, uniques = pd.factorize(s)
        codes, values = raw.astype(np.int64), list(uniques)
    codes[codes < 0] = len(values)
    return codes, [*values, None]


def _number(df: pd.DataFrame, col: str) -> np.ndarray:
    """`df[col]` as float64 (NaN where missing or not a number; all NaN when there is no such column)."""
    if col not in df.columns:
        return np.full(len(df), np.nan)
    s = df[col]
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        s = pd.to_numeric(s.astype("object"), errors="coerce")
    return s.to_numpy(dtype="float64", na_value=np.nan)


def _weights(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per row: 1, priced (has prompt and completion tokens), its tokens and cost (0 where not counted)."""
    prompt, completion = _number(df, "prompt_tokens"), _number(df, "completion_tokens")
    cost = _number(df, "cost_usd")
    priced = ~np.isnan(prompt) & ~np.isnan(completion)
    costed = priced & ~np.isnan(cost)
    prompt, completion = np.where(priced, prompt, 0.0), np.where(priced, completion, 0.0)
    cached = np.minimum(np.nan_to_num(_number(df, "cached_tokens"), nan=0.0), prompt)
    return {"calls": np.ones(len(df)), "with_tokens": priced.astype(float), "prompt": prompt, "cached": cached,
            "completion": completion, "paid": np.where(costed, cost, 0.0), "costed": costed.astype(float),
            "prompt_c": np.where(costed, prompt, 0.0), "cached_c": np.where(costed, cached, 0.0),
            "completion_c": np.where(costed, completion, 0.0)}


def _groups(df: pd.DataFrame) -> pd.DataFrame:
    """Sums of `_weights` per (model_canonical, model_requested, strategy, provider): a few rows for any number of
    calls."""
    n = len(df)
    keys = {"model_canonical": df.get("model_canonical"), "model_requested": df.get("model_requested"),
            "strategy": _strategy_column(df), "provider": df.get("provider")}
    coded = {k: _codes(s, n) for k, s in keys.items()}
    combined = np.zeros(n, dtype=np.int64)
    for codes, values in coded.values():
        combined = combined * len(values) + codes
    inverse, uniques = pd.factorize(combined, sort=False)
    out: dict[str, Any] = {}
    rest = np.asarray(uniques, dtype=np.int64)
    for k in reversed(list(coded)):
        codes, values = coded[k]
        rest, own = np.divmod(rest, len(values))
        out[k] = [values[i] for i in own]
    weights = _weights(df)
    for name in _SUMS:
        out[name] = np.bincount(inverse, weights=weights[name], minlength=len(uniques))
    return pd.DataFrame(out)


def _label(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)


def _resolve(groups: pd.DataFrame, directory: Directory) -> pd.DataFrame:
    """Each group's model: the canonical id the directory gives `model_canonical` (else `model_requested`)."""
    pairs = zip(groups["model_canonical"], groups["model_requested"], strict=True)
    names = [_label(c) or _label(r) or "unknown" for c, r in pairs]
    memo = {name: directory.resolve(name) for name in set(names)}
    groups = groups.drop(columns=["model_canonical", "model_requested"])
    groups.insert(0, "model", [memo[n] or n for n in names])
    groups.insert(1, "known", [memo[n] is not None for n in names])
    groups["strategy"] = [_label(s) or DEFAULT_STRATEGY for s in groups["strategy"]]
    groups["provider"] = [_label(p) for p in groups["provider"]]
    return groups


# -- prices ------------------------------------------------------------------------------------------------------

def _tier_of(offer: DirectoryProvider, tier: str) -> PriceTier | None:
    """The offer's tier of that name (for "standard", its first tier when none has the name), else None."""
    found = offer.tier(tier)
    return found if found is not None and (found.name == tier or tier == "standard") else None


def _prices(directory: Directory, models: Sequence[str], providers: Sequence[str], tier: str) -> pd.DataFrame:
    """model × provider: whether the provider serves the model, and its prices in that tier (USD per 1M tokens)."""
    rows = []
    for model in models:
        offers = {o.provider: o for o in directory.models[model].providers} if model in directory.models else {}
        for provider in providers:
            offer = offers.get(provider)
            t = _tier_of(offer, tier) if offer is not None else None
            inp, out = (t.input_price, t.output_price) if t is not None else (None, None)
            rows.append({"model": model, "provider": provider, "served": offer is not None,
                         "priced": inp is not None and out is not None,
                         "tier": t.name if t is not None else None, "input_price": inp, "output_price": out,
                         "cache_read_price": t.cache_read_price if t is not None else None})
    frame = pd.DataFrame(rows, columns=["model", "provider", "served", "priced", "tier", "input_price", "output_price",
                                        "cache_read_price"])
    for col in ("input_price", "output_price", "cache_read_price"):
        frame[col] = frame[col].astype("float64")
    return frame


def _cost(frame: pd.DataFrame, suffix: str = "") -> pd.Series:
    """USD of the summed tokens at the frame's prices; cached tokens at the cache-read price when there is one."""
    cache = frame["cache_read_price"].fillna(frame["input_price"])
    uncached = frame["prompt" + suffix] - frame["cached" + suffix]
    usd = (uncached * frame["input_price"] + frame["cached" + suffix] * cache
           + frame["completion" + suffix] * frame["output_price"]) / 1e6
    return usd.where(frame["priced"])


def _directory_providers(directory: Directory) -> list[str]:
    return sorted({o.provider for m in directory.models.values() for o in m.providers})


def _check_tier(directory: Directory, tier: Any) -> str:
    names = {t.name for m in directory.models.values() for o in m.providers for t in o.tiers} | {"standard"}
    if not isinstance(tier, str) or tier not in names:
        raise AnalysisError(f"reprice: unknown tier {tier!r}; the directory's tiers: {', '.join(sorted(names))}")
    return tier


def _check_providers(directory: Directory, providers: list[str] | None) -> list[str] | None:
    if providers is None:
        return None
    known = _directory_providers(directory)
    unknown = [p for p in providers if p not in known]
    if unknown:
        raise AnalysisError(f"reprice: unknown provider {', '.join(map(repr, unknown))} (not in the directory); "
                            f"known: {', '.join(known)}")
    return providers


def _check_strategies(strategies: list[str] | None, observed: Sequence[str]) -> list[str]:
    if strategies is None:
        return sorted(set(observed) - {PINNED})
    known = set(STRATEGIES) | {"custom", DEFAULT_STRATEGY} | set(observed)
    unknown = [s for s in strategies if s not in known]
    if unknown:
        raise AnalysisError(f"reprice: unknown strategy {', '.join(map(repr, unknown))}; known: "
                            f"{', '.join(sorted(known))}")
    return strategies


# -- the tables --------------------------------------------------------------------------------------------------

def _full_table(groups: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """model × provider (every provider considered, also one only a strategy chose): tokens, costs, savings.

    `savings_usd` compares what was paid with the cost of the same rows (those that reported a cost) at the
    provider's prices: positive means the provider would have been cheaper."""
    per_model = groups.groupby("model", sort=True)[list(_SUMS)].sum().reset_index()
    per_model = per_model[per_model["with_tokens"] > 0]
    served = groups[groups["provider"].notna()].groupby(["model", "provider"])["with_tokens"].sum()
    t = prices.merge(per_model, on="model", how="inner")
    t = t.merge(served.rename("observed_calls").reset_index(), on=["model", "provider"], how="left")
    t["observed_calls"] = t["observed_calls"].fillna(0).astype("int64")
    t["cost_at_prices_usd"] = _cost(t)
    t["compared_usd"] = _cost(t, "_c")
    t["savings_usd"] = t["paid"] - t["compared_usd"]
    t["calls"] = t["with_tokens"].astype("int64")
    t["no_cost_calls"] = (t["with_tokens"] - t["costed"]).astype("int64")
    for col in ("prompt", "cached", "completion"):
        t[f"{col}_tokens"] = t[col].astype("int64")
    return t.rename(columns={"paid": "paid_usd"})


def _choice_text(obs: pd.DataFrame) -> pd.Series:
    """Per (model, strategy): the providers it chose with their shares, e.g. "groq 75%, together 25%"."""
    ordered = obs.sort_values(["model", "strategy", "share", "provider"], ascending=[True, True, False, True])
    parts = ordered["provider"] + " " + (ordered["share"] * 100).round().astype("int64").astype(str) + "%"
    return parts.groupby([ordered["model"], ordered["strategy"]]).agg(", ".join).rename("choice")


def _by_strategy(groups: pd.DataFrame, full: pd.DataFrame, strategies: Sequence[str]) -> pd.DataFrame:
    """model × strategy: the cost of all the model's rows at the providers the strategy chose for that model in
    the rows (weighted by their observed shares); `not observed` / `not priced` where that cannot be known."""
    obs = groups[groups["provider"].notna() & (groups["with_tokens"] > 0)]
    obs = obs.groupby(["model", "strategy", "provider"])["with_tokens"].sum().rename("n").reset_index()
    obs["share"] = obs["n"] / obs.groupby(["model", "strategy"])["n"].transform("sum")
    obs = obs.merge(full[["model", "provider", "priced", "cost_at_prices_usd", "compared_usd"]],
                    on=["model", "provider"], how="left")
    obs["priced"] = obs["priced"].astype("boolean").fillna(False).astype(bool)
    obs["w_cost"] = obs["share"] * obs["cost_at_prices_usd"]
    obs["w_compared"] = obs["share"] * obs["compared_usd"]
    agg = obs.groupby(["model", "strategy"]).agg(observed_calls=("n", "sum"), all_priced=("priced", "all"),
                                                 cost=("w_cost", "sum"), compared=("w_compared", "sum"))
    agg = agg.join(_choice_text(obs)).reset_index()
    per_model = full.drop_duplicates("model")[["model", "calls", "paid_usd"]]
    grid = pd.MultiIndex.from_product([per_model["model"], list(strategies)], names=["model", "strategy"])
    out = grid.to_frame(index=False).merge(per_model, on="model").merge(agg, on=["model", "strategy"], how="left")
    seen = out["observed_calls"].fillna(0) > 0
    priced = seen & out["all_priced"].astype("boolean").fillna(False).astype(bool)
    out["status"] = np.where(priced, "observed", np.where(seen, "not priced", "not observed"))
    out["observed_calls"] = out["observed_calls"].fillna(0).astype("int64")
    out["cost_at_prices_usd"] = out["cost"].where(priced)
    out["savings_usd"] = (out["paid_usd"] - out["compared"]).where(priced)
    out["choice"] = out["choice"].where(seen, None)
    return out[list(STRATEGY_COLUMNS)]


def _totals(table: pd.DataFrame, by_strategy: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: as paid, each provider (the models it prices), the cheapest provider per model, and
    each strategy (the models it was observed for); `complete` when the scenario covers every model."""
    n_models = table["model"].nunique()
    paid = table.drop_duplicates("model")
    first = pd.DataFrame({"scenario": ["as paid"], "kind": ["paid"], "name": [None], "models": [n_models],
                          "calls": [paid["calls"].sum()], "cost_at_prices_usd": [paid["paid_usd"].sum()],
                          "paid_usd": [paid["paid_usd"].sum()], "savings_usd": [0.0]})
    priced = table[table["priced"]]
    cheapest = priced.loc[priced.groupby("model")["cost_at_prices_usd"].idxmin()].assign(provider="")
    observed = by_strategy[by_strategy["status"] == "observed"]
    parts = [first, _sums(priced, "provider", "provider", sorted(set(table["provider"]))),
             _sums(cheapest, "provider", "cheapest", [""]),
             _sums(observed, "strategy", "strategy", list(dict.fromkeys(by_strategy["strategy"])))]
    out = pd.concat(parts, ignore_index=True)
    out.loc[out["kind"] == "cheapest", ["scenario", "name"]] = "cheapest provider per model"
    out["models"] = out["models"].astype("int64")
    out["models_missing"] = n_models - out["models"]
    out["calls"] = out["calls"].astype("int64")
    out["complete"] = out["models_missing"] == 0
    none = out["models"] == 0  # nothing to compare: no number rather than a misleading $0
    out.loc[none, ["cost_at_prices_usd", "paid_usd", "savings_usd"]] = np.nan
    return out[list(TOTAL_COLUMNS)]


def _sums(frame: pd.DataFrame, key: str, kind: str, names: list[str]) -> pd.DataFrame:
    """Per value of `key` (every one of `names`, also those with no rows): models, calls, cost, paid, savings."""
    agg = frame.groupby(key).agg(models=("model", "nunique"), calls=("calls", "sum"),
                                 cost_at_prices_usd=("cost_at_prices_usd", "sum"), paid_usd=("paid_usd", "sum"),
                                 savings_usd=("savings_usd", "sum"))
    agg = agg.reindex(names).fillna({"models": 0, "calls": 0}).reset_index(names="name")
    agg.insert(0, "kind", kind)
    agg.insert(0, "scenario", kind + " " + agg["name"].astype(str))
    return agg


# -- the result --------------------------------------------------------------------------------------------------

@dataclass
class Repricing:
    """What the calls would have cost at each provider's directory prices and under each strategy's choice.

    `table`: model × provider (`served`, prices, tokens, `cost_at_prices_usd`, `paid_usd`, `savings_usd`);
    `by_strategy`: model × strategy; `totals`: one row per scenario. Savings are what was paid minus the cost at
    the prices, over the rows that reported a cost: positive means the alternative is cheaper.
    """

    table: pd.DataFrame
    by_strategy: pd.DataFrame
    totals: pd.DataFrame
    tier: str = "standard"
    calls: int = 0
    priced_calls: int = 0
    unpriced_calls: int = 0
    no_cost_calls: int = 0
    unknown_models: list[str] = field(default_factory=list)

    @property
    def paid_usd(self) -> float:
        """What the priced calls cost as reported (rows without a reported cost count 0)."""
        return float(self.totals["paid_usd"].iloc[0])

    def headline(self) -> str:
        """One line: how many calls were priced, what was paid, and the cheapest complete alternative."""
        parts = [f"Re-pricing {self.calls:,} calls at {self.tier!r} directory prices: {self.priced_calls:,} priced"]
        if self.unpriced_calls:
            parts.append(f"{self.unpriced_calls:,} without tokens (errors, cancelled) not priced")
        if self.no_cost_calls:
            parts.append(f"{self.no_cost_calls:,} reported no cost")
        if self.unknown_models:
            parts.append(f"not in the directory: {', '.join(self.unknown_models)}")
        text = "; ".join(parts) + f". Paid ${self.paid_usd:.6g}"
        best = self.totals[(self.totals["kind"] != "paid") & self.totals["complete"]]
        if not best.empty:
            row = best.loc[best["cost_at_prices_usd"].idxmin()]
            text += f"; cheapest: {row['scenario']} ${row['cost_at_prices_usd']:.6g} (saves ${row['savings_usd']:.6g})"
        return text + "."

    def plot(self, ax: Axes | None = None) -> Axes:
        """Bars per model: the cost at each provider's prices (× where it does not serve the model) next to what
        was paid; returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(8, 4.5))
        import matplotlib

        models = list(dict.fromkeys(self.table["model"]))
        providers = sorted(set(self.table["provider"]))
        cmap = matplotlib.colormaps["tab10" if len(providers) < 10 else "tab20"]
        width = 0.8 / (len(providers) + 1)
        x = np.arange(len(models))
        paid = self.table.drop_duplicates("model").set_index("model")["paid_usd"].reindex(models)
        ax.bar(x - 0.4 + width / 2, paid.to_numpy(), width, color="0.25", label="paid")
        for i, provider in enumerate(providers):
            rows = self.table[self.table["provider"] == provider].set_index("model").reindex(models)
            pos = x - 0.4 + width * (i + 1.5)
            cost = rows["cost_at_prices_usd"].to_numpy(dtype="float64", na_value=np.nan)
            ax.bar(pos, np.nan_to_num(cost), width, color=cmap(i % cmap.N), label=provider)
            missing = np.isnan(cost)
            ax.scatter(pos[missing], np.zeros(int(missing.sum())), marker="x", color=cmap(i % cmap.N), zorder=3)
        ax.set_xticks(x, models, rotation=20 if len(models) > 3 else 0, ha="right" if len(models) > 3 else "center")
        ax.set_ylabel("USD")
        ax.set_title(f"Paid vs. cost at each provider's {self.tier} prices (× = not served or no price)")
        ax.legend(fontsize="small", ncol=2)
        return ax

    def __str__(self) -> str:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            return "\n\n".join([self.headline(), self.totals.to_string(index=False),
                                self.table[list(TABLE_COLUMNS)].to_string(index=False),
                                self.by_strategy.to_string(index=False)])

    __repr__ = __str__  # a terminal or a notebook's plain text shows the tables, not the dataclass fields

    def _repr_html_(self) -> str:
        totals = self.totals[["scenario", "models", "models_missing", "calls", "cost_at_prices_usd", "paid_usd",
                              "savings_usd"]]
        table = self.table[["model", "provider", "served", "tier", "calls", "observed_calls", "cost_at_prices_usd",
                            "paid_usd", "savings_usd"]]
        parts = [f"<b>{html.escape(self.headline())}</b>"]
        for title, frame in (("Totals", totals), ("Per model and provider", table),
                             ("Under each strategy's choice", self.by_strategy)):
            parts.append(f"<h4>{title}</h4>" + frame.to_html(index=False, na_rep="–", float_format="{:.6g}".format))
        return "\n".join(parts)


def reprice(rows: Any, *, directory: Directory | Mapping[str, Any] | None = None, client: Any = None,
            providers: str | Sequence[str] | None = None, strategies: str | Sequence[str | None] | None = None,
            tier: str = "standard") -> Repricing:
    """What the calls (a DataFrame, Comparison or Ledger) would have cost at each provider of their model, at the
    directory's `tier` prices, from their real prompt, cached and completion tokens; and under each strategy's
    choice (the providers it chose for that model in the rows). The directory comes from `directory=`, else
    `client.directory()`, else the session's client. `providers=` limits the providers priced; `strategies=` the
    strategies evaluated (default: those in the rows; `None`/"default" = no strategy asked for).
    """
    df = _frame(rows)
    wanted_providers = _names(providers, "providers")
    groups = _groups(df)
    strategy_labels = [_label(s) or DEFAULT_STRATEGY for s in groups["strategy"]]
    wanted = _check_strategies(_names(strategies, "strategies"), strategy_labels)
    found = _directory(directory, client)
    tier = _check_tier(found, tier)
    chosen = _check_providers(found, wanted_providers)
    groups = _resolve(groups, found)
    models = sorted(set(groups.loc[groups["with_tokens"] > 0, "model"]))
    offered = {o.provider for m in models if m in found.models for o in found.models[m].providers}
    observed = set(groups["provider"].dropna())
    universe = sorted(offered | observed | set(chosen or ()))
    full = _full_table(groups, _prices(found, models, universe, tier))
    by_strategy = _by_strategy(groups, full, wanted)
    table = full[full["provider"].isin(chosen if chosen is not None else sorted(offered | observed))]
    table = table.sort_values(["model", "served", "cost_at_prices_usd"], ascending=[True, False, True])
    table = table.reset_index(drop=True)
    with_tokens = int(groups["with_tokens"].sum())
    unknown = sorted(set(groups.loc[~groups["known"] & (groups["with_tokens"] > 0), "model"]))
    return Repricing(table=table[list(TABLE_COLUMNS)].copy(), by_strategy=by_strategy,
                     totals=_totals(table, by_strategy), tier=tier, calls=len(df), priced_calls=with_tokens,
                     unpriced_calls=len(df) - with_tokens, no_cost_calls=int((groups["with_tokens"]
                                                                              - groups["costed"]).sum()),
                     unknown_models=unknown)
