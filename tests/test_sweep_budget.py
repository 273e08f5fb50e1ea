"""The sweep's budget cap: in-flight reservations, upper bounds with max_tokens, observed costs, billed errors and
calls without a reported cost, and no retry once a stream has begun. Runs on the in-process offline gateway."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

import auriko_nb as ak
from auriko_nb.client import _retry
from auriko_nb.errors import (
    AurikoError,
    RateLimitError,
    RequestValidationError,
    StreamError,
    stream_error_class,
)
from auriko_nb.measure.analysis import summarize
from auriko_nb.measure.estimate import (
    bound_call_usd,
    bound_prompt_tokens,
    bound_text_tokens,
    max_output_tokens,
    max_price_per_token,
)
from auriko_nb.measure.sweep import Cell, Sweep
from auriko_nb.offline import GatewayHandle, serve
from auriko_nb.offline.textgen import messages_tokens
from auriko_nb.types.catalog import Directory

MAX_TOKENS = 20  # the offline answers are longer, so every answer is cut to exactly this many tokens
ClientOn = Callable[[GatewayHandle], ak.Client]  # the `client_on` fixture (tests/conftest.py)


def sdk_status_rule(err: AurikoError) -> bool:
    """The SDK's status rule with no exception for streams: what a later change could make `retryable` say."""
    return err.type in _retry.RETRYABLE_TYPES and err.code not in _retry.NON_RETRYABLE_CODES


# -- input and estimates -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["0.5", float("nan"), -1.0, 0, float("inf"), True, [1]])
def test_a_bad_budget_is_one_line_before_any_call(gw: GatewayHandle, bad: Any, client_on: ClientOn) -> None:
    with pytest.raises(RequestValidationError) as info:
        Sweep(["p"], models=["gpt-4o"], client=client_on(gw), ledger=None, budget_usd=bad)
    assert info.value.param == "budget_usd" and "budget_usd" in str(info.value) and "\n" not in str(info.value)
    assert not [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]


def test_the_prompt_token_bound_is_never_below_the_gateway_count() -> None:
    texts = ["hi", "", "Explain TTFT in one line.", "x" * 1001, "数字 und Zahlen: 12345, 67890!", "emoji 🎉🎉",
             "def f(x):\n    return [i ** 2 for i in range(x)]  # code\n" * 5]
    for t in texts:
        for messages in ([{"role": "user", "content": t}],
                         [{"role": "system", "content": "Be brief."}, {"role": "user", "content": t}]):
            assert bound_prompt_tokens(messages) >= messages_tokens(messages), t
        assert bound_prompt_tokens(t) == bound_prompt_tokens([{"role": "user", "content": t}])
    # the rule: 2 ASCII characters a token (a tokenizer averages about 4 on English), every other UTF-8 byte a token
    assert bound_text_tokens("a" * 10) == 5 and bound_text_tokens("é") == 2 and bound_text_tokens("数") == 3
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    assert bound_prompt_tokens("hi", {"tools": tools}) > bound_prompt_tokens("hi")  # tool schemas are prompt too


def test_the_output_cap_comes_from_max_tokens_times_n() -> None:
    assert max_output_tokens({}) is None and max_output_tokens({"temperature": 0}) is None
    assert max_output_tokens({"max_tokens": 30}) == 30
    assert max_output_tokens({"max_tokens": 30, "max_completion_tokens": 50}) == 50  # the larger one counts
    assert max_output_tokens({"max_tokens": 30, "n": 3}) == 90
    assert max_output_tokens({"extra_body": {"max_completion_tokens": 40}}) == 40


