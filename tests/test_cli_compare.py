"""`auriko-nb compare`: a sweep from a terminal prints its summary and writes a chart."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from auriko_nb.cli import main
from auriko_nb.measure.ledger import Ledger
from auriko_nb.offline import GatewayHandle, serve, task_set


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
    header = next(line for line in out.splitlines() if "TTFT p50 (ms)" in line).split()
    assert header[:2] == ["strategy", "provider"]  # the axes that vary (one model: no model column)
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


# -- prompts files with expectations, checks, intervals and a recommendation (issue 14) ---------------------------

KEY = "ak_test_cli_compare_5d2e"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=5, speed=0.02) as g:
        yield g


@pytest.fixture
def live(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch, isolated_session_ledger: Path) -> GatewayHandle:
    """The CLI's calls go to this test's gateway (as to the live API), with a fake key."""
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    return gw


def chats(gw: GatewayHandle) -> list[dict[str, Any]]:
    return [r["body"] for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]


def tasks(*kinds: str) -> list[dict[str, Any]]:
    return [t for t in task_set() if t["kind"] in kinds]


def summary_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "TTFT p50 (ms)" in line)
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return lines[start:end]


def test_jsonl_prompts_with_a_check_print_pass_rates_a_recommendation_and_answers(
        live: GatewayHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tasks("arithmetic")
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in rows) + "\n\n", encoding="utf-8")  # a blank line is skipped
    before = len(chats(live))
    rc = main(["compare", "--prompts-file", str(path), "-m", "llama-3.3-70b", "-s", "cost-focus,ttft-focus",
               "-n", "2", "--check", "number", "--min-pass-rate", "0.3", "--max-latency-p95", "60000",
               "--answers", "--chart", "none", "-q", "--mode", "live"])
    out = capsys.readouterr().out
    assert rc == 0
    sent = chats(live)[before:]
    assert len(sent) == 16 and {b["messages"][-1]["content"] for b in sent} == {t["prompt"] for t in rows}
    assert all("expect" not in json.dumps(b) for b in sent)  # expectations stay local
    header, *groups = summary_lines(out)
    assert header.split()[:2] == ["strategy", "provider"] and "pass rate" in header and "few calls" not in header
    assert len(groups) == 2 and all(re.search(r"\d+% \[\d+–\d+%\]", g) for g in groups)  # rates with intervals
    assert re.search(r"^(Recommended: |No group is confirmed|Best candidate)", out, re.M)
    assert "pass rate ≥ 30%" in out and "meets_min_pass_rate" in out
    matrix = out[out.index("\nprompt "):].strip().splitlines()[1:]  # the answer matrix, under its header
    assert len(matrix) == 8 and {line.split()[0] for line in matrix} == {t["id"] for t in rows}
    assert all(("✔" in line) != ("✘" in line) for line in matrix)  # each answer judged by the check


def test_csv_prompts_default_to_contains_and_ci_sets_the_level(live: GatewayHandle, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    rows = tasks("capital")
    path = tmp_path / "tasks.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "prompt", "expect", "kind"])
        writer.writeheader()
        writer.writerows(rows)
    before = len(chats(live))
    rc = main(["compare", "--prompts-file", str(path), "-m", "gpt-4o-mini,deepseek-chat", "--ci", "0.9",
               "--min-success-rate", "0.5", "--chart", "none", "-q", "--mode", "live", "--max-tokens", "20"])
    out = capsys.readouterr().out
    assert rc == 0 and len(chats(live)) - before == 8
    header, *groups = summary_lines(out)
    assert header.split()[0] == "model" and "pass rate" in header and len(groups) >= 2  # contains ran
    assert "90% interval" in out and "success rate ≥ 50%" in out


@pytest.mark.parametrize(("files", "extra", "message"), [
    ({"p.jsonl": '{"prompt": "hi", "expect": "x"}\nnot json\n'}, [], "p.jsonl line 2: not JSON"),
    ({"p.jsonl": '{"question": "hi"}\n'}, [], "p.jsonl line 1: 'prompt' must be a non-empty text (keys: question)"),
    ({"p.jsonl": '["hi"]\n'}, [], "p.jsonl line 1: expected an object with a 'prompt', got list"),
    ({"p.jsonl": '{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "x"}\n'}, [], "ids must be unique"),
    ({"p.csv": "question,expect\nhi,x\n"}, [], "p.csv: no 'prompt' column (columns: question, expect)"),
    ({"p.csv": "prompt,expect\nhi,x\n,y\n"}, [], "p.csv row 2: 'prompt' must be a non-empty text"),
    ({"p.txt": "hi\n\nthere\n"}, ["--check", "bogus"], "unknown check 'bogus'"),
    ({"p.txt": "hi\n"}, ["--check", "json_schema={\"type\": 5}"], "not a valid JSON Schema"),
    ({"p.txt": "hi\n"}, ["--check", "contains"], "prompt p1 has none"),
    ({"p.jsonl": '{"prompt": "a", "expect": "1"}\n{"prompt": "b"}\n'}, [], "prompt p2 has none"),
    ({"p.txt": "hi\n"}, ["--min-pass-rate", "0.9"], "min_pass_rate needs checks"),
    ({"p.txt": "hi\n"}, ["--check", "json_valid", "--min-pass-rate", "2"], "min_pass_rate is a rate between 0"),
    ({"p.txt": "hi\n"}, ["--no-stream", "--max-ttft-p95", "500"], "max_ttft_p95_ms needs streamed calls"),
    ({"p.txt": "hi\n"}, ["--ci", "1.5"], "--ci must be a level between 0 and 1"),
    ({}, [], "No such file or directory"),
])
def test_bad_prompts_file_check_or_slo_is_one_line_exit_2_and_sends_nothing(
        live: GatewayHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str],
        extra: list[str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / (next(iter(files)) if files else "missing.jsonl")
    before = len(live.stats.requests)
    assert main(["compare", "--prompts-file", str(path), *extra, "-q", "--mode", "live", "--chart", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("auriko-nb compare:") and message in err and "\n" not in err
    assert len(live.stats.requests) == before


def test_a_text_prompts_file_takes_the_panels_expected_answer_rule(tmp_path: Path) -> None:
    """One rule for pasted prompts: blocks split on blank lines, each may end with `==> expected`."""
    from auriko_nb.cli import build_parser, read_prompts
    from auriko_nb.measure.comparison import parse_prompts

    text = "What is 17 * 23? ==> 391\n\nWhat is the capital of France?\r\n  \r\nName a colour."
    f = tmp_path / "prompts.txt"
    f.write_text(text, encoding="utf-8")
    args = build_parser().parse_args(["compare", "--prompts-file", str(f), "-m", "gpt-4o-mini"])
    got = read_prompts(args)
    assert got == [{"prompt": "What is 17 * 23?", "expect": "391"}, "What is the capital of France?",
                   "Name a colour."]
    assert [p["prompt"] for p in parse_prompts(text)] == ["What is 17 * 23?", "What is the capital of France?",
                                                          "Name a colour."]
