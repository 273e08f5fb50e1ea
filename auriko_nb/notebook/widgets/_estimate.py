"""The comparison panel's estimate line: calls and cost before Run (the directory prices a `Sweep` plans with,
`measure.estimate.estimate_call_usd`), and the time left while it runs (from the rate so far).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...measure.estimate import DEFAULT_OUTPUT_TOKENS, estimate_call_usd

if TYPE_CHECKING:
    from ...types.catalog import Directory

__all__ = ["RunClock", "estimate_text", "money", "sweep_cost"]


def money(usd: float) -> str:
    """Dollars with two significant digits below a cent ("$0.00042"), else cents ("$1.25")."""
    if usd <= 0:
        return "$0"
    decimals = max(2, 1 - math.floor(math.log10(usd)))
    return f"${usd:.{decimals}f}"


def sweep_cost(directory: Directory, prompts: Sequence[str], models: Sequence[str],
               strategies: Sequence[str | None], repeats: int) -> tuple[float, list[str]]:
    """The expected cost of the grid (as `Sweep` estimates it before running) and the models without a price."""
    total, unpriced = 0.0, []
    for model in models:
        for strategy in strategies:
            for prompt in prompts:
                usd = estimate_call_usd(directory, model, strategy, prompt, DEFAULT_OUTPUT_TOKENS)
                if usd is None:
                    unpriced.append(model)
                    break
                total += usd * repeats
    return total, sorted(set(unpriced))


def estimate_text(calls: int, usd: float | None, unpriced: Sequence[str] = ()) -> str:
    """"N calls, about $X" (cost unknown without directory prices; unpriced models named)."""
    head = f"{calls} call{'' if calls == 1 else 's'}"
    if usd is None:
        return f"{head}, cost unknown (no directory prices)"
    text = f"{head}, about {money(usd)}"
    return text + (f" (no price for {', '.join(unpriced)})" if unpriced else "")


def duration(seconds: float) -> str:
    """A rounded duration: "8 s", "2 min 5 s"."""
    s = max(0, round(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


class RunClock:
    """Times a run: the time left is the time so far per finished call times the calls still to come."""

    def __init__(self, total: int) -> None:
        self.total, self.started = total, time.monotonic()

    def left(self, done: int) -> str:
        """ "about 8 s left" (nothing before the first call finishes, or once all have)."""
        if done <= 0 or done >= self.total:
            return ""
        per_call = (time.monotonic() - self.started) / done
        return f"about {duration(per_call * (self.total - done))} left"
