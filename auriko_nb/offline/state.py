"""Simulation state: thread-safe stats and request records, credit balance, rate window, id counters."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any

from .budget import BudgetConfig, budget_error
from .catalog import Catalog
from .envelope import GatewayError, retry_after, seconds_text
from .faults import FaultConfig, FaultPlan

__all__ = ["Stats", "SimState", "DEFAULT_RPM"]

# Nominal limit reported in the X-RateLimit-* headers when no rpm is enforced.
DEFAULT_RPM = 600
WORKSPACE_ID = "ws_offline_simulation"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Stats:
    """Counters and the list of received requests, shared with other threads under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.successes = 0
        self.faults: dict[str, int] = {}

    def reset(self) -> None:
        """Forget every record and counter (the in-flight count stays: those requests are still open)."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight
            self.successes = 0
            self.faults.clear()

    def add_record(self, record: dict[str, Any]) -> None:
        """Append a received-request record."""
        with self._lock:
            self.requests.append(record)

    def begin(self) -> None:
        """An inference request started."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        """An inference request finished (in any way)."""
        with self._lock:
            self.in_flight -= 1

    def count_fault(self, kind: str) -> None:
        """One more injected fault of this kind."""
        with self._lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1

    def count_success(self) -> None:
        """One more completed, charged inference call."""
        with self._lock:
            self.successes += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of the counters (not the records)."""
        with self._lock:
            return {"in_flight": self.in_flight, "max_in_flight": self.max_in_flight, "successes": self.successes,
                    "requests": len(self.requests), "faults": dict(self.faults)}

    def __repr__(self) -> str:
        return f"Stats({self.snapshot()})"


class SimState:
    """Everything one simulated gateway remembers; lives at `app.state.sim`."""

    def __init__(self, catalog: Catalog, *, seed: int, speed: float, faults: FaultConfig, rpm: int | None,
                 credit_usd: float, fixed_latency_ms: float | None = None, budget: BudgetConfig | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        if rpm is not None and rpm < 1:
            raise ValueError("rpm must be >= 1 or None")
        if fixed_latency_ms is not None and not (math.isfinite(fixed_latency_ms) and fixed_latency_ms >= 0):
            raise ValueError("fixed_latency_ms must be a finite number >= 0 or None")
        self.catalog = catalog
        self.seed = seed
        self.speed = speed
        self.fixed_latency_ms = fixed_latency_ms  # pins every call's TTFT (times speed), the rest right after
        self.faults = faults
        self.fault_plan = FaultPlan(faults, seed)
        self.rpm = rpm
        self.credit_usd = credit_usd
        self.balance_micro = credit_usd * 1_000_000
        self.spent_micro = 0.0
        self.budget = budget  # a simulated spending cap (see budget.py), or None
        self.stats = Stats()
        self.started_at = time.time()
        self.workspace_id = WORKSPACE_ID
        self._lock = threading.Lock()
        self._counter = 0
        self._window: deque[float] = deque()
        self._prompt_cache: dict[tuple[str, str], None] = {}
        self._occurrences: dict[str, int] = {}

    def next_request(self) -> tuple[int, str]:
        """The next arrival number and its request id (`req_` + 24 hex, deterministic from seed and counter)."""
        with self._lock:
            self._counter += 1
            n = self._counter
        digest = hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=12).hexdigest()
        return n, "req_" + digest

    @property
    def window_seconds(self) -> float:
        """The rolling rate-limit window: 60 s scaled by speed."""
        return 60.0 * self.speed

    def _trim(self, now: float) -> None:
        cutoff = now - self.window_seconds
        while self._window and self._window[0] <= cutoff:
            self._window.popleft()

    def admit(self, now: float) -> None:
        """Count an inference request against the rpm window and the credit balance, or raise the 429."""
        with self._lock:
            self._trim(now)
            if self.rpm is not None and len(self._window) >= self.rpm:
                wait = retry_after(self._window[0] + self.window_seconds - now)
                raise GatewayError(
                    "rate_limit_exceeded",
                    f"Rate limit exceeded ({self.rpm} requests per minute). Retry after {seconds_text(wait)}.",
                    headers={"retry-after": wait, "x-rate-limit-source": "auriko"},
                )
            if self.budget is not None and self.spent_micro >= self.budget.limit_usd * 1_000_000:
                raise budget_error(self.budget, self.spent_micro / 1_000_000)
            if self.balance_micro <= 0:
                raise GatewayError("insufficient_quota", "Credit balance exhausted; add credits to continue.",
                                   suggestion="Restart the offline gateway with a larger credit_usd.")
            self._window.append(now)

    def rate_headers(self, now: float) -> dict[str, str]:
        """The X-RateLimit-* trio and X-Credits-Balance-Microdollars for an inference response."""
        with self._lock:
            self._trim(now)
            limit = self.rpm if self.rpm is not None else DEFAULT_RPM
            used = len(self._window)
            reset_in = (self._window[0] + self.window_seconds - now) if self._window else self.window_seconds
            balance = self.balance_micro
        return {
            "x-ratelimit-limit-requests": str(limit),
            "x-ratelimit-remaining-requests": str(max(limit - used, 0)),
            "x-ratelimit-reset-requests": _iso(time.time() + reset_in),
            "x-credits-balance-microdollars": str(int(round(balance))),
            **self.budget_headers(),
        }

    def budget_headers(self) -> dict[str, str]:
        """`X-Budget-<Period>-Limit` / `-Spend` when a budget is configured (inference responses and /v1/me)."""
        return self.budget.headers(self.spent_micro / 1_000_000) if self.budget is not None else {}

    def budget_fault(self, period: str | None = None, scope: str | None = None) -> GatewayError:
        """The 429 of an injected `budget_exhausted` fault: the configured budget (else a daily workspace budget
        equal to the spend so far) has just run out; `period`/`scope` override it."""
        spent = self.spent_micro / 1_000_000
        base = self.budget or BudgetConfig(round(spent, 6))
        return budget_error(BudgetConfig(base.limit_usd, period or base.period, scope or base.scope), spent)

    def charge(self, cost_usd: float) -> None:
        """Debit one successful call: balance falls, the success counter rises."""
        with self._lock:
            self.balance_micro -= cost_usd * 1_000_000
            self.spent_micro += cost_usd * 1_000_000
        self.stats.count_success()

    def cache_hit(self, provider: str, prompt_key: str) -> bool:
        """Whether this provider has seen this prompt before (simulated prompt caching); remembers it."""
        key = (provider, prompt_key)
        with self._lock:
            if key in self._prompt_cache:
                return True
            if len(self._prompt_cache) >= 50_000:
                self._prompt_cache.pop(next(iter(self._prompt_cache)))
            self._prompt_cache[key] = None
            return False

    def occurrence(self, key: str) -> int:
        """How many times `key` was seen before (0 the first time); counts this time. Seeding a draw with it gives
        the k-th call of the same thing the same outcome, whatever order concurrent calls arrive in."""
        with self._lock:
            n = self._occurrences.get(key, 0)
            if n == 0 and len(self._occurrences) >= 50_000:
                self._occurrences.pop(next(iter(self._occurrences)))
            self._occurrences[key] = n + 1
            return n

    def iso(self, ts: float) -> str:
        """ISO-8601 UTC text of a wall-clock time."""
        return _iso(ts)

    def __repr__(self) -> str:
        fixed = f", fixed_latency_ms={self.fixed_latency_ms:g}" if self.fixed_latency_ms is not None else ""
        return f"SimState(seed={self.seed}, speed={self.speed}, rpm={self.rpm}{fixed})"

