"""The README's "Sending calls to your observability stack" lines work as written: pointed at an OTLP/HTTP
receiver on 127.0.0.1 by the standard environment variable, a call's span and metrics arrive there."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

import pytest
from conftest import KEY
from readme_snippets import code_block

import auriko_nb as ak
from auriko_nb.offline import GatewayHandle


def test_the_readme_setup_sends_spans_and_metrics_over_otlp(receiver: ThreadingHTTPServer, gw: GatewayHandle,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    namespace: dict[str, object] = {}
    exec(compile(code_block("## Sending calls to your observability stack"), "README.md", "exec"), namespace)
    try:
        with ak.Client(KEY, base_url=gw.base_url, timeout=10) as client:
            assert client.chat("Hello from the README", model="gpt-4o", stream=True).result.text
    finally:
        ak.uninstrument()
        namespace["tracer_provider"].shutdown()  # type: ignore[attr-defined]  # flushes the batch
        namespace["meter_provider"].shutdown()  # type: ignore[attr-defined]
    bodies = receiver.bodies  # type: ignore[attr-defined]
    traces = [ExportTraceServiceRequest.FromString(b) for path, b in bodies if path == "/v1/traces"]
    metrics = [ExportMetricsServiceRequest.FromString(b) for path, b in bodies if path == "/v1/metrics"]
    spans = [s for r in traces for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["chat gpt-4o"]
    assert [e.name for e in spans[0].events] == ["gen_ai.first_token"]
    names = {m.name for r in metrics for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "auriko.cost"} <= names
    assert KEY.encode() not in b"".join(b for _, b in bodies)
