"""Intervals and differences checked against known distributions (seeded): Wilson against published values and
binomial coverage, the bootstrap's 95 % intervals cover the true median / mean in about 95 % of simulated draws,
`difference` finds a known shift and not a zero one, and pairs by prompt exactly when both groups answered the
same prompts. Bad input is a one-line AnalysisError."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from auriko_nb.errors import AnalysisError
from auriko_nb.measure import stats
from auriko_nb.measure.comparison import Comparison
from auriko_nb.measure.stats import bootstrap_ci, compare_paired, compare_unpaired, difference, wilson

SIGMA, COST_SIGMA = 0.75, 0.5  # lognormal(0, σ): median 1, mean exp(σ² / 2); skewed like latencies / costs
MEDIAN, MEAN = 1.0, float(np.exp(COST_SIGMA**2 / 2))


def draws(n: int, count: int, seed: int, sigma: float = SIGMA) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.lognormal(0.0, sigma, n) for _ in range(count)]


def coverage(lo: np.ndarray, hi: np.ndarray, truth: float) -> float:
    return float(np.mean((lo <= truth) & (truth <= hi)))


# -- Wilson ---------------------------------------------------------------------------------------------------

def test_wilson_matches_published_values() -> None:
    # Wilson (1927) / Newcombe (1998) table: 8/10 -> 0.4902-0.9433, 0/10 -> 0-0.2775, 2/2 -> 0.3424-1
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson(2, 2) == (pytest.approx(0.3424, abs=1e-4), 1.0)
    lo, hi = wilson(np.array([5, 0, 3]), np.array([10, 0, 3]), 0.9)
    assert lo[0] == pytest.approx(0.2693, abs=1e-4) and hi[0] == pytest.approx(0.7307, abs=1e-4)  # z = 1.6449
    assert np.isnan(lo[1]) and np.isnan(hi[1]) and hi[2] == 1.0  # no calls: no interval


def test_wilson_covers_the_true_rate_in_about_95_percent_of_binomial_draws() -> None:
    rng = np.random.default_rng(11)
    for p, n in ((0.3, 50), (0.8, 30), (0.5, 12)):
        k = rng.binomial(n, p, size=4000)
        lo, hi = wilson(k, np.full(k.shape, n), 0.95)
        assert 0.92 <= coverage(lo, hi, p) <= 0.98, (p, n, coverage(lo, hi, p))


# -- bootstrap ------------------------------------------------------------------------------------------------

def test_the_bootstrap_interval_of_the_median_covers_the_true_median_about_95_percent() -> None:
    for n in (40, 400):
        lo, hi = bootstrap_ci(draws(n, 400, seed=n), "median", 0.95, 2000, seed=1)
        assert 0.92 <= coverage(lo, hi, MEDIAN) <= 0.98, (n, coverage(lo, hi, MEDIAN))


def test_the_bootstrap_interval_of_the_mean_covers_the_true_mean_about_95_percent() -> None:
    for n in (100, 1000):  # index resampling (B·n within the budget), then the Cornish–Fisher draw
        assert (n * 2000 <= stats.DIRECT_BUDGET) == (n == 100)
        lo, hi = bootstrap_ci(draws(n, 400, seed=n + 1, sigma=COST_SIGMA), "mean", 0.95, 2000, seed=2)
        assert 0.92 <= coverage(lo, hi, MEAN) <= 0.98, (n, coverage(lo, hi, MEAN))


def test_the_p95_interval_covers_the_true_p95_for_a_few_hundred_calls() -> None:
    truth = float(np.exp(SIGMA * 1.6448536269514722))
    lo, hi = bootstrap_ci(draws(400, 400, seed=3), "p95", 0.95, 2000, seed=3)
    assert 0.92 <= coverage(lo, hi, truth) <= 0.98


def test_order_statistic_draws_match_sorting_index_resamples() -> None:
    """The O(B) quantile draw has the distribution of np.quantile over (B, n) index resamples."""
    x = np.random.default_rng(5).lognormal(0.0, SIGMA, 300)
    for q in (0.5, 0.95):
        direct = stats._resampled_direct(x, q, 20000, np.random.default_rng(1))
        fast = stats._resampled_quantile(np.sort(x), q, 20000, np.random.default_rng(2))
        spread = np.quantile(direct, 0.975) - np.quantile(direct, 0.025)
        for tail in (0.025, 0.5, 0.975):
            assert abs(np.quantile(direct, tail) - np.quantile(fast, tail)) < 0.06 * spread, (q, tail)
    direct = stats._resampled_direct(x, None, 20000, np.random.default_rng(1))
    approx = stats._resampled_mean(x, 20000, np.random.default_rng(2))
    spread = np.quantile(direct, 0.975) - np.quantile(direct, 0.025)
    for tail in (0.025, 0.5, 0.975):
        assert abs(np.quantile(direct, tail) - np.quantile(approx, tail)) < 0.06 * spread, tail


def test_bootstrap_is_seeded_and_handles_tiny_groups() -> None:
    groups = [np.array([1.0, 5.0, 2.0, np.nan, 9.0]), np.array([]), np.array([np.nan]), np.array([4.0])]
    lo, hi = bootstrap_ci(groups, "median", 0.9, 1000, seed=7)
    again = bootstrap_ci(groups, "median", 0.9, 1000, seed=7)
    assert np.array_equal(lo, again[0], equal_nan=True) and np.array_equal(hi, again[1], equal_nan=True)
    assert 1.0 <= lo[0] <= 2.0 <= hi[0] <= 9.0  # NaN ignored
    assert np.isnan(lo[1]) and np.isnan(hi[2]) and lo[3] == hi[3] == 4.0
    other = bootstrap_ci([np.arange(50.0)], "mean", 0.95, 1000, seed=8)
    assert other != bootstrap_ci([np.arange(50.0)], "mean", 0.95, 1000, seed=9)


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(stat="mode"), "unknown statistic 'mode'"), (dict(level=95), "between 0 and 1"),
    (dict(resamples=100), "at least 1000"), (dict(level=True), "between 0 and 1"),
])
def test_bad_bootstrap_arguments_are_one_line_analysis_errors(kwargs: dict[str, Any], words: str) -> None:
    args: dict[str, Any] = dict(stat="median", level=0.95, resamples=2000, seed=0) | kwargs
    with pytest.raises(AnalysisError, match=words) as e:
        bootstrap_ci([np.arange(5.0)], **args)
    assert "\n" not in str(e.value)


# -- differences ----------------------------------------------------------------------------------------------

def test_a_known_shift_is_detected_and_a_zero_shift_mostly_is_not() -> None:
    found, false_alarms, covered = 0, 0, 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        a, b0 = rng.lognormal(5.0, 0.3, 40), rng.lognormal(5.0, 0.3, 40)
        b = b0 + 60.0  # b is 60 ms slower
        est, lo, hi, p = compare_unpaired(a, b, "mean", seed=seed)
        found += p < 0.05
        covered += lo <= a.mean() - b.mean() + 0 <= hi and lo <= -60 + (est + 60) <= hi
        false_alarms += compare_unpaired(a, b0, "median", seed=seed)[3] < 0.05
    assert found >= 19 and false_alarms <= 3 and covered >= 19


def test_pairing_by_prompt_sees_a_small_shift_that_prompt_spread_hides() -> None:
    rng = np.random.default_rng(4)
    base = rng.uniform(100, 2000, 16)  # prompts differ a lot; within a prompt, a is 30 ms faster
    a, b = base - 30 + rng.normal(0, 5, 16), base + rng.normal(0, 5, 16)
    est, lo, hi, p = compare_paired(a, b, "mean")
    assert est == pytest.approx(float(np.mean(a - b))) and lo < est < hi < 0 and p < 0.01
    assert compare_unpaired(a, b, "mean")[3] > 0.3


def rows(shift: float = 0.0, prompts: int = 12, repeats: int = 2, seed: int = 0) -> pd.DataFrame:
    """Two providers answering the same prompts; openai's TTFT is `shift` ms more; groq passes more checks."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 900, prompts)
    recs = []
    for provider, extra, acc in (("groq", 0.0, 0.95), ("openai", shift, 0.5)):
        for i in range(prompts):
            for _ in range(repeats):
                recs.append(dict(model_requested="llama", optimize="cost", provider=provider, status="ok",
                                 stream=True, prompt_id=f"p{i}", ttft_ms_client=base[i] + extra + rng.normal(0, 10),
                                 latency_ms=base[i] * 2, cost_usd=0.001 if provider == "groq" else 0.0015,
                                 passed=bool(rng.random() < acc)))
    return pd.DataFrame(recs)


