"""extra_body (issue 12 item 1), the Responses API's own metadata (item 2) and gateway.models without a client-side
maximum (item 3): the merge rules as pure functions, then what goes over HTTP to the offline gateway and what the
row says, for chat and responses, sync and async, streamed or not, sweeps and `ak.record`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import auriko_nb as ak
from auriko_nb.client._body import (
    assemble,
    check_extra_body,
    check_response_metadata,
    merge_extra_body,
    merge_gateway,
    sent_fields,
    yield_to_extra,
)
from auriko_nb.measure.sweep import Sweep
from auriko_nb.notebook.attach import attach
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import GatewayHandle, create_app, serve

KEY = "ak_test_extra_body_suite"
RV = ak.RequestValidationError
TTFT = {"gateway": {"routing": {"optimize": "ttft"}}}


# -- the merge rules (pure) -------------------------------------------------------------------------------------

def test_gateway_children_merge_field_by_field_and_equal_values_are_fine() -> None:
    typed = {"routing": {"optimize": "ttft", "max_ttft_ms": 800}, "metadata": {"tags": ["a"]}}
    extra = {"routing": {"optimize": "ttft", "providers": ["groq"]}, "models": ["gpt-4o"], "experimental": 1}
    out = merge_gateway(typed, {"routing": "routing=", "metadata": "metadata="}, extra)
    assert out == {"routing": {"optimize": "ttft", "max_ttft_ms": 800, "providers": ["groq"]},
                   "metadata": {"tags": ["a"]}, "models": ["gpt-4o"], "experimental": 1}
    assert typed["routing"] == {"optimize": "ttft", "max_ttft_ms": 800}  # inputs untouched
    assert merge_gateway(None, {}, {"routing": {"optimize": "x"}}) == {"routing": {"optimize": "x"}}
    assert merge_gateway(None, {}, "not a dict") == "not a dict"  # unvalidated: the server decides
    assert merge_gateway({"models": ["a"]}, {}, None) == {"models": ["a"]}


@pytest.mark.parametrize(("typed", "places", "extra", "message"), [
    ({"routing": {"optimize": "cost"}}, {"routing": "routing="}, {"routing": {"optimize": "ttft"}},
     """gateway.routing.optimize given twice: routing= says 'cost', extra_body["gateway"]["routing"] says 'ttft'"""),
    ({"metadata": {"trace_id": "t1"}}, {"metadata": "metadata="}, {"metadata": {"trace_id": "t2"}},
     """gateway.metadata.trace_id given twice: metadata= says 't1', extra_body["gateway"]["metadata"] says 't2'"""),
    ({"models": ["a", "b"]}, {"models": "models="}, {"models": ["b", "a"]},
     """gateway.models given twice: models= says ['a', 'b'], extra_body["gateway"]["models"] says ['b', 'a']"""),
    ({"routing": {"optimize": "cost"}}, {"routing": 'gateway["routing"]'}, {"routing": "ttft"},
     """gateway.routing given twice: gateway["routing"] says {'optimize': 'cost'}, extra_body["gateway"]["routing"] says 'ttft'"""),
    ({"routing": {"optimize": "cost"}}, {"routing": "routing="}, ["x"],
     """gateway given twice: routing= says {'routing': {'optimize': 'cost'}}, extra_body["gateway"] says ['x']"""),
])
def test_a_field_given_twice_with_different_values_names_both_places(
        typed: dict[str, Any], places: dict[str, str], extra: Any, message: str) -> None:
    with pytest.raises(RV) as info:
        merge_gateway(typed, places, extra)
    assert info.value.message == message and "\n" not in str(info.value)


def test_top_level_extra_body_keys_are_added_and_conflicts_refused() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o", "temperature": 0.2}
    places = {"messages": "the prompt", "model": "model="}
    out = merge_extra_body(body, {"seed": 7, "temperature": 0.2, "stream": False, "gateway": {"x": 1}},
                           stream=False, places=places)
    assert out == {**body, "seed": 7}  # gateway is merged elsewhere, stream decided by the call
    cases: list[tuple[dict[str, Any], str]] = [
        ({"temperature": 0.5}, """temperature given twice: temperature= says 0.2, extra_body["temperature"] says 0.5"""),
        ({"model": "o3"}, """model given twice: model= says 'gpt-4o', extra_body["model"] says 'o3'"""),
        ({"stream": True}, """stream given twice: stream= says False, extra_body["stream"] says True"""),
        ({"messages": []}, "messages given twice: the prompt says [{'role': 'user', 'content': 'hi'}], "
                           'extra_body["messages"] says []'),
    ]
    for extra, message in cases:
        with pytest.raises(RV) as info:
            merge_extra_body(body, extra, stream=False, places=places)
        assert info.value.message == message


def test_extra_body_must_be_a_mapping_and_response_metadata_str_to_str() -> None:
    assert check_extra_body(None) is None and check_extra_body({}) is None
    for bad, message in [([("a", 1)], "extra_body: expected a dict, got list"), ("x", "extra_body: expected a dict, got str"),
                         ({1: "a"}, "extra_body: keys must be strings, got 1")]:
        with pytest.raises(RV) as info:
            check_extra_body(bad)
        assert info.value.message == message and info.value.param == "extra_body"
    assert check_response_metadata({"run": "7"}) == {"run": "7"} and check_response_metadata(None) is None
    for bad in (["run"], {"run": 7}, {7: "run"}):
        with pytest.raises(RV, match="^invalid_parameter_value: response_metadata: expected a dict of str to str"):
            check_response_metadata(bad)


def test_assemble_and_sent_fields_show_what_is_sent() -> None:
    body = assemble("input", "hi", endpoint="responses", model=None, routing={"max_ttft_ms": 900},
                    metadata={"tags": ["typed"]}, models=None, gateway=None, params={"temperature": 0.3},
                    stream=True, response_metadata={"k": "v"},
                    extra_body={"gateway": {"models": ["gpt-4o", "claude-sonnet-4-6"], "routing": {"optimize": "ttft"},
                                            "metadata": {"trace_id": "tr-1"}}, "stream": True, "store": False})
    assert body == {"input": "hi", "temperature": 0.3, "metadata": {"k": "v"}, "store": False, "stream": True,
                    "gateway": {"routing": {"max_ttft_ms": 900, "optimize": "ttft"},
                                "metadata": {"tags": ["typed"], "trace_id": "tr-1"},
                                "models": ["gpt-4o", "claude-sonnet-4-6"]}}
    sent = sent_fields(body)
    assert sent.model_requested == "gpt-4o,claude-sonnet-4-6" and sent.routing == {"max_ttft_ms": 900, "optimize": "ttft"}
    assert sent.tags == ["typed"] and sent.trace_id == "tr-1"
    assert sent_fields({"model": "m", "gateway": "junk"}).routing is None  # an unvalidated gateway never crashes the row


def test_session_defaults_yield_to_extra_body() -> None:
    assert yield_to_extra({"optimize": "cost", "max_ttft_ms": 5}, TTFT) == {"max_ttft_ms": 5}
    assert yield_to_extra({"optimize": "cost"}, TTFT) is None
    assert yield_to_extra({"optimize": "cost"}, None) == {"optimize": "cost"}


# -- across HTTP: the offline gateway ------------------------------------------------------------------------------

class Capture(httpx.BaseTransport):
    """A real transport that keeps every request body it sends (the bytes, decoded)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.bodies: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.read()))
        return self.inner.handle_request(request)


