"""`auriko-nb ledger copy|export|runs` on SQLite files: what it prints, what it writes, and one-line errors.

The same commands against a real PostgreSQL server are in tests/postgres/test_cli_ledger_pg.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_ledger import ok_row

from auriko_nb.cli import main
from auriko_nb.measure.ledger import Ledger


def _ledger(path: Path, n: int = 5, run_id: str = "run-a", **kw: object) -> Path:
    with Ledger(path, store_text=True) as led:
        led.append_many([ok_row(i, run_id=run_id, prompt_text=f"question {i}", answer_text=f"answer {i}", **kw)
                         for i in range(n)])
    return path


def test_copy_prints_counts_and_a_second_copy_adds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _ledger(tmp_path / "a.sqlite", 5)
    dst = tmp_path / "b.sqlite"
    assert main(["ledger", "copy", str(src), str(dst)]) == 0
    assert capsys.readouterr().out.strip() == "5 rows read, 5 added, 0 already there"
    assert main(["ledger", "copy", str(src), str(dst)]) == 0
    assert capsys.readouterr().out.strip() == "5 rows read, 0 added, 5 already there"
    got = Ledger(dst, readonly=True).to_dataframe()
    want = Ledger(src, readonly=True).to_dataframe()
    pd.testing.assert_frame_equal(got, want)  # every column, the prompt and answer text included
    assert got["answer_text"].tolist() == [f"answer {i}" for i in range(5)]


def test_copy_from_a_missing_ledger_is_one_line_and_creates_nothing(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    missing, dst = tmp_path / "nope.sqlite", tmp_path / "b.sqlite"
    assert main(["ledger", "copy", str(missing), str(dst)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("auriko-nb ledger copy: ") and "nope.sqlite" in err and "\n" not in err
    assert not missing.exists()


def test_export_writes_parquet_and_csv_with_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _ledger(tmp_path / "a.sqlite", 4, run_id="run-a")
    with Ledger(src) as led:
        led.append_many([ok_row(10 + i, run_id="run-b") for i in range(3)])
    out = tmp_path / "rows.parquet"
    assert main(["ledger", "export", str(src), "-o", str(out)]) == 0
    assert f"rows written to {out}" in capsys.readouterr().out
    assert len(pd.read_parquet(out)) == 7
    csv = tmp_path / "b.csv"
    assert main(["ledger", "export", str(src), "--format", "csv", "-o", str(csv), "--run-id", "run-b"]) == 0
    df = pd.read_csv(csv)
    assert len(df) == 3 and set(df["run_id"]) == {"run-b"}


def test_export_with_a_format_that_contradicts_the_file_name_is_one_line(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = _ledger(tmp_path / "a.sqlite", 2)
    assert main(["ledger", "export", str(src), "--format", "csv", "-o", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("auriko-nb ledger export: ") and "\n" not in err
    assert not (tmp_path / "x.parquet").exists()


def test_export_without_an_output_writes_auriko_ledger_parquet_here(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    src = _ledger(tmp_path / "a.sqlite", 3)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["ledger", "export", str(src)]) == 0
    assert len(pd.read_parquet(work / "auriko_ledger.parquet")) == 3


def test_runs_lists_each_run_with_its_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _ledger(tmp_path / "a.sqlite", 4, run_id="run-a")
    with Ledger(src) as led:
        led.append(ok_row(9, run_id="run-b", status="error"))
    assert main(["ledger", "runs", str(src)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["run_id", "calls", "ok", "errors", "cancelled"]
    assert lines[1].split()[:5] == ["run-a", "4", "4", "0", "0"]
    assert lines[2].split()[:5] == ["run-b", "1", "0", "1", "0"]
