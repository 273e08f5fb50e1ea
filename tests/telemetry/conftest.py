"""OpenTelemetry SDK in memory for the telemetry tests: spans (SimpleSpanProcessor) and metrics (InMemoryMetricReader).

Each test gets its own providers and `ak.instrument()` on them; instrumentation is always undone afterwards (the
observer registry is process-wide).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import auriko_nb as ak  # noqa: E402
from auriko_nb.offline import GatewayHandle, serve  # noqa: E402

KEY = "ak_test_otel_5e4d3c2b1a09"


@dataclass
class Otel:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def client_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith("chat")]

    def metrics(self) -> dict[str, list[Any]]:
        """metric name -> its data points."""
        out: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out

    def instrument(self, **kw: Any) -> None:
        ak.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **kw)


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Otel]:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    o = Otel(exporter, reader, tp, mp)
    o.instrument()
    try:
        yield o
    finally:
        ak.uninstrument()
        tp.shutdown()
        mp.shutdown()


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=5, speed=0.02) as g:
        yield g


@pytest.fixture
def client(gw: GatewayHandle) -> Iterator[ak.Client]:
    with ak.Client(KEY, base_url=gw.base_url, timeout=10) as c:
        yield c


def every_string(span: ReadableSpan) -> list[str]:
    """Every attribute value and event attribute value of a span, and its status text, as strings."""
    out = [span.name, span.status.description or ""]
    for attrs in [span.attributes or {}, *[e.attributes or {} for e in span.events]]:
        for v in attrs.values():
            out += [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]
    return out


class Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.bodies.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
