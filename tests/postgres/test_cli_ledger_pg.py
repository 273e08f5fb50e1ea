"""`auriko-nb ledger copy|export|runs` against a real PostgreSQL server: into it and back, idempotent, one-line
errors that never show the password."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cluster import PASSWORD, Cluster
from test_ledger import ok_row

from auriko_nb.cli import main
from auriko_nb.measure.ledger import Ledger


def test_copy_sqlite_into_postgres_and_back_through_the_cli(pg_url: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    src, back = tmp_path / "a.sqlite", tmp_path / "back.sqlite"
    with Ledger(src, store_text=True) as led:
        led.append_many([ok_row(i, run_id="run-a" if i < 6 else "run-b", prompt_text=f"q{i}", answer_text=f"a{i}")
                         for i in range(10)])
    assert main(["ledger", "copy", str(src), pg_url]) == 0
    assert capsys.readouterr().out.strip() == "10 rows read, 10 added, 0 already there"
    assert main(["ledger", "copy", str(src), pg_url]) == 0  # a copy run twice adds no row
    assert capsys.readouterr().out.strip() == "10 rows read, 0 added, 10 already there"
    assert main(["ledger", "copy", pg_url, str(back)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "10 rows read, 10 added, 0 already there" and PASSWORD not in out
    pd.testing.assert_frame_equal(Ledger(back, readonly=True).to_dataframe(),
                                  Ledger(src, readonly=True).to_dataframe())

    parquet = tmp_path / "b.parquet"
    assert main(["ledger", "export", pg_url, "-o", str(parquet), "--run-id", "run-b"]) == 0
    assert set(pd.read_parquet(parquet)["run_id"]) == {"run-b"} and len(pd.read_parquet(parquet)) == 4
    assert main(["ledger", "runs", pg_url]) == 0
    runs = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in runs[2:]] == [["run-a", "6", "6"], ["run-b", "4", "4"]]


def test_a_wrong_password_is_one_line_without_it_and_nothing_is_written(pg_cluster: Cluster, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "a.sqlite"
    with Ledger(src) as led:
        led.append_many([ok_row(i) for i in range(3)])
    wrong = pg_cluster.url().replace(PASSWORD, "not-the-Pw-42")
    assert main(["ledger", "copy", str(src), wrong]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("auriko-nb ledger copy: ") and "\n" not in err
    assert "not-the-Pw-42" not in err and PASSWORD not in err
    assert len(Ledger(src, readonly=True)) == 3  # the source is untouched
