"""End to end over OTLP/HTTP to a receiver on 127.0.0.1; and auriko_nb without the [otel] extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from http.server import ThreadingHTTPServer

import pytest
from conftest import KEY

import auriko_nb as ak
from auriko_nb.offline import GatewayHandle


def test_spans_arrive_over_otlp_http(receiver: ThreadingHTTPServer, gw: GatewayHandle,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    port = receiver.server_address[1]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces",
                                                                     timeout=5)))
    ak.instrument(tracer_provider=provider)
    try:
        with ak.Client(KEY, base_url=gw.base_url, timeout=10) as client:
            res = client.chat("Hello over OTLP", model="gpt-4o", temperature=0.5)
    finally:
        ak.uninstrument()
        provider.shutdown()
    assert [path for path, _ in receiver.bodies] == ["/v1/traces"]  # type: ignore[attr-defined]
    request = ExportTraceServiceRequest.FromString(receiver.bodies[0][1])  # type: ignore[attr-defined]
    (span,) = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    scope = request.resource_spans[0].scope_spans[0].scope
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert span.name == "chat gpt-4o" and span.kind == Span.SPAN_KIND_CLIENT and scope.name == "auriko_nb"
    assert attrs["gen_ai.provider.name"].string_value == "auriko"
    assert attrs["gen_ai.request.temperature"].double_value == 0.5
    assert attrs["gen_ai.response.id"].string_value == res.response.id
    assert attrs["gen_ai.usage.output_tokens"].int_value == res.to_record()["completion_tokens"]
    assert attrs["auriko.cost_usd"].double_value == pytest.approx(res.cost_usd)
    assert attrs["server.port"].int_value == int(gw.base_url.rsplit(":", 1)[1].split("/")[0])
    assert KEY.encode() not in receiver.bodies[0][1] and b"Bearer" not in receiver.bodies[0][1]  # type: ignore[attr-defined]
    assert b"Hello over OTLP" not in receiver.bodies[0][1]  # type: ignore[attr-defined]


def test_without_the_extra_auriko_nb_works_and_instrument_says_what_to_install() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["opentelemetry"] = None  # as if the [otel] extra were not installed
        import httpx
        import auriko_nb as ak
        from auriko_nb.client import observe

        body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}]}
        client = ak.Client("ak_test_noextra_123456", base_url="http://gateway.test",
                           transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)))
        assert client.chat("hi", model="m").text == "fine"
        try:
            ak.instrument()
        except ImportError as e:
            print("ERROR:", e)
        print("observers:", len(observe.OBSERVERS), "otel loaded:",
              any(k.startswith("opentelemetry.") for k in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["ERROR: ak.instrument() needs OpenTelemetry: pip install 'auriko-nb[otel]'",
                     "observers: 0 otel loaded: False"]
