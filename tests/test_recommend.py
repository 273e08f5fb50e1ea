"""`recommend`: the cheapest group whose interval bounds meet every SLO constraint; `decide` is checked on hand-made
summary tables with known numbers (statuses, cheapest, ties, the more-calls arithmetic), then end to end."""

from __future__ import annotations

import math
from collections.abc import Iterator
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auriko_nb as ak
from auriko_nb.errors import AnalysisError
from auriko_nb.measure.checks import contains
from auriko_nb.measure.comparison import Comparison
from auriko_nb.measure.recommend import CONSTRAINTS, MIN_CALLS, Recommendation, decide, recommend
from auriko_nb.measure.stats import bootstrap_ci
from auriko_nb.offline import GatewayHandle, serve

Z95 = NormalDist().inv_cdf(0.975)


def wilson_lo(k: float, n: float, z: float = Z95) -> float:
    p = k / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def group(model: str, cost: float, ttft: tuple[float, float, float] = (500.0, 400.0, 600.0), *, ok: int = 20,
          calls: int | None = None, ttft_p50: float = 300.0, **extra: Any) -> dict[str, Any]:
    """One summary row: (estimate, lo, hi) of the client TTFT p95, and whatever else is given."""
    p95, lo, hi = ttft
    row = {"model_requested": model, "calls": calls or ok, "ok": ok, "errors": (calls or ok) - ok,
           "cost_mean_usd": cost, "ttft_client_p50": ttft_p50, "ttft_client_p95": p95,
           "ttft_client_p95_lo": lo, "ttft_client_p95_hi": hi, "latency_p50": 900.0,
           "few_calls": ok < MIN_CALLS, "ci_level": 0.95}
    row.update(extra)
    return row


