"""The sweep's sharded connection pool, against the loopback gateway: one connection for calls in sequence,
shards of at most ten for calls in flight, and every slot given back however a call ends."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from auriko_nb.client._sharded_pool import ShardedTransport
from auriko_nb.offline import GatewayHandle, serve

AUTH = {"Authorization": "Bearer ak_test_sharded_pool"}


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=8, speed=0.05) as g:
        yield g


def _body(i: int, stream: bool = False) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"pool {i}"}], "stream": stream,
            "max_tokens": 20}


def _client(gw: GatewayHandle, transport: ShardedTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url=gw.base_url, headers=AUTH, timeout=20)


def _peers(gw: GatewayHandle, since: int) -> list[str]:
    return [r["peer"] for r in gw.stats.requests[since:]]


def test_calls_in_sequence_share_one_connection(gw: GatewayHandle) -> None:
    transport = ShardedTransport(108)

    async def run() -> None:
        async with _client(gw, transport) as c:
            for i in range(6):
                r = await c.post("/chat/completions", json=_body(i, stream=i % 2 == 1))
                assert r.status_code == 200
                assert transport.in_use == 0

    since = len(gw.stats.requests)
    asyncio.run(run())
    assert transport.shard_count == 1
    assert len(set(_peers(gw, since))) == 1


def test_calls_in_flight_spread_over_shards_of_ten(gw: GatewayHandle) -> None:
    transport = ShardedTransport(40)

    async def run() -> tuple[int, int]:
        async with _client(gw, transport) as c, AsyncExitStack() as held:
            responses = await asyncio.gather(*(held.enter_async_context(
                c.stream("POST", "/chat/completions", json=_body(i, stream=True))) for i in range(35)))
            busy, shards = transport.in_use, transport.shard_count  # 35 streams open at once
            for r in responses:
                assert r.status_code == 200 and b"[DONE]" in await r.aread()
        return busy, shards

    since = len(gw.stats.requests)
    busy, shards = asyncio.run(run())
    assert (busy, shards) == (35, 4)  # ten per shard: 10 + 10 + 10 + 5
    assert len(set(_peers(gw, since))) == 35  # each open stream on its own connection
    assert transport.in_use == 0


def test_more_calls_than_connections_wait_for_one(gw: GatewayHandle) -> None:
    """With every shard open and full, further calls go to the least busy shard and wait in its pool."""
    transport = ShardedTransport(12, shard_size=5)

    async def run() -> list[int]:
        async with _client(gw, transport) as c:
            rs = await asyncio.gather(*(c.post("/chat/completions", json=_body(i)) for i in range(30)))
        return [r.status_code for r in rs]

    since = len(gw.stats.requests)
    assert asyncio.run(run()) == [200] * 30
    assert transport.shard_count == 3 and transport.in_use == 0  # ⌈12 / 5⌉
    assert len(set(_peers(gw, since))) <= 15


def test_slots_come_back_on_errors_and_early_closes(gw: GatewayHandle) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    transport = ShardedTransport(4)

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, headers=AUTH, timeout=5) as c:
            with pytest.raises(httpx.ConnectError):
                await c.post(dead + "/chat/completions", json=_body(0))
            assert transport.in_use == 0
            async with c.stream("POST", gw.base_url + "/chat/completions", json=_body(1, stream=True)) as r:
                assert r.status_code == 200 and transport.in_use == 1  # closed before its body was read
            assert transport.in_use == 0
            r = await c.post(gw.base_url + "/chat/completions", json=_body(2), headers={"X-Auriko-Fault": "disconnect"})
            assert r.status_code == 200
        assert transport.in_use == 0

    with pytest.raises(httpx.RemoteProtocolError):  # the dropped body surfaces; its slot is still returned
        asyncio.run(run())
    assert transport.in_use == 0


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="connections"):
        ShardedTransport(0)
    with pytest.raises(ValueError, match="shard_size"):
        ShardedTransport(5, shard_size=0)
