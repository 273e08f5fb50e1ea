"""Prompt and answer text in the ledger (auriko_nb/measure/ledger.py): NULL unless `store_text=True`, the new check
columns always stored, old ledgers gaining the columns, and the session ledger following `ak.settings.store_text`
(`%auriko config store_text=...`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import auriko_nb as ak
import auriko_nb.measure.ledger as ledger_mod
from auriko_nb.client.records import CallContext, make_record
from auriko_nb.errors import MagicUsageError
from auriko_nb.measure.ledger import TEXT_COLUMNS, Ledger
from auriko_nb.measure.sweep import compare
from auriko_nb.notebook.attach import session_ledger_hook
from auriko_nb.notebook.commands import CONFIG_KEYS, NotebookSession
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import serve
from auriko_nb.types.record_schema import RECORD_COLUMNS


def record(**fields: Any) -> dict[str, Any]:
    ctx = CallContext(endpoint="chat.completions", model_requested="gpt-4o", routing=None, tags=None,
                      trace_id=None, prompt_id="p", stream=True, started_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    rec = make_record(ctx, status="ok")
    rec.update({"prompt_label": "capital-1", "prompt_text": "Capital of France?", "answer_text": "Paris.",
                "passed": True, "score": 1.0, "checks_failed": [], **fields})
    return rec


def stored(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]


def test_by_default_the_ledger_stores_no_prompt_or_answer_text(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as led:
        assert led.store_text is False
        led.append(record())
        led.append_many([record(), record()])
        df = led.to_dataframe()
    assert TEXT_COLUMNS == ("prompt_text", "answer_text")
    for row in stored(tmp_path / "l.sqlite"):
        assert row["prompt_text"] is None and row["answer_text"] is None
        assert row["prompt_label"] == "capital-1" and row["passed"] == 1 and row["score"] == 1.0
        assert json.loads(row["checks_failed"]) == []
    assert df["prompt_text"].isna().all() and df["answer_text"].isna().all()
    assert df["passed"].tolist() == [True] * 3 and str(df["passed"].dtype) == "boolean"


def test_with_store_text_the_ledger_keeps_prompt_and_answer(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", store_text=True) as led:
        led.append(record())
        led.append_many([record(answer_text="Lyon", passed=False, score=0.0,
                                checks_failed=[{"check": "contains", "reason": "no", "errored": False}])])
        df = led.to_dataframe()
        assert "store_text=True" in repr(led)
    assert df["prompt_text"].tolist() == ["Capital of France?"] * 2 and df["answer_text"].tolist() == ["Paris.", "Lyon"]
    assert df["passed"].tolist() == [True, False] and json.loads(df["checks_failed"][1])[0]["check"] == "contains"
    with Ledger(tmp_path / "l.sqlite") as again:  # the same file opened without store_text: new rows without text
        again.append(record())
        assert again.to_dataframe()["answer_text"].isna().tolist() == [False, False, True]


def test_an_old_ledger_gains_the_new_columns_on_open(tmp_path: Path) -> None:
    old = [c for c in RECORD_COLUMNS if c not in ("prompt_label", "prompt_text", "answer_text", "passed", "score",
                                                   "checks_failed")]
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, {', '.join(old)})")
        conn.execute("INSERT INTO calls (run_id, status) VALUES ('r-old', 'ok')")
    with Ledger(path, store_text=True) as led:
        led.append(record(run_id="r-new"))
        df = led.to_dataframe()
    assert list(df.columns) == list(RECORD_COLUMNS)
    assert df["answer_text"].isna().iloc[0] and df["answer_text"].iloc[1] == "Paris."
    assert df["passed"].isna().iloc[0] and bool(df["passed"].iloc[1]) is True


def test_the_session_ledger_follows_settings_store_text(isolated_session_ledger: Path) -> None:
    assert settings.store_text is False
    session_ledger_hook(record(run_id="off"))
    settings.store_text = True
    session_ledger_hook(record(run_id="on"))
    settings.reset()
    assert settings.store_text is False
    session_ledger_hook(record(run_id="off-again"))
    rows = {r["run_id"]: r for r in stored(isolated_session_ledger)}
    assert rows["off"]["answer_text"] is None and rows["off-again"]["prompt_text"] is None
    assert rows["on"]["answer_text"] == "Paris." and rows["on"]["prompt_text"] == "Capital of France?"


def test_a_sweep_on_the_session_ledger_stores_text_only_when_the_setting_says(isolated_session_ledger: Path) -> None:
    with serve(seed=2, speed=0.02) as gw:
        client = ak.Client("ak_test_ledger_text", base_url=gw.base_url, timeout=10)
        quiet = compare(["What is 2 + 3?"], models=["gpt-4o-mini"], client=client, progress=False, max_tokens=20)
        settings.store_text = True
        kept = compare(["What is 2 + 3?"], models=["gpt-4o-mini"], client=client, progress=False, max_tokens=20)
    assert quiet.rows["answer_text"].iloc[0] and kept.rows["answer_text"].iloc[0]  # in memory: always
    rows = {r["run_id"]: r for r in stored(isolated_session_ledger)}
    assert rows[quiet.grid.run_id]["answer_text"] is None and rows[quiet.grid.run_id]["prompt_text"] is None
    assert rows[quiet.grid.run_id]["prompt_label"] == "p1"
    assert rows[kept.grid.run_id]["prompt_text"] == "What is 2 + 3?"
    assert rows[kept.grid.run_id]["answer_text"] == kept.rows["answer_text"].iloc[0]


def test_store_text_is_a_setting_and_a_config_key(isolated_session_ledger: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_mod, "_session", None)
    assert "store_text" in CONFIG_KEYS and "store_text=False" in repr(settings)
    session = NotebookSession(mode="offline")
    for value, want in [(True, True), ("false", False), ("on", True), ("0", False)]:
        assert session.configure(store_text=value).store_text is want
    with pytest.raises(MagicUsageError) as err:
        session.configure(store_text="maybe")
    assert str(err.value).endswith("%auriko config: store_text needs true or false, got 'maybe'")
    assert settings.store_text is False  # the bad value changed nothing


def test_the_magics_store_text_trait_mirrors_the_setting() -> None:
    from IPython.testing import globalipapp

    from auriko_nb.notebook.magics import AurikoMagics

    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    before = list(shell.configurables)
    try:
        magics = AurikoMagics(shell)
        assert magics.store_text is False
        magics.store_text = True
        assert settings.store_text is True
        settings.store_text = False
        assert magics.store_text is False
    finally:
        shell.configurables[:] = before


def test_the_config_line_parses_store_text() -> None:
    from auriko_nb.notebook.magic_args import parse_subcommand

    assert dict(parse_subcommand("config store_text=true").items) == {"store_text": True}
    assert dict(parse_subcommand("config store_text=false").items) == {"store_text": False}


def test_a_plain_clients_records_carry_the_prompt_and_answer_text_in_memory_only(tmp_path: Path) -> None:
    import auriko_nb as ak
    from auriko_nb.measure.ledger import Ledger
    from auriko_nb.offline import serve

    rows: list[dict] = []
    ledger = Ledger(tmp_path / "plain.sqlite")
    with serve(seed=2, speed=0.02) as gw, ak.Client("ak_test_text", base_url=gw.base_url,
                                                     on_record=[rows.append, ledger.append]) as c:
        res = c.chat([{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2 + 2?"}],
                     model="gpt-4o-mini")
        stream = c.chat([{"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]}],
                        model="gpt-4o-mini", stream=True)
        streamed = "".join(stream)
    assert [r["prompt_text"] for r in rows] == ["What is 2 + 2?", "Capital of France?"]
    assert [r["answer_text"] for r in rows] == [res.text, streamed] and res.text
    stored = ledger.to_dataframe()
    assert stored["prompt_text"].isna().all() and stored["answer_text"].isna().all()  # not stored unless asked
