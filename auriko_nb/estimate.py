"""Cost estimates from directory prices, made before a sweep spends anything."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .types.catalog import Directory

DEFAULT_OUTPUT_TOKENS = 200
CHEAP_STRATEGIES = frozenset({"cost", "cost-focus", None})


def estimate_tokens(prompt: str | Sequence[Mapping[str, Any]]) -> int:
    """A rough prompt token count: about four characters a token, plus a few per message."""
    if isinstance(prompt, str):
        return math.ceil(len(prompt) / 4) + 4
    total = 0
    for m in prompt:
        content = m.get("content")
        text = content if isinstance(content, str) else str(content or "")
        total += math.ceil(len(text) / 4) + 4
    return total


def price_per_token(directory: Directory, model: str, strategy: str | None) -> tuple[float, float] | None:
    """(input, output) USD per token for a model: the cheapest offering under cost strategies, else the mean."""
    mid = directory.resolve(model)
    if mid is None:
        return None
    prices = []
    for p in directory.models[mid].providers:
        tier = p.tier("standard")
        if tier and tier.input_price is not None and tier.output_price is not None:
            prices.append((tier.input_price / 1e6, tier.output_price / 1e6))
    if not prices:
        return None
    if strategy in CHEAP_STRATEGIES:
        return min(prices, key=lambda io: io[0] + io[1])
    return (sum(i for i, _ in prices) / len(prices), sum(o for _, o in prices) / len(prices))


def estimate_call_usd(directory: Directory, model: str, strategy: str | None,
                      prompt: str | Sequence[Mapping[str, Any]], output_tokens: int) -> float | None:
    """Estimated USD for one call, or None when the model has no price in the directory."""
    p = price_per_token(directory, model, strategy)
    if p is None:
        return None
    return estimate_tokens(prompt) * p[0] + output_tokens * p[1]
