"""A non-streamed call has no time to first token: TTFT is empty, `headers_ms_client` is the time to the headers
(not the last byte), footers show latency alone, and summaries, the Pareto frontier and charts take TTFT from
streamed calls only (latency, said so on the axis, when there are none)."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import matplotlib
import numpy as np
import pandas as pd
import pytest
from fakes import KEY, chunk, completion

import auriko_nb as ak
from auriko_nb.client.records import RECORD_COLUMNS
from auriko_nb.measure import _ledger_arrow, plots
from auriko_nb.measure.analysis import pareto, summarize
from auriko_nb.measure.ledger import Ledger
from auriko_nb.offline import create_app, serve

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

BODY_DELAY = 0.30  # the raw server sends the body (or the first token) this long after the headers
GAP_MS = BODY_DELAY * 1000 / 2  # headers_ms must sit at least this far before the last byte: holds when busy
NO_TTFT = "latency (ms) — no streamed calls, so no TTFT"


# -- a raw loopback server: headers at once, the body BODY_DELAY later ---------------------------------------

def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return body


def _serve(conn: socket.socket) -> None:
    with conn:
        request = json.loads(_read_request(conn))
        if request.get("stream"):
            ctype = "text/event-stream"
            now = f"data: {json.dumps(chunk(None))}\n\n".encode()
            later = (f"data: {json.dumps(chunk('Hi'))}\n\n"
                     f"data: {json.dumps(chunk(choices=False, routing_metadata=completion()['routing_metadata']))}"
                     "\n\ndata: [DONE]\n\n").encode()
        else:
            ctype = "application/json"
            body = json.dumps(completion()).encode()  # routing_metadata.ttft_ms = 212.5, as a server might send
            now, later = body[:1], body[1:]
        conn.sendall(f"HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\nx-request-id: req_slowbody\r\n"
                     f"content-length: {len(now) + len(later)}\r\nconnection: close\r\n\r\n".encode() + now)
        time.sleep(BODY_DELAY)
        conn.sendall(later)


@pytest.fixture(scope="module")
def slow_url() -> Iterator[str]:
    """A loopback HTTP server: the response headers (and one byte) at once, the rest BODY_DELAY later."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    stop.set()
    t.join()
    srv.close()


def _check_non_streamed(res: ak.Result, row: dict[str, Any]) -> None:
    assert res.ttft_ms is None and row["ttft_ms_client"] is None and row["stream"] is False
    assert res.headers_ms is not None and res.latency_ms is not None
    assert res.latency_ms >= BODY_DELAY * 1000 - 5
    assert 0 <= res.headers_ms < res.latency_ms - GAP_MS  # at the headers, not at the last byte
    assert row["headers_ms_client"] == res.headers_ms and row["latency_ms"] == res.latency_ms
    assert "TTFT" not in res.footer() and f"latency {res.latency_ms:.0f} ms" in res.footer()


def test_sync_non_streamed_headers_time_is_at_the_headers(slow_url: str) -> None:
    rows: list[dict[str, Any]] = []
    with ak.Client(KEY, base_url=slow_url, max_retries=0, on_record=rows.append) as client:
        res = client.chat("hi", model="gpt-4o")
    assert res.text == "Hello there!" and len(rows) == 1
    _check_non_streamed(res, rows[0])


async def test_async_non_streamed_headers_time_is_at_the_headers(slow_url: str) -> None:
    rows: list[dict[str, Any]] = []
    async with ak.AsyncClient(KEY, base_url=slow_url, max_retries=0, on_record=rows.append) as client:
        res = await client.chat("hi", model="gpt-4o")
    assert res.text == "Hello there!" and len(rows) == 1
    _check_non_streamed(res, rows[0])


async def test_streamed_calls_keep_ttft_at_the_first_token_and_headers_before_it(slow_url: str) -> None:
    rows: list[dict[str, Any]] = []
    async with ak.AsyncClient(KEY, base_url=slow_url, max_retries=0, on_record=rows.append) as client:
        res = await (await client.chat("hi", model="gpt-4o", stream=True)).get_result()
    with ak.Client(KEY, base_url=slow_url, max_retries=0, on_record=rows.append) as sync:
        sres = sync.chat("hi", model="gpt-4o", stream=True).result
    for r, row in ((res, rows[0]), (sres, rows[1])):
        assert r.ttft_ms is not None and r.headers_ms is not None and row["stream"] is True
        assert r.ttft_ms >= BODY_DELAY * 1000 - 5 and r.headers_ms < r.ttft_ms - GAP_MS
        assert row["ttft_ms_client"] == r.ttft_ms and row["headers_ms_client"] == r.headers_ms
        assert "TTFT 212 ms (server)" in r.footer() and "ms (client)" in r.footer()


# -- the offline gateway ------------------------------------------------------------------------------------

