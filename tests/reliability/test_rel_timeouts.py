"""Timeouts and interrupts: deadlines are honoured and Ctrl-C cleans up.

Deadlines: `timeout=` (a float, or an `httpx.Timeout` with its own connect/read values) bounds connecting (a
loopback listener whose backlog is full never accepts), waiting for the answer (a stalled gateway) and each
wait inside a stream (a stream that stalls after it began); the whole call, retries included, ends within
(max_retries + 1) x timeout + the backoff between attempts. `timeout` is per operation, as in httpx and the
official SDKs: a server that keeps sending something is not cut off.

Interrupts: Ctrl-C (a real SIGINT to the main thread) during a streamed `%%auriko` cell, a non-streamed call
or a sweep in a notebook stops at once, closes the connections (the gateway's in-flight count returns to 0),
keeps every finished row, records the interrupted call as `cancelled`, and the kernel carries on.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import IPython.testing.globalipapp as globalipapp
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from rel_support import (
    chat_requests,
    figure,
    free_port,
    never_accepting,
    peer_closed,
    raw_http_server,
    read_request,
    wait_until,
)

import auriko_nb as ak
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.sweep import Sweep, compare
from auriko_nb.notebook.magics import AurikoMagics
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_reliability_timeouts"
T = 0.3  # the client timeout used throughout
SLACK = 1.0  # scheduling slack on a loaded 2-core machine (the lower bounds have none)
BACKOFF_MIN, BACKOFF_MAX = (0.5 * 0.8, 0.75 * 0.8), (0.5 * 1.2, 0.75 * 1.2)  # first two retries, with jitter


def timed(fn: Callable[[], Any], error: type[BaseException]) -> tuple[BaseException, float]:
    t0 = time.perf_counter()
    with pytest.raises(error) as info:
        fn()
    return info.value, time.perf_counter() - t0


# -- connect ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("timeout", [T, httpx.Timeout(30.0, connect=T)], ids=["float", "httpx.Timeout(connect=)"])
def test_connect_deadline(timeout: Any) -> None:
    rows: list[dict[str, Any]] = []
    with never_accepting() as url:
        client = ak.Client(KEY, base_url=url, timeout=timeout, max_retries=0, on_record=rows.append)
        err, elapsed = timed(lambda: client.chat("hi", model="m"), ak.APITimeoutError)
        assert T - 0.05 <= elapsed <= T + SLACK, elapsed
        assert err.code == "api_connection_error" and err.attempts == 1 and "\n" not in str(err)
        # with retries: every attempt gets the same deadline, plus the backoff between them
        client = ak.Client(KEY, base_url=url, timeout=timeout, max_retries=2, on_record=rows.append)
        err, total = timed(lambda: client.chat("hi", model="m"), ak.APITimeoutError)
    assert err.attempts == 3
    assert 3 * T + sum(BACKOFF_MIN) - 0.05 <= total <= 3 * T + sum(BACKOFF_MAX) + SLACK, total
    assert [r["error_code"] for r in rows] == ["api_connection_error", "api_connection_error"]
    figure("timeouts", f"connect deadline {T} s ({'float' if isinstance(timeout, float) else 'httpx.Timeout'})",
           {"elapsed_s": round(elapsed, 3), "with_2_retries_s": round(total, 3)})


def test_nothing_listening_fails_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    err, elapsed = timed(lambda: ak.Client(KEY, base_url=url, max_retries=0, on_record=None).chat("hi", model="m"),
                         ak.APIConnectionError)
    assert not isinstance(err, ak.APITimeoutError) and err.code == "api_connection_error" and elapsed < 0.3
    assert "Could not reach the gateway (ConnectError" in str(err)
    err, total = timed(lambda: ak.Client(KEY, base_url=url, max_retries=2, on_record=None).chat("hi", model="m"),
                       ak.APIConnectionError)
    assert err.attempts == 3 and sum(BACKOFF_MIN) - 0.05 <= total <= sum(BACKOFF_MAX) + SLACK
    figure("timeouts", "refused port", {"elapsed_s": round(elapsed, 3), "with_2_retries_s": round(total, 3)})


# -- read (a stalled gateway) ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stalled() -> Iterator[GatewayHandle]:
    with serve(seed=51, speed=0.02, faults={"stall": 1.0, "stall_seconds": 20}) as g:
        yield g


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("timeout", [T, httpx.Timeout(30.0, read=T)], ids=["float", "httpx.Timeout(read=)"])
def test_read_deadline_on_a_stalled_gateway(stalled: GatewayHandle, timeout: Any, stream: bool) -> None:
    before = len(stalled.stats.requests)
    client = ak.Client(KEY, base_url=stalled.base_url, timeout=timeout, max_retries=0, on_record=None)
    call = (lambda: client.chat("hi", model="gpt-4o-mini", stream=True).result) if stream else (
        lambda: client.chat("hi", model="gpt-4o-mini"))
    err, elapsed = timed(call, ak.APITimeoutError)
    assert T - 0.05 <= elapsed <= T + SLACK and err.attempts == 1
    assert len(stalled.stats.requests) == before + 1
    assert wait_until(lambda: stalled.stats.in_flight == 0, timeout=2)  # the client hung up; the gateway let go


def test_total_deadline_with_retries_on_a_stalled_gateway(stalled: GatewayHandle) -> None:
    before = len(chat_requests(stalled.stats))
    client = ak.Client(KEY, base_url=stalled.base_url, timeout=T, max_retries=2, on_record=None)
    err, total = timed(lambda: client.chat("hi", model="gpt-4o-mini"), ak.APITimeoutError)
    bound = 3 * T + sum(BACKOFF_MAX)
    assert err.attempts == 3 and 3 * T + sum(BACKOFF_MIN) - 0.05 <= total <= bound + SLACK, total
    assert len(chat_requests(stalled.stats)) == before + 3
    assert wait_until(lambda: stalled.stats.in_flight == 0, timeout=2)
    figure("timeouts", f"stalled gateway, timeout {T} s, 2 retries", {"elapsed_s": round(total, 3),
                                                                   "bound_s": round(bound, 3)})


async def test_async_deadlines_on_a_stalled_gateway(stalled: GatewayHandle) -> None:
    client = ak.AsyncClient(KEY, base_url=stalled.base_url, timeout=T, max_retries=1, on_record=None)
    t0 = time.perf_counter()
    with pytest.raises(ak.APITimeoutError) as info:
        s = await client.chat("hi", model="gpt-4o-mini", stream=True)
        await s.get_result()
    total = time.perf_counter() - t0
    assert info.value.attempts == 2 and 2 * T + BACKOFF_MIN[0] - 0.05 <= total <= 2 * T + BACKOFF_MAX[0] + SLACK
    await client.aclose()


def test_a_stalled_gateway_does_not_hang_a_sweep(stalled: GatewayHandle) -> None:
    t0 = time.perf_counter()
    df = compare([f"stall {i}" for i in range(12)], models=["gpt-4o-mini"], concurrency=12, max_retries=0,
                 client=ak.Client(KEY, base_url=stalled.base_url, timeout=T), ledger=None, progress=False)
    wall = time.perf_counter() - t0
    assert len(df) == 12 and (df.error_code == "api_connection_error").all() and wall < T + 2.0
    assert wait_until(lambda: stalled.stats.in_flight == 0, timeout=2)
    figure("timeouts", "sweep of 12 stalled calls", {"wall_s": round(wall, 3)})


# -- read inside a stream ----------------------------------------------------------------------------------

def _stalling_stream(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req_stall\r\n"
                 b"connection: close\r\n\r\n"
                 b'data: {"choices":[{"index":0,"delta":{"content":"Hello "}}]}\n\n'
                 b'data: {"choices":[{"index":0,"delta":{"content":"wor"}}]}\n\n')
    STREAM_CLOSED.append(peer_closed(conn, 5.0))


STREAM_CLOSED: list[bool] = []


def test_read_deadline_inside_a_stream() -> None:
    rows: list[dict[str, Any]] = []
    with raw_http_server(_stalling_stream) as (url, conns):
        client = ak.Client(KEY, base_url=url, timeout=T, max_retries=2, on_record=rows.append)
        got: list[str] = []

        def consume() -> None:
            for delta in client.chat("hi", model="m", stream=True):
                got.append(delta)
        err, elapsed = timed(consume, ak.StreamError)
        assert wait_until(lambda: len(STREAM_CLOSED) == 1, timeout=6)
    assert got == ["Hello ", "wor"] and err.partial_text == "Hello wor" and err.code == "stream_timeout"
    assert T - 0.05 <= elapsed <= T + SLACK, elapsed
    assert len(conns) == 1  # the stream had begun: never sent again
    assert STREAM_CLOSED == [True]  # and the client hung up
    assert rows[-1]["status"] == "error" and rows[-1]["error_code"] == "stream_timeout"
    figure("timeouts", f"stream stalled after 2 deltas, timeout {T} s", {"elapsed_s": round(elapsed, 3)})


# -- interrupts (a real SIGINT to the main thread, as the kernel's interrupt button sends) ---------------------

PENDING: list[threading.Event] = []


def sigint_when(ready: Callable[[], bool], delay: float = 0.0, timeout: float = 20.0) -> threading.Thread:
    """SIGINT the main thread once `ready()` holds (then after `delay`); called off when the test ends."""
    main = threading.main_thread().ident
    assert main is not None
    stop = threading.Event()
    PENDING.append(stop)

    def fire() -> None:
        if wait_until(lambda: stop.is_set() or ready(), timeout=timeout) and not stop.is_set():
            time.sleep(delay)
            if not stop.is_set():
                signal.pthread_kill(main, signal.SIGINT)
    t = threading.Thread(target=fire, daemon=True)
    t.start()
    return t


@pytest.fixture(autouse=True)
def no_stray_interrupts() -> Iterator[None]:
    """A test that failed before its interrupt fired must not have it land in the next test."""
    yield
    for stop in PENDING:
        stop.set()
    PENDING.clear()


@pytest.fixture(scope="module")
def slow() -> Iterator[GatewayHandle]:
    with serve(seed=52, speed=5.0) as g:  # answers take seconds: time to interrupt them
        yield g


@pytest.fixture
def shell(slow: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, AurikoMagics]]:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", slow.base_url)
    ip = globalipapp.start_ipython() or globalipapp.get_ipython()
    ip.display_pub = CapturingDisplayPublisher()
    magics = AurikoMagics(ip)
    ip.register_magics(magics)
    yield ip, magics
    magics.state.reconnect()


def test_ctrl_c_during_a_streamed_cell(shell: tuple[Any, AurikoMagics], slow: GatewayHandle) -> None:
    ip, magics = shell
    assert ip.run_cell("%%auriko --no-stream -m gpt-4o-mini --max-tokens 3\nA finished call").success
    finished = dict(magics.state.records[-1])
    ip.display_pub.outputs.clear()
    # interrupt once the answer has started to grow in place
    sigint_when(lambda: any(o["update"] and o["data"].get("text/plain") for o in ip.display_pub.outputs), 0.2)
    t0 = time.perf_counter()
    result = ip.run_cell("%%auriko -m gpt-4o\nWrite about latency at length")
    stopped = time.perf_counter() - t0
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert wait_until(lambda: slow.stats.in_flight == 0, timeout=2), slow.stats.snapshot()  # connection closed
    assert magics.state.records[-2] == finished  # the finished row is kept...
    cancelled = magics.state.records[-1]  # ...and the interrupted call is recorded as such
    assert cancelled["status"] == "cancelled" and cancelled["error_code"] == "interrupted"
    assert cancelled["ttft_ms_client"] is not None and cancelled["request_id"]
    assert any(not o["update"] and o["data"].get("text/plain") for o in ip.display_pub.outputs)  # partial text kept
    assert ip.run_cell("%%auriko --no-stream -m gpt-4o-mini --max-tokens 3\nStill working").success
    figure("timeouts", "Ctrl-C in a streamed %%auriko cell", {"stopped_after_s": round(stopped, 2),
                                                              "gateway_in_flight_after": slow.stats.in_flight})


def test_ctrl_c_while_the_display_updates(shell: tuple[Any, AurikoMagics], slow: GatewayHandle,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The interrupt can land outside the stream's own code (here: in the display update)."""
    ip, magics = shell
    import IPython.display

    real = IPython.display.update_display
    calls = {"n": 0}

    def update(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(IPython.display, "update_display", update)
    before = len(magics.state.records)
    result = ip.run_cell("%%auriko -m gpt-4o\nWrite about throughput at length")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert wait_until(lambda: slow.stats.in_flight == 0, timeout=2), slow.stats.snapshot()
    assert len(magics.state.records) == before + 1 and magics.state.records[-1]["status"] == "cancelled"


def test_ctrl_c_during_a_plain_call(slow: GatewayHandle) -> None:
    rows: list[dict[str, Any]] = []
    client = ak.Client(KEY, base_url=slow.base_url, on_record=rows.append)
    sigint_when(lambda: slow.stats.in_flight > 0, 0.3)
    with pytest.raises(KeyboardInterrupt):
        client.chat("Write about caching at length", model="gpt-4o")
    assert wait_until(lambda: slow.stats.in_flight == 0, timeout=2)
    assert len(rows) == 1 and rows[0]["status"] == "cancelled" and rows[0]["error_code"] == "interrupted"


def test_ctrl_c_during_a_sweep_in_a_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare() inside a running event loop (a notebook): Ctrl-C cancels in flight, keeps finished rows, and
    returns only once every cell has its row (marking the rest takes a while here, to make sure of that)."""
    real_cancel_rest = Sweep._cancel_rest

    def slow_cancel_rest(self: Sweep, *args: Any) -> None:
        if self.stop_reason == "cancelled":
            time.sleep(0.5)
        real_cancel_rest(self, *args)
    monkeypatch.setattr(Sweep, "_cancel_rest", slow_cancel_rest)
    with serve(seed=53, speed=0.2) as gw:
        ledger = Ledger(tmp_path / "interrupt.sqlite")
        rows: list[dict[str, Any]] = []

        async def cell() -> Any:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sigint_when(lambda: len(rows) >= 6)
                df = compare([f"interrupt {i}" for i in range(200)], models=["gpt-4o-mini"], concurrency=6,
                             client=ak.Client(KEY, base_url=gw.base_url), ledger=ledger, progress=False,
                             on_row=rows.append)
            assert any("interrupted" in str(w.message) for w in caught)
            return df
        loop = asyncio.new_event_loop()  # as in a kernel: a running loop with Python's own SIGINT handler
        try:                             # (asyncio.run would turn the first SIGINT into a task cancellation)
            df = loop.run_until_complete(cell())
        finally:
            loop.close()
        assert wait_until(lambda: gw.stats.in_flight == 0, timeout=3), gw.stats.snapshot()
        ok = int((df.status == "ok").sum())
        successes = gw.stats.successes
        sent = len(chat_requests(gw.stats))
    assert len(df) == 200 and df["cell"].is_unique and set(df.status) == {"ok", "cancelled"}
    assert ok >= 6 and ok <= successes <= ok + 6  # every charged call is a row, bar the few finishing as it stopped
    assert sent < 200 and (df.status == "cancelled").sum() == 200 - ok
    stored = ledger.to_dataframe(run_id=df["run_id"].iloc[0])
    assert len(stored) == 200 and stored["cell"].is_unique
    figure("timeouts", "Ctrl-C in a notebook sweep of 200", {"ok_rows": ok, "gateway_successes": successes,
                                                             "requests_sent": sent, "cancelled_rows": 200 - ok})


def test_ctrl_c_during_a_compare_cell(shell: tuple[Any, AurikoMagics], slow: GatewayHandle) -> None:
    """`%%auriko --compare` interrupted: the sweep stops, every cell has one row, the summary still shows."""
    ip, magics = shell
    before = len(magics.state.records)
    sigint_when(lambda: len(magics.state.records) >= before + 2, 0.05)
    with pytest.warns(UserWarning, match="compare interrupted: 20 rows kept"):
        result = ip.run_cell("%%auriko -m gpt-4o-mini --compare optimize=cost,ttft,balanced,tps --repeat 5 "
                             "--no-stream\nCompare, then get interrupted")
    assert wait_until(lambda: slow.stats.in_flight == 0, timeout=3), slow.stats.snapshot()
    df = ip.user_ns["_auriko"]
    assert result.success and len(df) == 20 and df["cell"].is_unique  # interrupted, yet every cell has its row
    assert (df.status == "ok").sum() >= 2 and (df.status == "cancelled").sum() >= 1
    assert set(df.status) <= {"ok", "cancelled"}
    figure("timeouts", "Ctrl-C in a %%auriko --compare cell of 20", df["status"].astype(str).value_counts().to_dict())
