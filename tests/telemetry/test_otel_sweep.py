"""A sweep is a parent span whose children are its calls, however the sweep runs its calls."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from conftest import KEY, Otel
from opentelemetry.sdk.trace import ReadableSpan

import auriko_nb as ak
from auriko_nb.offline import GatewayHandle

GRID: dict[str, Any] = dict(models=["gpt-4o", "gpt-4o-mini"], strategies=["cost", "ttft"], repeats=1,
                            ledger=None, progress=False, max_tokens=8, concurrency=3)


def check_tree(otel: Otel, rows: int, parent: ReadableSpan | None = None) -> ReadableSpan:
    """One sweep span, parent of every call span (one per row), all in one trace; returns the sweep span."""
    (sweep,) = [s for s in otel.spans() if s.name.startswith("auriko.sweep ")]
    calls = otel.client_spans()
    assert len(calls) == rows == sweep.attributes["auriko.cells"]  # type: ignore[index]
    assert {c.parent.span_id for c in calls if c.parent} == {sweep.context.span_id}  # type: ignore[union-attr]
    assert all(c.parent is not None for c in calls)
    assert {c.context.trace_id for c in calls} == {sweep.context.trace_id}  # type: ignore[union-attr]
    if parent is not None:
        assert sweep.parent is not None and sweep.parent.span_id == parent.context.span_id  # type: ignore[union-attr]
    run_id = sweep.attributes["auriko.run_id"]  # type: ignore[index]
    assert sweep.name == f"auriko.sweep {run_id}" and {c.attributes["auriko.run_id"] for c in calls} == {run_id}  # type: ignore[index]
    return sweep


def test_async_client_sweep(otel: Otel, gw: GatewayHandle) -> None:
    async def go() -> Any:
        async with ak.AsyncClient(KEY, base_url=gw.base_url, timeout=10) as client:
            return await ak.compare_async("Hi", client=client, **GRID)

    cmp = asyncio.run(go())
    sweep = check_tree(otel, len(cmp.rows))
    a = sweep.attributes or {}
    ok = sum(r["status"] == "ok" for r in cmp.rows.to_dict("records"))
    assert a["auriko.ok"] == ok == 4 and a["auriko.errors"] == 0
    assert a["auriko.spend_usd"] == pytest.approx(sum(r["cost_usd"] for r in cmp.rows.to_dict("records")))


def test_sync_client_sweep_through_its_async_twin(otel: Otel, client: ak.Client) -> None:
    cmp = ak.compare("Hi", client=client, **GRID)
    check_tree(otel, len(cmp.rows))


def test_sync_client_with_a_custom_transport_runs_calls_in_worker_threads(otel: Otel, gw: GatewayHandle) -> None:
    with ak.Client(KEY, base_url=gw.base_url, transport=httpx.HTTPTransport(), timeout=10) as client:
        assert client.custom_transport
        cmp = ak.compare("Hi", client=client, **{**GRID, "stream": False})
    check_tree(otel, len(cmp.rows))


async def test_a_sweep_from_inside_a_running_event_loop_keeps_the_callers_span(otel: Otel, client: ak.Client) -> None:
    """As in Jupyter: compare() runs on its own loop in a thread; the cell's span stays the sweep's parent."""
    tracer = otel.tracer_provider.get_tracer("notebook")
    with tracer.start_as_current_span("cell"):
        cmp = ak.compare("Hi", client=client, **GRID)
    (cell,) = [s for s in otel.spans() if s.name == "cell"]
    check_tree(otel, len(cmp.rows), parent=cell)


def test_a_failed_call_in_a_sweep_is_an_error_child(otel: Otel, client: ak.Client) -> None:
    cmp = ak.compare("Hi", client=client, **{**GRID, "models": ["no-such-model"], "strategies": [None]})
    sweep = check_tree(otel, len(cmp.rows))
    (call,) = otel.client_spans()
    assert call.attributes["error.type"] and sweep.attributes["auriko.errors"] == 1  # type: ignore[index]