def test_the_bound_takes_the_highest_price_any_allowed_provider_and_tier_charges(gw: GatewayHandle,
                                                                                 client_on: ClientOn) -> None:
    d = client_on(gw).directory()
    # claude-sonnet-4-6: anthropic standard 3/15 and priority 18/90, bedrock 3/15, vertex 3.3/16.5 (per 1M tokens)
    per_m = {k: tuple(round(x * 1e6, 6) for x in v) for k, v in {
        "any": max_price_per_token(d, "claude-sonnet-4-6"),  # a strategy is a preference: any provider may serve
        "not anthropic": max_price_per_token(d, "claude-sonnet-4-6", {"exclude_providers": ["anthropic"]}),
        "bedrock only": max_price_per_token(d, "claude-sonnet-4-6", {"providers": ["bedrock"]}),
        "standard tier": max_price_per_token(d, "claude-sonnet-4-6", {"tier": "standard"}),
        "alias": max_price_per_token(d, "sonnet-4.6", {"optimize": "cost"}),
    }.items() if v is not None}
    assert per_m == {"any": (18.0, 90.0), "not anthropic": (3.3, 16.5), "bedrock only": (3.0, 15.0),
                     "standard tier": (3.3, 16.5), "alias": (18.0, 90.0)}
    assert max_price_per_token(d, "no-such-model") is None
    # a cache-write price and priced variants (e.g. a long-context surcharge) can be charged too
    raw = {"models": {"m": {"family": "f", "display_name": "M", "providers": [{"provider": "p", "provider_model_id": "m",
           "tiers": [{"name": "standard", "input_price": 1.0, "output_price": 2.0, "cache_write_price": 1.25,
                      "price_variants": [{"role": "output", "price": 4.0, "constraints": {"min_prompt": 1}}]}]}]}}}
    assert max_price_per_token(Directory.model_validate(raw), "m") == (1.25e-6, 4.0e-6)
    bound = bound_call_usd(d, "gpt-4o", None, "Explain TTFT", {"max_tokens": 100})
    assert bound == pytest.approx(bound_prompt_tokens("Explain TTFT") * 2.5e-6 + 100 * 10e-6)
    assert bound_call_usd(d, "gpt-4o", None, "Explain TTFT", {}) is None  # no output cap: no bound


# -- the cap under concurrency ---------------------------------------------------------------------------------

def cap_prompts(n: int) -> list[str]:
    return [f"cap probe {i:03d} about routing budgets" for i in range(n)]  # equal lengths: equal bounds and costs


@pytest.mark.parametrize("concurrency", [8, 16])
def test_the_cap_holds_at_high_concurrency_with_max_tokens(gw: GatewayHandle, concurrency: int,
                                                           client_on: ClientOn) -> None:
    prompts = cap_prompts(40)
    bound = bound_call_usd(client_on(gw).directory(), "gpt-4o", None, prompts[0], {"max_tokens": MAX_TOKENS})
    assert bound is not None
    budget = 10.5 * bound
    sweep = Sweep(prompts, models=["gpt-4o"], concurrency=concurrency, client=client_on(gw), ledger=None,
                  progress=False, max_tokens=MAX_TOKENS, expected_output_tokens=1, budget_usd=budget)
    df = asyncio.run(sweep.run())
    costs = df["cost_usd"].astype(float)
    ok = df[df.status == "ok"]
    assert len(df) == 40 and set(df.status) == {"ok", "cancelled"} and sweep.stop_reason == "budget"
    assert costs.sum() <= budget and sweep.spent_usd == pytest.approx(costs.sum(), abs=1e-12)
    assert (ok["completion_tokens"].astype(int) == MAX_TOKENS).all()
    assert (ok["cost_usd"].astype(float) <= bound).all() and costs.max() > 0.85 * bound  # a tight bound
    # It stops only when nothing is in flight and one more bound does not fit: spent > budget - bound, so at least
    # (budget - bound) / (the dearest call) calls ran -- here 10, though a call costs ~0.9 bound.
    assert sweep.spent_usd > budget - bound
    assert len(ok) >= math.floor((budget - bound) / costs.max()) >= 10
    assert gw.stats.max_in_flight <= 10  # never more reservations in flight than the budget holds


