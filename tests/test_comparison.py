"""One comparison pipeline: `ak.compare` returns a `Comparison` whose summary groups by the axes that vary, whose
Pareto frontier is per model, whose chart takes `ax=` and whose export is one call; the CLI and the panel split
prompts by one rule; every row of a grid cell carries one prompt_id (ok, error and cancelled rows alike)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import auriko_nb as ak  # noqa: E402
from auriko_nb.cli import read_prompts  # noqa: E402
from auriko_nb.client.base import to_messages  # noqa: E402
from auriko_nb.client.records import prompt_id  # noqa: E402
from auriko_nb.measure import plots  # noqa: E402
from auriko_nb.measure.comparison import Comparison, split_prompts, summary_html  # noqa: E402
from auriko_nb.measure.ledger import coerce_types  # noqa: E402
from auriko_nb.offline import GatewayHandle, serve  # noqa: E402

KEY = "ak_test_comparison"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=5, speed=0.02) as g:
        yield g


@pytest.fixture
def client(gw: GatewayHandle) -> ak.Client:
    return ak.Client(KEY, base_url=gw.base_url)


def test_two_models_served_by_one_provider_are_not_pooled(client: ak.Client) -> None:
    result = ak.compare(["a", "b"], models=["gpt-4o", "gpt-4o-mini"], strategies=["cost-focus"], client=client,
                        ledger=None, progress=False, max_tokens=10)
    assert isinstance(result, Comparison) and set(result["provider"]) == {"openai"}  # one provider serves both
    summary = result.summary()
    assert list(summary.columns[:1]) == ["model_requested"] and "provider" not in summary.columns
    assert dict(zip(summary["model_requested"], summary["calls"], strict=True)) == {"gpt-4o": 2, "gpt-4o-mini": 2}
    # the old fixed grouping (strategy × provider) pools them into one row
    assert len(ak.summarize(result, by=["routing_strategy", "provider"])) == 1
    by_prompt = result.summary(by_prompt=True)
    assert list(by_prompt.columns[:2]) == ["model_requested", "prompt_id"] and len(by_prompt) == 4
    assert result.grid is not None and result.grid.cells == 4 == len(result)


def test_one_model_several_strategies_groups_by_strategy_and_provider(client: ak.Client) -> None:
    result = ak.compare(["x"], models=["llama-3.3-70b"], strategies=["cost-focus", "ttft-focus"], repeats=2,
                        client=client, ledger=None, progress=False, max_tokens=10)
    summary = result.summarize(ci=0.95)
    assert list(summary.columns[:2]) == ["optimize", "provider"] and len(summary) == 2
    assert set(summary["provider"]) == {"deepinfra", "cerebras"}
    low, high = summary["success_rate_lo"], summary["success_rate_hi"]  # renamed from success_rate_ci_low/_high
    assert low.tolist() == pytest.approx([0.3424] * 2, abs=1e-4) and high.tolist() == pytest.approx([1.0] * 2)  # Wilson, 2/2


def _rows(points: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """Ok streamed rows (model, provider, cost, ttft), two calls each."""
    recs = [{"model_requested": m, "optimize": "cost", "provider": p, "status": "ok", "stream": True,
             "cost_usd": c, "ttft_ms_client": t, "latency_ms": t * 2, "completion_tokens": 10}
            for m, p, c, t in points for _ in range(2)]
    return pd.DataFrame(recs)


POINTS = [("fast", "a", 0.001, 100.0), ("fast", "b", 0.002, 50.0),
          ("slow", "a", 0.003, 300.0), ("slow", "c", 0.004, 200.0)]  # every "slow" group is dominated by "fast"


def test_the_pareto_frontier_is_per_model_unless_asked_otherwise() -> None:
    result = Comparison(_rows(POINTS))
    front = result.pareto()
    assert sorted(zip(front["model_requested"], front["provider"], strict=True)) == [
        ("fast", "a"), ("fast", "b"), ("slow", "a"), ("slow", "c")]
    overall = result.pareto(per=None)
    assert set(overall["model_requested"]) == {"fast"} and len(overall) == 2
    assert len(ak.pareto(result.rows, by=["model_requested", "provider"])) == 2  # plain frames work as before


def test_the_chart_takes_ax_and_draws_a_frontier_per_model() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert Comparison(_rows(POINTS)).plot(ax=ax) is ax
    frontiers = [ln for ln in ax.get_lines() if str(ln.get_label()).startswith("Pareto frontier")]
    assert sorted(str(ln.get_label()).rsplit(" · ", 1)[-1] for ln in frontiers) == ["fast", "slow"]
    slow = next(ln for ln in frontiers if str(ln.get_label()).endswith("slow"))
    assert list(np.asarray(slow.get_xdata())) == [0.003, 0.004]
    for draw in (plots.ttft_distribution, plots.cost_by_strategy, plots.provider_share, plots.spend_over_time):
        other = Figure().add_subplot()
        assert draw(Comparison(_rows(POINTS)), ax=other) is other


def test_every_row_of_a_cell_has_one_prompt_id_with_system(client: ak.Client) -> None:
    prompts, system = ["first", "second"], "Answer in one word."
    seen: list[str] = []

    def stop_after_three(row: dict[str, object]) -> None:
        seen.append(str(row["status"]))
        if len(seen) == 3:
            sweep.cancel()

    sweep = ak.Sweep(prompts, models=["gpt-4o-mini", "no-such-model"], repeats=2, concurrency=1, system=system,
                     client=client, ledger=None, progress=False, max_tokens=5, on_row=stop_after_three)
    result = Comparison.from_sweep(sweep, sweep_run(sweep))
    assert set(result["status"]) == {"ok", "error", "cancelled"}
    index = result["cell"].str.extract(r"^p(\d+)\|", expand=False).astype(int)
    for i, prompt in enumerate(prompts):
        ids = set(result.loc[(index == i).to_numpy(), "prompt_id"])
        assert ids == {prompt_id(to_messages(prompt, system))}, (i, ids)
    assert prompt_id(to_messages("first")) not in set(result["prompt_id"])  # system= is part of the id


def sweep_run(sweep: ak.Sweep) -> pd.DataFrame:
    import asyncio

    return asyncio.run(sweep.run())


TEXT = "One\r\nprompt\r\n \r\nTwo\n\t\n\nThree  \n\n\n"


def test_the_cli_and_the_panel_split_prompts_identically(tmp_path: Path, client: ak.Client) -> None:
    path = tmp_path / "prompts.txt"
    path.write_bytes(TEXT.encode())
    from_cli = read_prompts(argparse.Namespace(prompt=[], prompts_file=str(path)))
    panel = ak.compare_panel(client=client, ledger=None)
    panel.prompts.value = TEXT
    assert from_cli == panel.prompt_list() == split_prompts(TEXT) == ["One\nprompt", "Two", "Three"]
    panel.close()


def test_export_round_trips(tmp_path: Path, client: ak.Client) -> None:
    result = ak.compare(["hi"], models=["gpt-4o-mini", "deepseek-chat"], client=client, ledger=None,
                        progress=False, max_tokens=5)
    back = pd.read_parquet(result.export(tmp_path / "rows.parquet"))
    pd.testing.assert_frame_equal(back, result.rows.reset_index(drop=True), check_dtype=False,
                                  check_categorical=False)
    csv = coerce_types(pd.read_csv(result.export(tmp_path / "rows.csv")))
    assert list(csv.columns) == list(result.columns) and list(csv["call_id"]) == list(result["call_id"])
    assert csv["cost_usd"].tolist() == pytest.approx(result["cost_usd"].astype(float).tolist())
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        result.export(tmp_path / "rows.xlsx")


def test_a_comparison_reads_like_its_rows_and_shows_its_summary(client: ak.Client) -> None:
    result = ak.compare(["hi"], models=["gpt-4o-mini", "deepseek-chat"], client=client, ledger=None,
                        progress=False, max_tokens=5)
    assert len(result) == 2 and (result.status == "ok").all() and "cost_usd" in result
    assert result.loc[0, "model_requested"] == "gpt-4o-mini" and result.empty is False
    text = repr(result)  # the headline over the display form of the summary (issue 15: headers with units)
    assert "2 calls, 2 ok" in text and text.splitlines()[1].split()[:2] == ["model", "provider"]
    assert "TTFT p50 (ms)" in text and "model_requested" not in text
    assert "<table" in result._repr_html_() and "deepseek-chat" in result._repr_html_()
    assert len(ak.summarize(result, by="provider")) >= 1 and not ak.pareto(result).empty


def test_summary_with_ci_shows_intervals_compactly_and_marks_few_calls() -> None:
    many = _rows([("fast", "a", 0.001, 100.0)] * 6)  # 12 calls
    few = _rows([("fast", "b", 0.002, 50.0)])  # 2 calls
    result = Comparison(pd.concat([many, few], ignore_index=True).assign(passed=True))
    summary = result.summary(ci=0.95, seed=3)
    assert summary["few_calls"].tolist() == [False, True] and (summary["ci_level"] == 0.95).all()
    assert summary.equals(result.summary(ci=0.95, seed=3))  # seeded
    html_table = summary_html(summary)  # the display form (issue 15): units in the headers, not in the cells
    assert "<td>100 [100–100]</td>" in html_table and "100% [76–100%]" in html_table  # Wilson 12/12: 12 / (12 + z²)
    assert html_table.count("few calls") == 1 and "<td>2 (few calls)</td>" in html_table  # by the count it is about
    plain = summary_html(result.summary())
    assert "[" not in plain and "few calls" not in plain and "<td>100</td>" in plain
    assert "<th>TTFT p50 (ms)</th>" in plain and "<td>12</td>" in plain and "<td>2</td>" in plain
    assert "pass rate" in plain and "pass rate" not in summary_html(Comparison(many).summary())  # unchecked


def test_the_chart_draws_interval_bars_when_asked() -> None:
    result = Comparison(_rows(POINTS))
    plain, with_ci = Figure().add_subplot(), Figure().add_subplot()
    result.plot(ax=plain)
    assert plain.containers == []
    assert result.plot(ax=with_ci, ci=0.9) is with_ci
    bars = [c for c in with_ci.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and bars[0].has_xerr and bars[0].has_yerr
    assert "90% intervals" in str(bars[0].get_label())
