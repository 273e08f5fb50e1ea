"""The ledger: WAL SQLite rows that survive SIGKILL and concurrent writers; typed frames, filters, export,
the session ledger."""

from __future__ import annotations

import importlib.util
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auriko_nb as ak
import auriko_nb.measure.ledger as ledger_mod
from auriko_nb.client.records import RECORD_COLUMNS, CallContext, make_record
from auriko_nb.errors import RateLimitError
from auriko_nb.measure.ledger import Ledger, record_dtypes, session_ledger, set_session_ledger, to_frame

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
SECRET = "ak_live_never_in_the_file_1234567890"


def ctx(run_id: str = "run-a", **kw: Any) -> CallContext:
    base: dict[str, Any] = dict(endpoint="chat.completions", model_requested="gpt-4o", routing={"optimize": "cost"},
                                tags=["exp"], trace_id=None, prompt_id="p1", stream=True, source="offline",
                                run_id=run_id)
    base.update(kw)
    return CallContext(**base)


def ok_row(i: int, run_id: str = "run-a", provider: str = "openai", **over: Any) -> dict[str, Any]:
    """A successful call's record, as the client builds it, with response fields filled in by hand."""
    rec = make_record(ctx(run_id, started_at=T0 + timedelta(seconds=i)), status="ok")
    rec.update(provider=provider, provider_model_id=f"{provider}-m", model_canonical="gpt-4o",
               routing_strategy="cost", ttft_ms_server=100.0 + i, ttft_ms_client=120.5 + i, latency_ms=400.0,
               throughput_tps=55.5, prompt_tokens=10, completion_tokens=20 + i, cached_tokens=0, cost_usd=0.001 * (i + 1),
               cache_savings_usd=0.0, request_id=f"req-{i}", finish_reason="stop")
    rec.update(over)
    return rec


def run_py(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=120)


# -- the file ---------------------------------------------------------------------------------------------

def test_file_is_wal_with_busy_timeout_and_exactly_the_record_columns(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "sub" / "l.sqlite")  # parent directories are created
    other = sqlite3.connect(tmp_path / "sub" / "l.sqlite")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in other.execute("PRAGMA table_info(calls)")]
    assert cols == ["id", *RECORD_COLUMNS]
    assert led._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    types = {r[1]: r[2] for r in other.execute("PRAGMA table_info(calls)")}
    assert (types["cost_usd"], types["prompt_tokens"], types["stream"], types["started_at"]) == (
        "REAL", "INTEGER", "INTEGER", "TEXT")


def test_records_from_make_record_append_directly_and_unknown_keys_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as led:
        led.append(make_record(ctx(), status="cancelled"))
        err = RateLimitError("slow down", code="rate_limit_exceeded", status_code=429, request_id="req-429")
        led.append(make_record(ctx(), error=err))
        led(dict(ok_row(0), api_key=SECRET, authorization=f"Bearer {SECRET}"))  # callable: an on_record hook
        df = led.to_dataframe()
    assert list(df["status"]) == ["cancelled", "error", "ok"]
    assert df.loc[1, "http_status"] == 429 and df.loc[1, "error_code"] == "rate_limit_exceeded"
    assert df.loc[1, "request_id"] == "req-429"
    assert df.loc[0, "routing"] == '{"optimize": "cost"}' and df.loc[0, "tags"] == '["exp"]'
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert SECRET.encode() not in blob and b"api_key" not in blob