def test_difference_between_groups_of_a_comparison() -> None:
    c = Comparison(rows(shift=50.0))
    d = difference(c, "ttft", a="groq", b={"provider": "openai"})
    assert d.paired and d.n_a == d.n_b == 24 and d.metric == "ttft" and d.level == 0.95
    assert d.lo <= -50 <= d.hi < 0 and d.lo <= d.estimate <= d.hi and d.p_value < 0.05
    assert "groq's median TTFT (client) is" in d.text and "lower than openai's" in d.text and "paired over 12" in d.text
    assert "\n" not in d.text and str(d) == d.text and "auriko-difference" in d._repr_html_()
    assert c.difference("ttft", "groq", "openai") == d  # seeded: the same answer twice
    cost = difference(c, "cost", a="groq", b="openai")
    assert cost.estimate == pytest.approx(-0.0005) and cost.p_value < 0.01
    rate = difference(c, "pass_rate", a="groq", b="openai")
    assert 0 < rate.estimate <= 1 and rate.lo <= rate.estimate <= rate.hi
    none = difference(Comparison(rows(shift=0.0)), "latency", a="groq", b="openai")
    assert none.estimate == 0 and none.p_value > 0.5 and "do not show a clear difference" in none.text


def test_pairing_is_chosen_only_when_both_groups_answered_the_same_prompts() -> None:
    df = rows(shift=50.0)
    assert difference(df, "ttft", a="groq", b="openai").paired
    assert not difference(df.drop(columns="prompt_id"), "ttft", a="groq", b="openai").paired
    fewer = df[~((df["provider"] == "openai") & (df["prompt_id"] == "p0"))]
    d = difference(fewer, "ttft", a="groq", b="openai")
    assert not d.paired and (d.n_a, d.n_b) == (24, 22) and "unpaired" in d.text
    one_prompt = df[df["prompt_id"] == "p3"]
    assert not difference(one_prompt, "ttft", a="groq", b="openai").paired  # one prompt: nothing to pair over


