"""summarize() against numbers computed by hand on a small fixed frame; pareto() on hand-made points."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auriko_nb.errors import AnalysisError
from auriko_nb.measure.analysis import CI_METRICS, INTERVAL_COLUMNS, SUMMARY_COLUMNS, pareto, summarize
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.stats import bootstrap_ci, wilson

NaN = float("nan")


def call(strategy: str, provider: str | None, status: str, ttft_s: float = NaN, ttft_c: float = NaN,
         latency: float = NaN, tps: float = NaN, cost: float | None = None, tokens: int | None = None) -> dict[str, Any]:
    return dict(routing_strategy=strategy, provider=provider, status=status, ttft_ms_server=ttft_s,
                ttft_ms_client=ttft_c, latency_ms=latency, throughput_tps=tps, cost_usd=cost,
                completion_tokens=tokens, started_at="2025-03-01T12:00:00Z")


# Eight calls; every expected number below is worked out by hand from these rows.
ROWS = [
    call("cost", "openai", "ok", 100, 120, 1000, 50, 0.002, 100),   # A
    call("cost", "openai", "ok", 200, 220, 2000, 70, 0.004, 300),   # B
    call("cost", "groq", "ok", 50, 60, 500, 150, 0.001, 100),       # C
    call("cost", None, "error"),                                     # D: failed before routing
    call("ttft", "groq", "ok", 40, 45, 400, 200, 0.003, 50),        # E
    call("ttft", "groq", "ok", 60, 65, 600, 100, 0.005, 150),       # F
    call("ttft", "groq", "cancelled"),                               # G: never sent (budget)
    call("ttft", "openai", "error", cost=0.0005),                    # H: a billed partial stream
]


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(ROWS)


def row(s: pd.DataFrame, **keys: Any) -> pd.Series:
    mask = np.ones(len(s), dtype=bool)
    for k, v in keys.items():
        mask &= s[k].isna().to_numpy() if v is None else (s[k] == v).to_numpy()
    assert mask.sum() == 1, keys
    return s[mask].iloc[0]


def check(r: pd.Series, **expected: Any) -> None:
    for k, v in expected.items():
        if isinstance(v, float) and math.isnan(v):
            assert pd.isna(r[k]), (k, r[k])
        elif isinstance(v, float):
            assert r[k] == pytest.approx(v), (k, r[k], v)
        else:
            assert r[k] == v, (k, r[k], v)


def test_summary_by_strategy_and_provider_matches_hand_computed_values(df: pd.DataFrame) -> None:
    s = summarize(df)
    assert list(s.columns) == ["routing_strategy", "provider", *SUMMARY_COLUMNS]
    assert len(s) == 5
    # A, B: p50 of (100, 200) = 150, p95 = 100 + 0.95 * 100 = 195 (linear interpolation)
    check(row(s, routing_strategy="cost", provider="openai"), calls=2, ok=2, errors=0, cancelled=0,
          success_rate=1.0, ttft_server_p50=150.0, ttft_server_p95=195.0, ttft_client_p50=170.0,
          ttft_client_p95=215.0, latency_p50=1500.0, latency_p95=1950.0, throughput_mean=60.0,
          cost_mean_usd=0.003, cost_total_usd=0.006, cost_per_1k_output_tokens_usd=0.006 / 400 * 1000,
          provider_share=2 / 3)
    check(row(s, routing_strategy="cost", provider="groq"), calls=1, ok=1, ttft_server_p50=50.0,
          ttft_server_p95=50.0, cost_mean_usd=0.001, cost_per_1k_output_tokens_usd=0.01, provider_share=1 / 3)
    check(row(s, routing_strategy="cost", provider=None), calls=1, ok=0, errors=1, success_rate=0.0,
          ttft_client_p50=NaN, latency_p95=NaN, cost_mean_usd=NaN, cost_total_usd=0.0,
          cost_per_1k_output_tokens_usd=NaN, provider_share=0.0)
    # E, F (G cancelled: counted, but not attempted)
    check(row(s, routing_strategy="ttft", provider="groq"), calls=3, ok=2, errors=0, cancelled=1,
          success_rate=1.0, ttft_server_p50=50.0, ttft_server_p95=59.0, ttft_client_p50=55.0, ttft_client_p95=64.0,
          latency_p50=500.0, latency_p95=590.0, throughput_mean=150.0, cost_mean_usd=0.004, cost_total_usd=0.008,
          cost_per_1k_output_tokens_usd=0.04, provider_share=1.0)
    # H: an error is not in the mean, but its bill is in the total
    check(row(s, routing_strategy="ttft", provider="openai"), calls=1, ok=0, errors=1, success_rate=0.0,
          cost_mean_usd=NaN, cost_total_usd=0.0005, provider_share=0.0)


def test_summary_by_strategy_has_a_provider_share_text(df: pd.DataFrame) -> None:
    s = summarize(df, by="routing_strategy")
    assert s["routing_strategy"].tolist() == ["cost", "ttft"]
    # cost: ok rows A, B, C -> sorted ttft_s (50, 100, 200): p50 100, p95 at rank 1.9 -> 100 + 0.9 * 100 = 190
    check(row(s, routing_strategy="cost"), calls=4, ok=3, errors=1, cancelled=0, success_rate=0.75,
          ttft_server_p50=100.0, ttft_server_p95=190.0, ttft_client_p50=120.0, ttft_client_p95=210.0,
          latency_p50=1000.0, latency_p95=1900.0, throughput_mean=90.0, cost_mean_usd=0.007 / 3,
          cost_total_usd=0.007, cost_per_1k_output_tokens_usd=0.014, provider_share="openai 67%, groq 33%")
    check(row(s, routing_strategy="ttft"), calls=4, ok=2, errors=1, cancelled=1, success_rate=2 / 3,
          cost_total_usd=0.0085, provider_share="groq 100%")


def test_summary_by_provider_gives_each_providers_share_of_all_ok_calls(df: pd.DataFrame) -> None:
    s = summarize(df, by=["provider"])
    assert s["provider"].tolist()[:2] == ["groq", "openai"] and pd.isna(s["provider"].iloc[2])
    check(row(s, provider="groq"), calls=4, ok=3, cancelled=1, provider_share=0.6, ttft_client_p50=60.0,
          cost_per_1k_output_tokens_usd=0.009 / 300 * 1000)
    check(row(s, provider="openai"), calls=3, ok=2, errors=1, provider_share=0.4, cost_total_usd=0.0065)
    check(row(s, provider=None), calls=1, ok=0, errors=1, provider_share=0.0)


def test_tokens_missing_or_zero_leave_cost_per_1k_undefined_instead_of_infinite() -> None:
    s = summarize(pd.DataFrame([call("cost", "x", "ok", cost=0.01, tokens=0), call("cost", "x", "ok", cost=0.01)]))
    assert pd.isna(s.loc[0, "cost_per_1k_output_tokens_usd"]) and s.loc[0, "cost_mean_usd"] == pytest.approx(0.01)


def test_empty_frame_gives_an_empty_summary_with_the_same_columns(df: pd.DataFrame, tmp_path: Path) -> None:
    for empty in (df.iloc[:0], Ledger(tmp_path / "l.sqlite").to_dataframe()):
        s = summarize(empty)
        assert s.empty and list(s.columns) == ["routing_strategy", "provider", *SUMMARY_COLUMNS]
        assert pareto(empty).empty


def test_all_error_frame_has_zero_success_and_nan_statistics(df: pd.DataFrame) -> None:
    s = summarize(df[df["status"] == "error"], by="routing_strategy")
    assert s["success_rate"].tolist() == [0.0, 0.0] and s["errors"].tolist() == [1, 1]
    assert s[["ttft_server_p50", "ttft_client_p95", "latency_p50", "throughput_mean", "cost_mean_usd",
              "cost_per_1k_output_tokens_usd"]].isna().all().all()
    assert s["provider_share"].isna().all()


def test_typed_ledger_frames_summarize_like_raw_records(df: pd.DataFrame, tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    led.append_many(ROWS)
    typed = led.to_dataframe()
    pd.testing.assert_frame_equal(summarize(typed, by="routing_strategy").astype({"routing_strategy": "object"}),
                                  summarize(df, by="routing_strategy").astype({"routing_strategy": "object"}))


def test_by_must_name_existing_columns(df: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="model_canonical"):
        summarize(df, by=["routing_strategy", "model_canonical"])


# -- pareto -----------------------------------------------------------------------------------------------

def test_pareto_keeps_the_undominated_groups_sorted_by_cost() -> None:
    pts = pd.DataFrame({
        "name": ["c", "a", "b", "d", "e", "f", "g", "h"],
        "cost_mean_usd": [3.0, 1.0, 2.0, 4.0, 2.0, 1.0, NaN, 5.0],
        "ttft_client_p50": [7.0, 10.0, 5.0, 1.0, 5.0, 12.0, 0.5, 1.0],
    })
    # c is beaten by b; f by a (same cost, slower); h by d (same TTFT, dearer); g has no cost; b and e tie.
    front = pareto(pts)
    assert front["name"].tolist() == ["a", "b", "e", "d"]
    assert front["cost_mean_usd"].is_monotonic_increasing
    assert pareto(pts, x="cost_mean_usd", y="cost_mean_usd")["name"].tolist() == ["a", "f"]


def test_pareto_summarizes_raw_rows_first(df: pd.DataFrame) -> None:
    # groups (mean cost, p50 client TTFT): cost/groq (0.001, 60), cost/openai (0.003, 170), ttft/groq (0.004, 55)
    front = pareto(df)
    assert list(zip(front["routing_strategy"], front["provider"], strict=True)) == [("cost", "groq"), ("ttft", "groq")]
    assert front["cost_mean_usd"].tolist() == pytest.approx([0.001, 0.004])
    # by provider, total cost vs server p50: openai (0.0065, 150), groq (0.009, 50), none (0.0, NaN) dropped
    by_server = pareto(df, x="cost_total_usd", y="ttft_server_p50", by="provider")
    assert by_server["provider"].tolist() == ["openai", "groq"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=25))
def test_pareto_front_is_exactly_the_undominated_points(points: list[tuple[int, int]]) -> None:
    pts = pd.DataFrame(points, columns=["cost_mean_usd", "ttft_client_p50"], dtype="float64")
    front = pareto(pts)

    def dominated(p: tuple[float, float]) -> bool:
        return any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)

    expected = sorted(p for p in points if not dominated(p))
    got = list(zip(front["cost_mean_usd"], front["ttft_client_p50"], strict=True))
    assert sorted(got) == expected


# -- checks and intervals ---------------------------------------------------------------------------------

def test_pass_rate_checked_and_cost_per_pass(df: pd.DataFrame) -> None:
    checked = df.assign(passed=[True, False, True, None, True, None, None, None])  # D, F-H: no checks ran
    s = summarize(checked, by="routing_strategy")
    check(row(s, routing_strategy="cost"), checked=3, pass_rate=2 / 3, cost_per_pass_usd=0.007 / 2)
    check(row(s, routing_strategy="ttft"), checked=1, pass_rate=1.0, cost_per_pass_usd=0.0085)
    as_text = summarize(checked.assign(passed=checked["passed"].map({True: "True", False: "False"})),
                        by="routing_strategy")  # as read back from a CSV
    pd.testing.assert_frame_equal(as_text, s)
    none_passed = summarize(df.assign(passed=False), by="routing_strategy")
    assert none_passed["pass_rate"].tolist() == [0.0, 0.0] and none_passed["cost_per_pass_usd"].isna().all()


def test_frames_without_passed_have_no_pass_rate(df: pd.DataFrame) -> None:
    s = summarize(df, by="routing_strategy", ci=0.95)
    assert s["checked"].tolist() == [0, 0] and s["pass_rate"].isna().all() and s["cost_per_pass_usd"].isna().all()
    assert s[["pass_rate_lo", "pass_rate_hi"]].isna().all().all()


def test_ci_adds_the_interval_columns_seeded_and_aligned_to_their_groups() -> None:
    rng = np.random.default_rng(0)
    rows = [call(s, p, "ok", ttft_s=t, ttft_c=t + 10, latency=t * 3, cost=c, tokens=10)
            for s, p, n in (("cost", "groq", 30), ("cost", "openai", 4), ("ttft", "groq", 12))
            for t, c in zip(rng.lognormal(5, 0.4, n), rng.uniform(0.001, 0.002, n), strict=True)]
    frame = pd.DataFrame(rows).assign(passed=[i % 3 > 0 for i in range(len(rows))], stream=True)
    frame.loc[40:, "stream"] = False  # ttft/groq: 12 ok calls, 6 streamed -> few for TTFT
    s = summarize(frame, ci=0.9, seed=4)
    assert list(s.columns) == ["routing_strategy", "provider", *SUMMARY_COLUMNS, *INTERVAL_COLUMNS]
    pd.testing.assert_frame_equal(s, summarize(frame, ci=0.9, seed=4))
    assert s["few_calls"].tolist() == [False, True, True] and (s["ci_level"] == 0.9).all()
    for metric in CI_METRICS:
        assert (s[f"{metric}_lo"] <= s[metric] + 1e-9).all() and (s[metric] <= s[f"{metric}_hi"] + 1e-9).all(), metric
    # each group's interval is exactly bootstrap_ci over the groups' values in summary order
    groups = [frame.loc[(frame["routing_strategy"] == r) & (frame["provider"] == p), "cost_usd"].to_numpy()
              for r, p in zip(s["routing_strategy"], s["provider"], strict=True)]
    lo, hi = bootstrap_ci(groups, "mean", 0.9, 2000, seed=4)
    assert s["cost_mean_usd_lo"].tolist() == lo.tolist() and s["cost_mean_usd_hi"].tolist() == hi.tolist()
    passes = frame.groupby(["routing_strategy", "provider"], sort=True)["passed"].sum().to_numpy()
    plo, phi = wilson(passes, np.array([30, 4, 12]), 0.9)
    assert s["pass_rate_lo"].tolist() == pytest.approx(plo.tolist())
    assert s["pass_rate_hi"].tolist() == pytest.approx(phi.tolist())
    assert s["success_rate_lo"].tolist() == pytest.approx(wilson(np.array([30, 4, 12]), np.array([30, 4, 12]), 0.9)[0])


def test_a_bad_ci_level_is_a_one_line_analysis_error(df: pd.DataFrame) -> None:
    for bad in (95, 0, 1.0, "0.95"):
        with pytest.raises(AnalysisError, match="between 0 and 1"):
            summarize(df, ci=bad)  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match="at least 1000"):
        summarize(df, ci=0.95, resamples=10)


# -- requested strategy and per-model provider share (issue 15) ----------------------------------------------

def _asked(model: str, optimize: str | None, resolved: str, provider: str, status: str = "ok") -> dict[str, Any]:
    return dict(model_requested=model, optimize=optimize, routing_strategy=resolved, provider=provider, status=status)


def test_no_preference_is_a_group_of_its_own_with_the_strategy_the_gateway_resolved() -> None:
    rows = ([_asked("m", "cost-focus", "cost-focus", "a")] * 3 + [_asked("m", None, "cost-focus", "a")] * 2
            + [_asked("m", None, "balanced", "b")] + [_asked("m", None, "balanced", "b", "error")])
    s = summarize(pd.DataFrame(rows), by="optimize")
    assert s["optimize"].tolist()[0] == "cost-focus" and pd.isna(s["optimize"].iloc[1])
    assert s["calls"].tolist() == [3, 4]  # not one cost-focus group of 5
    # every row that reported a strategy counts, errors too: cost-focus 2, balanced 2
    assert s["resolved_strategy"].tolist() == ["cost-focus", "balanced 50%, cost-focus 50%"]
    by_resolved = summarize(pd.DataFrame(rows), by="routing_strategy")
    assert by_resolved["resolved_strategy"].isna().all()  # grouped by what was resolved: nothing to add


def test_provider_share_is_counted_per_model_within_a_group() -> None:
    rows = ([_asked("big", "cost", "cost", "openai")] * 2 + [_asked("small", "cost", "cost", "openai")] * 2
            + [_asked("small", "cost", "cost", "groq")] * 6 + [_asked("small", "cost", "cost", "groq", "error")])
    frame = pd.DataFrame(rows)
    text = summarize(frame, by="optimize")["provider_share"].tolist()
    assert text == ["big: openai 100%; small: groq 75%, openai 25%"]  # not "groq 60%, openai 40%"
    s = summarize(frame, by=["optimize", "provider"])
    # groq serves only "small": 6 of small's 8 ok calls; openai serves two models: no one share (NaN, not 4/10)
    assert s["provider"].tolist() == ["groq", "openai"]
    assert s["provider_share"].iloc[0] == pytest.approx(0.75) and pd.isna(s["provider_share"].iloc[1])
    same_split = summarize(frame[frame["provider"] == "openai"], by="optimize")["provider_share"].tolist()
    assert same_split == ["openai 100%"]  # the models' mixes agree: said once
    one_model = summarize(frame[frame["model_requested"] == "small"], by=["optimize", "provider"])
    assert one_model["provider_share"].tolist() == pytest.approx([0.75, 0.25])  # as before for one model
