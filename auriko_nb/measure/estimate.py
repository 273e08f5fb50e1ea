"""Cost estimates from directory prices, made before a sweep spends anything: an expected cost, and an upper
bound when the output is capped by `max_tokens` (what the sweep's budget cap reserves for a call in flight).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import RequestValidationError
from ..types.catalog import Directory, DirectoryProvider, PriceTier

DEFAULT_OUTPUT_TOKENS = 200
CHEAP_STRATEGIES = frozenset({"cost", "cost-focus", None})
MESSAGE_OVERHEAD, REQUEST_OVERHEAD = 4, 3  # chat-template tokens per message and per request (as the gateway counts)
PROMPT_FIELDS = ("tools", "functions", "tool_choice", "response_format")  # request fields that reach the prompt


def check_budget(budget_usd: Any) -> float | None:
    """`budget_usd` as a float: None, or a finite number > 0; anything else is a one-line RequestValidationError."""
    if budget_usd is None:
        return None
    if isinstance(budget_usd, bool) or not isinstance(budget_usd, numbers.Real):
        raise RequestValidationError(f"budget_usd must be a number of US dollars, got {type(budget_usd).__name__}",
                                     param="budget_usd")
    if not math.isfinite(budget_usd) or budget_usd <= 0:
        raise RequestValidationError(f"budget_usd must be > 0 and finite, got {budget_usd!r}", param="budget_usd")
    return float(budget_usd)


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


def bound_text_tokens(text: str) -> int:
    """At least what a real tokenizer counts for ordinary text (rule below), and at least the offline gateway's len/4.

    Rule: one token per 2 ASCII characters (English runs near 4 a token, code and digit groups 3) plus one per
    UTF-8 byte of every other character (a byte-level BPE never needs more tokens than bytes).
    """
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return max(1, math.ceil(ascii_chars / 2) + len(text.encode("utf-8", "surrogatepass")) - ascii_chars)


def bound_prompt_tokens(prompt: str | Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None) -> int:
    """A conservative prompt token count: every message's text (non-text parts as their JSON), the chat-template
    overhead, and the tools/response_format a request sends (see `bound_text_tokens` for the rule)."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    total = REQUEST_OVERHEAD
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
        extra = {k: v for k, v in m.items() if k not in ("role", "content")}  # name, tool_calls, tool_call_id
        total += MESSAGE_OVERHEAD + bound_text_tokens(text)
        total += bound_text_tokens(json.dumps(extra, ensure_ascii=False, default=str)) if extra else 0
    for field in PROMPT_FIELDS:
        if (params or {}).get(field) is not None:
            total += bound_text_tokens(json.dumps(params[field], ensure_ascii=False, default=str))  # type: ignore[index]
    return total


def max_output_tokens(params: Mapping[str, Any]) -> int | None:
    """The most output tokens a call may bill: max_tokens (or max_completion_tokens) times `n`, or None if uncapped."""
    raw = params.get("extra_body")
    extra: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    caps = [c for src in (params, extra) for c in (src.get("max_completion_tokens"), src.get("max_tokens"))
            if isinstance(c, int) and not isinstance(c, bool) and c > 0]
    if not caps:
        return None
    n = params.get("n") or extra.get("n") or 1
    return max(caps) * (n if isinstance(n, int) and n > 0 else 1)


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


def _allowed(offers: Iterable[DirectoryProvider], routing: Mapping[str, Any] | None) -> list[DirectoryProvider]:
    """The offerings the routing constraints leave: any provider the allow/block lists permit (a strategy is only a
    preference, and fallbacks may go to any of them)."""
    allow, block = (routing or {}).get("providers"), set((routing or {}).get("exclude_providers") or ())
    return [p for p in offers if (not allow or p.provider in allow) and p.provider not in block]


def _tier_prices(tier: PriceTier) -> tuple[list[float], list[float]]:
    """A tier's possible input prices (list, cache write, input-role variants) and output prices, USD per 1M."""
    ins = [x for x in (tier.input_price, tier.cache_write_price) if x is not None]
    outs = [tier.output_price] if tier.output_price is not None else []
    for v in tier.price_variants:  # e.g. long-context surcharges: semantics undocumented, so counted as possible
        (outs if "output" in v.role or "completion" in v.role else ins if "input" in v.role or "prompt" in v.role
         else []).append(v.price)
    return ins, outs


def max_price_per_token(directory: Directory, model: str,
                        routing: Mapping[str, Any] | None = None) -> tuple[float, float] | None:
    """The highest (input, output) USD per token any allowed provider and tier could charge for the model (only the
    tiers named by routing.tier when it is set), or None when the directory has no complete price for it."""
    mid = directory.resolve(model)
    if mid is None:
        return None
    wanted = (routing or {}).get("tier")
    ins: list[float] = []
    outs: list[float] = []
    for offer in _allowed(directory.models[mid].providers, routing):
        for tier in offer.tiers:
            if wanted is None or tier.name == wanted:
                i, o = _tier_prices(tier)
                ins, outs = ins + i, outs + o
    if not ins or not outs:
        return None
    return max(ins) / 1e6, max(outs) / 1e6


def estimate_call_usd(directory: Directory, model: str, strategy: str | None,
                      prompt: str | Sequence[Mapping[str, Any]], output_tokens: int) -> float | None:
    """Estimated USD for one call, or None when the model has no price in the directory."""
    p = price_per_token(directory, model, strategy)
    if p is None:
        return None
    return estimate_tokens(prompt) * p[0] + output_tokens * p[1]


def bound_call_usd(directory: Directory, model: str, routing: Mapping[str, Any] | None,
                   prompt: str | Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> float | None:
    """The most one call can cost: conservative prompt tokens x the highest input price plus the output cap x the
    highest output price; None without an output cap (`max_tokens`) or a directory price."""
    cap = max_output_tokens(params)
    prices = max_price_per_token(directory, model, routing) if cap is not None else None
    if cap is None or prices is None:
        return None
    return bound_prompt_tokens(prompt, params) * prices[0] + cap * prices[1]