def test_observed_costs_above_the_directory_stop_the_sweep_sooner(gw: GatewayHandle, client_on: ClientOn) -> None:
    class HalfPriceDirectory(Sweep):
        """The directory lists half what the gateway bills: only the observed costs can keep the cap."""

        def _estimates(self, directory: Any, todo: Any) -> dict[str, tuple[float, float | None]]:
            return {k: (e / 2, b / 2 if b is not None else None)
                    for k, (e, b) in super()._estimates(directory, todo).items()}

    prompts = cap_prompts(60)
    bound = bound_call_usd(client_on(gw).directory(), "gpt-4o", None, prompts[0], {"max_tokens": MAX_TOKENS})
    assert bound is not None
    budget = 30 * bound
    sweep = HalfPriceDirectory(prompts, models=["gpt-4o"], concurrency=4, client=client_on(gw), ledger=None,
                               progress=False, max_tokens=MAX_TOKENS, expected_output_tokens=1, budget_usd=budget)
    df = asyncio.run(sweep.run())
    costs = df.loc[df.status == "ok", "cost_usd"].astype(float)
    assert costs.min() > bound / 2  # every call really cost more than the (halved) directory bound
    # Reserving half the real cost, four calls in flight near the end would pass the budget by about two calls;
    # from the first result on, each call reserves the mean real cost, so the sweep stops in time.
    assert sweep.spent_usd <= budget and sweep.stop_reason == "budget"
    assert sweep.spent_usd > budget - 2 * costs.max()  # ...but not absurdly early


def test_without_max_tokens_the_first_call_of_a_kind_runs_alone(gw: GatewayHandle, client_on: ClientOn) -> None:
    # Issue 12's measurement: this setup at concurrency 4 spent $0.00315 of a $0.002 budget (four calls started
    # on a directory estimate far below the real cost). Without a bound, one call runs first to show the cost.
    finished: list[float] = []
    sweep = Sweep([f"budget probe {i}" for i in range(12)], models=["gpt-4o"], concurrency=4, client=client_on(gw),
                  ledger=None, progress=False, expected_output_tokens=1, budget_usd=0.002,
                  on_row=lambda row: finished.append(time.monotonic()))  # the clock of the gateway's received_at
    df = asyncio.run(sweep.run())
    received = [r["received_at"] for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]
    costs = df.loc[df.status == "ok", "cost_usd"].astype(float)
    assert sweep.stop_reason == "budget" and len(costs) >= 2 and received[1] >= finished[0]
    assert sweep.spent_usd <= 0.002 + costs.max() - costs.min()  # best effort: the mean was reserved, not the max


# -- accounting: billed errors, no-cost rows, summarize --------------------------------------------------------

class BilledErrors(Sweep):
    """Every 4th prompt: billed, then the stream broke (an error row with a cost); every 4th+1: no cost reported."""

    async def _attempt(self, client: Any, cell: Cell) -> dict[str, Any]:
        row = await super()._attempt(client, cell)
        if cell.prompt_index % 4 == 0:
            self._captured[cell.key] = {**row, "status": "error", "error_code": "stream_error",
                                        "error_type": "api_error", "error_message": "broke after the usage chunk"}
            raise StreamError("broke after the usage chunk", partial_text="...")
        if cell.prompt_index % 4 == 1:
            row["cost_usd"] = None  # as when routing_metadata.cost cannot be read
        return row


