"""Latency and throughput sampling: lognormal distributions fitted to each provider's p50/p95 profile."""

from __future__ import annotations

import math
import random

from .catalog import Tier

__all__ = ["sample_ttft_ms", "sample_tps"]

_Z95 = 1.6448536269514722  # standard normal quantile at 0.95


def sample_ttft_ms(rng: random.Random, tier: Tier) -> float:
    """A TTFT in ms whose median is p50 and 95th percentile p95 (clamped to a sane range)."""
    sigma = math.log(tier.ttft_p95 / tier.ttft_p50) / _Z95
    value = tier.ttft_p50 * math.exp(sigma * rng.gauss(0.0, 1.0))
    return min(max(value, tier.ttft_p50 * 0.4), tier.ttft_p95 * 1.5)


def sample_tps(rng: random.Random, tier: Tier) -> float:
    """A throughput in tokens/s whose median is p50 and whose slow 5% tail sits at p95."""
    sigma = math.log(tier.tps_p50 / tier.tps_p95) / _Z95
    value = tier.tps_p50 * math.exp(sigma * rng.gauss(0.0, 1.0))
    return min(max(value, tier.tps_p95 * 0.6), tier.tps_p50 * 2.0)