@pytest.mark.parametrize(("call", "words"), [
    (lambda c: difference(c, "speed", a="groq", b="openai"), "unknown metric 'speed'"),
    (lambda c: difference(c, "ttft", a="mistral", b="openai"), "no group matches a='mistral'"),
    (lambda c: difference(c, "ttft", a={"vendor": "x"}, b="openai"), "names no column 'vendor'"),
    (lambda c: difference(c, "ttft", a="groq", b="groq"), "select some of the same calls"),
    (lambda c: difference(c, "ttft", a=3, b="groq"), "must be a dict of axis values or a group name"),
    (lambda c: difference(c, "ttft", a="groq", b="openai", level=1.5), "between 0 and 1"),
    (lambda c: difference(Comparison(c.rows.iloc[:0]), "ttft", a="groq", b="openai"), "no rows"),
    (lambda c: difference(pd.DataFrame(), "cost", a="groq", b="openai"), "no rows"),
    (lambda c: difference(c.rows.assign(passed=None), "pass_rate", a="groq", b="openai"), "no pass_rate values"),
])
def test_bad_difference_input_is_one_line_analysis_error(call: Any, words: str) -> None:
    with pytest.raises(AnalysisError, match=words) as e:
        call(Comparison(rows()))
    assert "\n" not in str(e.value)


def test_a_difference_over_too_few_prompts_says_so_instead_of_claiming_one() -> None:
    """Two prompts: the bootstrap interval is degenerate and the sign-flip p-value cannot go below 0.5."""
    d = difference(rows(shift=300.0, prompts=2, repeats=1), "ttft", a="groq", b="openai")
    assert d.paired and d.few and "too few prompts (2) to tell" in d.text
    many = difference(rows(shift=300.0, prompts=12), "ttft", a="groq", b="openai")
    assert not many.few and "to tell" not in many.text and "clear" not in many.text


def test_an_interval_clear_of_zero_with_a_large_p_is_not_called_a_difference() -> None:
    from auriko_nb.measure.stats import _sentence

    text = _sentence("median TTFT", "ttft", "a", "b", (-20.0, -30.0, -10.0, 0.2), 0.95, "paired over 8 prompts", 8)
    assert "do not show a clear difference" in text