def table(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def status(rec: Recommendation) -> dict[str, str]:
    return dict(zip(rec.table["model_requested"], rec.table["status"], strict=True))


# -- the decision on known numbers ---------------------------------------------------------------------------


def test_confirmed_possible_fails_and_the_cheapest_confirmed_is_chosen() -> None:
    s = table(group("c", 3e-4, (500, 450, 550)),      # confirmed, dearest
              group("a", 1e-4, (900, 800, 1100)),     # estimate under 1000, upper bound over: possible
              group("b", 2e-4, (700, 600, 800)),      # confirmed, cheaper than c
              group("d", 0.5e-4, (1200, 1000, 1400)))  # estimate over: fails (cheapest of all)
    rec = decide(s, {"max_ttft_p95_ms": 1000})
    assert status(rec) == {"d": "fails", "a": "possible", "b": "confirmed", "c": "confirmed"}
    assert list(rec.table["model_requested"]) == ["d", "a", "b", "c"]  # cheapest first
    assert rec.choice == {"model_requested": "b"}
    assert rec.candidate == {"model_requested": "a"}  # cheaper than the choice, not yet confirmed
    # h = 1100 - 900 = 200, m = 1000 - 900 = 100: n' = n (h/m)^2 = 4n, so 3 x 20 = 60 more calls
    assert rec.more_calls == 60
    assert rec.table["meets_max_ttft_p95_ms"].tolist() == ["fails", "possible", "confirmed", "confirmed"]
    assert rec.explanation.startswith("Recommended: b ($0.000200 per call)")
    assert "upper bound 800 ms" in rec.explanation and "A cheaper group, a" in rec.explanation
    assert "About 60 more calls per group" in rec.explanation


def test_more_calls_for_an_upper_bound_20_percent_over_the_limit() -> None:
    """Upper bound 1200 for a limit of 1000 (20 % over), estimate 900: h = 300, overshoot = 200, m = h - overshoot
    = 100, so n' = n (h / (h - overshoot))^2 = 9n: with n = 24 calls, 8 x 24 = 192 more."""
    rec = decide(table(group("a", 1e-4, (900, 700, 1200), ok=24)), {"max_ttft_p95_ms": 1000})
    assert rec.choice is None and rec.candidate == {"model_requested": "a"}
    n, h, overshoot = 24, 300.0, 200.0
    assert rec.more_calls == round(n * (h / (h - overshoot)) ** 2 - n) == 192
    assert "Best candidate, a" in rec.explanation and "About 192 more calls" in rec.explanation


def test_the_interval_half_width_narrows_like_one_over_root_n() -> None:
    """The premise of `more_calls`: the summary's bootstrap p95 interval at 4n calls is about half as wide (upper
    side) as at n, averaged over seeded draws from a skewed (lognormal) latency distribution."""
    rng = np.random.default_rng(7)

    def upper_half_width(n: int) -> float:
        samples = [rng.lognormal(6.0, 0.4, n) for _ in range(100)]
        _, hi = bootstrap_ci(samples, "p95", 0.95, 1000, seed=1)
        return float(np.mean(hi - np.array([np.quantile(x, 0.95) for x in samples])))

    ratio = upper_half_width(160) / upper_half_width(40)  # 0.40-0.55 over seeds 0-7; 1/sqrt(4) = 0.5
    assert 0.35 <= ratio <= 0.65, ratio


def test_more_calls_for_a_rate_solves_the_wilson_bound() -> None:
    """5 of 5 passed, minimum 0.9: the Wilson lower bound of p = 1 reaches 0.9 at n' = z^2 L (1 - L) / (1 - L)^2
    = 34.6, so 35 calls: 30 more. Checked against the Wilson formula itself."""
    lo = wilson_lo(5, 5)
    s = table(group("a", 1e-4, ok=5, pass_rate=1.0, pass_rate_lo=lo, pass_rate_hi=1.0, checked=5, few_calls=True))
    rec = decide(s, {"min_pass_rate": 0.9})
    assert status(rec) == {"a": "possible"}
    assert rec.more_calls == 30
    assert wilson_lo(35, 35) >= 0.9 > wilson_lo(34, 34)
    # few calls do not block a Wilson-interval constraint: 30 of 30 confirms a 0.85 minimum
    s = table(group("a", 1e-4, ok=5, pass_rate=1.0, pass_rate_lo=wilson_lo(5, 5), pass_rate_hi=1.0, checked=5,
                    few_calls=True))
    assert decide(s, {"min_pass_rate": 0.5}).choice == {"model_requested": "a"}


def test_success_rate_uses_ok_plus_errors_as_its_count() -> None:
    lo = wilson_lo(18, 20)  # 18 ok of 20 attempted
    s = table(group("a", 1e-4, ok=18, calls=20, success_rate=0.9, success_rate_lo=lo, success_rate_hi=0.97))
    rec = decide(s, {"min_success_rate": 0.8})
    need = Z95**2 * 0.8 * 0.2 / (0.9 - 0.8) ** 2  # 61.5 attempted calls
    assert rec.more_calls == math.ceil(need - 20)
    assert wilson_lo(0.9 * 62, 62) >= 0.8 > wilson_lo(0.9 * 61, 61)


def test_few_calls_confirm_no_bootstrap_bound() -> None:
    """Under MIN_CALLS ok calls a p95 interval is too narrow to trust: the group stays possible until 10 calls."""
    s = table(group("a", 1e-4, (500, 450, 550), ok=4))
    rec = decide(s, {"max_ttft_p95_ms": 1000})
    assert status(rec) == {"a": "possible"} and rec.choice is None
    assert rec.more_calls == MIN_CALLS - 4


def test_ties_on_cost_go_to_the_lower_ttft_p50() -> None:
    s = table(group("slow", 1e-4, ttft_p50=400.0), group("fast", 1e-4, ttft_p50=200.0), group("dear", 2e-4))
    assert decide(s, {"max_ttft_p95_ms": 1000}).choice == {"model_requested": "fast"}
    assert decide(s).choice == {"model_requested": "fast"}


def test_no_constraints_give_the_cheapest_group_with_a_note() -> None:
    s = table(group("b", 2e-4), group("a", 1e-4, (5000, 4000, 6000)))
    rec = decide(s)
    assert rec.choice == {"model_requested": "a"} and rec.candidate is None and rec.more_calls is None
    assert rec.explanation.startswith("No constraints given: a is the cheapest group")
    assert "max_ttft_p95_ms=" in rec.explanation


def test_nothing_meets_says_how_many_groups_meet_each_constraint() -> None:
    s = table(group("a", 1e-4, (1500, 1200, 1800), pass_rate=0.95, pass_rate_lo=0.9, pass_rate_hi=1.0, checked=20),
              group("b", 2e-4, (800, 700, 900), pass_rate=0.5, pass_rate_lo=0.3, pass_rate_hi=0.7, checked=20))
    rec = decide(s, {"max_ttft_p95_ms": 1000, "min_pass_rate": 0.8})
    assert rec.choice is None and rec.candidate is None and rec.more_calls is None
    assert status(rec) == {"a": "fails", "b": "fails"}
    assert "TTFT p95 ≤ 1,000 ms: 1 of 2 groups; pass rate ≥ 80%: 1 of 2 groups" in rec.explanation


def test_the_worst_constraint_sets_the_status_and_the_slowest_sets_more_calls() -> None:
    s = table(group("a", 1e-4, (900, 800, 1100), latency_p95=1800.0, latency_p95_lo=1500.0, latency_p95_hi=2100.0))
    rec = decide(s, {"max_ttft_p95_ms": 1000, "max_latency_p95_ms": 2000})
    # ttft: (200/100)^2 = 4; latency: (300/200)^2 = 2.25 -> the larger, 4: 60 more
    assert rec.more_calls == 60 and status(rec) == {"a": "possible"}
    rec = decide(s, {"max_ttft_p95_ms": 1000, "max_latency_p95_ms": 1700})
    assert status(rec) == {"a": "fails"} and rec.candidate is None


def test_an_estimate_on_the_limit_cannot_be_decided_by_more_calls() -> None:
    rec = decide(table(group("a", 1e-4, (1000, 900, 1100))), {"max_ttft_p95_ms": 1000})
    assert rec.candidate == {"model_requested": "a"} and rec.more_calls is None
    assert "more calls may not decide it" in rec.explanation


def test_server_ttft_reads_the_server_columns() -> None:
    s = table(group("a", 1e-4, (5000, 4000, 6000), ttft_server_p50=100.0, ttft_server_p95=300.0,
                    ttft_server_p95_lo=250.0, ttft_server_p95_hi=350.0))
    assert decide(s, {"max_ttft_p95_ms": 1000}).choice is None
    assert decide(s, {"max_ttft_p95_ms": 1000}, ttft="server").choice == {"model_requested": "a"}


def test_several_axes_give_a_dict_of_axis_values() -> None:
    rows = [dict(group("m", 1e-4), optimize="cost", provider="groq"),
            dict(group("m", 2e-4), optimize="ttft", provider="cerebras")]
    rec = decide(pd.DataFrame(rows), {"max_ttft_p95_ms": 1000})
    assert rec.axes == ["model_requested", "optimize", "provider"]
    assert rec.choice == {"model_requested": "m", "optimize": "cost", "provider": "groq"}
    assert "Recommended: m / cost / groq" in rec.explanation


# -- bad input -------------------------------------------------------------------------------------------------


def test_an_unknown_slo_keyword_is_named_before_anything_else() -> None:
    with pytest.raises(AnalysisError) as e:
        recommend(None, max_ttft_p99_ms=500)  # not even a comparison: the keyword is reported first
    msg = str(e.value)
    assert "\n" not in msg and "'max_ttft_p99_ms'" in msg
    assert all(k in msg for k in CONSTRAINTS)
    with pytest.raises(AnalysisError, match="unknown constraint 'p95'"):
        decide(table(group("a", 1e-4)), {"p95": 1})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_pass_rate": 1.5}, "min_pass_rate is a rate between 0 and 1"),
    ({"max_ttft_p95_ms": -1}, "max_ttft_p95_ms must be a positive"),
    ({"max_latency_p95_ms": "fast"}, "max_latency_p95_ms must be a number"),
    ({"ci": 95}, "ci must be a level between 0 and 1"),
    ({"ttft": "wall"}, "ttft must be 'client' or 'server'"),
])
def test_bad_values_are_one_line_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(AnalysisError, match=match) as e:
        recommend(pd.DataFrame(), **kwargs)
    assert "\n" not in str(e.value)


