"""Copying a ledger into another (every column, text too, idempotent by call_id) and exporting it to a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.ledger_copy import CopyResult, copy_ledger, export_ledger
from bench.ledger import records


def filled(path: Path, n: int = 120, seed: int = 3) -> list[dict[str, Any]]:
    """A ledger at `path` with `n` realistic records (every column kind), prompt and answer text stored."""
    rows = list(records(n, seed=seed))
    for i, r in enumerate(rows):
        r.update(prompt_text=f"prompt {i} — ünïcode", answer_text=f"answer {i}" if i % 3 else None,
                 passed=bool(i % 2), score=i / n, checks_failed='["len"]' if i % 5 == 0 else None)
    with Ledger(path, store_text=True) as led:
        led.append_many(rows)
    return rows


def test_a_copy_carries_every_column_and_the_text_in_order(tmp_path: Path) -> None:
    filled(tmp_path / "src.sqlite")
    result = copy_ledger(tmp_path / "src.sqlite", tmp_path / "dst.sqlite", batch=7)  # many small batches
    assert result == CopyResult(read=120, added=120, skipped=0)
    src, dst = Ledger(tmp_path / "src.sqlite"), Ledger(tmp_path / "dst.sqlite")
    expected = src.to_dataframe()
    assert expected["prompt_text"].notna().all() and expected["answer_text"].notna().sum() == 80
    pd.testing.assert_frame_equal(dst.to_dataframe(), expected)
    pd.testing.assert_frame_equal(dst.run_ids(), src.run_ids())


def test_a_copy_run_twice_adds_nothing_and_a_partial_copy_is_completed(tmp_path: Path) -> None:
    rows = filled(tmp_path / "src.sqlite", n=50)
    with Ledger(tmp_path / "dst.sqlite", store_text=True) as dst:
        dst.append_many(rows[:20])  # a copy that died after its first batch
    assert copy_ledger(tmp_path / "src.sqlite", tmp_path / "dst.sqlite") == CopyResult(50, 30, 20)
    again = copy_ledger(tmp_path / "src.sqlite", tmp_path / "dst.sqlite")
    assert again == CopyResult(read=50, added=0, skipped=50) and str(again) == "50 rows read, 0 added, 50 already there"
    df = Ledger(tmp_path / "dst.sqlite").to_dataframe()
    assert len(df) == 50 and df["call_id"].is_unique
    assert list(df["call_id"]) == [r["call_id"] for r in rows]


def test_ledger_objects_work_and_the_text_is_copied_whatever_the_destination_was_opened_with(tmp_path: Path) -> None:
    filled(tmp_path / "src.sqlite", n=10)
    src = Ledger(tmp_path / "src.sqlite", readonly=True)
    dst = Ledger(tmp_path / "dst.sqlite")  # store_text=False: its own appends blank the text
    assert copy_ledger(src, dst).added == 10
    assert dst.store_text is False  # restored after the copy
    assert dst.to_dataframe()["prompt_text"].notna().all()
    dst.append({"call_id": "later", "prompt_text": "private"})
    assert pd.isna(dst.to_dataframe().set_index("call_id").loc["later", "prompt_text"])


def test_copying_a_ledger_into_itself_is_one_line_and_changes_nothing(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    filled(tmp_path / "self.sqlite", n=5)
    before = (tmp_path / "self.sqlite").read_bytes()
    monkeypatch.chdir(tmp_path)
    for src, dst in [("self.sqlite", tmp_path / "self.sqlite"), (Ledger(tmp_path / "self.sqlite"), "./self.sqlite"),
                     ("postgresql://u:pw-secret@127.0.0.1:5432/db", "postgres://other@127.0.0.1/db")]:
        with pytest.raises(ValueError, match="into itself") as caught:
            copy_ledger(src, dst)
        assert "\n" not in str(caught.value) and "pw-secret" not in str(caught.value)
    assert (tmp_path / "self.sqlite").read_bytes() == before


def test_a_missing_source_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no ledger at"):
        copy_ledger(tmp_path / "nope.sqlite", tmp_path / "dst.sqlite")
    assert not (tmp_path / "dst.sqlite").exists()
    with pytest.raises(ValueError, match="batch"):
        copy_ledger(tmp_path / "nope.sqlite", tmp_path / "dst.sqlite", batch=0)


def test_export_writes_csv_and_parquet_any_tool_reads(tmp_path: Path) -> None:
    rows = filled(tmp_path / "src.sqlite", n=30)
    run = rows[0]["run_id"]
    out = export_ledger(tmp_path / "src.sqlite", tmp_path / "all", fmt="parquet")
    assert out == tmp_path / "all.parquet"
    back = pd.read_parquet(out)
    assert len(back) == 30 and list(back["call_id"]) == [r["call_id"] for r in rows]
    csv = export_ledger(tmp_path / "src.sqlite", tmp_path / "one.csv", run_id=run)
    assert set(pd.read_csv(csv)["run_id"]) == {run}
    assert export_ledger(str(tmp_path / "src.sqlite"), os.fspath(tmp_path / "x.CSV"), fmt="csv").exists()
    with pytest.raises(ValueError, match="format 'csv' but the file name 'a.parquet'"):
        export_ledger(tmp_path / "src.sqlite", tmp_path / "a.parquet", fmt="csv")
    with pytest.raises(ValueError, match="'xlsx' is not one of csv, parquet"):
        export_ledger(tmp_path / "src.sqlite", tmp_path / "a", fmt="xlsx")
    with pytest.raises(FileNotFoundError):
        export_ledger(tmp_path / "nope.sqlite", tmp_path / "a.csv")
