"""Simulated budgets (§7, §8.5): a configured spending cap, and the 429 `budget_exhausted` it answers with.

Two ways to get a budget 429:

* configure one: `serve(budget=0.01)` or `serve(budget={"limit_usd": 0.01, "period": "weekly",
  "scope": "api_key"})`. Every inference response (and `/v1/me`) then carries `X-Budget-<Period>-Limit` and
  `-Spend` (USD strings); once the spend has reached the limit, a new call is refused with 429
  `budget_exhausted` (type rate_limit_error). Calls already admitted still finish and are charged, so the spend
  can pass the limit by what was in flight (the real gateway enforces slightly early; this one does not).
* inject one: the fault kind `budget_exhausted` (a rate in `faults=`, or `X-Auriko-Fault: budget_exhausted`,
  optionally `budget_exhausted:<period>:<scope>`), answered as if the configured budget (else a daily workspace
  budget equal to the spend so far) had just run out.

A budget 429 carries `X-Budget-Exceeded: true`, `X-Budget-Exceeded-Period`, `X-Budget-Exceeded-Scope`, the
period's limit and spend, `X-Rate-Limit-Source: auriko`, `X-Error-Retryable: false` and no `Retry-After`
(waiting seconds does not help; neither SDK retries it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .envelope import GatewayError

__all__ = ["BudgetConfig", "PERIODS", "SCOPES", "budget_error", "usd"]

PERIODS = ("daily", "weekly", "monthly")
SCOPES = ("workspace", "api_key", "byok_provider")


def usd(amount: float) -> str:
    """A USD amount as the budget headers carry it: a decimal string, 6 places."""
    return f"{amount:.6f}"


@dataclass(frozen=True)
class BudgetConfig:
    """A spending cap: its limit in USD, its period and its scope."""

    limit_usd: float
    period: str = "daily"
    scope: str = "workspace"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit_usd) and self.limit_usd >= 0):
            raise ValueError(f"budget limit_usd must be a finite number >= 0, got {self.limit_usd}")
        if self.period not in PERIODS:
            raise ValueError(f"budget period must be one of {', '.join(PERIODS)}, got {self.period!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"budget scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")

    @classmethod
    def coerce(cls, value: BudgetConfig | float | Mapping[str, Any] | None) -> BudgetConfig | None:
        """A BudgetConfig from itself, None, a limit in USD, or {"limit_usd": .., "period": .., "scope": ..}."""
        if value is None or isinstance(value, BudgetConfig):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(float(value))
        if isinstance(value, Mapping):
            unknown = set(value) - {"limit_usd", "period", "scope"}
            if unknown:
                raise ValueError(f"unknown budget option(s): {', '.join(sorted(unknown))}")
            return cls(float(value["limit_usd"]), str(value.get("period", "daily")), str(value.get("scope", "workspace")))
        raise ValueError(f"budget must be a number of USD, a mapping or None, got {type(value).__name__}")

    def headers(self, spent_usd: float) -> dict[str, str]:
        """`X-Budget-<Period>-Limit` and `-Spend` for this budget."""
        return {f"x-budget-{self.period}-limit": usd(self.limit_usd), f"x-budget-{self.period}-spend": usd(spent_usd)}


def budget_error(budget: BudgetConfig, spent_usd: float) -> GatewayError:
    """The 429 `budget_exhausted` for this budget, with the X-Budget-* headers."""
    headers = {"x-budget-exceeded": "true", "x-budget-exceeded-period": budget.period,
               "x-budget-exceeded-scope": budget.scope, "x-rate-limit-source": "auriko", **budget.headers(spent_usd)}
    who = budget.scope.replace("_", " ")
    return GatewayError("budget_exhausted",
                        f"The {budget.period} {who} budget of ${budget.limit_usd:.2f} is exhausted "
                        f"(spent ${spent_usd:.4f}).",
                        suggestion=f"Raise the budget in the Auriko dashboard or wait for the {budget.period} reset "
                                   f"(00:00 UTC).", headers=headers)
