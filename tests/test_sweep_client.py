"""Sweeps use the caller's client as it is: its transport, default headers and pool; the sweep leaves it open,
and closes what it built itself (pool, client, worker threads, progress bar) once, however the run ends."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import auriko_nb as ak
import auriko_nb.measure.sweep as sweep_mod
from auriko_nb.measure.sweep import Cell, Sweep
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_sweep_client"
PROMPTS = ["one", "two", "three"]
MODELS = ["gpt-4o-mini", "deepseek-chat"]


@pytest.fixture
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=4, speed=0.02) as g:
        yield g


class Counting(httpx.BaseTransport):
    """A real transport that notes every request it sends (as a corporate proxy or private-CA transport would)."""

    def __init__(self) -> None:
        self.inner, self.seen = httpx.HTTPTransport(), []  # type: list[httpx.Request]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncCounting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner, self.seen = httpx.AsyncHTTPTransport(), []  # type: list[httpx.Request]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _chat_requests(seen: list[httpx.Request]) -> list[httpx.Request]:
    return [r for r in seen if r.url.path.endswith("/chat/completions")]


def test_a_sync_client_is_used_as_given_and_left_open(gw: GatewayHandle) -> None:
    transport = Counting()
    rows: list[dict] = []
    c = ak.Client(KEY, base_url=gw.base_url, transport=transport, default_headers={"X-Corp": "yes"}, max_retries=5,
                  on_record=rows.append)
    df = ak.compare(PROMPTS, models=MODELS, client=c, ledger=None, progress=False, concurrency=4)
    assert len(df) == 6 and set(df["status"]) == {"ok"}
    assert df["ttft_ms_client"].notna().all()  # streamed, timed in the worker thread
    sent = _chat_requests(transport.seen)
    assert len(sent) == 6 and all(r.headers["X-Corp"] == "yes" for r in sent)
    assert (c.max_retries, c.record_hooks, rows) == (5, [rows.append], [])  # the caller's settings untouched
    assert not c._http.is_closed
    c.chat("still open", model="gpt-4o-mini")
    c.close()


def test_an_async_client_is_used_as_given_and_left_open(gw: GatewayHandle) -> None:
    transport = AsyncCounting()

    async def run() -> tuple[object, ak.AsyncClient]:
        c = ak.AsyncClient(KEY, base_url=gw.base_url, transport=transport, default_headers={"X-Corp": "yes"},
                           max_retries=5)
        df = await ak.compare_async(PROMPTS, models=MODELS, client=c, ledger=None, progress=False, stream=False)
        assert not c._http.is_closed
        await c.chat("still open", model="gpt-4o-mini")
        await c.aclose()
        return df, c

    df, c = asyncio.run(run())
    assert len(df) == 6 and set(df["status"]) == {"ok"}  # type: ignore[arg-type]
    sent = _chat_requests(transport.seen)
    assert len(sent) == 7 and all(r.headers["X-Corp"] == "yes" for r in sent)
    assert c.max_retries == 5


def test_without_a_client_the_sweep_builds_one_on_the_sharded_pool(gw: GatewayHandle,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import auriko_nb.measure.sweep as sweep_mod

    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    built: list[tuple[ak.AsyncClient, httpx.AsyncClient]] = []
    real = sweep_mod._own_client
    monkeypatch.setattr(sweep_mod, "_own_client", lambda pool: built.append((real(pool), pool)) or built[-1][0])
    df = ak.compare(PROMPTS[:1], models=MODELS, ledger=None, progress=False)
    assert set(df["status"]) == {"ok"} and len(built) == 1
    client, pool = built[0]
    assert client._http is pool and isinstance(pool._transport, ak.ShardedTransport)
    assert pool.is_closed  # the sweep closes the client it built
    assert "ShardedTransport" in ak.__all__


def test_cancelling_a_sweep_on_a_sync_client_marks_the_calls_in_flight(tmp_path: object) -> None:
    with serve(seed=4, speed=2.0) as slow:
        c = ak.Client(KEY, base_url=slow.base_url)
        sweep = Sweep([f"p{i}" for i in range(12)], models=["gpt-4o-mini"], client=c, ledger=None, progress=False,
                      concurrency=3)
        box: dict[str, object] = {}
        worker = threading.Thread(target=lambda: box.update(df=asyncio.run(sweep.run())))
        worker.start()
        time.sleep(0.3)
        t0 = time.perf_counter()
        sweep.cancel(now=True)
        worker.join(10)
        assert not worker.is_alive() and time.perf_counter() - t0 < 5
        df = box["df"]
        assert len(df) == 12 and set(df["status"]) <= {"ok", "cancelled"}  # type: ignore[attr-defined]
        assert (df["status"] == "cancelled").sum() >= 9  # type: ignore[index]
        c.chat("still usable", model="gpt-4o-mini", max_tokens=5)
        c.close()


def test_a_sync_client_on_httpx_defaults_is_swept_by_its_async_twin_which_hangs_up_on_cancel() -> None:
    with serve(seed=4, speed=2.0) as slow:
        c = ak.Client(KEY, base_url=slow.base_url, default_headers={"X-Corp": "yes"}, deadline=30)
        twin = c.async_twin()
        assert (twin.base_url, twin.timeout, twin.max_retries, twin.deadline, twin.source) == (
            c.base_url, c.timeout, c.max_retries, c.deadline, c.source)
        sweep = Sweep([f"p{i}" for i in range(6)], models=["gpt-4o-mini"], client=c, ledger=None, progress=False,
                      concurrency=3)
        box: dict[str, object] = {}
        worker = threading.Thread(target=lambda: box.update(df=asyncio.run(sweep.run())))
        worker.start()
        assert _wait(lambda: slow.stats.in_flight == 3)
        sweep.cancel(now=True)
        worker.join(10)
        assert not worker.is_alive() and sweep._pool is None  # no worker threads: the twin ran on the loop
        assert _wait(lambda: slow.stats.in_flight == 0)  # the calls in flight were hung up, not left running
        sent = [r for r in slow.stats.requests if r["path"] == "/v1/chat/completions"]
        assert 3 <= len(sent) < 6  # three were in flight when cancelled; the rest never went out
        c.chat("still usable", model="gpt-4o-mini", max_tokens=5)
        c.close()
    with pytest.raises(ValueError, match="transport or http_client of yours"):
        ak.Client(KEY, base_url="http://127.0.0.1:9/v1", transport=Counting()).async_twin()


# -- cleanup: every way a run ends ---------------------------------------------------------------------------

class BreaksMidway(Sweep):
    """A sweep whose scheduler fails while two calls are in flight (as a bug would): its first cell ends once the
    gateway has the other two, which wakes the scheduler, whose next step raises."""

    gateway: GatewayHandle

    async def _run_cell(self, client: Any, cell: Cell) -> dict[str, Any]:
        if cell.prompt_index == 0:
            while self.gateway.stats.in_flight < 2:
                await asyncio.sleep(0.02)
            raise asyncio.CancelledError  # this cell ends (its row: cancelled)
        return await super()._run_cell(client, cell)

    def _estimate(self, cell: Cell) -> float:
        if self.rows:
            raise RuntimeError("the scheduler broke")
        return super()._estimate(cell)


def pools_built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[httpx.AsyncClient, list[int]]]:
    """Every httpx pool the sweep builds, with a note per `aclose` call."""
    made: list[tuple[httpx.AsyncClient, list[int]]] = []
    real = sweep_mod._http_client

    def make(connections: int, timeout: Any) -> httpx.AsyncClient:
        pool, closes = real(connections, timeout), []  # type: ignore[var-annotated]
        inner = pool.aclose

        async def aclose() -> None:
            closes.append(1)
            await inner()

        pool.aclose = aclose  # type: ignore[method-assign]
        made.append((pool, closes))
        return pool

    monkeypatch.setattr(sweep_mod, "_http_client", make)
    return made


def test_a_sweep_that_raises_cancels_its_calls_closes_its_twin_and_leaves_the_callers_client_open(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pools = pools_built(monkeypatch)
    with serve(seed=4, speed=2.0) as slow:
        c = ak.Client(KEY, base_url=slow.base_url)  # on httpx defaults: swept by its async twin
        rows: list[dict[str, Any]] = []
        sweep = BreaksMidway([f"p{i}" for i in range(6)], models=["gpt-4o-mini"], client=c, ledger=None,
                             progress=False, concurrency=3, on_row=rows.append)
        sweep.gateway = slow
        with pytest.raises(RuntimeError, match="scheduler broke"):
            asyncio.run(sweep.run())
        assert [closes for _, closes in pools] == [[1]] and pools[0][0].is_closed  # the twin's pool, closed once
        assert len(sweep.rows) == 6 and {r["status"] for r in sweep.rows.values()} == {"cancelled"}
        assert sorted(r["cell"] for r in rows) == sorted(sweep.rows)  # one row per cell, each written once
        in_flight = [r for r in sweep.rows.values() if r["error_message"] == "cancelled while in flight"]
        assert len(in_flight) == 3  # the two calls in flight were cancelled and wrote their own rows (and cell 0)
        assert _wait(lambda: slow.stats.in_flight == 0)  # ...and hung up, not left running
        assert not c._http.is_closed
        c.chat("still usable", model="gpt-4o-mini", max_tokens=5)
        c.close()


def test_a_sweep_on_worker_threads_that_raises_stops_them_and_leaves_the_callers_client_open() -> None:
    transport = Counting()
    with serve(seed=4, speed=2.0) as slow:
        c = ak.Client(KEY, base_url=slow.base_url, transport=transport)  # the caller's transport: worker threads
        rows: list[dict[str, Any]] = []
        sweep = BreaksMidway([f"p{i}" for i in range(6)], models=["gpt-4o-mini"], client=c, ledger=None,
                             progress=False, concurrency=3, on_row=rows.append)
        sweep.gateway = slow
        with pytest.raises(RuntimeError, match="scheduler broke"):
            asyncio.run(sweep.run())
        assert sweep._pool is not None and sweep._pool._shutdown and sweep._halt.is_set()
        assert len(sweep.rows) == 6 and {r["status"] for r in sweep.rows.values()} == {"cancelled"}
        assert sorted(r["cell"] for r in rows) == sorted(sweep.rows)  # one row per cell, each written once
        assert _wait(lambda: slow.stats.in_flight == 0)  # the streams in the threads stopped at their next chunk
        assert not c._http.is_closed
        c.chat("still usable", model="gpt-4o-mini", max_tokens=5)
        c.close()


def test_a_budget_refusal_closes_what_the_sweep_built(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    import tqdm.auto
    pools = pools_built(monkeypatch)
    bars: list[Any] = []
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kw: bars.append(kw))  # no bar may be made: nothing runs
    c = ak.Client(KEY, base_url=gw.base_url)
    sweep = Sweep(PROMPTS * 20, models=["gpt-4o"], client=c, ledger=None, budget_usd=1e-6, max_tokens=50)
    with pytest.raises(ak.BudgetError):
        asyncio.run(sweep.run())
    assert [closes for _, closes in pools] == [[1]] and not sweep.rows and not bars
    assert not c._http.is_closed
    c.close()


def test_an_interrupted_sweep_closes_its_own_client_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pools = pools_built(monkeypatch)
    with serve(seed=4, speed=2.0) as slow:
        monkeypatch.setenv("AURIKO_API_KEY", KEY)
        monkeypatch.setenv("AURIKO_BASE_URL", slow.base_url)
        sweep = Sweep([f"p{i}" for i in range(6)], models=["gpt-4o-mini"], ledger=None, progress=False,
                      concurrency=3)

        async def interrupt() -> None:  # what asyncio.run does to its task on Ctrl-C
            task = asyncio.ensure_future(sweep.run())
            while slow.stats.in_flight < 3:
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(asyncio.wait_for(interrupt(), 10))
        assert [closes for _, closes in pools] == [[1]] and pools[0][0].is_closed
        assert sweep.stop_reason == "interrupted" and len(sweep.rows) == 6
        codes = sorted(r["error_code"] for r in sweep.rows.values())
        assert codes == ["cancelled"] * 3 + ["interrupted"] * 3  # three in flight, three never started
        assert _wait(lambda: slow.stats.in_flight == 0)


def test_a_sweep_whose_own_client_fails_to_build_still_closes_its_pool(gw: GatewayHandle,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    pools = pools_built(monkeypatch)

    def broken(pool: httpx.AsyncClient) -> ak.AsyncClient:
        raise RuntimeError("no session")

    monkeypatch.setattr(sweep_mod, "_own_client", broken)
    sweep = Sweep(PROMPTS, models=MODELS, ledger=None, progress=False)
    with pytest.raises(RuntimeError, match="no session"):
        asyncio.run(sweep.run())
    assert [closes for _, closes in pools] == [[1]] and pools[0][0].is_closed


def _wait(cond: object, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False
