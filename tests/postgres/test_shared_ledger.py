"""One PostgreSQL ledger shared by many writers: concurrent processes, a writer killed mid-sweep and resumed from
another process, an idempotent copy SQLite -> PostgreSQL -> SQLite, and a dropped connection or a stopped server
during a sweep (a reconnect, or one clear error with every row kept)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
from cluster import PASSWORD, Cluster

import auriko_nb as ak
from auriko_nb.errors import LedgerError
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.ledger_copy import CopyResult, copy_ledger
from auriko_nb.measure.sweep import Sweep, compare
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_shared_ledger"
ROOT = Path(__file__).resolve().parents[2]
URL_ENV = "AURIKO_NB_TEST_PG_URL"


def database_of(url: str) -> str:
    return urlsplit(url).path.strip("/")


def count_rows(cluster: Cluster, url: str) -> int:
    """Rows in the ledger, asked over the superuser's socket (not a connection the test might drop)."""
    out = cluster.psql("SELECT count(*) FROM calls", database=database_of(url)) if _has_table(cluster, url) else "0"
    return int(out or 0)


def _has_table(cluster: Cluster, url: str) -> bool:
    return cluster.psql("SELECT to_regclass('public.calls') IS NOT NULL", database=database_of(url)) == "t"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def python(script: str, url: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """A child Python process running `script`, the ledger URL in its environment (never on its command line)."""
    env = {**os.environ, URL_ENV: url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], env=env, cwd=ROOT, text=True,
                            **kwargs)


class SweepThread:
    """A sweep running on its own event loop in a thread, so the test can break the database meanwhile."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep, self.error, self.df = sweep, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.df = asyncio.run(self.sweep.run())
        except BaseException as e:  # noqa: BLE001 - checked by the test
            self.error = e

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the sweep did not end within {timeout} s"


@pytest.fixture
def slow_gw() -> Iterator[GatewayHandle]:
    """Every call takes 100 ms (TTFT pinned), so a sweep of 60 calls two at a time lasts about 3 s."""
    with serve(seed=11, speed=1.0, fixed_latency_ms=100) as g:
        yield g


def slow_sweep(gw: GatewayHandle, ledger: Any, n: int = 60, **kwargs: Any) -> Sweep:
    return Sweep([f"shared {i}" for i in range(n)], models=["gpt-4o-mini"], concurrency=2, ledger=ledger,
                 client=ak.Client(KEY, base_url=gw.base_url, timeout=10), progress=False, **kwargs)


# -- many writers ------------------------------------------------------------------------------------------

WRITER = """
    import os, random, sys, time
    from pathlib import Path
    from auriko_nb.measure.ledger import Ledger
    k, go = int(sys.argv[1]), Path(sys.argv[2])
    def rec(call_id, cell):
        return {"call_id": call_id, "run_id": "run-many", "cell": cell, "status": "ok", "endpoint": "chat.completions",
                "started_at": "2026-11-01T00:00:00.000000+00:00", "cost_usd": 0.001, "prompt_tokens": 3}
    shared = [rec(f"shared-{i:03d}", f"shared {i}") for i in range(300)]
    own = [rec(f"own-{k}-{i:03d}", f"own {k} {i}") for i in range(300)]
    random.Random(k).shuffle(shared)
    ledger = Ledger(os.environ["AURIKO_NB_TEST_PG_URL"])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    added = 0
    for i in range(0, 300, 50):  # half one row at a time, half in batches of 50, shared and own interleaved
        for r in shared[i:i + 25] + own[i:i + 25]:
            ledger.append(r)
        added += ledger.append_many(shared[i + 25:i + 50] + own[i + 25:i + 50])
        ledger.append(shared[i])  # a retried write: already there
    ledger.close()
    print("ADDED", added, flush=True)
