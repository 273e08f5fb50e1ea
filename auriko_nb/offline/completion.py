"""One simulated completion: text, usage, cost, timing and routing_metadata for a chosen candidate."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from .quality import task_answer
from .router import Candidate
from .state import SimState
from .textgen import answer, estimate_tokens, prompt_key, split_pieces, truncate_to_tokens
from .timing import sample_tps, sample_ttft_ms
from .validate import InferenceRequest

__all__ = ["Completion", "build_completion", "CACHE_MIN_TOKENS", "FIXED_TPS"]

CACHE_MIN_TOKENS = 1024  # prompts shorter than this are never cached (as with OpenAI/Anthropic)
CACHE_BLOCK = 128
FIXED_TPS = 1e9  # token rate under a fixed latency: the whole answer follows the first token at once


@dataclass
class Completion:
    """Everything needed to render one successful answer, in any format, at the right times."""

    request_id: str
    req: InferenceRequest
    cand: Candidate
    text: str
    pieces: list[str]
    truncated: bool
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_usd: float
    savings_usd: float
    ttft_s: float  # planned delay to the first content token (already scaled by speed)
    rate_tps: float  # applied token rate (already scaled by speed)
    warnings: list[dict[str, str]]
    created: int
    task_kind: str | None = None  # the built-in task the prompt was recognised as (quality simulation), if any
    task_correct: bool | None = None  # whether the simulated answer to it came out right

    @property
    def hex(self) -> str:
        """The 24 hex characters shared by this call's ids."""
        return self.request_id.removeprefix("req_")

    @property
    def ttft_ms(self) -> float:
        """The planned TTFT in ms (what the sampler drew)."""
        return round(self.ttft_s * 1000, 3)

    def applied_ttft_ms(self, late_s: float = 0.0) -> float:
        """The TTFT the gateway really applied, in ms: the planned one plus how late (s) the first token went out.

        For a stream that is the time from arrival to sending the first content chunk; for a non-streamed answer
        (sent whole at TTFT + tokens/rate) the body's lateness, so TTFT + tokens/rate is still when it went out.
        """
        return round((self.ttft_s + late_s) * 1000, 3)
    @property
    def piece_offsets(self) -> list[float]:
        """Seconds after arrival at which each stream piece leaves: the first at TTFT, then paced by rate."""
        step = self.completion_tokens / len(self.pieces) / self.rate_tps
        return [self.ttft_s + i * step for i in range(len(self.pieces))]

    @property
    def total_s(self) -> float:
        """Seconds after arrival at which a non-streamed answer is complete."""
        return self.ttft_s + self.completion_tokens / self.rate_tps

    def routing_metadata(self, late_s: float = 0.0) -> dict[str, Any]:
        """The routing_metadata object (§5.1); a stream's reports the planned TTFT plus `late_s` (`applied_ttft_ms`).

        A non-streamed answer has no `ttft_ms` (the docs: streaming only); the gateway's record still keeps it."""
        c = self.cand
        total = self.cost_usd + self.savings_usd
        return {
            "provider": c.provider,
            "provider_model_id": c.offer.provider_model_id,
            "model_canonical": c.model.id,
            "routing_strategy": self.req.strategy,
            "tier": c.tier.name,
            **({"ttft_ms": self.applied_ttft_ms(late_s)} if self.req.stream else {}),  # streaming only (§5.1)
            "throughput_tps": round(self.rate_tps, 3),
            "cost": {
                "usd": self.cost_usd,
                "cache_savings_percent": round(100 * self.savings_usd / total) if total > 0 else 0,
                "cache_savings_usd": self.savings_usd,
            },
            "warnings": list(self.warnings),
        }


def _param_warnings(req: InferenceRequest, cand: Candidate) -> list[dict[str, str]]:
    """Warnings in the documented {type, code, message} shape (§5.2) for dropped and ignored fields."""
    dropped = [{"type": "unsupported_parameter", "code": "parameter_dropped",
                "message": f"{p} is not supported by {cand.provider} and was dropped."}
               for p in req.sent_params if p not in cand.offer.parameters]
    ignored = [{"type": "unsupported_field", "code": "field_ignored",
                "message": f"{f} is accepted for OpenAI compatibility but ignored."} for f in req.ignored_fields]
    return dropped + ignored


def build_completion(sim: SimState, req: InferenceRequest, cand: Candidate, warnings: list[dict[str, str]],
                     number: int, request_id: str) -> Completion:
    """Simulate the chosen provider answering: deterministic text (a built-in task answered right with the
    provider's accuracy), token counts, cost and sampled timing."""
    task = task_answer(sim, req, cand)
    raw = task.text if task is not None else answer(sim.seed, req.prompt_text, json_mode=req.json_mode)
    text, truncated = truncate_to_tokens(raw, req.max_tokens)
    completion_tokens = estimate_tokens(text)
    tier = cand.tier
    cached = 0
    if tier.cache_read is not None and req.prompt_tokens >= CACHE_MIN_TOKENS and sim.cache_hit(
            cand.provider, prompt_key(req.prompt_text)):
        cached = req.prompt_tokens // CACHE_BLOCK * CACHE_BLOCK
    cache_price = tier.cache_read if tier.cache_read is not None else tier.input
    cost = ((req.prompt_tokens - cached) * tier.input + cached * cache_price + completion_tokens * tier.output) / 1e6
    savings = cached * (tier.input - cache_price) / 1e6
    if sim.fixed_latency_ms is not None:
        ttft_ms, tps = round(sim.fixed_latency_ms * sim.speed, 3), FIXED_TPS
    else:
        rng = random.Random(f"timing:{sim.seed}:{number}")
        ttft_ms, tps = round(sample_ttft_ms(rng, tier) * sim.speed, 3), sample_tps(rng, tier)
    return Completion(
        request_id=request_id, req=req, cand=cand, text=text, pieces=split_pieces(text), truncated=truncated,
        prompt_tokens=req.prompt_tokens, cached_tokens=cached, completion_tokens=completion_tokens,
        cost_usd=round(cost, 10), savings_usd=round(savings, 10), ttft_s=ttft_ms / 1000,
        rate_tps=tps / sim.speed, warnings=warnings + _param_warnings(req, cand),
        created=int(time.time()), task_kind=task.task.kind if task is not None else None,
        task_correct=task.correct if task is not None else None,
    )