def _check_offline(res: ak.Result, streamed: bool) -> None:
    row = res.to_record()
    assert res.headers_ms is not None and res.latency_ms is not None and 0 <= res.headers_ms <= res.latency_ms
    assert row["headers_ms_client"] == res.headers_ms and row["stream"] is streamed
    if streamed:
        assert res.ttft_ms is not None and res.headers_ms <= res.ttft_ms <= res.latency_ms
        assert "TTFT" in res.footer()
    else:
        assert res.ttft_ms is None and row["ttft_ms_client"] is None and "TTFT" not in res.footer()
        assert row["ttft_ms_server"] is None  # the gateway sends routing_metadata.ttft_ms on streams only


def test_offline_gateway_sync_rows() -> None:
    with serve(seed=5, speed=0.02) as gw, ak.Client(KEY, base_url=gw.base_url, max_retries=0, on_record=None) as c:
        _check_offline(c.chat("hi", model="gpt-4o"), streamed=False)
        _check_offline(c.responses("hi", model="gpt-4o"), streamed=False)
        _check_offline(c.chat("hi", model="gpt-4o", stream=True).result, streamed=True)


async def test_offline_gateway_async_rows_in_process() -> None:
    transport = httpx.ASGITransport(app=create_app(seed=5, speed=0.02))
    async with ak.AsyncClient(KEY, base_url="http://offline.test", transport=transport, max_retries=0,
                              on_record=None) as c:
        _check_offline(await c.chat("hi", model="gpt-4o"), streamed=False)
        _check_offline(await c.responses("hi", model="gpt-4o"), streamed=False)
        _check_offline(await (await c.responses("hi", model="gpt-4o", stream=True)).get_result(), streamed=True)


# -- summaries, Pareto, charts on hand-built frames ---------------------------------------------------------

def _row(strategy: str, provider: str, stream: bool, ttft_c: float, ttft_s: float, latency: float, cost: float,
         status: str = "ok") -> dict[str, Any]:
    return dict(routing_strategy=strategy, provider=provider, stream=stream, ttft_ms_client=ttft_c,
                ttft_ms_server=ttft_s, latency_ms=latency, cost_usd=cost, status=status, completion_tokens=10,
                started_at="2026-01-01T00:00:00Z")


# The non-streamed rows carry TTFT values as an older ledger stored them (time to headers): they must be ignored.
MIXED = pd.DataFrame([
    _row("cost", "groq", True, 100, 80, 1000, 0.001),
    _row("cost", "groq", True, 300, 280, 3000, 0.001),
    _row("cost", "groq", False, 5000, 4900, 5000, 0.001),
    _row("cost", "groq", False, 9000, 8900, 9000, 0.001),
    _row("cost", "groq", True, 50, 40, 500, 0.001, status="error"),
    _row("ttft", "openai", False, 700, 650, 700, 0.002),  # a group with no streamed call: no TTFT at all
])


def test_summarize_takes_ttft_from_streamed_ok_rows_and_latency_from_every_ok_row() -> None:
    s = summarize(MIXED).set_index("routing_strategy")
    cost, ttft = s.loc["cost"], s.loc["ttft"]
    assert cost["ttft_client_p50"] == pytest.approx(200.0) and cost["ttft_client_p95"] == pytest.approx(290.0)
    assert cost["ttft_server_p50"] == pytest.approx(180.0) and cost["ttft_server_p95"] == pytest.approx(270.0)
    # latency over the four ok rows (1000, 3000, 5000, 9000): p50 4000, p95 at rank 2.85 -> 5000 + .85 * 4000
    assert cost["latency_p50"] == pytest.approx(4000.0) and cost["latency_p95"] == pytest.approx(8400.0)
    assert pd.isna(ttft["ttft_client_p50"]) and pd.isna(ttft["ttft_server_p95"])
    assert ttft["latency_p50"] == pytest.approx(700.0)


def test_summarize_reads_stream_as_text_or_from_a_ledger_the_same(tmp_path: Path) -> None:
    as_text = MIXED.assign(stream=MIXED["stream"].map({True: "true", False: "false"}))
    with Ledger(tmp_path / "l.sqlite") as led:
        led.append_many(MIXED.to_dict("records"))
        typed = led.to_dataframe()
    expected = summarize(MIXED)
    for frame in (as_text, typed):
        pd.testing.assert_frame_equal(summarize(frame)[expected.columns], expected, check_dtype=False,
                                      check_categorical=False)


def test_pareto_uses_streamed_ttft_or_latency_when_there_is_no_streamed_call() -> None:
    mixed = pareto(MIXED)
    assert mixed.attrs["y"] == "ttft_client_p50" and mixed["routing_strategy"].tolist() == ["cost"]
    none = MIXED[~MIXED["stream"]]
    front = pareto(none)
    assert front.attrs["y"] == "latency_p50"  # (mean cost, p50 latency): cost (0.001, 7000), ttft (0.002, 700)
    assert list(zip(front["routing_strategy"], front["latency_p50"], strict=True)) == [("cost", 7000.0),
                                                                                         ("ttft", 700.0)]


