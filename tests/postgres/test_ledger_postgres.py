"""The PostgreSQL ledger against a real throwaway server: the SQLite ledger's frames, idempotent writes by call_id,
the schema on first use, the notebook entry points with a URL, and never the password in a repr or an error."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cluster import PASSWORD, Cluster

import auriko_nb as ak
import auriko_nb.measure.ledger as ledger_mod
from auriko_nb.errors import LedgerError
from auriko_nb.measure.ledger import Ledger, redact_url, session_ledger
from auriko_nb.measure.ledger_postgres import COPY_MIN_ROWS, PostgresLedger
from auriko_nb.measure.sweep import compare
from auriko_nb.notebook.commands import describe_settings
from auriko_nb.offline import GatewayHandle, serve

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def row(i: int, run_id: str = "run-a", **over: Any) -> dict[str, Any]:
    """A record touching every column kind, with the value types callers really pass (numpy, dicts, NaN, None)."""
    r: dict[str, Any] = {
        "run_id": run_id, "call_id": f"{run_id}-{i}", "cell": f"p{i % 2}|gpt-4o|cost|0",
        "started_at": T0 + timedelta(seconds=i, microseconds=7), "source": "offline", "endpoint": "chat.completions",
        "prompt_id": "abc", "model_requested": "gpt-4o", "optimize": "cost", "routing": {"optimize": "cost"},
        "provider": ["openai", "groq"][i % 2], "model_canonical": "gpt-4o", "ttft_ms_client": 100.5 + i,
        "ttft_ms_server": np.float64(90.25), "latency_ms": float("nan") if i == 2 else 1000.0 + i,
        "prompt_tokens": np.int64(10 + i), "completion_tokens": 20, "cached_tokens": None, "cost_usd": 0.00123,
        "warnings": [{"type": "routing", "code": "x", "message": "m"}] if i % 3 == 0 else [], "warning_count": i % 3 == 0,
        "status": ["ok", "ok", "error", "cancelled"][i % 4], "error_code": "boom" if i % 4 == 2 else None,
        "http_status": 500 if i % 4 == 2 else None, "attempts": 1, "tags": ["exp"], "stream": bool(i % 2),
        "finish_reason": "stop", "prompt_label": f"p{i % 2 + 1}", "prompt_text": f"question {i}",
        "answer_text": f"answer {i}", "passed": [True, False, None, np.bool_(True)][i % 4],
        "score": [1.0, 0.0, None, 0.5][i % 4], "checks_failed": [] if i % 2 else [{"check": "c", "reason": "r"}],
    }
    r.update(over)
    return r


ROWS = [row(i) for i in range(8)] + [row(i, run_id="run-b", source="live") for i in range(4)]


@pytest.fixture
def both(pg_url: str, tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    """(PostgreSQL ledger, SQLite ledger) holding the same rows."""
    pg, lite = Ledger(pg_url), Ledger(tmp_path / "same.sqlite")
    for led in (pg, lite):
        led.append(ROWS[0])
        led.append_many(ROWS[1:])
    yield pg, lite
    pg.close()
    lite.close()


# -- the same ledger, in PostgreSQL ---------------------------------------------------------------------------

def test_a_url_gives_a_postgres_ledger_that_is_a_ledger(pg_url: str) -> None:
    with Ledger(pg_url) as led:
        assert type(led) is PostgresLedger and isinstance(led, Ledger)
        assert led.location == redact_url(pg_url) and PASSWORD not in led.location
        assert repr(led) == f"Ledger({led.location!r}, rows=0)"
    assert repr(led).endswith(", closed)")


def test_every_column_kind_round_trips_to_the_sqlite_frame(both: tuple[Ledger, Ledger]) -> None:
    pg, lite = both
    df = pg.to_dataframe()
    pd.testing.assert_frame_equal(df, lite.to_dataframe())
    assert len(df) == len(ROWS) and df["call_id"].tolist() == [r["call_id"] for r in ROWS]  # append order
    assert df["passed"].tolist()[:4] == [True, False, pd.NA, True] and pd.isna(df["latency_ms"].iloc[2])
    assert json.loads(df["routing"].iloc[0]) == {"optimize": "cost"} and df["prompt_text"].isna().all()


def test_filters_and_columns_give_the_sqlite_frames(both: tuple[Ledger, Ledger]) -> None:
    pg, lite = both
    cases: list[dict[str, Any]] = [
        {"run_id": "run-b"}, {"run_id": ["run-a", "nope"]}, {"run_id": []}, {"status": ["ok", "cancelled"]},
        {"source": "live"}, {"since": T0 + timedelta(seconds=2)}, {"until": "2025-03-01T12:00:03+00:00"},
        {"since": pd.Timestamp(T0) + pd.Timedelta(seconds=1), "until": T0 + timedelta(seconds=5), "status": "ok"},
        {"columns": ["cost_usd", "run_id", "started_at", "passed"]}, {"columns": "provider", "run_id": "run-a"},
    ]
    for filters in cases:
        got = pg.to_dataframe(**filters)
        pd.testing.assert_frame_equal(got, lite.to_dataframe(**filters), obj=str(filters))
    assert len(pg.to_dataframe(run_id="run-b")) == 4 and pg.to_dataframe(run_id=[]).empty
    with pytest.raises(ValueError, match="not record columns"):
        pg.to_dataframe(columns=["nope"])


def test_run_ids_len_and_export_match_sqlite(both: tuple[Ledger, Ledger], tmp_path: Path) -> None:
    pg, lite = both
    pd.testing.assert_frame_equal(pg.run_ids(), lite.run_ids())
    assert pg.run_ids()[["run_id", "calls", "ok", "errors", "cancelled"]].values.tolist() == [
        ["run-a", 8, 4, 2, 2], ["run-b", 4, 2, 1, 1]]
    assert len(pg) == len(lite) == 12
    out = pg.export(tmp_path / "pg.csv", run_id="run-b")
    assert pd.read_csv(out)["call_id"].tolist() == [f"run-b-{i}" for i in range(4)]


def test_the_arrow_read_and_the_psycopg_read_give_equal_frames(both: tuple[Ledger, Ledger]) -> None:
    pg, _ = both
    assert isinstance(pg, PostgresLedger) and pg.arrow  # the dev extras install the ADBC driver
    queries: list[dict[str, Any]] = [{}, {"run_id": "nope"}, {"since": T0 + timedelta(seconds=3), "status": "ok"},
                                     {"columns": ["passed", "started_at", "warning_count"]}]
    arrow = [pg.to_dataframe(**q) for q in queries]
    pg.arrow = False
    for q, fast in zip(queries, arrow, strict=True):
        pd.testing.assert_frame_equal(fast, pg.to_dataframe(**q), obj=str(q))


def test_store_text_keeps_or_blanks_the_text_columns(pg_url: str, tmp_path: Path) -> None:
    with Ledger(pg_url, store_text=True) as pg, Ledger(tmp_path / "t.sqlite", store_text=True) as lite:
        for led in (pg, lite):
            led.append_many(ROWS[:3])
        df = pg.to_dataframe()
        pd.testing.assert_frame_equal(df, lite.to_dataframe())
    assert df["prompt_text"].tolist() == ["question 0", "question 1", "question 2"]
    assert df["answer_text"].iloc[1] == "answer 1"


# -- idempotent by call_id --------------------------------------------------------------------------------

def test_the_same_call_id_twice_is_one_row(pg_url: str) -> None:
    with Ledger(pg_url) as led:
        led.append(ROWS[0])
        led.append(ROWS[0])  # a retried write
        assert len(led) == 1
        assert led.append_many(ROWS[:3]) == 2  # only the new rows count
        assert led.append_many(ROWS[:3]) == 0  # a copy run twice
        assert led.append_many([ROWS[5], ROWS[5]]) == 1  # a duplicate inside one batch
        assert led.append_many([]) == 0
        assert led.to_dataframe()["call_id"].tolist() == ["run-a-0", "run-a-1", "run-a-2", "run-a-5"]


def test_a_big_batch_goes_through_copy_idempotent_and_in_order(pg_url: str) -> None:
    n = COPY_MIN_ROWS * 3
    rows = [row(i, run_id="big") for i in range(n)]
    with Ledger(pg_url) as led:
        assert led.append_many(rows[:10]) == 10
        assert led.append_many(rows) == n - 10
        assert led.append_many(rows) == 0
        ids = led.to_dataframe(columns=["call_id"])["call_id"].tolist()
    assert ids == [f"big-{i}" for i in range(n)]


def test_a_dropped_connection_is_reopened_and_the_write_kept(pg_url: str, pg_cluster: Cluster) -> None:
    database = pg_url.rsplit("/", 1)[1]
    with Ledger(pg_url) as led:
        led.append(ROWS[0])
        assert pg_cluster.terminate_connections(database) >= 1
        led.append(ROWS[1])  # the first try fails on the dead connection; the retry on a new one writes it
        led.append_many(ROWS[:4])
        assert len(led) == 4


def test_a_readonly_ledger_never_writes(pg_url: str) -> None:
    with Ledger(pg_url, readonly=True) as ro:  # a fresh database: no table, and none created
        assert len(ro) == 0 and ro.to_dataframe().empty and ro.run_ids().empty
        with pytest.raises(PermissionError, match="readonly"):
            ro.append(ROWS[0])
    with Ledger(pg_url) as led:
        led.append(ROWS[0])
    with Ledger(pg_url, readonly=True) as ro:
        assert len(ro) == 1


# -- the schema -----------------------------------------------------------------------------------------------

def test_the_schema_is_created_on_first_use_and_an_older_table_gains_columns(pg_url: str,
                                                                              pg_cluster: Cluster) -> None:
    database = pg_url.rsplit("/", 1)[1]
    pg_cluster.psql("CREATE TABLE calls (id BIGSERIAL PRIMARY KEY, run_id TEXT, call_id TEXT, "
                    "started_at TIMESTAMPTZ, status TEXT, cost_usd DOUBLE PRECISION); "
                    "INSERT INTO calls (run_id, call_id, started_at, status, cost_usd) "
                    "VALUES ('old', 'old-1', '2024-01-01T00:00:00Z', 'ok', 0.5); "
                    "ALTER TABLE calls OWNER TO auriko", database=database)
    with Ledger(pg_url) as led:
        led.append(ROWS[0])
        df = led.to_dataframe()
    assert df["call_id"].tolist() == ["old-1", "run-a-0"] and df["cost_usd"].tolist() == [0.5, 0.00123]
    assert pd.isna(df["provider"].iloc[0]) and df["provider"].iloc[1] == "openai"
    columns = pg_cluster.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'calls'",
                              database=database)
    assert int(columns) == len(ak.RECORD_COLUMNS) + 1  # + id
    indexes = pg_cluster.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'calls' ORDER BY 1",
                              database=database).split()
    assert {"calls_call_id", "calls_run", "calls_time"} <= set(indexes)


def test_ledgers_opening_a_fresh_database_at_once_all_succeed(pg_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_and_write(n: int) -> None:
        try:
            start.wait(timeout=30)
            with Ledger(pg_url) as led:
                led.append(row(n, run_id="race"))
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with Ledger(pg_url) as led:
        assert sorted(led.to_dataframe()["call_id"]) == [f"race-{n}" for n in range(6)]


# -- bad URLs: one line, no password, nothing lost ------------------------------------------------------------

def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def bad_urls(cluster: Cluster) -> dict[str, str]:
    return {
        "wrong password": cluster.url().replace(PASSWORD, "pw-Wr0ng-secret"),
        "missing database": cluster.url("no_such_db"),
        "refused port": f"postgresql://auriko:{PASSWORD}@127.0.0.1:{_refused_port()}/auriko",
        "unknown host": f"postgresql://auriko:{PASSWORD}@no-such-host.invalid:5432/auriko",
        "unparseable": f"postgresql://auriko:{PASSWORD}@127.0.0.1:notaport/auriko",
    }


def test_a_bad_url_is_one_line_without_the_password(pg_cluster: Cluster) -> None:
    for what, url in bad_urls(pg_cluster).items():
        t = time.monotonic()
        with pytest.raises(LedgerError) as info:
            Ledger(url)
        text = str(info.value)
        assert time.monotonic() - t < 15, what  # connect_timeout bounds it
        assert info.value.code == "ledger_unavailable", what
        assert "\n" not in text and "pw-" not in text and "S3cret" not in text and "Wr0ng" not in text, (what, text)
        assert "***" in text, (what, text)  # the URL is named, redacted
        assert "pw-" not in repr(info.value)


def test_redact_url_hides_every_form_of_the_password() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgres://u@h/db?sslmode=require&password=zz") == "postgres://u@h/db?sslmode=require&password=***"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"
    assert redact_url("postgresql://u:a@b@h/db") == "postgresql://u:***@h/db"


def test_a_sweep_given_a_bad_url_fails_before_any_call(pg_cluster: Cluster, gw: GatewayHandle,
                                                       client_on: Any) -> None:
    url = bad_urls(pg_cluster)["wrong password"]
    with pytest.raises(LedgerError) as info:
        compare(["hello"], models=["gpt-4o-mini"], client=client_on(gw), ledger=url, progress=False)
    assert "Wr0ng" not in str(info.value)
    assert not [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]


def test_a_session_ledger_url_that_fails_turns_the_ledger_off_with_a_redacted_warning(
        pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ledger_mod.LEDGER_ENV, bad_urls(pg_cluster)["wrong password"])
    with pytest.warns(UserWarning, match="session ledger turned off") as caught:
        assert session_ledger() is None
    assert all("Wr0ng" not in str(w.message) for w in caught)


# -- the notebook entry points with a URL ---------------------------------------------------------------------

def test_config_ledger_url_sends_the_session_calls_to_postgres(pg_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURIKO_NB_OFFLINE_SPEED", "0.02")
    session = ak.NotebookSession(mode="offline")
    session.configure(ledger=pg_url)  # what `%auriko config ledger=postgresql://...` runs
    led = session_ledger()
    assert isinstance(led, PostgresLedger)
    session.ask("What is 2 + 2?", model="gpt-4o-mini", stream=False)
    shown = str(session.status()) + describe_settings()
    assert led.location in shown and PASSWORD not in shown
    with Ledger(pg_url) as check:
        df = check.to_dataframe()
    assert len(df) == 1 and df["status"].iloc[0] == "ok" and df["model_requested"].iloc[0] == "gpt-4o-mini"
    session.configure(ledger="off")
    session.reconnect()  # closes the session's client
    led.close()


def test_connect_with_a_ledger_url_writes_its_calls_there(pg_url: str, gw: GatewayHandle) -> None:
    client = ak.connect(base_url=gw.base_url, api_key="ak_test_pg", ledger=pg_url, timeout=10)
    try:
        client.chat("hello", model="gpt-4o-mini")
        client.chat("again", model="gpt-4o-mini")
    finally:
        client.close()
    with Ledger(pg_url) as led:
        assert led.to_dataframe()["model_requested"].tolist() == ["gpt-4o-mini"] * 2
    with pytest.raises(LedgerError):
        ak.connect(base_url=gw.base_url, api_key="ak_test_pg", ledger=pg_url.replace(PASSWORD, "nope"))


def test_a_sweep_writes_to_postgres_and_resumes_only_the_missing_cells(pg_url: str, client_on: Any) -> None:
    prompts = ["What is 2 + 3?", "Name a colour."]
    grid = dict(models=["gpt-4o-mini", "deepseek-chat"], strategies=["cost", "balanced"], ledger=pg_url,
                progress=False, stream=False, max_retries=0)
    with serve(seed=4, speed=0.02, faults={"server_error": 0.3}) as bad:
        first = compare(prompts, client=client_on(bad), **grid)
    failed = set(first.loc[first.status != "ok", "cell"])
    assert failed and len(first) == 8
    run_id = first["run_id"].iloc[0]
    with serve(seed=4, speed=0.02) as good:
        second = compare(prompts, client=client_on(good), resume=run_id, **grid)
        sent = [r for r in good.stats.requests if r["path"] == "/v1/chat/completions"]
    assert len(sent) == len(failed)
    assert len(second) == 8 and (second.status == "ok").all()
    with Ledger(pg_url) as led:
        stored = led.to_dataframe(run_id=run_id)
    assert len(stored) == 8 + len(failed) and stored["call_id"].is_unique
    assert set(stored.loc[stored.status == "ok", "cell"]) == set(second["cell"])
