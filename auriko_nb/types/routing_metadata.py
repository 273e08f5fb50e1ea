"""`routing_metadata` (§5): who served the request, by which strategy, how fast and at what cost."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError, field_validator

from ._base import OpenModel


class Cost(OpenModel):
    """Billable cost of one request in USD, with cache savings and hosted-tool spend."""

    usd: float
    cache_savings_percent: float | None = None
    cache_savings_usd: float | None = None
    hosted_tool_usd: float | None = None


class RoutingWarning(OpenModel):
    """A routing warning; plain-string warnings from older servers become `message` only."""

    type: str | None = None
    code: str | None = None
    message: str = ""

    def __str__(self) -> str:
        label = self.code or self.type
        return f"{label}: {self.message}" if label else self.message


class RoutingMetadata(OpenModel):
    """The routing decision attached to a completion (provider, strategy, TTFT, throughput, cost)."""

    provider: str
    provider_model_id: str
    model_canonical: str
    routing_strategy: str
    cost: Cost | None = None
    ttft_ms: float | None = None
    throughput_tps: float | None = None
    warnings: list[RoutingWarning] | None = None

    @field_validator("warnings", mode="before")
    @classmethod
    def _normalise_warnings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"message": w} if isinstance(w, str) else w for w in value]
        return value

    @property
    def cost_usd(self) -> float | None:
        """The billable cost in USD, or None when the gateway sent none."""
        return self.cost.usd if self.cost else None


def parse_routing_metadata(raw: Any) -> RoutingMetadata | None:
    """Parse a raw `routing_metadata` value; None (never an exception) when absent or malformed, like the SDK."""
    if raw is None:
        return None
    if isinstance(raw, RoutingMetadata):
        return raw
    if hasattr(raw, "model_dump"):
        raw = raw.model_dump()
    try:
        return RoutingMetadata.model_validate(raw)
    except ValidationError:
        return None


def _lenient(raw: Any) -> RoutingMetadata | None:
    return parse_routing_metadata(raw)


LenientRoutingMetadata = Annotated[RoutingMetadata | None, BeforeValidator(_lenient)]
"""A `routing_metadata` field that becomes None instead of failing its parent model."""