"""


def test_concurrent_writer_processes_lose_nothing_and_duplicate_nothing(pg_url: str, tmp_path: Path) -> None:
    Ledger(pg_url).close()  # the schema exists before the race (racing to create it is test_ledger_postgres's)
    go = tmp_path / "go"
    procs = [python(WRITER, pg_url, str(k), str(go), stdout=subprocess.PIPE) for k in range(4)]
    time.sleep(0.5)  # let them all connect, then start them at once
    go.touch()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    added = sum(int(o.split()[1]) for o in outs)
    df = Ledger(pg_url).to_dataframe()
    assert len(df) == 300 + 4 * 300 and df["call_id"].is_unique
    assert set(df["call_id"]) == {f"shared-{i:03d}" for i in range(300)} | {
        f"own-{k}-{i:03d}" for k in range(4) for i in range(300)}
    own = df[df.call_id.str.startswith("own-")]
    assert list(own["cell"]) == [f"own {c.split('-')[1]} {int(c.split('-')[2])}" for c in own["call_id"]]
    # append_many counted only new rows: every own batch row (4 x 150) and each shared batch row at most once
    assert 4 * 150 <= added <= 4 * 150 + 300


# -- a writer killed mid-sweep, resumed from another process -------------------------------------------------

KILLED = """
    import os
    import auriko_nb as ak
    from auriko_nb.offline import serve
    from auriko_nb.measure.sweep import compare
    gw = serve(seed=11, speed=1.0, fixed_latency_ms=100)
    compare([f"shared {i}" for i in range(60)], models=["gpt-4o-mini"], concurrency=2, run_id="run-killed",
            client=ak.Client("ak_test_shared_ledger", base_url=gw.base_url, timeout=10),
            ledger=os.environ["AURIKO_NB_TEST_PG_URL"], progress=False)
    print("FINISHED", flush=True)
