"""`ak.instrument()` / `ak.uninstrument()`: every call made through auriko_nb becomes an OpenTelemetry span.

Client, magics, panels and sweeps all go through `Client`/`AsyncClient`, whose calls report to the process-global
observer registry (client/observe.py); `instrument` registers one observer that turns each call into a CLIENT span
(GenAI semantic conventions, see spans.py) and records the GenAI metrics (metrics.py). OpenTelemetry is imported
here only, when `instrument` runs: without the `[otel]` extra auriko_nb works exactly as before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .._version import __version__
from ..client import observe
from ..client.observe import CallStart
from ..client.result import Result
from . import spans
from .metrics import Instruments

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
INSTALL_HINT = "ak.instrument() needs OpenTelemetry: pip install 'auriko-nb[otel]'"
SCOPE = "auriko_nb"

ACTIVE: list[SpanObserver] = []
"""The observer `instrument()` registered (at most one), so `uninstrument()` and a second `instrument()` find it."""


class CallSpan:
    """One call's span: retry and first-token events, then its end attributes, status and metrics."""

    __slots__ = ("_owner", "_span", "_start", "_key", "_t0")

    def __init__(self, owner: SpanObserver, span: Any, start: dict[str, Any]) -> None:
        self._owner, self._span, self._start = owner, span, start
        self._key, self._t0 = spans.metric_key(start), time.perf_counter()

    def retry(self, attempt: int, error: BaseException, delay_s: float) -> None:
        """An event for a failed attempt that will be retried after `delay_s` seconds."""
        self._span.add_event("auriko.attempt_failed", spans.clean({
            "auriko.attempt": attempt, "error.type": _error_type(error), "auriko.retry.delay_s": delay_s,
            "auriko.will_retry": True}))

    def first_token(self) -> None:
        """An event at the first content token of a stream."""
        self._span.add_event("gen_ai.first_token", {"gen_ai.response.time_to_first_chunk":
                                                    time.perf_counter() - self._t0})

    def end(self, record: Mapping[str, Any], result: Result | None = None) -> None:
        """Set the end attributes (one call) and status, end the span, then record the metrics."""
        owner, span = self._owner, self._span
        attrs = spans.end_attributes(record, result, owner.capture)
        span.set_attributes(attrs)
        status = record.get("status")
        if status != "ok":
            if status == "error":
                span.add_event("auriko.attempt_failed", {"auriko.attempt": int(record.get("attempts") or 1),
                                                         "error.type": attrs[spans.ERROR_TYPE],
                                                         "auriko.will_retry": False})
            span.set_status(owner.status_error(spans.error_message(record)))
        span.end()
        owner.instruments.record(record, spans.metric_points(self._key, self._start, attrs),
                                 time.perf_counter() - self._t0)


class RunSpan:
    """A sweep's span: its totals are set just before it ends."""

    def __init__(self, span: Any) -> None:
        self._span = span

    def end(self, totals: Mapping[str, Any]) -> None:
        self._span.set_attributes(spans.clean({f"auriko.{k}": v for k, v in totals.items()}))


def _error_type(error: BaseException) -> str:
    return str(getattr(error, "code", None) or type(error).__name__)


class SpanObserver:
    """The registry observer: a CLIENT span per call, an INTERNAL span per sweep (the parent of its calls)."""

    def __init__(self, tracer: Any, instruments: Instruments, capture: bool) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.tracer, self.instruments, self.capture = tracer, instruments, capture
        self._client_kind, self._internal_kind = SpanKind.CLIENT, SpanKind.INTERNAL
        self._status, self._error_code = Status, StatusCode.ERROR

    def status_error(self, description: str) -> Any:
        return self._status(self._error_code, description)

    def start(self, call: CallStart) -> CallSpan:
        attrs = spans.start_attributes(call, self.capture)
        span = self.tracer.start_span(spans.span_name(call), kind=self._client_kind, attributes=attrs)
        return CallSpan(self, span, attrs)

    @contextmanager
    def run(self, run_id: str, size: int) -> Iterator[RunSpan]:
        attrs = {"auriko.run_id": run_id, "auriko.cells": size, "gen_ai.provider.name": spans.PROVIDER}
        with self.tracer.start_as_current_span(f"auriko.sweep {run_id}", kind=self._internal_kind,
                                               attributes=attrs) as span:
            yield RunSpan(span)


def capture_from_env() -> bool:
    """The conventions' switch: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true captures prompt and answer."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"


def instrument(tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool | None = None) -> None:
    """Trace every call made through auriko_nb (client, magics, panels, sweeps) with OpenTelemetry.

    Providers default to the global ones. Prompt and answer text are recorded only with `capture_content=True`
    (None: the OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT env var). Calling it again replaces the
    previous setup (never two spans per call). Process-wide, like every OpenTelemetry instrumentor.
    """
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    uninstrument()
    capture = capture_from_env() if capture_content is None else bool(capture_content)
    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
    meter = metrics.get_meter(SCOPE, __version__, meter_provider)
    observer = SpanObserver(tracer, Instruments(meter), capture)
    ACTIVE.append(observer)
    observe.add_observer(observer)


def uninstrument() -> None:
    """Stop tracing: calls started from now on make no span (those in flight still end theirs)."""
    while ACTIVE:
        observe.remove_observer(ACTIVE.pop())


def instrumented() -> bool:
    """Whether `instrument()` is in effect."""
    return bool(ACTIVE)
