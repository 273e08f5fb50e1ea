"""The GenAI client metrics of the conventions, plus Auriko's cost counter; values are the call record's numbers.

OpenTelemetry is imported by the caller (`instrument`), which hands in a Meter: this module imports it only to
read the installed conventions' metric names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .spans import Points

DURATION = "gen_ai.client.operation.duration"
TOKEN_USAGE = "gen_ai.client.token.usage"
COST = "auriko.cost"
# the conventions' bucket advice: seconds for durations, powers of 4 for tokens
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]


def ttft_metric_name() -> str:
    """The time-to-first-chunk histogram's name as the installed conventions define it."""
    try:
        from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
    except ImportError:
        return "gen_ai.client.operation.time_to_first_chunk"
    name = getattr(gen_ai_metrics, "GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK", None)
    return str(name or "gen_ai.client.operation.time_to_first_chunk")


class Instruments:
    """The four instruments, created once per `instrument()` from the given Meter."""

    def __init__(self, meter: Any) -> None:
        self.duration = meter.create_histogram(
            DURATION, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.tokens = meter.create_histogram(
            TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.ttft = meter.create_histogram(
            ttft_metric_name(), unit="s", description="Time to receive the first chunk of a streamed answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.cost = meter.create_counter(COST, unit="USD", description="What the calls cost, as the gateway billed.")

    def record(self, record: Mapping[str, Any], points: Points, elapsed_s: float) -> None:
        """One finished call: its duration (the record's latency, else the span's), tokens, TTFT and cost."""
        get, attrs = record.get, points.base
        latency = get("latency_ms")
        self.duration.record(latency / 1000 if latency is not None else elapsed_s, attrs)
        tokens = get("prompt_tokens")
        if tokens is not None:
            self.tokens.record(tokens, points.input)
        tokens = get("completion_tokens")
        if tokens is not None:
            self.tokens.record(tokens, points.output)
        ttft = get("ttft_ms_client")
        if ttft is not None:
            self.ttft.record(ttft / 1000, attrs)
        cost = get("cost_usd")
        if cost is not None and cost == cost and cost >= 0:
            self.cost.add(cost, attrs)