def test_pareto_latency_frontier_without_streamed_calls() -> None:
    rows = pd.DataFrame([_row("a", "p", False, 10, 10, 900, 0.001), _row("b", "q", False, 10, 10, 300, 0.003),
                         _row("c", "r", False, 10, 10, 950, 0.002)])
    front = pareto(rows)
    # (cost, latency): a (0.001, 900), c (0.002, 950) dominated by a, b (0.003, 300)
    assert front.attrs["y"] == "latency_p50" and front["routing_strategy"].tolist() == ["a", "b"]
    assert pareto(rows, y="ttft_client_p50").empty  # asked for TTFT explicitly: there is none


def _scatter_ys(ax: Any) -> list[float]:
    return sorted(float(y) for coll in ax.collections for y in np.asarray(coll.get_offsets())[:, 1])


def test_charts_without_streamed_calls_plot_latency_and_say_so() -> None:
    none = MIXED[~MIXED["stream"]]
    ax = Figure().subplots()
    plots.cost_vs_ttft(none, ax=ax)
    assert ax.get_ylabel() == NO_TTFT and "TTFT" not in ax.get_title()
    assert _scatter_ys(ax) == [700.0, 5000.0, 9000.0]  # the latencies, not the stored time-to-headers
    assert any("p50 latency" in t.get_text() for t in ax.get_legend().get_texts())
    box = Figure().subplots()
    plots.ttft_distribution(none, ax=box)
    assert box.get_ylabel() == NO_TTFT and [t.get_text() for t in box.get_xticklabels()] == ["groq\n(n=2)",
                                                                                              "openai\n(n=1)"]
    server = Figure().subplots()
    plots.cost_vs_ttft(none, ax=server, ttft="server")
    assert server.get_ylabel() == NO_TTFT


def test_charts_of_a_mixed_frame_use_the_ttft_of_streamed_calls() -> None:
    ax = Figure().subplots()
    plots.cost_vs_ttft(MIXED, ax=ax)
    assert ax.get_ylabel() == "TTFT, client (ms)"
    ys = _scatter_ys(ax)
    assert ys[:2] == [100.0, 300.0] and 5000.0 not in ys and 9000.0 not in ys and 700.0 not in ys
    box = Figure().subplots()
    plots.ttft_distribution(MIXED, ax=box)
    assert box.get_ylabel() == "TTFT, client (ms)" and [t.get_text() for t in box.get_xticklabels()] == ["groq\n(n=2)"]


# -- ledgers written before the column existed -------------------------------------------------------------

def _old_ledger(path: Path) -> None:
    old = [c for c in RECORD_COLUMNS if c != "headers_ms_client"]
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, {', '.join(old)})")
    con.execute("INSERT INTO calls (run_id, status, stream, ttft_ms_client, latency_ms, started_at) "
                "VALUES ('old', 'ok', 0, 480.0, 500.0, '2025-01-01T00:00:00.000000+00:00')")
    con.commit()
    con.close()


@pytest.mark.parametrize("fast", [True, False], ids=["arrow", "sqlite3"])
def test_an_old_ledger_gains_the_column_and_keeps_working(tmp_path: Path, fast: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if fast and not _ledger_arrow.available():
        pytest.fail("the Arrow read path (adbc_driver_sqlite, pyarrow) is part of the test environment")
    if not fast:
        monkeypatch.setattr(_ledger_arrow, "available", lambda: False)
    path = tmp_path / "old.sqlite"
    _old_ledger(path)
    with Ledger(path, readonly=True) as ro:  # read-only: not upgraded, the column reads as empty
        df = ro.to_dataframe()
        assert list(df.columns) == list(RECORD_COLUMNS) and df["headers_ms_client"].isna().all()
    with Ledger(path) as led:
        led.append({"run_id": "new", "status": "ok", "stream": False, "headers_ms_client": 12.5, "latency_ms": 40.0,
                    "started_at": "2026-01-01T00:00:00+00:00"})
        df = led.to_dataframe()
    assert df["run_id"].tolist() == ["old", "new"] and str(df["headers_ms_client"].dtype) == "float64"
    assert pd.isna(df.loc[0, "headers_ms_client"]) and df.loc[1, "headers_ms_client"] == 12.5
    s = summarize(df, by="run_id").set_index("run_id")  # the old row's stored "TTFT" was time to headers: ignored
    assert pd.isna(s.loc["old", "ttft_client_p50"]) and s.loc["old", "latency_p50"] == 500.0


def test_a_recorded_response_with_a_ttft_counts_as_streamed() -> None:
    streamed = ak.record(completion(), prompt="hi", ttft_ms=120.0, latency_ms=400.0, ledger=None)
    whole = ak.record(completion(), prompt="hi", latency_ms=300.0, ledger=None)
    assert streamed["stream"] is True and streamed["ttft_ms_client"] == 120.0
    assert whole["stream"] is False and whole["ttft_ms_client"] is None
    s = summarize(pd.DataFrame([streamed, whole]), by="endpoint")
    assert s.loc[0, "ttft_client_p50"] == 120.0 and s.loc[0, "latency_p50"] == 350.0