def test_an_empty_ledger_is_truthy_so_it_is_kept_as_a_client_hook(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    assert len(led) == 0 and bool(led)
    client = ak.Client("ak_test_hook", base_url="http://127.0.0.1:9/v1", on_record=led)
    assert client.record_hooks == [led]


def test_every_call_of_a_client_on_the_offline_gateway_lands_as_a_row(tmp_path: Path) -> None:
    from auriko_nb.offline import serve

    led = Ledger(tmp_path / "l.sqlite")
    with serve(seed=0, speed=0.02) as gw, ak.Client("ak_test_ledger", base_url=gw.base_url, on_record=led,
                                                      max_retries=0, timeout=10) as client:
        res = client.chat("hello", model="gpt-4o-mini", routing={"optimize": "cost"}, run_id="hooked")
        with pytest.raises(ak.AurikoError):
            client.chat("hello", model="no-such-model-xyz", run_id="hooked")
    df = led.to_dataframe(run_id="hooked")
    assert list(df["status"]) == ["ok", "error"] and df.loc[0, "source"] == "offline"
    assert df.loc[0, "provider"] == res.provider and df.loc[0, "cost_usd"] == pytest.approx(res.cost_usd)
    assert df.loc[0, "request_id"] == res.request_id and df.loc[1, "http_status"] >= 400


# -- dtypes -----------------------------------------------------------------------------------------------

EXPECTED_DTYPES = {
    "started_at": "datetime64[us, UTC]", "ttft_ms_server": "float64", "ttft_ms_client": "float64",
    "latency_ms": "float64", "throughput_tps": "float64", "cost_usd": "float64", "cache_savings_usd": "float64",
    "prompt_tokens": "Int64", "completion_tokens": "Int64", "cached_tokens": "Int64", "warning_count": "Int64",
    "http_status": "Int64", "attempts": "Int64", "stream": "boolean", "provider": "category",
    "routing_strategy": "category", "optimize": "category", "status": "category", "model_canonical": "category",
    "source": "category", "endpoint": "category", "run_id": "str", "call_id": "str", "routing": "str",
}


def dtypes_of(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in df.dtypes.items()}


def test_to_dataframe_has_the_documented_dtypes_and_an_empty_ledger_has_the_same(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    empty = led.to_dataframe()
    led.append_many([ok_row(0), make_record(ctx(), status="cancelled"), ok_row(1, stream=False)])
    df = led.to_dataframe()
    assert list(df.columns) == list(RECORD_COLUMNS) == list(empty.columns)
    assert len(empty) == 0 and dtypes_of(empty) == dtypes_of(df) == record_dtypes()
    assert {c: dtypes_of(df)[c] for c in EXPECTED_DTYPES} == EXPECTED_DTYPES
    assert df.loc[0, "started_at"] == pd.Timestamp(T0) and str(df["started_at"].dt.tz) == "UTC"
    assert df["stream"].tolist() == [True, True, False]
    assert df["prompt_tokens"].isna().tolist() == [False, True, False]
    assert df["completion_tokens"].tolist()[::2] == [20, 21]
    assert df["ttft_ms_client"].iloc[2] == pytest.approx(121.5)
    assert set(df["provider"].cat.categories) == {"openai"}


def test_values_pandas_and_numpy_hand_in_are_stored_as_plain_sql_values(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")
    led.append(ok_row(0, prompt_tokens=np.int64(7), cost_usd=np.float32(0.5), stream=np.bool_(False),
                      http_status=pd.NA, latency_ms=float("nan"), routing={"optimize": "ttft"},
                      started_at=pd.Timestamp("2025-03-01 13:00", tz="Europe/Paris")))
    raw = sqlite3.connect(tmp_path / "l.sqlite").execute(
        "SELECT prompt_tokens, cost_usd, stream, http_status, latency_ms, routing, started_at FROM calls").fetchone()
    assert raw == (7, 0.5, 0, None, None, '{"optimize": "ttft"}', "2025-03-01T12:00:00.000000+00:00")


def test_to_frame_types_raw_records_with_string_timestamps() -> None:
    raw = pd.DataFrame([ok_row(0), ok_row(1)])
    assert raw["started_at"].dtype != "datetime64[us, UTC]"
    typed = to_frame(raw)
    assert dtypes_of(typed) == record_dtypes() and typed.loc[1, "started_at"] == pd.Timestamp(T0 + timedelta(seconds=1))
    assert dtypes_of(to_frame([])) == record_dtypes()


# -- filters and runs -------------------------------------------------------------------------------------

@pytest.fixture
def filled(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "l.sqlite")
    rows = [ok_row(i, run_id="run-a") for i in range(3)]
    rows += [ok_row(i, run_id="run-b", status="error", source="live") for i in range(3, 5)]
    rows += [ok_row(5, run_id="run-c", status="cancelled"), ok_row(6, run_id="run-a")]
    led.append_many(rows)
    return led


def test_filters_by_run_status_source_and_half_open_time_window(filled: Ledger) -> None:
    assert filled.to_dataframe(run_id="run-a")["request_id"].tolist() == ["req-0", "req-1", "req-2", "req-6"]
    assert len(filled.to_dataframe(run_id=["run-b", "run-c"])) == 3
    assert filled.to_dataframe(status="error")["request_id"].tolist() == ["req-3", "req-4"]
    assert len(filled.to_dataframe(status=["ok", "cancelled"])) == 5
    assert len(filled.to_dataframe(source="live")) == 2 and len(filled.to_dataframe(source="offline")) == 5
    window = filled.to_dataframe(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4))
    assert window["request_id"].tolist() == ["req-2", "req-3"]  # since inclusive, until exclusive
    assert len(filled.to_dataframe(since="2025-03-01T12:00:05Z")) == 2  # ISO text works too
    assert len(filled.to_dataframe(since=pd.Timestamp("2025-03-01 13:00:05", tz="Europe/Paris"))) == 2
    assert len(filled.to_dataframe(run_id="run-a", status="ok", until=T0 + timedelta(seconds=1))) == 1
    assert len(filled.to_dataframe(run_id=[])) == 0 and len(filled.to_dataframe(run_id="nope")) == 0


def test_run_ids_in_order_of_first_appearance_with_counts(filled: Ledger) -> None:
    runs = filled.run_ids()
    assert runs["run_id"].tolist() == ["run-a", "run-b", "run-c"]
    assert runs["calls"].tolist() == [4, 2, 1] and runs["ok"].tolist() == [4, 0, 0]
    assert runs["errors"].tolist() == [0, 2, 0] and runs["cancelled"].tolist() == [0, 0, 1]
    assert runs.loc[0, "first_started_at"] == pd.Timestamp(T0)
    assert runs.loc[0, "last_started_at"] == pd.Timestamp(T0 + timedelta(seconds=6))


def test_len_repr_close_and_context_manager(filled: Ledger, tmp_path: Path) -> None:
    assert len(filled) == 7
    assert repr(filled) == f"Ledger({str(tmp_path / 'l.sqlite')!r}, rows=7)"
    filled.close()
    filled.close()  # idempotent
    assert "closed" in repr(filled)
    with Ledger(tmp_path / "l.sqlite") as again:
        assert len(again) == 7
    with pytest.raises(sqlite3.ProgrammingError):
        again.to_dataframe()


def test_readonly_reads_and_refuses_to_write(filled: Ledger, tmp_path: Path) -> None:
    ro = Ledger(tmp_path / "l.sqlite", readonly=True)
    assert len(ro.to_dataframe()) == 7
    with pytest.raises(PermissionError):
        ro.append(ok_row(9))
    with pytest.raises(FileNotFoundError):
        Ledger(tmp_path / "missing.sqlite", readonly=True)


def test_an_older_ledger_missing_columns_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, status TEXT, cost_usd REAL)")
    con.execute("INSERT INTO calls (run_id, status, cost_usd) VALUES ('old', 'ok', 0.25)")
    con.commit()
    con.close()
    led = Ledger(path)
    led.append(ok_row(0))
    df = led.to_dataframe()
    assert list(df.columns) == list(RECORD_COLUMNS) and df["run_id"].tolist() == ["old", "run-a"]
    assert df["cost_usd"].tolist() == [0.25, 0.001] and pd.isna(df.loc[0, "provider"])


# -- export -----------------------------------------------------------------------------------------------

def test_csv_export_round_trips_through_to_frame(filled: Ledger, tmp_path: Path) -> None:
    out = filled.export(tmp_path / "calls.csv")
    assert out == tmp_path / "calls.csv"
    back = to_frame(pd.read_csv(out))
    pd.testing.assert_frame_equal(back, filled.to_dataframe())


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_export_round_trips_with_dtypes(filled: Ledger, tmp_path: Path) -> None:
    out = filled.export(tmp_path / "calls.parquet", run_id="run-a")
    back = pd.read_parquet(out)
    pd.testing.assert_frame_equal(back, filled.to_dataframe(run_id="run-a"))


def test_export_errors_name_the_fix(filled: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        filled.export(tmp_path / "calls.xlsx")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(ImportError, match="pip install pyarrow"):
        filled.export(tmp_path / "calls.parquet")
    assert not (tmp_path / "calls.parquet").exists()


# -- crashes and concurrency ------------------------------------------------------------------------------

WRITER = """
    import os, signal, sys, time
    from auriko_nb.measure.ledger import Ledger
    path, tag, n, kill = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "kill"
    led = Ledger(path)
    open(f"{path}.ready-{tag}", "w").close()
    while not os.path.exists(path + ".go"):
        time.sleep(0.001)
    for i in range(n):
        led.append({"run_id": tag, "call_id": f"{tag}-{i}", "status": "ok", "started_at": "2025-01-01T00:00:00Z",
                    "cost_usd": 0.001})
        if i % 20 == 0:
            time.sleep(0.002)  # a breath now and then, so a busy machine cannot let one writer finish first
    if kill:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_rows_survive_a_process_killed_with_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    (tmp_path / "killed.sqlite.go").touch()
    proc = run_py(WRITER, str(path), "k", "250", "kill")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (tmp_path / "killed.sqlite-wal").exists()  # the rows live in the WAL, not yet checkpointed
    led = Ledger(path)
    df = led.to_dataframe()
    assert df["call_id"].tolist() == [f"k-{i}" for i in range(250)]
    assert len(led.to_dataframe(run_id="k", status="ok")) == 250


def test_two_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    Ledger(path).close()
    code = textwrap.dedent(WRITER)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag, "1000", "no"],
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"shared.sqlite.ready-{t}").exists() for t in "ab") and time.monotonic() < deadline:
        time.sleep(0.01)  # both open and waiting at the start line
    (tmp_path / "shared.sqlite.go").touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    df = Ledger(path).to_dataframe()
    assert len(df) == 2000 and df["call_id"].is_unique
    assert sorted(df["call_id"]) == sorted([f"{t}-{i}" for t in "ab" for i in range(1000)])
    order = df["call_id"].str[0].tolist()
    assert order != sorted(order), "the writers should have interleaved (otherwise this test proves little)"


def test_one_ledger_shared_by_threads_keeps_every_row(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite")

    def work(t: int) -> None:
        for i in range(100):
            led.append(ok_row(i, run_id=f"t{t}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(led) == 400 and led.run_ids()["calls"].tolist() == [100] * 4


def test_append_many_is_one_transaction_and_fast(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "big.sqlite")
    base = ok_row(0)
    rows = [dict(base, call_id=f"c{i}") for i in range(100_000)]
    t = time.perf_counter()
    assert led.append_many(rows) == 100_000
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    df = led.to_dataframe()
    read_s = time.perf_counter() - t
    assert len(df) == 100_000 and df["call_id"].iloc[-1] == "c99999"
    print(f"append_many 100k: {write_s:.2f} s, to_dataframe 100k: {read_s:.2f} s")
    assert write_s < 10 and read_s < 10, (write_s, read_s)  # about 1 s each on a laptop; generous for CI
    with pytest.raises(ValueError, match="started_at"):
        led.append_many([ok_row(0), {"started_at": object()}])  # a bad row: nothing of the batch is written
    assert len(led) == 100_000


# -- the session ledger -----------------------------------------------------------------------------------

@pytest.fixture
def fresh_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(ledger_mod, "_session", None)
    monkeypatch.setattr(ledger_mod, "_session_off", False)
    monkeypatch.delenv("AURIKO_NB_LEDGER", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_session_ledger_defaults_to_a_file_in_the_working_directory_created_lazily(fresh_session: Path) -> None:
    assert not (fresh_session / "auriko_ledger.sqlite").exists()
    led = session_ledger()
    assert led is not None and led is session_ledger()
    assert (fresh_session / "auriko_ledger.sqlite").exists()
    led.append(ok_row(0))
    assert len(Ledger(fresh_session / "auriko_ledger.sqlite")) == 1


def test_session_ledger_follows_the_environment(fresh_session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURIKO_NB_LEDGER", str(fresh_session / "env" / "mine.sqlite"))
    led = session_ledger()
    assert led is not None and led.path == fresh_session / "env" / "mine.sqlite"
    monkeypatch.setattr(ledger_mod, "_session", None)
    monkeypatch.setenv("AURIKO_NB_LEDGER", "off")
    assert session_ledger() is None


def test_session_ledger_can_be_pointed_elsewhere_or_turned_off(fresh_session: Path) -> None:
    assert set_session_ledger(None) is None and session_ledger() is None
    assert not (fresh_session / "auriko_ledger.sqlite").exists()
    led = set_session_ledger(fresh_session / "other.sqlite")
    assert isinstance(led, Ledger) and session_ledger() is led and led.path == fresh_session / "other.sqlite"
    mine = Ledger(fresh_session / "third.sqlite")
    assert set_session_ledger(mine) is mine and session_ledger() is mine


def test_an_unopenable_session_ledger_warns_and_turns_off(fresh_session: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (fresh_session / "a_file").write_text("not a directory")
    monkeypatch.setenv("AURIKO_NB_LEDGER", str(fresh_session / "a_file" / "l.sqlite"))
    with pytest.warns(UserWarning, match="session ledger turned off"):
        assert session_ledger() is None
    assert session_ledger() is None


@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_that_is_not_sqlite_gets_a_one_line_error(tmp_path: Path, readonly: bool) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(ValueError, match=r"notes.sqlite is not a ledger \(file is not a database\)$"):
        Ledger(notes, readonly=readonly)
    assert notes.read_text().startswith("these are my notes")  # left as it was


def test_a_ledger_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    import auriko_nb as ak

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ak.LedgerError, match=r"^ledger_unavailable: cannot open the ledger .*file/sub/l\.sqlite: ") as info:
        Ledger(blocker / "sub" / "l.sqlite")
    assert "\n" not in str(info.value) and info.value.code == "ledger_unavailable"


# -- idempotent by call_id --------------------------------------------------------------------------------

def keyed(i: int) -> dict[str, Any]:
    """`ok_row(i)` with a call_id fixed by `i` (ok_row's own call_id is new each time)."""
    return ok_row(i, call_id=f"c{i}")


def test_the_same_call_id_twice_is_one_row(tmp_path: Path) -> None:
    with Ledger(tmp_path / "once.sqlite") as led:
        assert led.location == str(tmp_path / "once.sqlite")
        led.append(keyed(0))
        led.append(keyed(0))  # a retried write
        assert len(led) == 1
        assert led.append_many([keyed(0), keyed(1), keyed(2)]) == 2  # only the new rows count
        assert led.append_many([keyed(0), keyed(1), keyed(2)]) == 0  # a copy run twice
        assert led.append_many([keyed(3), keyed(3)]) == 1  # a duplicate inside one batch
        assert led.to_dataframe()["call_id"].tolist() == [f"c{i}" for i in range(4)]
        assert len(led) == 4


def test_an_old_file_with_duplicate_call_ids_keeps_them_and_skips_known_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # what an older version could write: no UNIQUE index, a call_id twice
        conn.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, call_id TEXT, "
                     "started_at TEXT, status TEXT)")
        conn.executemany("INSERT INTO calls (run_id, call_id, started_at, status) VALUES (?, ?, ?, ?)",
                         [("old", "dup", "2025-01-01T00:00:00.000000+00:00", "ok")] * 2)
    conn.close()
    with Ledger(path) as led:
        assert len(led) == 2  # nothing of the file is lost
        led.append(keyed(0) | {"call_id": "dup"})
        assert len(led) == 2
        assert led.append_many([keyed(1), keyed(2) | {"call_id": "dup"}, keyed(1)]) == 1
        assert led.to_dataframe()["call_id"].tolist() == ["dup", "dup", "c1"]
    with sqlite3.connect(path) as conn:
        indexes = {r[1]: r[2] for r in conn.execute("PRAGMA index_list(calls)")}
    conn.close()
    assert indexes.get("calls_call") == 0 and "calls_call_id" not in indexes  # a plain index on call_id


def test_a_new_file_has_a_unique_index_on_call_id(tmp_path: Path) -> None:
    Ledger(tmp_path / "new.sqlite").close()
    with sqlite3.connect(tmp_path / "new.sqlite") as conn:
        unique = [r[1] for r in conn.execute("PRAGMA index_list(calls)") if r[2]]
        assert [[c[2] for c in conn.execute(f"PRAGMA index_info({name})")] for name in unique] == [["call_id"]]
    conn.close()
