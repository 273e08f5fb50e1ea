"""What-if re-pricing (`measure.reprice`): costs at each provider's directory prices from the rows' real tokens
(cache discount, tiers), under each strategy's observed choice, unserved models and unobserved strategies marked,
and one-line errors for bad input before anything is fetched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auriko_nb as ak
from auriko_nb.errors import AnalysisError
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.reprice import Repricing, reprice
from auriko_nb.measure.sweep import compare
from auriko_nb.types.catalog import Directory

KEY = "ak_test_reprice"


def _tier(name: str, inp: float, out: float, cache: float | None = None) -> dict[str, Any]:
    return {"name": name, "input_price": inp, "output_price": out, "cache_read_price": cache}


DIRECTORY = Directory.model_validate({"models": {
    "m1": {"family": "f", "display_name": "M1", "aliases": ["m1-alias"], "providers": [
        {"provider": "pa", "provider_model_id": "m1-pa",
         "tiers": [_tier("standard", 1.0, 2.0, 0.5), _tier("flex", 0.5, 1.0)]},
        {"provider": "pb", "provider_model_id": "m1-pb", "tiers": [_tier("standard", 2.0, 4.0)]}]},
    "m2": {"family": "f", "display_name": "M2", "providers": [
        {"provider": "pb", "provider_model_id": "m2-pb", "tiers": [_tier("standard", 10.0, 20.0, 1.0)]}]},
    "m3": {"family": "f", "display_name": "M3", "providers": [
        {"provider": "pc", "provider_model_id": "m3-pc", "tiers": [_tier("standard", 1.0, 1.0)]}]},
}})


def _rows() -> pd.DataFrame:
    """Four calls: m1 at pa (cached tokens), m1 by its alias at pb (no reported cost), m2 at pb, an m1 error."""
    na = pd.NA
    return pd.DataFrame({
        "model_requested": ["m1", "m1-alias", "m2", "m1"],
        "model_canonical": pd.Categorical(["m1", None, "m2", None]),
        "optimize": pd.Categorical(["cost", "ttft", "cost", "cost"]),
        "provider": pd.Categorical(["pa", "pb", "pb", None]),
        "status": pd.Categorical(["ok", "ok", "ok", "error"]),
        "prompt_tokens": pd.array([1000, 2000, 100, na], dtype="Int64"),
        "cached_tokens": pd.array([400, 0, 0, na], dtype="Int64"),
        "completion_tokens": pd.array([100, 500, 10, na], dtype="Int64"),
        "cost_usd": [0.0009, np.nan, 0.0012, np.nan],
    })


def _cell(r: Repricing, model: str, provider: str) -> pd.Series:
    t = r.table
    return t[(t["model"] == model) & (t["provider"] == provider)].iloc[0]


def _strategy(r: Repricing, model: str, strategy: str) -> pd.Series:
    s = r.by_strategy
    return s[(s["model"] == model) & (s["strategy"] == strategy)].iloc[0]


def _total(r: Repricing, scenario: str) -> pd.Series:
    return r.totals.set_index("scenario").loc[scenario]


# -- hand-computed costs ---------------------------------------------------------------------------------------------

def test_costs_at_each_provider_are_the_hand_computed_ones_with_the_cache_discount() -> None:
    r = reprice(_rows(), directory=DIRECTORY)
    assert (r.calls, r.priced_calls, r.unpriced_calls, r.no_cost_calls) == (4, 3, 1, 1)
    m1_pa = _cell(r, "m1", "pa")  # the alias resolved: both m1 calls; 400 cached tokens at the cache-read price
    assert m1_pa["calls"] == 2 and m1_pa["prompt_tokens"] == 3000 and m1_pa["cached_tokens"] == 400
    assert m1_pa["cost_at_prices_usd"] == pytest.approx((2600 * 1.0 + 400 * 0.5 + 600 * 2.0) / 1e6)
    assert m1_pa["paid_usd"] == pytest.approx(0.0009)  # the call without a reported cost counts 0
    # savings compare the rows that reported a cost: 0.0009 paid vs (600 + 400 × 0.5 + 100 × 2) / 1e6 at pa
    assert m1_pa["savings_usd"] == pytest.approx(0.0009 - 0.001)
    m1_pb = _cell(r, "m1", "pb")  # no cache-read price: cached tokens at the input price
    assert m1_pb["cost_at_prices_usd"] == pytest.approx((3000 * 2.0 + 600 * 4.0) / 1e6)
    assert m1_pb["savings_usd"] == pytest.approx(0.0009 - (1000 * 2.0 + 100 * 4.0) / 1e6)
    assert (m1_pa["observed_calls"], m1_pb["observed_calls"]) == (1, 1)
    assert _cell(r, "m2", "pb")["cost_at_prices_usd"] == pytest.approx((100 * 10 + 10 * 20) / 1e6)


def test_a_provider_that_does_not_serve_a_model_is_marked_and_never_priced() -> None:
    r = reprice(_rows(), directory=DIRECTORY)
    m2_pa = _cell(r, "m2", "pa")
    assert not m2_pa["served"] and not m2_pa["priced"]
    assert np.isnan(m2_pa["cost_at_prices_usd"]) and np.isnan(m2_pa["savings_usd"])
    assert "pc" not in set(r.table["provider"])  # pc serves only m3, which no row used
    pa = _total(r, "provider pa")
    assert (pa["models"], pa["models_missing"], bool(pa["complete"])) == (1, 1, False)
    cheapest = _total(r, "cheapest provider per model")
    assert bool(cheapest["complete"])
    assert cheapest["cost_at_prices_usd"] == pytest.approx(0.004 + 0.0012)  # m1 at pa, m2 at pb
    assert _total(r, "as paid")["paid_usd"] == pytest.approx(0.0021)


def test_another_tier_prices_what_offers_it_and_marks_the_rest() -> None:
    r = reprice(_rows(), directory=DIRECTORY, tier="flex")
    assert r.tier == "flex"
    m1_pa = _cell(r, "m1", "pa")  # flex has no cache-read price: cached tokens at its input price
    assert m1_pa["tier"] == "flex"
    assert m1_pa["cost_at_prices_usd"] == pytest.approx((3000 * 0.5 + 600 * 1.0) / 1e6)
    m1_pb = _cell(r, "m1", "pb")  # serves m1, but has no flex tier: served, not priced
    assert m1_pb["served"] and not m1_pb["priced"] and np.isnan(m1_pb["cost_at_prices_usd"])


def test_strategies_are_priced_at_the_providers_they_chose_and_unobserved_ones_are_marked() -> None:
    r = reprice(_rows(), directory=DIRECTORY, strategies=["cost", "ttft", "balanced"])
    cost = _strategy(r, "m1", "cost")
    assert cost["status"] == "observed" and cost["choice"] == "pa 100%"
    assert cost["cost_at_prices_usd"] == pytest.approx(_cell(r, "m1", "pa")["cost_at_prices_usd"])
    assert _strategy(r, "m1", "ttft")["choice"] == "pb 100%"
    for model, strategy in (("m2", "ttft"), ("m1", "balanced"), ("m2", "balanced")):
        row = _strategy(r, model, strategy)
        assert row["status"] == "not observed" and np.isnan(row["cost_at_prices_usd"]) and pd.isna(row["choice"])
    balanced = _total(r, "strategy balanced")
    assert balanced["models"] == 0 and np.isnan(balanced["cost_at_prices_usd"]) and not bool(balanced["complete"])


def test_a_strategy_that_split_its_calls_is_weighted_by_its_observed_shares() -> None:
    rows = pd.DataFrame({"model_canonical": ["m1"] * 4, "optimize": ["cost"] * 4,
                         "provider": ["pa", "pa", "pa", "pb"], "prompt_tokens": [100] * 4,
                         "cached_tokens": [0] * 4, "completion_tokens": [10] * 4, "cost_usd": [0.0002] * 4})
    r = reprice(rows, directory=DIRECTORY)
    at_pa, at_pb = 4 * (100 * 1.0 + 10 * 2.0) / 1e6, 4 * (100 * 2.0 + 10 * 4.0) / 1e6
    row = _strategy(r, "m1", "cost")
    assert row["choice"] == "pa 75%, pb 25%" and row["observed_calls"] == 4
    assert row["cost_at_prices_usd"] == pytest.approx(0.75 * at_pa + 0.25 * at_pb)
    assert row["savings_usd"] == pytest.approx(0.0008 - (0.75 * at_pa + 0.25 * at_pb))


def test_a_strategy_whose_provider_has_no_price_is_not_priced() -> None:
    rows = _rows().assign(provider=pd.Categorical(["pa", "pb", "pc", None]))  # pc does not serve m2
    s = _strategy(reprice(rows, directory=DIRECTORY), "m2", "cost")
    assert s["status"] == "not priced" and s["choice"] == "pc 100%" and np.isnan(s["cost_at_prices_usd"])


def test_providers_restricts_the_table_and_a_model_outside_the_directory_is_named() -> None:
    rows = pd.concat([_rows(), pd.DataFrame({"model_requested": ["mystery"], "prompt_tokens": [5],
                                             "completion_tokens": [5], "cost_usd": [0.1]})], ignore_index=True)
    r = reprice(rows, directory=DIRECTORY, providers=["pa"])
    assert set(r.table["provider"]) == {"pa"}
    assert r.unknown_models == ["mystery"]
    assert not _cell(r, "mystery", "pa")["served"]
    assert "mystery" in r.headline()


# -- the offline gateway's own directory -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline() -> Iterator[tuple[ak.Client, Any]]:
    from auriko_nb.offline import serve

    with serve(seed=3, speed=0.02) as gw, ak.Client(KEY, base_url=gw.base_url, timeout=10) as client:
        cmp = compare(["Say hello.", "Name a colour."], models=["gpt-4o-mini", "llama-3.3-70b"],
                      strategies=["cost", "ttft"], repeats=2, client=client, ledger=None, progress=False,
                      max_tokens=24)
        yield client, cmp


def test_the_offline_gateways_prices_reproduce_what_it_billed(offline: tuple[ak.Client, Any]) -> None:
    client, cmp = offline
    r = reprice(cmp, client=client)
    ok = cmp.rows[cmp.rows["status"] == "ok"]
    assert r.priced_calls == len(ok) and _total(r, "as paid")["paid_usd"] == pytest.approx(ok["cost_usd"].sum())
    served_all = r.table[r.table["observed_calls"] == r.table["calls"]]  # one provider served every call of a model
    assert not served_all.empty
    for _, row in served_all.iterrows():  # the gateway bills at its directory's prices: nothing saved there
        assert row["cost_at_prices_usd"] == pytest.approx(row["paid_usd"], rel=1e-6)
    assert not _cell(r, "gpt-4o-mini", "groq")["served"]  # groq serves llama, not gpt-4o-mini
    for _, row in r.by_strategy.iterrows():  # each strategy was observed for each model here
        assert row["status"] == "observed" and row["observed_calls"] == 4


def test_a_ledger_is_repriced_like_its_rows(offline: tuple[ak.Client, Any], tmp_path: Path) -> None:
    client, cmp = offline
    directory = client.directory()
    with Ledger(tmp_path / "calls.sqlite") as led:
        led.append_many(cmp.rows.to_dict("records"))
        from_ledger = reprice(led, directory=directory)
    from_rows = reprice(cmp.rows, directory=directory)
    assert from_ledger.totals["cost_at_prices_usd"].tolist() == pytest.approx(
        from_rows.totals["cost_at_prices_usd"].tolist(), nan_ok=True)


# -- bad input -------------------------------------------------------------------------------------------------------

class _Counting:
    """A stand-in client that counts directory fetches (to show a bad argument is caught before any)."""

    def __init__(self) -> None:
        self.fetches = 0

    def directory(self) -> Directory:
        self.fetches += 1
        return DIRECTORY


@pytest.mark.parametrize(("rows", "kwargs", "words"), [
    (42, {}, "DataFrame, Comparison or Ledger"),
    (pd.DataFrame(), {}, "no rows"),
    (pd.DataFrame({"model_requested": ["m1"], "prompt_tokens": [1]}), {}, "completion_tokens"),
    (None, {"strategies": ["fastest"]}, "unknown strategy 'fastest'"),
    (None, {"strategies": []}, "non-empty"),
    (None, {"providers": ["pa", 3]}, "names"),
])
def test_bad_input_is_one_line_before_the_directory_is_fetched(rows: Any, kwargs: dict[str, Any], words: str) -> None:
    client = _Counting()
    with pytest.raises(AnalysisError) as e:
        reprice(_rows() if rows is None else rows, client=client, **kwargs)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert client.fetches == 0


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"providers": ["pa", "nope"]}, "unknown provider 'nope'"),
    ({"tier": "platinum"}, "unknown tier 'platinum'"),
    ({"directory": "prices.json"}, "directory= must be a Directory"),
    ({"directory": {"models": {"m1": {"family": "f"}}}}, "not a directory"),
])
def test_unknown_names_in_the_directory_are_one_line_errors(kwargs: dict[str, Any], words: str) -> None:
    kwargs = {"directory": DIRECTORY, **kwargs}
    with pytest.raises(AnalysisError) as e:
        reprice(_rows(), **kwargs)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_an_async_client_is_refused_with_the_way_out() -> None:
    client = ak.AsyncClient(KEY, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(AnalysisError, match="directory="):
        reprice(_rows(), client=client)


# -- display ---------------------------------------------------------------------------------------------------------

def test_plot_draws_paid_and_each_provider_and_returns_the_axes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = reprice(_rows(), directory=DIRECTORY)
    fig, ax = plt.subplots()
    try:
        assert r.plot(ax=ax) is ax
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["paid", "pa", "pb"]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["m1", "m2"]
        assert len(ax.patches) == 3 * 2  # paid, pa, pb for each model (an unserved one at zero height)
        assert ax.collections  # the × marks of m2 at pa
        fig.canvas.draw()
    finally:
        plt.close(fig)
    new = r.plot()
    plt.close(new.figure)


def test_text_and_html_show_the_headline_and_the_marks() -> None:
    r = reprice(_rows(), directory=DIRECTORY, strategies=["cost", "balanced"])
    text = str(r)
    assert text.startswith("Re-pricing 4 calls at 'standard' directory prices: 3 priced; 1 without tokens")
    assert "1 reported no cost" in text and "not observed" in text
    page = r._repr_html_()
    assert "<table" in page and "Under each strategy" in page and "not observed" in page


def test_calls_that_pinned_their_providers_are_no_strategys_choice() -> None:
    from auriko_nb.measure.reprice import PINNED, _strategy_column

    df = pd.DataFrame({"optimize": ["cost", None, None],
                       "routing": ['{"optimize": "cost"}', '{"providers": ["groq"]}', None],
                       "routing_strategy": ["cost", "cost-focus", "balanced"]})
    got = _strategy_column(df)
    assert got is not None and list(got.iloc[:2]) == ["cost", PINNED] and pd.isna(got.iloc[2])


def test_a_repricing_reads_as_its_tables_in_a_terminal() -> None:
    from auriko_nb.measure.reprice import Repricing

    assert Repricing.__repr__ is Repricing.__str__