def test_spent_usd_and_summarize_agree_with_billed_errors_and_no_cost_rows(client_on: ClientOn) -> None:
    with serve(seed=5, speed=0.02, faults={"stream_error": 0.2}) as gw:
        prompts = cap_prompts(16)
        bound = bound_call_usd(client_on(gw).directory(), "gpt-4o", None, prompts[0], {"max_tokens": MAX_TOKENS})
        sweep = BilledErrors(prompts, models=["gpt-4o"], concurrency=4, client=client_on(gw), ledger=None,
                             progress=False, max_tokens=MAX_TOKENS, budget_usd=1.0)
        df = asyncio.run(sweep.run())
    assert bound is not None and len(df) == 16 and not (df.status == "cancelled").any()
    warned = df["warnings"].fillna("[]").map(lambda w: [x["code"] for x in json.loads(w)])
    estimated = df[warned.map(lambda codes: "cost_not_reported" in codes)]
    billed = df[(df.status == "error") & ~df.index.isin(estimated.index)]
    faulted = df[df["error_message"].fillna("").str.contains("mid-stream")]  # the gateway's own stream faults
    assert len(billed) >= 1 and (billed["cost_usd"].astype(float) > 0).all()
    assert len(faulted) >= 1 and set(faulted.index) <= set(estimated.index)  # failed mid-stream: may be billed
    no_cost = df[df["cell"].str.match(r"p(1|5|9|13)\|") & (df.status == "ok")]
    assert len(no_cost) >= 1 and set(no_cost.index) <= set(estimated.index)
    assert (estimated["cost_estimated_usd"].astype(float) == bound).all()  # each counts its reservation: the bound
    assert estimated["cost_usd"].isna().all()  # the estimate never poses as a reported cost
    total = summarize(df)["cost_total_usd"].sum()
    counted = df["cost_usd"].astype(float).fillna(df["cost_estimated_usd"].astype(float)).sum()
    assert abs(sweep.spent_usd - total) <= 1e-12 and abs(counted - total) <= 1e-12
    assert total > df["cost_usd"].astype(float).sum()  # the estimates are in the total
    assert sweep.errors == int((df.status == "error").sum())


def test_an_error_before_the_answer_costs_nothing(gw: GatewayHandle, client_on: ClientOn) -> None:
    with serve(seed=2, speed=0.02, faults={"server_error": 1.0}) as bad:
        sweep = Sweep(cap_prompts(3), models=["gpt-4o"], client=client_on(bad), ledger=None, progress=False,
                      max_tokens=MAX_TOKENS, budget_usd=1.0, max_retries=0)
        df = asyncio.run(sweep.run())
    assert (df.status == "error").all() and df["cost_usd"].isna().all() and sweep.spent_usd == 0


# -- no retry once the answer began ----------------------------------------------------------------------------

def test_a_mid_stream_error_is_never_retried_even_if_called_retryable(monkeypatch: pytest.MonkeyPatch,
                                                                      client_on: ClientOn) -> None:
    monkeypatch.setattr("auriko_nb.errors.is_retryable", sdk_status_rule)  # mid-stream api_errors now look retryable
    with serve(seed=3, speed=0.02, faults={"stream_error": 1.0}) as gw:
        sweep = Sweep(cap_prompts(4), models=["gpt-4o"], concurrency=2, client=client_on(gw), ledger=None,
                      progress=False, max_retries=2, max_tokens=MAX_TOKENS)
        df = asyncio.run(sweep.run())
        sent = [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]
    assert len(sent) == 4 and (df.status == "error").all() and (df["attempts"].astype(int) == 1).all()


def test_a_mid_stream_rate_limit_is_not_retried_by_the_429_branch(monkeypatch: pytest.MonkeyPatch,
                                                                   gw: GatewayHandle, client_on: ClientOn) -> None:
    monkeypatch.setattr("auriko_nb.errors.is_retryable", sdk_status_rule)
    cls = stream_error_class(RateLimitError)  # what a Responses mid-stream rate_limit_exceeded raises
    calls: list[str] = []

    class MidStream429(Sweep):
        async def _attempt(self, client: Any, cell: Cell) -> dict[str, Any]:
            calls.append(cell.key)
            raise cls("Rate limit exceeded mid-stream.", code="rate_limit_exceeded", status_code=429,
                      type="rate_limit_error", retry_after=0.01)

    sweep = MidStream429(["p"], models=["gpt-4o"], client=client_on(gw), ledger=None, progress=False)
    df = asyncio.run(sweep.run())
    assert issubclass(cls, StreamError) and issubclass(cls, RateLimitError)
    assert calls == [sweep.cells[0].key] and sweep.limiter is not None and sweep.limiter.rate_limited == 0
    assert df.status.tolist() == ["error"] and df["attempts"].tolist() == [1]

