"""The sweep's group-commit ledger writer: order, flush, batching under load, bounded retries, errors kept."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

import auriko_nb as ak
from auriko_nb.errors import LedgerError
from auriko_nb.measure import ledger_writer
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.ledger_writer import LedgerWriter
from auriko_nb.measure.sweep import Sweep
from auriko_nb.offline import GatewayHandle

ClientOn = Callable[[GatewayHandle], ak.Client]


def record(i: int, run_id: str = "run-writer") -> dict[str, Any]:
    return {"call_id": uuid.uuid4().hex, "run_id": run_id, "cell": f"c{i}", "status": "ok",
            "started_at": f"2026-11-01T00:00:{i % 60:02d}.000000+00:00", "endpoint": "chat.completions"}


class Flaky(Ledger):
    """A SQLite ledger whose `append_many` fails its first `fails` calls (or all with fails=-1), optionally slow."""

    def __init__(self, path: Path, fails: int = 0, delay: float = 0.0, after: int = 0) -> None:
        super().__init__(path)
        self.fails, self.delay, self.after = fails, delay, after
        self.calls: list[int] = []  # batch sizes, failed tries included

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        rows = list(records)
        self.calls.append(len(rows))
        time.sleep(self.delay)
        if len(self.calls) > self.after and self.fails != 0:
            self.fails = max(self.fails - 1, -1) if self.fails > 0 else -1
            raise LedgerError("connection to server at 127.0.0.1 lost", code="ledger_unavailable")
        return super().append_many(rows)


def test_rows_are_committed_in_order_and_flush_waits_for_them(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "w.sqlite")
    rows = [record(i) for i in range(500)]
    with LedgerWriter(ledger) as writer:
        for r in rows:
            writer.put(r)
        writer.flush(timeout=30)
        assert writer.pending == 0 and writer.written == 500 and writer.added == 500
        assert list(ledger.to_dataframe()["call_id"]) == [r["call_id"] for r in rows]
    assert len(ledger) == 500 and writer.unwritten == []


def test_put_never_waits_for_a_slow_ledger_and_batches_grow_with_the_load(tmp_path: Path) -> None:
    ledger = Flaky(tmp_path / "slow.sqlite", delay=0.2)
    writer = LedgerWriter(ledger)
    t0 = time.perf_counter()
    for i in range(300):
        writer.put(record(i))
    put_s = time.perf_counter() - t0
    writer.close(timeout=30)
    assert put_s < 0.15, put_s  # 300 puts while one 200 ms commit is under way: none of them waited for it
    assert len(ledger) == 300
    assert writer.largest_batch > 1 and writer.batches < 300 and sum(ledger.calls) == 300


def test_puts_from_many_threads_are_all_written_once(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "threads.sqlite")
    writer = LedgerWriter(ledger)

    def put_many(k: int) -> None:
        for i in range(250):
            writer.put(record(i, run_id=f"run-{k}"))
    threads = [threading.Thread(target=put_many, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    writer.close(timeout=30)
    df = ledger.to_dataframe()
    assert len(df) == 1000 and df["call_id"].is_unique
    for k in range(4):  # each thread's rows keep the order it put them in
        assert list(df.loc[df.run_id == f"run-{k}", "cell"]) == [f"c{i}" for i in range(250)]


def test_a_transient_failure_is_retried_and_nothing_is_written_twice(tmp_path: Path) -> None:
    ledger = Flaky(tmp_path / "transient.sqlite", fails=2)
    writer = LedgerWriter(ledger, backoff=(0.01, 0.05))
    rows = [record(i) for i in range(20)]
    for r in rows:
        writer.put(r)
    writer.close(timeout=30)
    assert writer.error is None and writer.unwritten == []
    assert len(ledger.calls) >= 3  # two failed tries, then the commit(s)
    assert list(ledger.to_dataframe()["call_id"]) == [r["call_id"] for r in rows]


def test_a_lasting_failure_keeps_every_row_and_the_next_put_and_flush_raise_it(tmp_path: Path) -> None:
    ledger = Flaky(tmp_path / "down.sqlite", fails=-1, after=1)  # the first batch commits, then the ledger is down
    writer = LedgerWriter(ledger, backoff=(0.01, 0.02))
    first = record(0)
    writer.put(first)
    writer.flush(timeout=30)
    later = [record(i) for i in range(1, 6)]
    for r in later:
        writer.put(r)
    with pytest.raises(LedgerError) as caught:
        writer.flush(timeout=30)
    message = str(caught.value)
    assert "\n" not in message and "after 3 tries" in message and "connection to server" in message
    assert caught.value.code == "ledger_unavailable"
    assert len(ledger.calls) == 4 and len(set(ledger.calls[1:])) == 1  # one batch, tried three times
    extra = record(99)
    with pytest.raises(LedgerError):
        writer.put(extra)  # refused at once, the row kept
    with pytest.raises(LedgerError):
        writer.close(timeout=5)
    assert [r["call_id"] for r in writer.unwritten] == [r["call_id"] for r in later] + [extra["call_id"]]
    assert list(ledger.to_dataframe()["call_id"]) == [first["call_id"]]
    # what was kept can be written later, once the ledger is back
    ledger.fails = 0
    Ledger.append_many(ledger, writer.unwritten)
    assert len(ledger) == 7


def test_flush_times_out_with_one_line(tmp_path: Path) -> None:
    ledger = Flaky(tmp_path / "stuck.sqlite", delay=1.0)
    writer = LedgerWriter(ledger)
    writer.put(record(0))
    with pytest.raises(LedgerError, match="not committed 1 rows within 0.1 s"):
        writer.flush(timeout=0.1)
    writer.close(timeout=30)
    assert len(ledger) == 1


def test_a_failing_ledger_stops_the_sweep_which_raises_it_and_keeps_every_row(
        tmp_path: Path, gw: GatewayHandle, client_on: ClientOn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_writer, "BACKOFF_S", (0.01, 0.02))
    ledger = Flaky(tmp_path / "sweep.sqlite", fails=-1, after=2)
    sweep = Sweep([f"ledger down {i}" for i in range(30)], models=["gpt-4o-mini"], concurrency=2,
                  client=client_on(gw), ledger=ledger, progress=False)
    with pytest.raises(LedgerError) as caught:
        asyncio.run(sweep.run())
    assert "\n" not in str(caught.value)
    df = sweep.results
    assert len(df) == 30 and df["cell"].is_unique  # nothing collected is lost
    assert sweep.stop_reason == "ledger_failed"
    assert set(df.loc[df.status == "cancelled", "error_code"]) <= {"ledger_failed"}
    stored = set(ledger.to_dataframe()["cell"])
    assert stored < set(df["cell"])  # the ledger has only what it took before failing; the sweep has all of it


def test_a_sweep_writes_through_the_writer_and_a_slow_ledger_does_not_slow_it(tmp_path: Path, gw: GatewayHandle,
                                                                            client_on: ClientOn) -> None:
    ledger = Flaky(tmp_path / "slow-sweep.sqlite", delay=0.1)  # 100 ms per commit, as a far-away database
    sweep = Sweep([f"slow ledger {i}" for i in range(60)], models=["gpt-4o-mini"], concurrency=8,
                  client=client_on(gw), ledger=ledger, progress=False)
    df = asyncio.run(sweep.run())
    assert len(df) == 60 and (df.status == "ok").all()
    stored = ledger.to_dataframe(run_id=sweep.run_id)
    assert len(stored) == 60 and stored["call_id"].is_unique
    assert len(ledger.calls) < 60  # committed in batches: one commit per row would take 6 s of ledger time
