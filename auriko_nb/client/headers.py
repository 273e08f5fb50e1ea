"""Typed view of the gateway's response headers (§7): request id, rate limits, credits, budgets, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

OFFLINE_HEADER = "x-auriko-offline"
_BUDGET = "x-budget-"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except (ValueError, OverflowError):
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class ResponseHeaders:
    """The headers a notebook user cares about, parsed; unparseable values become None (as in the SDK)."""

    request_id: str | None = None
    retry_after: float | None = None
    ratelimit_limit: int | None = None
    ratelimit_remaining: int | None = None
    ratelimit_reset: str | None = None
    rate_limit_source: str | None = None
    credits_balance_microdollars: int | None = None
    budget: dict[str, str] = field(default_factory=dict)
    error_provider: str | None = None
    error_type: str | None = None
    error_retryable: bool | None = None
    token_count_model: str | None = None
    offline: bool = False

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> ResponseHeaders:
        """Parse an httpx.Headers (or any case-insensitive mapping, or a plain dict)."""
        if isinstance(headers, httpx.Headers):  # its raw list is much cheaper than .items(); last value wins
            enc = headers.encoding
            h = {k.decode(enc).lower(): v.decode(enc) for k, v in headers.raw}
        else:
            h = {k.lower(): v for k, v in headers.items()}
        get = h.get
        retryable = get("x-error-retryable")
        # Every field set at once, as __init__ would set them: a frozen dataclass's __init__ sets its 13 fields
        # one by one through object.__setattr__, which costs more than parsing them (this runs on every call).
        out = object.__new__(cls)
        out.__dict__.update(
            request_id=get("x-request-id"),
            retry_after=_float(get("retry-after")),
            ratelimit_limit=_int(get("x-ratelimit-limit-requests")),
            ratelimit_remaining=_int(get("x-ratelimit-remaining-requests")),
            ratelimit_reset=get("x-ratelimit-reset-requests"),
            rate_limit_source=get("x-rate-limit-source"),
            credits_balance_microdollars=_int(get("x-credits-balance-microdollars")),
            budget={k[len(_BUDGET):]: v for k, v in h.items() if k.startswith(_BUDGET)},
            error_provider=get("x-error-provider"),
            error_type=get("x-error-type"),
            error_retryable=None if retryable is None else retryable.strip().lower() == "true",
            token_count_model=get("x-token-count-model"),
            offline=OFFLINE_HEADER in h,
        )
        return out

    @property
    def credits_balance_usd(self) -> float | None:
        """The workspace credit balance in USD (from microdollars)."""
        m = self.credits_balance_microdollars
        return m / 1_000_000 if m is not None else None
