"""Fault injection: server-wide rates drawn deterministically in arrival order, or forced per request by header.

Kinds: `rate_limit` (429 from Auriko's own limiter: `X-Rate-Limit-Source: auriko`), `upstream_rate_limit` (429
passed on from the provider: `X-Rate-Limit-Source: upstream`, `X-Error-Provider`), `budget_exhausted` (429 with
the `X-Budget-*` headers, see budget.py; the header form `budget_exhausted:<period>:<scope>` picks the budget),
`server_error` (500 internal_error), `unavailable` (503), `stream_error`, `disconnect`, `malformed_json`,
`html_error` (a proxy's 502 page) and `stall` (504 after `stall_seconds`). A 429 or 503 carries `Retry-After`
in whole seconds (1 s times speed, rounded up), as servers send it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .budget import PERIODS, SCOPES
from .envelope import GatewayError

__all__ = ["FAULT_KINDS", "FAULT_HEADER", "FaultConfig", "Fault", "FaultPlan"]

FAULT_KINDS: tuple[str, ...] = (
    "rate_limit", "server_error", "unavailable", "stream_error", "disconnect", "malformed_json", "html_error", "stall",
    "upstream_rate_limit", "budget_exhausted",
)
FAULT_HEADER = "x-auriko-fault"
DEFAULT_STALL_SECONDS = 30.0


@dataclass(frozen=True)
class FaultConfig:
    """What a server injects: a rate per fault kind, providers that are down, and how long a stall lasts."""

    rates: Mapping[str, float] = field(default_factory=dict)
    providers_down: frozenset[str] = frozenset()
    stall_seconds: float = DEFAULT_STALL_SECONDS

    def __post_init__(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
            if not (math.isfinite(rate) and 0 <= rate <= 1):
                raise ValueError(f"fault rate for {kind!r} must be in [0, 1], got {rate}")
        if sum(self.rates.values()) > 1 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        if not self.stall_seconds >= 0:
            raise ValueError("stall_seconds must be >= 0")

    @classmethod
    def coerce(cls, value: FaultConfig | Mapping[str, Any] | None) -> FaultConfig:
        """A FaultConfig from itself, None, or a mapping like {"rate_limit": 0.1, "providers_down": ["openai"]}."""
        if value is None:
            return cls()
        if isinstance(value, FaultConfig):
            return value
        rates: dict[str, float] = {}
        down: Iterable[str] = ()
        stall = DEFAULT_STALL_SECONDS
        for key, v in value.items():
            if key == "providers_down":
                down = [v] if isinstance(v, str) else list(v)
            elif key == "stall_seconds":
                stall = float(v)
            else:
                rates[key] = float(v)
        return cls(rates=rates, providers_down=frozenset(down), stall_seconds=stall)


@dataclass(frozen=True)
class Fault:
    """The faults applied to one request: at most one kind, plus the providers failing for it."""

    kind: str | None = None
    providers_down: frozenset[str] = frozenset()
    args: tuple[str, ...] = ()  # what follows the kind in the header, e.g. ("weekly", "api_key")


def parse_fault_header(value: str) -> Fault:
    """Parse `X-Auriko-Fault`: a kind, `provider_down:a,b`, or both separated by ';'."""
    kind: str | None = None
    args: tuple[str, ...] = ()
    down: set[str] = set()
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        name, *rest = part.split(":")
        if name == "provider_down" and rest:
            down.update(x.strip() for x in part.split(":", 1)[1].split(",") if x.strip())
        elif part in FAULT_KINDS or (name == "budget_exhausted" and _budget_args(rest)):
            kind, args = name, tuple(rest)
        else:
            raise GatewayError(
                "invalid_parameter_value", f"X-Auriko-Fault: unknown fault {part!r}", param="X-Auriko-Fault",
                suggestion=f"Use one of {', '.join(FAULT_KINDS)}, budget_exhausted:<period>:<scope> or "
                           f"provider_down:<name>[,<name>...].",
            )
    return Fault(kind, frozenset(down), args)


def _budget_args(rest: list[str]) -> bool:
    """Whether `budget_exhausted:` is followed by a known period and (optionally) a known scope."""
    return 1 <= len(rest) <= 2 and rest[0] in PERIODS and (len(rest) == 1 or rest[1] in SCOPES)


class FaultPlan:
    """Draws each inference request's fault from a Random seeded by the server seed, in arrival order."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._rng = random.Random(f"faults:{seed}")
        self._table = [(k, config.rates[k]) for k in FAULT_KINDS if config.rates.get(k, 0) > 0]

    def draw(self, header: str | None) -> Fault:
        """This request's fault: the header wins over the drawn one (a draw is consumed either way)."""
        u = self._rng.random()
        kind: str | None = None
        acc = 0.0
        for k, rate in self._table:
            acc += rate
            if u < acc:
                kind = k
                break
        down = self.config.providers_down
        args: tuple[str, ...] = ()
        if header:
            forced = parse_fault_header(header)
            if forced.kind:
                kind, args = forced.kind, forced.args
            down = down | forced.providers_down
        return Fault(kind, down, args)