"""


def test_a_writer_killed_mid_sweep_is_resumed_by_another_process(pg_cluster: Cluster, pg_url: str,
                                                                  slow_gw: GatewayHandle) -> None:
    proc = python(KILLED, pg_url, stdout=subprocess.PIPE)
    try:
        wait_for(lambda: count_rows(pg_cluster, pg_url) >= 5, 60, "the first rows of the sweep")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    assert "FINISHED" not in out
    ledger = Ledger(pg_url)
    before = ledger.to_dataframe(run_id="run-killed")
    assert 5 <= len(before) < 60 and before["cell"].is_unique and (before.status == "ok").all()
    after = compare([f"shared {i}" for i in range(60)], models=["gpt-4o-mini"], concurrency=4, resume="run-killed",
                    client=ak.Client(KEY, base_url=slow_gw.base_url, timeout=10), ledger=ledger, progress=False)
    sent = [r for r in slow_gw.stats.requests if r["path"] == "/v1/chat/completions"]
    assert len(sent) == 60 - len(before)  # calls only for the cells the killed writer had not stored
    assert len(after) == 60 and (after.status == "ok").all() and after["cell"].is_unique
    stored = ledger.to_dataframe(run_id="run-killed")
    assert len(stored) == 60 and stored["cell"].is_unique and stored["call_id"].is_unique
    assert (stored.status == "ok").all()


# -- copies --------------------------------------------------------------------------------------------------

def test_a_copy_sqlite_to_postgres_and_back_is_idempotent_and_keeps_every_value(pg_url: str, tmp_path: Path) -> None:
    from bench.ledger import records

    rows = list(records(2_500, seed=4))
    for i, r in enumerate(rows):
        r.update(prompt_text=f"prompt {i}", answer_text=f"answer {i}" if i % 2 else None)
    with Ledger(tmp_path / "src.sqlite", store_text=True) as src:
        src.append_many(rows)
        expected = src.to_dataframe()
    assert copy_ledger(tmp_path / "src.sqlite", pg_url, batch=1_000) == CopyResult(2_500, 2_500, 0)
    assert copy_ledger(tmp_path / "src.sqlite", pg_url, batch=1_000) == CopyResult(2_500, 0, 2_500)
    pd.testing.assert_frame_equal(Ledger(pg_url).to_dataframe(), expected)
    assert copy_ledger(pg_url, tmp_path / "back.sqlite") == CopyResult(2_500, 2_500, 0)
    assert copy_ledger(pg_url, tmp_path / "back.sqlite").added == 0
    pd.testing.assert_frame_equal(Ledger(tmp_path / "back.sqlite").to_dataframe(), expected)
    with pytest.raises(ValueError, match="into itself") as caught:
        copy_ledger(pg_url, pg_url.replace("127.0.0.1", "127.0.0.1"))
    assert PASSWORD not in str(caught.value)


# -- a dropped connection, a stopped server -------------------------------------------------------------------

def test_a_dropped_connection_mid_sweep_loses_no_row(pg_cluster: Cluster, pg_url: str,
                                                    slow_gw: GatewayHandle) -> None:
    ledger = Ledger(pg_url)
    run = SweepThread(slow_sweep(slow_gw, ledger))
    wait_for(lambda: count_rows(pg_cluster, pg_url) >= 5, 60, "the first rows of the sweep")
    assert pg_cluster.terminate_connections(database_of(pg_url)) >= 1  # the ledger's backend is gone
    assert count_rows(pg_cluster, pg_url) < 60  # mid-sweep
    wait_for(lambda: count_rows(pg_cluster, pg_url) >= 20, 60, "rows after the drop")
    pg_cluster.terminate_connections(database_of(pg_url))  # and once more
    run.join(60)
    assert run.error is None, run.error
    assert run.df is not None and len(run.df) == 60 and (run.df.status == "ok").all()
    stored = ledger.to_dataframe(run_id=run.sweep.run_id)
    assert len(stored) == 60 and stored["call_id"].is_unique and set(stored["cell"]) == set(run.df["cell"])


def _stop_server(cluster: Cluster) -> None:
    """Stop the server but keep its data (`Cluster.stop` would remove the directory)."""
    cluster._pg_ctl("-m", "fast", "-w", "-t", "60", "stop")  # noqa: SLF001 - fault injection
    cluster.running = False


def test_a_server_down_longer_than_the_retries_stops_the_sweep_with_one_line_and_keeps_every_row(
        pg_cluster: Cluster, pg_url: str, slow_gw: GatewayHandle) -> None:
    ledger = Ledger(pg_url)
    run = SweepThread(slow_sweep(slow_gw, ledger))
    try:
        wait_for(lambda: count_rows(pg_cluster, pg_url) >= 5, 60, "the first rows of the sweep")
        _stop_server(pg_cluster)
        run.join(90)  # the writer's retries last a few seconds, then the sweep stops
    finally:
        if not pg_cluster.running:
            pg_cluster.start()
    err = run.error
    assert isinstance(err, LedgerError), err
    message = str(err)
    assert "\n" not in message and PASSWORD not in message and PASSWORD not in repr(err)
    assert "kept" in message and err.code == "ledger_unavailable"
    sweep = run.sweep
    assert sweep.stop_reason == "ledger_failed"
    df = sweep.results
    assert len(df) == 60 and df["cell"].is_unique  # every row is kept in memory, the cells not run are marked
    assert (df.status == "ok").sum() >= 5 and set(df.loc[df.status != "ok", "error_code"]) <= {"ledger_failed"}
    stored_before = count_rows(pg_cluster, pg_url)
    assert stored_before < 60
    again = Ledger(pg_url)  # the server is back: what was kept can be written, nothing twice
    added = again.append_many(sweep.rows.values())
    assert added == 60 - stored_before
    assert again.append_many(sweep.rows.values()) == 0
    stored = again.to_dataframe(run_id=sweep.run_id)
    assert len(stored) == 60 and stored["call_id"].is_unique and stored["cell"].is_unique
