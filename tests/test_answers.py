"""`answers`: the answer matrix, prompts × groups, first repeat per cell with ✔/✘, cost and TTFT; escaped HTML
with the full text in <details>, a plain-text table for a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import auriko_nb as ak
from auriko_nb.errors import AnalysisError
from auriko_nb.measure.answers import AnswerMatrix, answers
from auriko_nb.measure.checks import contains
from auriko_nb.measure.comparison import Comparison
from auriko_nb.offline import GatewayHandle, serve


def row(model: str, label: str | None, answer: str, *, repeat: int = 0, passed: bool | None = None,
        **extra: Any) -> dict[str, Any]:
    r = {"model_requested": model, "optimize": "cost", "provider": "openai", "prompt_label": label,
         "prompt_text": f"question {label}", "prompt_id": f"id-{label}", "answer_text": answer, "status": "ok",
         "stream": True, "cost_usd": 0.000012, "ttft_ms_client": 230.0, "latency_ms": 400.0,
         "passed": passed, "cell": f"p0|{model}|cost|r{repeat}"}
    r.update(extra)
    return r


def matrix(rows: list[dict[str, Any]], **kw: Any) -> AnswerMatrix:
    return answers(Comparison(pd.DataFrame(rows)), **kw)


def test_prompts_are_rows_groups_are_columns_first_repeat_wins() -> None:
    rows = [row("big", "q1", "4", passed=True), row("small", "q1", "5", passed=False),
            row("big", "q2", "Paris", passed=True), row("small", "q2", "Lyon", passed=False,
                                                         checks_failed=json.dumps([{"check": "contains",
                                                                                    "reason": "no 'Paris'",
                                                                                    "errored": False}])),
            row("big", "q1", "four (second repeat)", repeat=1, passed=True)]
    rows.insert(0, rows.pop())  # the second repeat comes first in row order: the repeat index decides
    m = matrix(rows)
    assert list(m.frame.index) == ["q1", "q2"] and list(m.frame.columns) == ["big", "small"]
    assert m.frame.loc["q1", "big"] == "4" and m.frame.loc["q2", "small"] == "Lyon"
    assert m.passed().loc["q1"].tolist() == [True, False]
    assert m.cells[("q2", "small")].reasons == "contains: no 'Paris'"
    assert m.frame.columns.name == "model_requested"


def test_each_cell_shows_its_mark_cost_and_ttft() -> None:
    m = matrix([row("big", "q1", "4", passed=True), row("small", "q1", "5", passed=False),
                row("tiny", "q1", "6", stream=False, ttft_ms_client=None)])
    assert m.cells[("q1", "big")].meta() == "✔ · $0.000012 · TTFT 230 ms"
    assert m.cells[("q1", "small")].mark == "✘"
    assert m.cells[("q1", "tiny")].meta() == "$0.000012 · latency 400 ms"  # not checked, not streamed
    page = m._repr_html_()
    assert "✔" in page and "✘" in page and "TTFT 230 ms" in page and "$0.000012" in page
    assert "title='contains" not in page
    text = str(m)
    assert text == repr(m)
    lines = text.splitlines()
    assert len(lines) == 4 and lines[0].split()[:3] == ["prompt", "model_requested", "✔"]
    assert "230" in lines[1] and "0.000012" in lines[1]


def test_html_escapes_answers_and_truncates_with_the_full_text_in_details() -> None:
    evil = "<script>alert('x')</script>"
    long = "word " * 60
    m = matrix([row("<b>m</b>", "q1", evil), row("<b>m</b>", "q2", long)], width=40)
    page = m._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<b>m</b>" not in page and "&lt;b&gt;m&lt;/b&gt;" in page
    assert page.count("<details>") == 1 and long.strip() in page  # the whole answer, expandable
    summary = page.split("<summary>")[1].split("</summary>")[0]
    assert len(summary) == 40 and summary.endswith("…")
    # the terminal table cuts to the width too, on one line
    answer_line = [ln for ln in str(m).splitlines() if "q2" in ln][0]
    assert "word word" in answer_line and "…" in answer_line and long.strip() not in answer_line


def test_labels_fall_back_to_the_prompt_text_then_the_prompt_id() -> None:
    rows = [row("a", None, "x", prompt_text="What is the capital of France, and why is it there?"),
            row("b", None, "y", prompt_text="What is the capital of France, and why is it there?"),
            row("a", None, "z", prompt_text=None, prompt_id="abc123")]
    rows[2]["prompt_id"] = "abc123"
    m = matrix(rows)
    assert list(m.frame.index) == ["What is the capital of France, and why …", "abc123"]
    assert m.frame.iloc[0].tolist() == ["x", "y"]


def test_a_failed_call_shows_its_error_and_missing_cells_are_blank() -> None:
    m = matrix([row("a", "q1", "ok answer"),
                row("b", "q1", None, status="error", error_message="rate limited", answer_text=None,
                    cost_usd=None, ttft_ms_client=None, latency_ms=None),
                row("a", "q2", "only a answered q2")])
    assert m.frame.loc["q1", "b"] == "error: rate limited" and not m.cells[("q1", "b")].ok
    assert pd.isna(m.frame.loc["q2", "b"])
    assert "color:#b00" in m._repr_html_()


def test_groups_are_the_varying_axes_without_the_prompt() -> None:
    rows = [row("m", "q1", "1", optimize="cost", provider="groq"),
            row("m", "q1", "2", optimize="ttft", provider="cerebras")]
    m = answers(pd.DataFrame(rows))  # a plain DataFrame works too
    assert m.axes == ["optimize", "provider"] and list(m.frame.columns) == ["cost / groq", "ttft / cerebras"]
    rows = [row("m", "q1", "1", provider="groq"), row("m", "q1", "2", provider="cerebras")]
    m = answers(pd.DataFrame(rows))
    assert m.axes == ["provider"]
    rows = [row("m", "q1", "1", optimize="cost", provider="groq"), row("m", "q1", "2", optimize="ttft", provider="groq")]
    m = answers(pd.DataFrame(rows))
    assert m.axes == ["optimize"] and "groq" in m.cells[("q1", "cost")].meta(with_provider=True)
    assert "groq" in str(m)  # the provider that served each answer, when it is not a column


def test_bad_input_is_an_analysis_error() -> None:
    with pytest.raises(AnalysisError, match="the comparison is empty"):
        answers(Comparison(pd.DataFrame()))
    with pytest.raises(AnalysisError, match="expected a Comparison"):
        answers("not rows")
    with pytest.raises(AnalysisError, match="width must be"):
        answers(pd.DataFrame([row("a", "q", "x")]), width=0)


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=4, speed=0.02) as g:
        yield g


def test_answers_of_an_offline_comparison(gw: GatewayHandle) -> None:
    client = ak.Client("ak_test_answers", base_url=gw.base_url)
    prompts = [{"prompt": "What is 2 + 2?", "expect": "4", "id": "sum"},
               {"prompt": "Say hi.", "expect": "<no such text>", "id": "hi"}]
    result = ak.compare(prompts, models=["gpt-4o", "gpt-4o-mini"], strategies=["cost-focus"], repeats=2,
                        client=client, ledger=None, progress=False, max_tokens=16, checks=[contains()])
    m = answers(result)
    assert list(m.frame.index) == ["sum", "hi"] and list(m.frame.columns) == ["gpt-4o", "gpt-4o-mini"]
    assert all(cell.ok and cell.text and cell.cost_usd is not None and cell.ttft_ms is not None
               for cell in m.cells.values())
    first = result.rows[result.rows["cell"].str.endswith("|r0")].set_index(["prompt_label", "model_requested"])
    assert m.frame.loc["sum", "gpt-4o"] == first.loc[("sum", "gpt-4o"), "answer_text"]  # the first repeat
    assert m.passed().loc["hi"].tolist() == [False, False]  # nobody says the impossible
    assert "contains" in m.cells[("hi", "gpt-4o")].reasons
    page = m._repr_html_()
    assert "<table" in page and "Say hi." in page and "✘" in page
    assert len(str(m).splitlines()) == 5
