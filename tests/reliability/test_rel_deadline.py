"""Total deadlines: `deadline=` (seconds, on the client or per call) bounds everything a call does, the
attempts, the backoff between them and the whole stream, where `timeout` bounds each operation only.

A server that drips bytes (each read well within `timeout`) is cut off at the deadline, streamed or not, sync
or async; a stalled gateway is given up on at the deadline, not after `timeout`; retries stop when the next one
would start after the deadline; the client hangs up (the server sees the connection close), the row records
`deadline_exceeded`, and a call that finishes in time is untouched (no stray timer threads).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from rel_support import (
    chat_requests,
    figure,
    never_accepting,
    peer_closed,
    raw_http_server,
    read_request,
    wait_until,
)

import auriko_nb as ak
from auriko_nb.measure.sweep import compare
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_reliability_deadline"
D = 1.0  # the deadline used throughout
T = 0.5  # the per-operation timeout: every drip arrives well within it
SLACK = 1.0  # scheduling slack on a loaded 2-core machine (the lower bounds have none)
CLOSED: list[bool] = []


def _drip(head: bytes, piece: bytes) -> Callable[[socket.socket], None]:
    """A raw server handler: the response head, then `piece` every 0.1 s for 20 s (it notes when the client hangs up)."""
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n")
        for _ in range(200):
            conn.sendall(piece)
            if peer_closed(conn, 0.1):
                CLOSED.append(True)
                return
        CLOSED.append(False)
    return handler


_dripping_stream = _drip(b"content-type: text/event-stream\r\nx-request-id: req_drip\r\nconnection: close\r\n",
                         b'data: {"choices":[{"index":0,"delta":{"content":"drip "}}]}\n\n')
_dripping_body = _drip(b"content-type: application/json\r\nx-request-id: req_dripbody\r\ncontent-length: 100000\r\n",
                       b" ")


def _timed(fn: Callable[[], Any], error: type[BaseException]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    with pytest.raises(error) as info:
        fn()
    return info.value, time.perf_counter() - t0


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    CLOSED.clear()
    threads = threading.active_count()
    yield
    assert wait_until(lambda: threading.active_count() <= threads, timeout=3), "a deadline timer outlived its call"


@pytest.mark.parametrize("where", ["client", "call"])
def test_a_dripping_stream_is_cut_off_at_the_deadline(where: str) -> None:
    rows: list[dict[str, Any]] = []
    with raw_http_server(_dripping_stream) as (url, conns):
        client = ak.Client(KEY, base_url=url, timeout=T, max_retries=2, on_record=rows.append,
                           deadline=D if where == "client" else None)
        got: list[str] = []

        def consume() -> None:
            for delta in client.chat("hi", model="m", stream=True, **({"deadline": D} if where == "call" else {})):
                got.append(delta)
        err, elapsed = _timed(consume, ak.StreamError)
        assert wait_until(lambda: len(CLOSED) == 1, timeout=3)
    assert D <= elapsed <= D + SLACK, elapsed
    assert err.code == "deadline_exceeded" and "deadline of 1 s" in str(err) and "\n" not in str(err)
    assert len(got) >= 3 and err.partial_text == "".join(got)
    assert len(conns) == 1 and CLOSED == [True]  # never sent again; the client hung up
    assert rows[-1]["status"] == "error" and rows[-1]["error_code"] == "deadline_exceeded"
    assert rows[-1]["request_id"] == "req_drip"
    figure("timeouts", f"stream dripping forever, deadline {D} s on the {where} (timeout {T} s)",
           {"elapsed_s": round(elapsed, 3)})


def test_a_dripping_body_is_cut_off_at_the_deadline() -> None:
    rows: list[dict[str, Any]] = []
    with raw_http_server(_dripping_body) as (url, conns):
        client = ak.Client(KEY, base_url=url, timeout=T, max_retries=2, on_record=rows.append)
        err, elapsed = _timed(lambda: client.chat("hi", model="m", deadline=D), ak.APITimeoutError)
        assert wait_until(lambda: len(CLOSED) == 1, timeout=3)
    assert D <= elapsed <= D + SLACK, elapsed
    assert err.code == "deadline_exceeded" and err.attempts == 1 and err.request_id == "req_dripbody"
    assert len(conns) == 1 and CLOSED == [True]  # not retried: there is no time left
    assert rows[-1]["error_code"] == "deadline_exceeded"
    figure("timeouts", f"body dripping forever, deadline {D} s (timeout {T} s)", {"elapsed_s": round(elapsed, 3)})


def test_async_dripping_stream_and_body() -> None:
    rows: list[dict[str, Any]] = []

    async def run(url: str) -> tuple[Any, float, Any, float]:
        async with ak.AsyncClient(KEY, base_url=url, timeout=T, max_retries=2, on_record=rows.append,
                                  deadline=D) as client:
            t0 = time.perf_counter()
            with pytest.raises(ak.StreamError) as s_info:
                async for _ in await client.chat("hi", model="m", stream=True):
                    pass
            stream_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with pytest.raises(ak.APITimeoutError) as b_info:
                await client.chat("hi", model="m")
            return s_info.value, stream_s, b_info.value, time.perf_counter() - t0

    seen: list[socket.socket] = []

    def both(conn: socket.socket) -> None:
        seen.append(conn)
        (_dripping_stream if len(seen) == 1 else _dripping_body)(conn)

    with raw_http_server(both) as (url, conns):
        s_err, stream_s, b_err, body_s = asyncio.run(run(url))
        assert wait_until(lambda: len(CLOSED) == 2, timeout=3)
    assert s_err.code == b_err.code == "deadline_exceeded" and s_err.partial_text.startswith("drip ")
    assert D <= stream_s <= D + SLACK and D <= body_s <= D + SLACK, (stream_s, body_s)
    assert len(conns) == 2 and CLOSED == [True, True]
    assert [r["error_code"] for r in rows] == ["deadline_exceeded", "deadline_exceeded"]


@pytest.fixture(scope="module")
def stalled() -> Iterator[GatewayHandle]:
    with serve(seed=52, speed=0.02, faults={"stall": 1.0, "stall_seconds": 20}) as g:
        yield g


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_stalled_gateway_is_given_up_on_at_the_deadline(stalled: GatewayHandle, stream: bool) -> None:
    before = len(chat_requests(stalled.stats))
    client = ak.Client(KEY, base_url=stalled.base_url, timeout=30, max_retries=3, on_record=None, deadline=D)
    call = (lambda: client.chat("hi", model="gpt-4o-mini", stream=True).result) if stream else (
        lambda: client.chat("hi", model="gpt-4o-mini"))
    err, elapsed = _timed(call, ak.APITimeoutError)
    assert D - 0.05 <= elapsed <= D + SLACK, elapsed
    assert err.code == "deadline_exceeded" and err.attempts == 1
    assert len(chat_requests(stalled.stats)) == before + 1  # no retry after the deadline
    assert wait_until(lambda: stalled.stats.in_flight == 0, timeout=3)


async def test_async_stalled_gateway(stalled: GatewayHandle) -> None:
    async with ak.AsyncClient(KEY, base_url=stalled.base_url, timeout=30, max_retries=3, on_record=None) as client:
        t0 = time.perf_counter()
        with pytest.raises(ak.APITimeoutError) as info:
            await client.chat("hi", model="gpt-4o-mini", deadline=D)
        elapsed = time.perf_counter() - t0
    assert D - 0.05 <= elapsed <= D + SLACK and info.value.code == "deadline_exceeded"


@pytest.mark.parametrize(("fault", "expected"), [
    ("html_error", 2),   # no Retry-After: backoff 0.5 s then 1 s (±20 %): the second retry would start after 1 s
    ("unavailable", 1),  # Retry-After: 1 (whole seconds, as servers send it): the first retry would start too late
])
def test_retries_stop_when_the_next_would_start_after_the_deadline(fault: str, expected: int) -> None:
    with serve(seed=53, speed=0.02, faults={fault: 1.0}) as gw:
        client = ak.Client(KEY, base_url=gw.base_url, max_retries=6, on_record=None, deadline=D)
        err, elapsed = _timed(lambda: client.chat("hi", model="gpt-4o-mini"), ak.AurikoError)
        sent = len(chat_requests(gw.stats))
    assert err.status_code in (502, 503) and err.retryable
    assert err.attempts == sent == expected and elapsed < D, (err.attempts, sent, elapsed)


def test_calls_that_finish_in_time_are_untouched() -> None:
    with serve(seed=54, speed=0.02) as gw:
        with ak.Client(KEY, base_url=gw.base_url, on_record=None, deadline=30) as client:
            plain = client.chat("in time", model="gpt-4o-mini")
            streamed = client.chat("in time", model="gpt-4o-mini", stream=True)
            assert plain.text and "".join(streamed) == streamed.result.text
            resp = client.responses("in time", model="gpt-4o-mini", deadline=5)
            assert resp.text

        async def run() -> str:
            async with ak.AsyncClient(KEY, base_url=gw.base_url, on_record=None, deadline=30) as ac:
                s = await ac.chat("in time", model="gpt-4o-mini", stream=True)
                return (await s.get_result()).text

        assert asyncio.run(run())
        peers = {r["peer"] for r in chat_requests(gw.stats)[:2]}
        assert len(peers) == 1  # the connection survived the disarmed hang-up and was reused


@pytest.mark.parametrize("where", ["client", "compare"])
def test_a_sweep_gives_every_call_the_deadline(stalled: GatewayHandle, where: str) -> None:
    t0 = time.perf_counter()
    df = compare([f"deadline {where} {i}" for i in range(6)], models=["gpt-4o-mini"], concurrency=6, max_retries=0,
                 client=ak.Client(KEY, base_url=stalled.base_url, timeout=30, deadline=D if where == "client" else None),
                 ledger=None, progress=False, **({"deadline": D} if where == "compare" else {}))
    wall = time.perf_counter() - t0
    assert len(df) == 6 and (df.error_code == "deadline_exceeded").all() and wall < D + 2.0, wall
    with pytest.raises(ValueError, match="^deadline must be"):
        compare(["x"], models=["gpt-4o-mini"], client=ak.Client(KEY, base_url=stalled.base_url), ledger=None,
                progress=False, deadline=-1)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
def test_bad_deadlines_get_a_one_line_error(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"^deadline must be a positive number of seconds or None, not "):
        ak.Client(KEY, base_url="http://127.0.0.1:9/v1", deadline=bad)
    client = ak.Client(KEY, base_url="http://127.0.0.1:9/v1", on_record=None)
    with pytest.raises(ak.RequestValidationError, match=r"deadline must be a positive number of seconds or None"):
        client.chat("hi", model="m", deadline=bad)


def test_the_deadline_bounds_each_phase_with_an_httpx_timeout_too() -> None:
    """A connect that hangs (full accept queue) under `httpx.Timeout(30)` still ends at the deadline."""
    with never_accepting() as url:
        client = ak.Client(KEY, base_url=url, timeout=httpx.Timeout(30.0), max_retries=2, on_record=None)
        err, elapsed = _timed(lambda: client.chat("hi", model="m", deadline=D), ak.APITimeoutError)
    assert D - 0.05 <= elapsed <= D + SLACK and err.code == "deadline_exceeded"