def test_an_empty_comparison_is_an_analysis_error() -> None:
    with pytest.raises(AnalysisError, match="the comparison is empty"):
        recommend(pd.DataFrame(), max_ttft_p95_ms=1000)
    with pytest.raises(AnalysisError, match="the comparison is empty"):
        recommend(Comparison(pd.DataFrame(columns=["status", "model_requested"])))
    with pytest.raises(AnalysisError, match="the comparison is empty"):
        decide(pd.DataFrame(columns=["model_requested", "calls"]), {})
    with pytest.raises(AnalysisError, match="expected a Comparison"):
        recommend([1, 2, 3])


def test_a_constraint_without_data_says_why() -> None:
    s = table(group("a", 1e-4, pass_rate=np.nan, pass_rate_lo=np.nan, pass_rate_hi=np.nan, checked=0))
    with pytest.raises(AnalysisError, match="min_pass_rate cannot be judged: no call was checked"):
        decide(s, {"min_pass_rate": 0.9})
    with pytest.raises(AnalysisError, match="needs the summary column 'latency_p95'"):
        decide(s, {"max_latency_p95_ms": 1000})
    s = table(group("a", 1e-4, (np.nan, np.nan, np.nan)))
    with pytest.raises(AnalysisError, match="TTFT needs stream=True"):
        decide(s, {"max_ttft_p95_ms": 1000})


