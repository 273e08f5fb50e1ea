"""The record schema is defined once (auriko_nb/types/record_schema.py): the row builder, the ledger and the README agree with it."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from auriko_nb.client.records import CallContext, make_record
from auriko_nb.measure.ledger import Ledger
from auriko_nb.types import record_schema as schema

README = Path(__file__).resolve().parent.parent / "README.md"


def _record_table() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The record", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_every_column_is_documented_in_the_readme_record_table_and_nothing_else() -> None:
    table = _record_table()
    documented = {name for cell in (row.split("|")[1] for row in table.splitlines()[2:])
                  for name in re.findall(r"`([a-z_]+)`", cell)}
    assert documented == set(schema.RECORD_COLUMNS)


def test_every_column_has_a_kind_a_dtype_an_sql_type_and_a_meaning() -> None:
    assert len(set(schema.RECORD_COLUMNS)) == len(schema.COLUMNS)
    for col in schema.COLUMNS:
        assert col.meaning and schema.sql_type(col.name) in ("TEXT", "REAL", "INTEGER")
        assert schema.dtype_of(col.name)


def test_the_ledger_table_is_created_with_the_schemas_sql_types(tmp_path: Path) -> None:
    Ledger(tmp_path / "l.sqlite").close()
    with sqlite3.connect(tmp_path / "l.sqlite") as conn:
        declared = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(calls)") if r[1] != "id"}
    assert declared == {c: schema.sql_type(c) for c in schema.RECORD_COLUMNS}


def test_a_row_read_back_has_the_schemas_dtypes(tmp_path: Path) -> None:
    ctx = CallContext(endpoint="chat.completions", model_requested="gpt-4o", routing={"optimize": "cost"},
                      tags=["a"], trace_id=None, prompt_id="p", stream=True,
                      started_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    rec = make_record(ctx, status="ok")
    assert list(rec) == list(schema.RECORD_COLUMNS)
    with Ledger(tmp_path / "l.sqlite") as led:
        led.append(rec)
        df = led.to_dataframe()
    assert {c: str(t) for c, t in df.dtypes.items()} == schema.record_dtypes()
    assert df.loc[0, "optimize"] == "cost" and bool(df.loc[0, "stream"]) is True


def test_coerce_types_follows_the_kinds() -> None:
    raw = pd.DataFrame({"latency_ms": ["12.5", None], "attempts": [1.0, "2"], "stream": ["true", "0"],
                        "routing": [{"b": 1, "a": 2}, None], "started_at": ["2026-01-01T00:00:00+00:00", None],
                        "other": [1, 2]})
    out = schema.coerce_types(raw)
    assert str(out["latency_ms"].dtype) == "float64" and str(out["attempts"].dtype) == "Int64"
    assert out["stream"].tolist() == [True, False] and out.loc[0, "routing"] == '{"a": 2, "b": 1}'
    assert str(out["started_at"].dtype) == schema.TIME_DTYPE and out["other"].tolist() == [1, 2]
