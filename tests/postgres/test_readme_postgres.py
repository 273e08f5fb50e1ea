"""The README's "Sharing a ledger across a team" lines work as written, with its example URL replaced by a real
throwaway database: the session ledger, one client's ledger, a sweep and the terminal commands."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from readme_snippets import code_block
from test_ledger import ok_row

import auriko_nb as ak
from auriko_nb.cli import main
from auriko_nb.measure.ledger import Ledger, session_ledger, set_session_ledger

HEADING = "### Sharing a ledger across a team"
EXAMPLE_URLS = ("postgresql://alice@db.internal:5432/llm", "postgresql://alice@db.internal/llm")


def _with(url: str, text: str) -> str:
    for example in EXAMPLE_URLS:
        text = text.replace(example, url)
    assert "db.internal" not in text
    return text


def test_the_readme_python_lines_send_every_kind_of_call_to_postgres(pg_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    monkeypatch.setenv("AURIKO_NB_OFFLINE_SPEED", "0.05")
    monkeypatch.chdir(tmp_path)
    before = session_ledger()
    namespace: dict[str, object] = {}
    try:
        exec(compile(_with(pg_url, code_block(HEADING)), "README.md", "exec"), namespace)
        namespace["client"].chat("Hello", model="llama-3.3-70b", max_tokens=8)  # type: ignore[attr-defined]
        ak.NotebookSession().ask("Hello from the session", model="llama-3.3-70b", max_tokens=8, stream=False)
    finally:
        set_session_ledger(before)
    df = Ledger(pg_url).to_dataframe()
    assert len(df) == 3 and df["call_id"].is_unique  # the sweep's call, the client's call, the session's call
    assert df["run_id"].notna().sum() >= 1 and set(df["status"]) == {"ok"}


def test_the_readme_terminal_lines_copy_export_and_list(pg_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with Ledger(tmp_path / "auriko_ledger.sqlite") as led:
        led.append_many([ok_row(i) for i in range(4)])
    lines = [line.split("#")[0].strip() for line in code_block(HEADING, "bash").splitlines() if line.strip()]
    for line in lines:
        argv = shlex.split(_with(pg_url, line))
        assert argv[0] == "auriko-nb" and main(argv[1:]) == 0, line
    out = capsys.readouterr().out
    assert "4 rows read, 4 added, 0 already there" in out and "run-a" in out
    assert len(Ledger(pg_url)) == 4 and (tmp_path / "calls.parquet").exists()
