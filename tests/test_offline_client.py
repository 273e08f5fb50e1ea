"""Our client on the embedded offline gateway over loopback: every endpoint, streaming, timing, connect()."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator

import pytest

import auriko_nb as ak
from auriko_nb.notebook.connect import connect, connect_async, offline_gateway
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_offline_client"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=3, speed=0.05) as g:
        yield g


@pytest.fixture
def client(gw: GatewayHandle) -> Iterator[ak.Client]:
    with ak.Client(KEY, base_url=gw.base_url, max_retries=0, timeout=10) as c:
        yield c


def test_chat_plain_and_stream_through_our_client(client: ak.Client, gw: GatewayHandle) -> None:
    res = client.chat("Explain SSE briefly", model="gpt-4o", routing={"optimize": "cost-focus"},
                      metadata={"tags": ["t1"]}, temperature=0.1)
    assert res.text and res.offline and res.request_id
    rm = res.routing_metadata
    assert rm is not None and rm.model_canonical == "gpt-4o" and rm.routing_strategy == "cost-focus"
    assert rm.cost is not None and rm.cost.usd > 0
    assert res.headers.credits_balance_usd is not None and res.headers.ratelimit_limit is not None
    received = gw.stats.requests[-1]
    assert received["body"]["gateway"] == {"routing": {"optimize": "cost-focus"}, "metadata": {"tags": ["t1"]}}
    assert "authorization" not in received["headers"]
    assert res.to_record()["source"] == "offline"

    stream = client.chat("Explain SSE briefly", model="gpt-4o", routing={"optimize": "cost-focus"}, stream=True)
    deltas = list(stream)
    assert len(deltas) > 3 and "".join(deltas) == stream.result.text == res.text
    assert stream.result.usage.completion_tokens == res.usage.completion_tokens


def test_responses_and_discovery(client: ak.Client) -> None:
    res = client.responses("Say hello", model="claude-sonnet-4-6")
    assert res.text and res.routing_metadata is not None and res.to_record()["endpoint"] == "responses"
    stream = client.responses("Say hello", model="claude-sonnet-4-6", stream=True)
    assert "".join(stream) == stream.result.text == res.text
    models = client.models()
    assert len(models.ids) >= 10
    assert len(client.models(endpoint="responses").ids) > len(models.ids)
    assert client.model(models.ids[0]).id == models.ids[0]
    assert client.me().workspace_id
    assert len(client.registry_providers().ids) >= 8
    assert client.registry_models().count >= 10
    directory = client.directory()
    assert all(2 <= len(m.providers) <= 5 for m in directory.models.values())


def test_errors_are_typed(client: ak.Client) -> None:
    with pytest.raises(ak.NotFoundError) as nf:
        client.chat("hi", model="no-such-model")
    assert nf.value.code == "model_not_found" and nf.value.request_id
    with pytest.raises(ak.RateLimitError) as rl:
        client.chat("hi", model="gpt-4o", extra_headers={"X-Auriko-Fault": "rate_limit"})
    assert rl.value.retry_after is not None
    with pytest.raises(ak.BadRequestError) as bad:
        client.chat("hi", model="gpt-4o", routing={"max_cost_per_1m": 0.0001})
    assert bad.value.code == "cost_constraint_exceeded"
    with pytest.raises(ak.AuthenticationError):
        ak.Client("not_a_key", base_url=client.base_url).chat("hi", model="gpt-4o")
    with pytest.raises(ak.StreamError) as se:
        client.chat("hi", model="gpt-4o", stream=True, extra_headers={"X-Auriko-Fault": "stream_error"}).result
    assert se.value.partial_text and se.value.status_code == 200



def test_streamed_ttft_agrees_with_the_gateway(gw: GatewayHandle, client: ak.Client) -> None:
    diffs = []
    for i in range(8):
        r = client.chat(f"timing probe {i}", model="llama-3.3-70b", stream=True).result
        assert r.routing_metadata is not None and r.routing_metadata.ttft_ms is not None and r.ttft_ms is not None
        diffs.append(r.ttft_ms - r.routing_metadata.ttft_ms)
    assert all(d >= -1.0 for d in diffs), diffs
    assert statistics.median(diffs) < 5, diffs  # a few ms on loopback (about 1 ms on an idle machine)


def test_connect_without_key_uses_the_offline_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    rows: list[dict] = []
    c = connect(speed=0.02, on_record=rows.append)
    assert c.source == "offline" and "offline simulation" in repr(c)
    assert c.base_url == offline_gateway(speed=0.02).base_url
    assert connect(speed=0.02).base_url == c.base_url  # one gateway per process and settings
    res = c.chat("hello", model="gpt-4o-mini")
    assert res.offline and rows[-1]["source"] == "offline"
    with pytest.raises(ak.NotFoundError):
        c.chat("hello", model="nope")
    assert rows[-1]["source"] == "offline" and rows[-1]["status"] == "error"


def test_connect_with_key_is_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    c = connect()
    assert c.source == "live" and c.base_url == "https://api.auriko.ai/v1" and c.has_key
    assert connect(mode="offline", speed=0.02).source == "offline"
    with pytest.raises(ValueError, match="mode"):
        connect(mode="sometimes")  # type: ignore[arg-type]


async def test_async_client_on_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    async with connect_async(speed=0.02) as c:
        res = await c.chat("hello async", model="deepseek-chat")
        stream = await c.chat("hello async", model="deepseek-chat", stream=True)
        assert "".join([d async for d in stream]) == res.text and stream.result.offline


def test_every_connect_call_lands_in_the_session_ledger(gw: GatewayHandle, isolated_session_ledger: object) -> None:
    c = connect(KEY, base_url=gw.base_url, max_retries=0)
    c.chat("ledger me", model="gpt-4o-mini")
    list(c.chat("ledger me too", model="gpt-4o-mini", stream=True))
    with pytest.raises(ak.NotFoundError):
        c.chat("ledger my failure", model="nope")
    df = ak.session_ledger().to_dataframe()
    assert list(df["status"]) == ["ok", "ok", "error"] and list(df["stream"]) == [False, True, False]
    ak.set_session_ledger(None)
    c.chat("not recorded", model="gpt-4o-mini")
    assert ak.session_ledger() is None
    quiet = ak.Client(KEY, base_url=gw.base_url, on_record=None)
    assert quiet.record_hooks == []


def test_a_sweep_writes_one_row_per_cell_to_the_session_ledger(gw: GatewayHandle) -> None:
    with serve(seed=9, speed=0.02, faults={"rate_limit": 0.3}) as flaky:
        df = ak.compare([f"s {i}" for i in range(6)], models=["gpt-4o-mini"], progress=False,
                        client=ak.Client(KEY, base_url=flaky.base_url))
    rows = ak.session_ledger().to_dataframe()
    assert len(rows) == len(df) == 6 and rows["cell"].is_unique


def test_error_rows_from_the_offline_gateway_say_offline(gw: GatewayHandle) -> None:
    rows: list[dict] = []
    plain = ak.Client(KEY, base_url=gw.base_url, max_retries=0, on_record=rows.append)  # not via connect()
    assert plain.source == "live"
    with pytest.raises(ak.NotFoundError) as info:
        plain.chat("hi", model="nope")
    assert info.value.headers["x-auriko-offline"] == "simulation"
    assert rows[-1]["source"] == "offline" and rows[-1]["status"] == "error"


def test_a_body_dropped_after_the_headers_keeps_the_request_id(gw: GatewayHandle) -> None:
    """The support handle survives a connection lost mid-body: on the error and on the row (sync and async)."""
    rows: list[dict] = []
    drop = {"X-Auriko-Fault": "disconnect"}
    with ak.Client(KEY, base_url=gw.base_url, max_retries=0, on_record=rows.append) as c, \
            pytest.raises(ak.APIConnectionError) as info:
        c.chat("hi", model="gpt-4o", extra_headers=drop)
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert rows[-1]["request_id"] == info.value.request_id and rows[-1]["error_code"] == "api_connection_error"

    async def run() -> str | None:
        async with ak.AsyncClient(KEY, base_url=gw.base_url, max_retries=0, on_record=rows.append) as ac:
            with pytest.raises(ak.APIConnectionError) as ainfo:  # noqa: SIM117 (async and sync contexts)
                await ac.chat("hi", model="gpt-4o", extra_headers=drop)
        return ainfo.value.request_id

    rid = asyncio.run(run())
    assert rid and rid != info.value.request_id and rows[-1]["request_id"] == rid


def _peers(gw: GatewayHandle, since: int) -> list[str]:
    return [r["peer"] for r in gw.stats.requests[since:]]


def test_calls_one_after_another_reuse_one_connection(gw: GatewayHandle) -> None:
    """A stream read to its end leaves the connection reusable (no new TCP handshake per call), sync and async."""
    since = len(gw.stats.requests)
    with ak.Client(KEY, base_url=gw.base_url, max_retries=0) as c:
        for i in range(3):
            assert list(c.chat(f"reuse {i}", model="gpt-4o", stream=True))
            assert c.chat(f"reuse plain {i}", model="gpt-4o").text
        assert "".join(c.responses("reuse", model="gpt-4o", stream=True))
    sync_peers = _peers(gw, since)
    assert len(sync_peers) == 7 and len(set(sync_peers)) == 1, sync_peers

    async def run() -> None:
        async with ak.AsyncClient(KEY, base_url=gw.base_url, max_retries=0) as ac:
            for i in range(3):
                assert [d async for d in await ac.chat(f"areuse {i}", model="gpt-4o", stream=True)]
                assert (await ac.chat(f"areuse plain {i}", model="gpt-4o")).text

    since = len(gw.stats.requests)
    asyncio.run(run())
    async_peers = _peers(gw, since)
    assert len(async_peers) == 6 and len(set(async_peers)) == 1 and async_peers[0] != sync_peers[0], async_peers


def test_gateways_started_by_connect_are_stopped_at_interpreter_exit() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import atexit, sys
        import auriko_nb as ak
        c = sys.modules["auriko_nb.notebook.connect"]  # the module (ak.connect is the function)
        seen = []
        atexit.register(lambda: print("stopped" if not seen[0].running else "still running"))  # runs last (LIFO)
        client = ak.connect(mode="offline", speed=0.01)
        seen.append(next(iter(c._gateways.values())))
        assert seen[0].running
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stopped"
