"""`auriko-nb compare`: a sweep from a terminal prints its summary and writes a chart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auriko_nb.cli import main
from auriko_nb.measure.ledger import Ledger


def test_compare_prints_summary_and_writes_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("First prompt\r\nspans two lines\r\n  \r\nSecond prompt\n", encoding="utf-8")
    chart, db, rows = tmp_path / "c.png", tmp_path / "l.sqlite", tmp_path / "rows.parquet"
    rc = main(["compare", "Third prompt", "--prompts-file", str(prompts), "-m", "llama-3.3-70b",
               "-s", "cost-focus,ttft-focus", "-s", "none", "-n", "2", "-c", "4", "--speed", "0.02", "--mode",
               "offline", "--chart", str(chart), "--ledger", str(db), "-q", "--max-tokens", "40",
               "--export", str(rows)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "(offline simulation): 18 calls, 18 ok" in out
    header = next(line for line in out.splitlines() if "ttft_client_p50" in line).split()
    assert header[:2] == ["optimize", "provider"]  # the axes that vary (one model: no model column)
    assert "cost-focus" in out and "ttft-focus" in out
    assert chart.exists() and chart.stat().st_size > 5000 and f"chart written to {chart}" in out
    assert f"rows written to {rows}" in out and len(pd.read_parquet(rows)) == 18
    df = Ledger(db).to_dataframe()
    assert len(df) == 18 and df["prompt_id"].nunique() == 3
    by_strategy = df.groupby("optimize", observed=True)["provider"].agg(lambda s: set(s))
    assert by_strategy["cost-focus"] == {"deepinfra"} and by_strategy["ttft-focus"] == {"cerebras"}


@pytest.mark.parametrize(("argv", "message"), [
    (["compare", "-q"], "no prompts"),
    (["compare", "x", "-s", "cheapest", "-q", "--mode", "offline"], "unknown strategy 'cheapest'"),
    (["compare", "x", "-n", "0", "-q", "--mode", "offline"], "repeats must be >= 1"),
    (["compare", "x", "--budget-usd", "0.0000001", "-q", "--mode", "offline", "--speed", "0.02"],
     "exceeds budget_usd"),
])
def test_compare_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("auriko-nb compare:") and "\n" not in err
