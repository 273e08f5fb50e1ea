"""9. A shared PostgreSQL ledger beside SQLite: append throughput during a sweep, reading a million rows."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from .common import KEY, ROOT, BenchResult, Check, Gateway, Table, median, profile_text
from .ledger import BATCH, records

NAME = "shared_ledger"
TITLE = "8. Shared ledger: PostgreSQL beside SQLite (sweep appends, a million-row read)"
WHAT = ("A throwaway PostgreSQL cluster (`tests/postgres/cluster.py`: initdb in a temporary directory, 127.0.0.1 "
        "only, fsync off) beside a SQLite file. (a) A sweep against the offline gateway (own process, every call "
        "pinned to {latency:.0f} ms) writes each row to the ledger: through the sweep's `LedgerWriter` (a "
        "background thread committing whatever is queued in one `append_many`) and, for comparison, with one "
        "committed `append` per row on the event loop; plus the same rows pushed straight through a writer and "
        "through per-row appends, without the sweep, and the same against a database 20 ms away (a commit "
        "delayed by 20 ms, as a remote server's round trip). (b) `Ledger.to_dataframe()` of {rows:,} rows "
        "(the realistic records of section 5): PostgreSQL through ADBC (Arrow) and through psycopg, SQLite "
        "through ADBC and through sqlite3.")
REMOTE_MS = 20.0


def _sizes(quick: bool) -> tuple[int, int, float, int, int]:
    """(sweep calls, sweep concurrency, latency ms, rows pushed without a sweep, rows read)."""
    return (120, 40, 50.0, 1_000, 5_000) if quick else (2_000, 100, 50.0, 20_000, 1_000_000)


def _cluster_module() -> ModuleType:
    """tests/postgres/cluster.py, imported by file path (tests/ is not a package)."""
    path = ROOT / "tests" / "postgres" / "cluster.py"
    spec = importlib.util.spec_from_file_location("auriko_bench_pg_cluster", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _postgres(tmp: Path, notes: list[str]) -> Iterator[Any]:
    """A running cluster, or None with the reason in `notes` (no server binaries, no psycopg, no start)."""
    if importlib.util.find_spec("psycopg") is None:
        notes.append("PostgreSQL parts skipped: psycopg is not installed (`pip install 'auriko-nb[postgres]'`).")
        yield None
        return
    cluster_mod = _cluster_module()
    reason = cluster_mod.missing_reason()
    if reason:
        notes.append(f"PostgreSQL parts skipped: {reason}.")
        yield None
        return
    try:
        cluster = cluster_mod.start_cluster(tmp)
    except RuntimeError as e:
        notes.append(f"PostgreSQL parts skipped: the cluster did not start ({str(e).splitlines()[0]}).")
        yield None
        return
    try:
        yield cluster
    finally:
        cluster.stop()


def _delayed(ledger_cls: type, delay_s: float) -> type:
    """`ledger_cls` with every commit delayed by `delay_s`: a database that far away."""

    class Far(ledger_cls):  # type: ignore[valid-type,misc,unused-ignore]
        def append(self, record: Any) -> None:
            time.sleep(delay_s)
            super().append(record)

        def append_many(self, rows: Any) -> int:
            time.sleep(delay_s)
            return int(super().append_many(rows))

    return Far


def _far(url: str) -> Any:
    """A PostgreSQL ledger whose every commit takes REMOTE_MS longer."""
    from auriko_nb.measure.ledger_postgres import PostgresLedger

    return _delayed(PostgresLedger, REMOTE_MS / 1000)(url)


# -- (a) appends ---------------------------------------------------------------------------------------------

def _sweep_rows_per_s(gw: Gateway, ledger: Any, calls: int, concurrency: int, per_row: bool) -> float:
    """Rows per second of a sweep writing every row to `ledger` (None: no ledger), through its writer or per row."""
    import auriko_nb as ak
    from auriko_nb.measure.sweep import Sweep

    cls: type[Sweep] = Sweep
    if per_row:
        class PerRow(Sweep):  # the sweep before the writer: one committed append per row, on the event loop
            def _store(self, row: dict[str, Any]) -> None:
                if self.ledger is not None:
                    self.ledger.append(row)
        cls = PerRow
    client = ak.AsyncClient(KEY, base_url=gw.base_url, transport=ak.ShardedTransport(concurrency + 8))
    sweep = cls([f"Shared ledger note {i}" for i in range(20)], models=["gpt-4o-mini"], strategies=[None],
                repeats=calls // 20, concurrency=concurrency, client=client, ledger=ledger, progress=False,
                max_tokens=16)

    async def go() -> float:
        t0 = time.perf_counter()
        try:
            df = await sweep.run()
        finally:
            await client.aclose()
        if len(df) != calls or (df["status"] != "ok").any():
            raise AssertionError(f"sweep: {len(df)} rows, {(df['status'] != 'ok').sum()} not ok")
        return time.perf_counter() - t0

    return calls / asyncio.run(go())


def _push_rows_per_s(ledger: Any, n: int, writer: bool) -> tuple[float, str]:
    """Rows per second of `n` rows pushed through a LedgerWriter (put all, flush) or one `append` each."""
    from auriko_nb.measure.ledger_writer import LedgerWriter

    rows = list(records(n, seed=n + writer))
    t0 = time.perf_counter()
    if writer:
        w = LedgerWriter(ledger)
        for r in rows:
            w.put(r)
        w.close(timeout=600)
        info = f"{w.batches} batches, largest {w.largest_batch}"
    else:
        for r in rows:
            ledger.append(r)
        info = "1 row per commit"
    return n / (time.perf_counter() - t0), info


def _appends(quick: bool, targets: dict[str, Callable[[], Any]]) -> tuple[Table, dict[str, float]]:
    """Table (a): for each ledger, sweep rows/s with the writer and per row, and rows pushed without a sweep;
    and per ledger, the sweep's rows/s with the writer ÷ with per-row appends."""
    calls, concurrency, latency, pushed, _ = _sizes(quick)
    rows: list[list[Any]] = []
    rates: dict[str, float] = {}
    with Gateway(["--speed", "1", "--seed", "0", "--credit-usd", "100000"], fixed_ttft_ms=latency) as gw:
        _sweep_rows_per_s(gw, None, 100, 50, per_row=False)  # warm-up: imports, the gateway's first requests
        ceiling = _sweep_rows_per_s(gw, None, calls, concurrency, per_row=False)
        rows.append(["no ledger (ceiling)", ceiling, "–", "–", "–", "–"])
        for name, make in targets.items():
            ledger = make()
            try:
                w_sweep = _sweep_rows_per_s(gw, ledger, calls, concurrency, per_row=False)
                p_sweep = _sweep_rows_per_s(gw, ledger, calls, concurrency, per_row=True)
                n = pushed if "20 ms" not in name else max(200, pushed // 20)
                w_push, info = _push_rows_per_s(ledger, n, writer=True)
                p_push, _ = _push_rows_per_s(ledger, n, writer=False)
            finally:
                ledger.close()
            rates[name] = w_sweep / p_sweep
            rows.append([name, w_sweep, p_sweep, w_push, p_push, info])
    caption = (f"Rows per second. Sweep: {calls:,} streamed calls, {concurrency} at a time, {latency:.0f} ms each "
               f"(the ceiling is the sweep without a ledger). Pushed: rows put as fast as possible, "
               f"{pushed:,} per run ({max(200, pushed // 20):,} at 20 ms).")
    return Table(["ledger", "sweep + writer", "sweep, append per row", "pushed via writer", "pushed, append per row",
                  "writer batches"], rows, caption=caption), rates


# -- (b) reading -----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _without_arrow() -> Iterator[None]:
    """Reads take the plain driver path (sqlite3 or psycopg), as without the `fast` extra."""
    from auriko_nb.measure import _ledger_arrow

    available = _ledger_arrow.available
    _ledger_arrow.available = lambda *a, **k: False
    try:
        yield
    finally:
        _ledger_arrow.available = available


def _fill(target: Any, n: int) -> None:
    from auriko_nb.measure.ledger import Ledger

    with Ledger(target) as led:
        for start in range(0, n, BATCH):
            led.append_many(list(records(min(BATCH, n - start), seed=start)))


def _load_s(target: Any, arrow: bool, reps: int) -> tuple[float, int]:
    from auriko_nb.measure.ledger import Ledger

    times, rows = [], 0
    with Ledger(target, readonly=True) as led:
        if not arrow and hasattr(led, "arrow"):
            led.arrow = False  # a PostgreSQL ledger chooses its read path when opened
        for _ in range(reps):
            with contextlib.nullcontext() if arrow else _without_arrow():
                t0 = time.perf_counter()
                rows = len(led.to_dataframe())
                times.append(time.perf_counter() - t0)
    return median(times), rows


def _reads(quick: bool, tmp: Path, url: str | None) -> Table:
    """Table (b): seconds to read every row into a DataFrame, each backend by each path."""
    n = _sizes(quick)[4]
    reps = 3 if quick else 1
    sqlite_path = tmp / "read.sqlite"
    _fill(sqlite_path, n)
    targets: list[tuple[str, Any]] = [("SQLite", sqlite_path)]
    if url is not None:
        from auriko_nb.measure.ledger_copy import copy_ledger

        copy_ledger(sqlite_path, url, batch=BATCH)
        targets.insert(0, ("PostgreSQL", url))
    rows: list[list[Any]] = []
    for name, target in targets:
        for arrow, path in ((True, "ADBC (Arrow)"), (False, "psycopg" if name == "PostgreSQL" else "sqlite3")):
            seconds, got = _load_s(target, arrow, reps)
            rows.append([name, path, f"{got:,}", seconds, got / seconds])
    return Table(["ledger", "read path", "rows", "to_dataframe s", "rows/s"], rows,
                 caption=f"`Ledger.to_dataframe()` of every row, typed columns{'; median of 3' if reps > 1 else ''}.")


def run(quick: bool = False) -> BenchResult:
    from auriko_nb.measure.ledger import Ledger

    t_start = time.perf_counter()
    calls, concurrency, latency, pushed, n_read = _sizes(quick)
    notes: list[str] = []
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="auriko-bench-shared-") as tmp_name, \
            _postgres(Path(tmp_name), notes) as cluster:
        tmp = Path(tmp_name)
        targets: dict[str, Callable[[], Any]] = {"SQLite": lambda: Ledger(tmp / "append.sqlite")}
        url = None
        if cluster is not None:
            url = cluster.create_database("bench_append")
            far_url = cluster.create_database("bench_far")
            targets["PostgreSQL"] = lambda: Ledger(url)
            targets[f"PostgreSQL, {REMOTE_MS:.0f} ms away"] = lambda: _far(far_url)
        appends, rates = _appends(quick, targets)
        far = f"PostgreSQL, {REMOTE_MS:.0f} ms away"
        if far in rates:  # what the writer is for: a far database must not stall the sweep's event loop
            checks.append(Check(f"sweep rows/s with the writer ÷ with per-row appends, database {REMOTE_MS:.0f} ms "
                                "away", rates[far], 2.0, "×", op=">="))
        reads = _reads(quick, tmp, cluster.create_database("bench_read") if cluster is not None else None)
        adbc = {r[0]: r[3] for r in reads.rows if r[1].startswith("ADBC")}
        if "PostgreSQL" in adbc:  # relative to SQLite's read on the same machine, so a busy machine moves both
            checks.append(Check(f"PostgreSQL ÷ SQLite to_dataframe of {n_read:,} rows, both through ADBC",
                                adbc["PostgreSQL"] / adbc["SQLite"], 2.0, "×"))
    notes.append(f"{os.cpu_count()} CPU cores shared by the sweep, the offline gateway and the database: the sweep "
                 "rates move by tens of percent from run to run; the 20 ms rows show what the writer is for.")
    if quick:
        notes.append(f"Quick mode: {calls} sweep calls and {n_read:,} rows read instead of 2,000 and 1,000,000; "
                     "read the numbers as a smoke test only.")
    res = BenchResult(NAME, TITLE, WHAT.format(latency=latency, rows=n_read), [appends, reads], checks, notes,
                      summary=", ".join(f"{r[0]} {r[1]} {r[3]:.2f} s" for r in reads.rows))
    res.seconds = time.perf_counter() - t_start
    return res


def profile(quick: bool = False) -> str:
    """cProfile of a sweep writing to a SQLite ledger through its writer."""
    from auriko_nb.measure.ledger import Ledger

    calls, concurrency, latency, _, _ = _sizes(quick)
    with tempfile.TemporaryDirectory(prefix="auriko-bench-shared-") as tmp, \
            Gateway(["--speed", "1", "--seed", "0", "--credit-usd", "100000"], fixed_ttft_ms=latency) as gw:
        ledger = Ledger(Path(tmp) / "p.sqlite")
        return profile_text(lambda: _sweep_rows_per_s(gw, ledger, calls, concurrency, per_row=False),
                            sort="cumtime", top=25)
