"""Fault injection: server-wide rates drawn deterministically in arrival order, or forced per request by header."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .envelope import GatewayError

__all__ = ["FAULT_KINDS", "FAULT_HEADER", "FaultConfig", "Fault", "FaultPlan"]

FAULT_KINDS: tuple[str, ...] = (
    "rate_limit", "server_error", "unavailable", "stream_error", "disconnect", "malformed_json", "html_error", "stall",
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


def parse_fault_header(value: str) -> Fault:
    """Parse `X-Auriko-Fault`: a kind, `provider_down:a,b`, or both separated by ';'."""
    kind: str | None = None
    down: set[str] = set()
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        if part.startswith("provider_down:"):
            down.update(x.strip() for x in part.split(":", 1)[1].split(",") if x.strip())
        elif part in FAULT_KINDS:
            kind = part
        else:
            raise GatewayError(
                "invalid_parameter_value", f"X-Auriko-Fault: unknown fault {part!r}", param="X-Auriko-Fault",
                suggestion=f"Use one of {', '.join(FAULT_KINDS)} or provider_down:<name>[,<name>...].",
            )
    return Fault(kind, frozenset(down))


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
        if header:
            forced = parse_fault_header(header)
            kind = forced.kind or kind
            down = down | forced.providers_down
        return Fault(kind, down)