class AsyncCapture(httpx.AsyncBaseTransport):
    """The in-process offline app behind an ASGI transport, keeping every request body."""

    def __init__(self) -> None:
        self.inner = httpx.ASGITransport(app=create_app(seed=3, speed=0.01))
        self.bodies: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(await request.aread()))
        return await self.inner.handle_async_request(request)


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=5, speed=0.02) as g:
        yield g


@pytest.fixture
def sync(gw: GatewayHandle) -> Iterator[tuple[ak.Client, Capture, list[dict[str, Any]]]]:
    cap, rows = Capture(), list[dict[str, Any]]()
    with ak.Client(KEY, base_url=gw.base_url, transport=cap, on_record=rows.append, max_retries=0) as c:
        yield c, cap, rows


@pytest.mark.parametrize("stream", [False, True])
def test_chat_extra_body_routing_reaches_the_gateway_and_the_row(sync: Any, stream: bool) -> None:
    client, cap, rows = sync
    res = client.chat("Which strategy?", model="gpt-4o", stream=stream, routing={"max_ttft_ms": 5000},
                      extra_body={**TTFT, "seed": 11})
    if stream:
        res = res.result
    sent = cap.bodies[-1]
    assert "extra_body" not in sent and sent["seed"] == 11
    assert sent["gateway"] == {"routing": {"max_ttft_ms": 5000, "optimize": "ttft"}}
    assert res.routing_metadata.routing_strategy == "ttft"  # the measured bug: cost-focus, the server default
    row = rows[-1]
    assert row["optimize"] == "ttft" and json.loads(row["routing"]) == {"max_ttft_ms": 5000, "optimize": "ttft"}
    assert row["routing_strategy"] == "ttft" and row["status"] == "ok"