# -- display ----------------------------------------------------------------------------------------------------


def test_renders_in_a_terminal_and_a_notebook_with_escaping() -> None:
    s = table(group("<script>x</script>", 1e-4, (900, 800, 1100)), group("b", 2e-4, (700, 600, 800)))
    rec = decide(s, {"max_ttft_p95_ms": 1000})
    text = str(rec)
    assert text == repr(rec) and text.startswith("Recommended: b")
    assert "status" in text and "possible" in text and "more_calls" in text
    page = rec._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<table" in page and "meets_max_ttft_p95_ms" in page
    assert list(rec.display_table().columns) == [
        "model_requested", "calls", "cost_mean_usd", "ttft_client_p95", "ttft_client_p95_lo", "ttft_client_p95_hi",
        "meets_max_ttft_p95_ms", "status", "more_calls"]


# -- end to end on the offline gateway -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=3, speed=0.02) as g:
        yield g


def test_recommend_on_an_offline_comparison(gw: GatewayHandle) -> None:
    client = ak.Client("ak_test_recommend", base_url=gw.base_url)
    result = ak.compare(["What is 2 + 2?", "Name a colour.", "Say hi."], models=["gpt-4o", "gpt-4o-mini"],
                        strategies=["cost-focus"], repeats=4, client=client, ledger=None, progress=False,
                        max_tokens=16)
    assert len(result) == 24
    loose = recommend(result, max_ttft_p95_ms=60_000, min_success_rate=0.5)
    assert loose.choice is not None and set(loose.choice) == {"model_requested"}
    summary = loose.table.set_index("model_requested")
    cheapest = summary["cost_mean_usd"].idxmin()
    assert loose.choice == {"model_requested": cheapest} and summary.loc[cheapest, "status"] == "confirmed"
    assert {"ttft_client_p95_hi", "success_rate_lo", "few_calls"} <= set(loose.table.columns)
    tight = recommend(result, max_ttft_p95_ms=0.001)
    assert tight.choice is None and set(tight.table["status"]) == {"fails"}
    assert recommend(result, seed=1).choice == {"model_requested": cheapest}  # no constraint: the cheapest
    with pytest.raises(AnalysisError, match="min_pass_rate cannot be judged"):
        recommend(result, min_pass_rate=0.9)  # no checks ran


def test_recommend_under_a_pass_rate_on_an_offline_comparison(gw: GatewayHandle) -> None:
    """Whatever the simulated answers, the choice is confirmed on every bound and no confirmed group is cheaper."""
    client = ak.Client("ak_test_recommend", base_url=gw.base_url)
    prompts = [{"prompt": "What is 2 + 2?", "expect": "4", "id": "sum"},
               {"prompt": "What is 7 * 6?", "expect": "42", "id": "mul"}]
    result = ak.compare(prompts, models=["llama-3.3-70b"], strategies=["cost-focus", "ttft-focus"], repeats=6,
                        client=client, ledger=None, progress=False, max_tokens=16, checks=[contains()])
    rec = recommend(result, max_ttft_p95_ms=30_000, min_pass_rate=0.3)
    t = rec.table
    assert rec.axes == ["optimize", "provider"] and len(t) == 2 and set(t["checked"]) == {12}
    confirmed = t[t["status"] == "confirmed"]
    assert ((confirmed["pass_rate_lo"] >= 0.3) & (confirmed["ttft_client_p95_hi"] <= 30_000)).all()
    if rec.choice is not None:
        chosen = t[(t["optimize"] == rec.choice["optimize"]) & (t["provider"] == rec.choice["provider"])]
        assert chosen["status"].tolist() == ["confirmed"]
        assert float(chosen["cost_mean_usd"].iloc[0]) == confirmed["cost_mean_usd"].min()
    page = rec._repr_html_()
    assert "meets_min_pass_rate" in page and "pass_rate_lo" in page
