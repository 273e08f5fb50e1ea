"""OpenTelemetry tracing and metrics for auriko_nb calls (the optional `[otel]` extra): `instrument()`."""

from __future__ import annotations

from .instrumentation import instrument, instrumented, uninstrument

__all__ = ["instrument", "instrumented", "uninstrument"]
