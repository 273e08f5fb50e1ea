"""The display form of a summary (issue 15): what a person sees in the magic's, the panel's and a notebook's table —
headers with units, figures rounded per unit, zero-only columns hidden, intervals as "812 [640–990]", and the
strategy asked for ("no preference" its own group) with what the gateway resolved it to."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import auriko_nb as ak
from auriko_nb.measure.comparison import (
    NO_PREFERENCE,
    Comparison,
    Grid,
    display_summary,
    summary_html,
)
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_summary_display"


def _call(optimize: str | None, resolved: str, provider: str, ttft: float, cost: float, *, status: str = "ok",
          model: str = "llama-3.3-70b", passed: bool | None = None) -> dict[str, Any]:
    ok = status == "ok"
    return {"model_requested": model, "optimize": optimize, "routing_strategy": resolved, "provider": provider,
            "status": status, "stream": True, "ttft_ms_client": ttft if ok else None,
            "latency_ms": ttft * 2 if ok else None, "cost_usd": cost if ok else None,
            "completion_tokens": 10 if ok else None, "passed": passed}


def _strategies() -> Comparison:
    """One model, three strategies asked for (one of them none), two of which the gateway resolved alike."""
    rows = ([_call("cost-focus", "cost-focus", "deepinfra", 812.4, 0.000111)] * 4
            + [_call(None, "cost-focus", "deepinfra", 640.0, 0.000111)] * 3
            + [_call("ttft-focus", "ttft-focus", "cerebras", 95.0, 0.00048)] * 5)
    grid = Grid(("p",), ("llama-3.3-70b",), ("cost-focus", None, "ttft-focus"), 1, "run-x")
    return Comparison(pd.DataFrame(rows), grid)


def _headers(table: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", table)


def _body_rows(table: str) -> list[list[str]]:
    body = table.split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]


def test_no_preference_is_its_own_group_shown_with_what_the_gateway_resolved_it_to() -> None:
    c = _strategies()
    raw = c.summary()
    assert list(raw.columns[:3]) == ["optimize", "provider", "resolved_strategy"]
    assert raw["optimize"].astype("object").tolist()[:2] == ["cost-focus", "ttft-focus"]
    assert pd.isna(raw["optimize"].iloc[2]) and raw["calls"].tolist() == [4, 5, 3]  # never merged (not 7 calls)
    assert raw["resolved_strategy"].tolist() == ["cost-focus", "ttft-focus", "cost-focus"]
    table = summary_html(raw)
    rows = {r[0]: r for r in _body_rows(table)}
    assert set(rows) == {"cost-focus", "ttft-focus", f"{NO_PREFERENCE} → cost-focus"}
    calls = _headers(table).index("calls")
    assert (rows["cost-focus"][calls], rows[f"{NO_PREFERENCE} → cost-focus"][calls]) == ("4", "3")
    assert "resolved_strategy" not in table and "—" not in table


def test_headers_carry_units_and_figures_are_rounded_per_unit() -> None:
    table = summary_html(_strategies().summary())
    assert _headers(table) == ["strategy", "provider", "calls", "TTFT p50 (ms)", "TTFT p95 (ms)", "latency p50 (ms)",
                               "cost per 1k calls ($)", "total cost ($)"]
    rows = {r[0]: r for r in _body_rows(table)}
    # ms: whole numbers; $ per 1k calls: 0.000111 a call -> 0.111; totals to 3 significant digits; no 6-decimal floats
    assert rows["cost-focus"][3:8] == ["812", "812", "1,625", "0.111", "0.000444"]
    assert rows["ttft-focus"][6:8] == ["0.480", "0.00240"]
    assert "0.000111" not in table and "e-0" not in table  # the raw per-call cost is not what is shown


def test_large_dollar_amounts_read_as_whole_dollars() -> None:
    summary = pd.DataFrame({"provider": ["a", "b", "c"], "calls": [1, 1, 1], "cost_total_usd": [484.561481, 5454.4953,
                                                                                                  12.3456]})
    shown = display_summary(summary)
    assert shown["total cost ($)"].tolist() == ["485", "5,454", "12.3"]


def test_zero_only_columns_are_hidden_unless_asked() -> None:
    c = _strategies()
    default = summary_html(c.summary())
    assert "errors" not in default and "cancelled" not in default and "provider share" not in default
    everything = summary_html(c.summary(), all_columns=True)
    for header in ("errors", "cancelled", "success rate", "server TTFT p50 (ms)", "cost per 1k output tokens ($)",
                   "provider share"):
        assert f"<th>{header}</th>" in everything, header
    assert c.summary_table(all_columns=True).shape[1] == 2 + 19  # every summary column (resolved folded in strategy)
    with_errors = Comparison(pd.concat([c.rows, pd.DataFrame([_call("cost-focus", "cost-focus", "deepinfra", 1, 1,
                                                                    status="error")])], ignore_index=True))
    table = summary_html(with_errors.summary())
    assert "<th>errors</th>" in table and "<th>cancelled</th>" not in table
    assert sorted(r[_headers(table).index("errors")] for r in _body_rows(table)) == ["0", "0", "1"]


def test_intervals_read_as_figure_and_band_and_the_table_stays_narrow() -> None:
    c = _strategies()
    checked = Comparison(c.rows.assign(passed=[True, False] * 6), c.grid)
    shown = checked.summary_table(ci=0.95)
    assert isinstance(shown, pd.DataFrame) and shown.shape[1] <= 10, list(shown.columns)
    assert list(shown.columns) == ["strategy", "provider", "calls", "TTFT p50 (ms)", "TTFT p95 (ms)",
                                   "latency p50 (ms)", "pass rate", "cost per 1k calls ($)", "cost per 1k passes ($)",
                                   "total cost ($)"]
    assert sorted(shown["calls"]) == ["3 (few calls)", "4 (few calls)", "5 (few calls)"]  # under 10 calls a group
    assert all(re.fullmatch(r"\d[\d,]* \[\d[\d,]*–\d[\d,]*\]", v) for v in shown["TTFT p50 (ms)"]), shown
    assert all(re.fullmatch(r"\d+% \[\d+–\d+%\]", v) for v in shown["pass rate"]), shown
    assert re.fullmatch(r"0\.111 \[0\.111–0\.111\]", shown.loc[shown["strategy"] == "cost-focus",
                                                               "cost per 1k calls ($)"].iloc[0])
    raw = checked.summary(ci=0.95)  # the numbers stay one attribute away
    assert raw["cost_mean_usd"].dtype == "float64" and "ttft_client_p50_lo" in raw.columns


def test_provider_share_of_a_group_holding_two_models_is_per_model_not_the_model_split() -> None:
    rows = ([_call("cost", "cost", "openai", 100, 0.001, model="gpt-4o")] * 4
            + [_call("cost", "cost", "groq", 100, 0.001, model="llama")] * 3
            + [_call("cost", "cost", "together", 100, 0.001, model="llama")])
    pooled = ak.summarize(pd.DataFrame(rows), by=["optimize"])
    assert pooled["provider_share"].tolist() == ["gpt-4o: openai 100%; llama: groq 75%, together 25%"]
    shown = display_summary(pooled)
    assert shown["provider share"].tolist() == ["gpt-4o: openai 100%; llama: groq 75%, together 25%"]
    by_provider = ak.summarize(pd.DataFrame(rows), by=["optimize", "provider"])
    share = dict(zip(by_provider["provider"], by_provider["provider_share"], strict=True))
    assert share == pytest.approx({"groq": 0.75, "openai": 1.0, "together": 0.25})  # not 3/8, 4/8, 1/8
    assert display_summary(by_provider)["provider share"].tolist() == ["75%", "100%", "25%"]


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=3, speed=0.02) as g:
        yield g


def test_a_live_comparison_keeps_no_preference_apart_from_cost_focus(gw: GatewayHandle) -> None:
    client = ak.Client(KEY, base_url=gw.base_url)
    result = ak.compare(["hi"], models=["llama-3.3-70b"], strategies=["cost-focus", None, "ttft-focus"], repeats=2,
                        client=client, ledger=None, progress=False, max_tokens=5)
    html = result._repr_html_()
    rows = {r[0]: r for r in _body_rows(html)}
    resolved = result.rows.loc[result.rows["optimize"].isna(), "routing_strategy"].astype(str).iloc[0]
    assert f"{NO_PREFERENCE} → {resolved}" in rows and "cost-focus" in rows and "ttft-focus" in rows
    calls = _headers(html).index("calls")
    assert {r[calls] for r in rows.values()} == {"2"} and len(rows) == 3
    assert f"{NO_PREFERENCE} → {resolved}" in repr(result)


def test_a_summary_by_other_axes_reads_the_same_way() -> None:
    rows = _strategies().rows
    by_resolved = display_summary(ak.summarize(rows, by=["routing_strategy"]), all_columns=True)
    assert list(by_resolved.columns[:2]) == ["resolved strategy", "calls"]  # one such column, the key
    by_model = display_summary(ak.summarize(rows, by=["model_requested"]), all_columns=True)
    assert by_model.loc[0, "resolved strategy"] == "cost-focus 58%, ttft-focus 42%"  # 7 and 5 of 12 calls
    assert display_summary(ak.summarize(rows, by=["model_requested"])).columns.tolist()[:2] == ["model", "calls"]