def test_extra_body_gateway_metadata_and_models_count_in_the_row(sync: Any) -> None:
    client, cap, rows = sync
    client.chat("hi", metadata={"tags": ["typed"]},
                extra_body={"gateway": {"models": ["gpt-4o-mini", "deepseek-chat"],
                                        "metadata": {"trace_id": "tr-9", "user_id": "u1"}}})
    assert cap.bodies[-1]["gateway"] == {"metadata": {"tags": ["typed"], "trace_id": "tr-9", "user_id": "u1"},
                                         "models": ["gpt-4o-mini", "deepseek-chat"]}
    assert "model" not in cap.bodies[-1]
    row = rows[-1]
    assert row["model_requested"] == "gpt-4o-mini,deepseek-chat" and row["trace_id"] == "tr-9"
    assert json.loads(row["tags"]) == ["typed"] and row["status"] == "ok"


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(routing={"optimize": "cost"}, extra_body=TTFT),
     """gateway.routing.optimize given twice: routing= says 'cost', extra_body["gateway"]["routing"] says 'ttft'"""),
    (dict(temperature=0.2, extra_body={"temperature": 0.5}),
     """temperature given twice: temperature= says 0.2, extra_body["temperature"] says 0.5"""),
    (dict(extra_body={"model": "gpt-4o-mini"}), """model given twice: model= says 'gpt-4o', extra_body["model"] says 'gpt-4o-mini'"""),
    (dict(extra_body={"gateway": {"models": ["gpt-4o"]}}), "model and gateway.models are mutually exclusive"),
    (dict(extra_body={"stream": True}), """stream given twice: stream= says False, extra_body["stream"] says True"""),
    (dict(extra_body="ttft"), "extra_body: expected a dict, got str"),
    (dict(extra_body={"seed": object()}), "request extra_body is not JSON-serialisable"),
    (dict(gateway={"routing": {"optimize": "tps"}}, extra_body=TTFT),
     """gateway.routing.optimize given twice: gateway["routing"] says 'tps', extra_body["gateway"]["routing"] says 'ttft'"""),
])
def test_conflicts_are_one_line_errors_and_nothing_is_sent(sync: Any, kwargs: dict[str, Any], message: str) -> None:
    client, cap, rows = sync
    with pytest.raises(RV) as info:
        client.chat("hi", model="gpt-4o", **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert cap.bodies == [] and rows == []


def test_equal_values_in_both_places_are_sent_once(sync: Any) -> None:
    client, cap, _ = sync
    client.chat("hi", model="gpt-4o", routing={"optimize": "ttft"}, temperature=0.2,
                extra_body={**TTFT, "temperature": 0.2, "model": "gpt-4o"})
    assert cap.bodies[-1] == {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o", "temperature": 0.2,
                              "gateway": {"routing": {"optimize": "ttft"}}}


def test_model_from_extra_body_alone(sync: Any) -> None:
    client, cap, rows = sync
    client.chat("hi", extra_body={"model": "deepseek-chat"})
    assert cap.bodies[-1]["model"] == "deepseek-chat" and rows[-1]["model_requested"] == "deepseek-chat"


def test_responses_metadata_both_kinds_are_sent_apart(sync: Any) -> None:
    client, cap, rows = sync
    res = client.responses("hi", model="gpt-4o", metadata={"tags": ["exp"]}, response_metadata={"ticket": "T-1"},
                           extra_body={"gateway": {"routing": {"optimize": "tps"}}})
    sent = cap.bodies[-1]
    assert sent["metadata"] == {"ticket": "T-1"}
    assert sent["gateway"] == {"metadata": {"tags": ["exp"]}, "routing": {"optimize": "tps"}}
    assert res.routing_metadata.routing_strategy == "tps" and rows[-1]["optimize"] == "tps"
    client.responses("hi", model="gpt-4o", extra_body={"metadata": {"ticket": "T-2"}})
    assert cap.bodies[-1]["metadata"] == {"ticket": "T-2"} and "gateway" not in cap.bodies[-1]
    n = len(cap.bodies)
    with pytest.raises(RV) as info:
        client.responses("hi", model="gpt-4o", response_metadata={"ticket": "T-1"},
                         extra_body={"metadata": {"ticket": "T-2"}})
    assert info.value.message == ("metadata given twice: response_metadata= says {'ticket': 'T-1'}, "
                                  """extra_body["metadata"] says {'ticket': 'T-2'}""")
    with pytest.raises(RV) as bad:
        client.responses("hi", model="gpt-4o", response_metadata={"ticket": 1})
    assert bad.value.param == "response_metadata"
    assert len(cap.bodies) == n


def test_gateway_metadata_with_openai_keys_points_to_response_metadata(sync: Any) -> None:
    client, cap, _ = sync
    with pytest.raises(RV) as info:
        client.responses("hi", model="gpt-4o", metadata={"ticket": "T-1"})
    text = str(info.value)
    assert "gateway.metadata.ticket: unknown field" in text and "tags, user_id, trace_id, custom_fields" in text
    assert "for the Responses API's own top-level metadata use response_metadata=" in text and "\n" not in text
    with pytest.raises(RV) as chat:
        client.chat("hi", model="gpt-4o", metadata={"ticket": "T-1"})
    assert "response_metadata" not in str(chat.value)  # chat has no such argument
    assert cap.bodies == []


def test_more_than_ten_gateway_models_are_sent_and_the_server_decides(sync: Any) -> None:
    client, cap, rows = sync
    models = ["gpt-4o", "gpt-4o-mini", "deepseek-chat", "claude-sonnet-4-6"] * 3
    with pytest.raises(ak.BadRequestError) as info:
        client.chat("hi", models=models)
    assert not isinstance(info.value, RV)  # the gateway's 400 (the offline gateway simulates the old limit of 10)
    assert info.value.status_code == 400 and info.value.param == "gateway.models"
    assert cap.bodies[-1]["gateway"]["models"] == models and rows[-1]["status"] == "error"
    with pytest.raises(RV, match="gateway.models"):
        client.chat("hi", models=[])  # at least one is still required


def test_session_defaults_give_way_to_extra_body(gw: GatewayHandle) -> None:
    cap, rows = Capture(), list[dict[str, Any]]()
    client = attach(ak.Client(KEY, base_url=gw.base_url, transport=cap, on_record=rows.append))  # as ak.connect()
    old = (settings.routing, settings.max_tokens, settings.model)
    settings.routing, settings.max_tokens = {"optimize": "cost", "max_ttft_ms": 4000}, 40
    try:
        client.chat("hi", extra_body={**TTFT, "model": "deepseek-chat", "max_completion_tokens": 30})
    finally:
        settings.routing, settings.max_tokens, settings.model = old
    sent = cap.bodies[-1]
    assert sent["gateway"]["routing"] == {"max_ttft_ms": 4000, "optimize": "ttft"} and sent["model"] == "deepseek-chat"
    assert "max_tokens" not in sent and sent["max_completion_tokens"] == 30 and rows[-1]["optimize"] == "ttft"


def test_async_chat_and_responses_merge_extra_body() -> None:
    async def run() -> tuple[AsyncCapture, list[dict[str, Any]], list[Any]]:
        cap, rows = AsyncCapture(), list[dict[str, Any]]()
        async with ak.AsyncClient(KEY, base_url="http://offline.test/v1", transport=cap, on_record=rows.append) as c:
            a = await c.chat("hi", model="gpt-4o", extra_body=TTFT)
            s = await c.chat("hi", model="gpt-4o", stream=True, extra_body=TTFT)
            b = await s.get_result()
            r = await c.responses("hi", model="gpt-4o", extra_body=TTFT, response_metadata={"k": "v"})
            with pytest.raises(RV, match="optimize given twice"):
                await c.responses("hi", model="gpt-4o", routing={"optimize": "cost"}, extra_body=TTFT)
        return cap, rows, [a, b, r]

    cap, rows, results = asyncio.run(run())
    assert len(cap.bodies) == 3 and all(b["gateway"] == {"routing": {"optimize": "ttft"}} for b in cap.bodies)
    assert cap.bodies[2]["metadata"] == {"k": "v"} and "extra_body" not in cap.bodies[2]
    assert [r.routing_metadata.routing_strategy for r in results] == ["ttft"] * 3
    assert [row["optimize"] for row in rows] == ["ttft"] * 3


# -- sweeps ---------------------------------------------------------------------------------------------------------

def test_compare_sends_extra_body_with_every_call_and_rows_agree(gw: GatewayHandle) -> None:
    client = ak.Client(KEY, base_url=gw.base_url, on_record=None)
    gw.stats.reset()
    df = ak.compare(["a", "b"], models=["gpt-4o", "deepseek-chat"], client=client, ledger=None, progress=False,
                    extra_body={**TTFT, "seed": 3})
    bodies = [r["body"] for r in gw.stats.requests if (r.get("body") or {}).get("messages")]
    assert len(bodies) == 4 and all(b["gateway"] == {"routing": {"optimize": "ttft"}} and b["seed"] == 3
                                    for b in bodies)
    assert list(df["optimize"]) == ["ttft"] * 4 and list(df["routing_strategy"]) == ["ttft"] * 4
    assert set(df["status"]) == {"ok"}


def test_rows_of_cells_that_never_ran_show_the_same_routing(gw: GatewayHandle) -> None:
    client = ak.Client(KEY, base_url=gw.base_url, on_record=None)
    extra = {"gateway": {"routing": {"optimize": "ttft", "ttft_percentile": "p50"}, "metadata": {"tags": ["from-extra"]}}}
    ok = Sweep(["a"], models=["gpt-4o"], client=client, ledger=None, progress=False, routing={"max_ttft_ms": 9000},
               extra_body=extra)
    ok_row = asyncio.run(ok.run()).iloc[0]
    cancelled = Sweep(["a"], models=["gpt-4o"], client=client, ledger=None, progress=False,
                      routing={"max_ttft_ms": 9000}, extra_body=extra)
    cancelled.cancel()
    row = asyncio.run(cancelled.run()).iloc[0]
    assert ok_row["status"] == "ok" and row["status"] == "cancelled"
    for col in ("optimize", "routing", "tags", "model_requested", "prompt_id"):
        assert row[col] == ok_row[col], col
    assert row["optimize"] == "ttft" and json.loads(row["tags"]) == ["from-extra"]
    assert json.loads(row["routing"]) == {"max_ttft_ms": 9000, "optimize": "ttft", "ttft_percentile": "p50"}


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(strategies=["cost", "ttft"], extra_body=TTFT), "both choose the strategy"),
    (dict(routing={"optimize": "cost"}, extra_body=TTFT), "gateway.routing.optimize given twice: routing= says 'cost'"),
    (dict(temperature=0.2, extra_body={"temperature": 0.5}), "temperature given twice"),
    (dict(extra_body={"model": "gpt-4o"}), """model given twice: model= says 'deepseek-chat', extra_body["model"]"""),
    (dict(extra_body={"stream": False}), "stream given twice: stream= says True"),
    (dict(extra_body=["x"]), "extra_body: expected a dict, got list"),
])
def test_sweep_refuses_conflicts_before_any_call(gw: GatewayHandle, kwargs: dict[str, Any], message: str) -> None:
    client = ak.Client(KEY, base_url=gw.base_url, on_record=None)
    gw.stats.reset()
    with pytest.raises(RV) as info:
        Sweep(["a", "b"], models=["gpt-4o", "deepseek-chat"], client=client, ledger=None, progress=False, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert gw.stats.requests == []


def test_sweep_default_strategy_comes_from_extra_body(gw: GatewayHandle) -> None:
    sweep = Sweep(["a"], models=["gpt-4o"], client=ak.Client(KEY, base_url=gw.base_url, on_record=None),
                  ledger=None, progress=False, extra_body=TTFT)
    assert sweep.strategies == ["ttft"]  # the cost estimate and the row's optimize use the strategy that is sent
