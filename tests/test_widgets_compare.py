"""The comparison panel, driven like a user would (set values, click) against a loopback offline gateway: the
grid runs as a task on the running loop, the table and chart refresh during the run, Cancel leaves one row per
cell, and budget / input errors show in the panel instead of escaping the click."""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from kernel_helpers import kernel  # noqa: E402

import auriko_nb as ak  # noqa: E402
from auriko_nb.measure.ledger import Ledger  # noqa: E402
from auriko_nb.notebook.settings import settings  # noqa: E402
from auriko_nb.notebook.widgets import ComparePanel, compare_panel  # noqa: E402
from auriko_nb.notebook.widgets.compare_panel import split_prompts  # noqa: E402
from auriko_nb.offline import GatewayHandle, serve, task_set  # noqa: E402

KEY = "ak_test_widgets"
PROMPTS = "Say hello.\n\nTell me a short joke\nabout cats.\n   \n\nWhy is the sky blue?"
STRATEGIES5 = ("cost", "ttft", "balanced", "ttft-focus", "tps")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=31, speed=0.02) as g:
        yield g


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "compare.sqlite")
    yield led
    led.close()


@pytest.fixture
def client(gw: GatewayHandle) -> ak.Client:
    return ak.Client(KEY, base_url=gw.base_url)


def make_panel(client: ak.Client, ledger: Ledger, *, models: tuple[str, ...] = ("gpt-4o-mini", "llama-3.3-70b"),
               strategies: tuple[str | None, ...] = STRATEGIES5, prompts: str = PROMPTS, concurrency: int = 2,
               refresh_interval: float = 0.1) -> ComparePanel:
    p = compare_panel(client=client, ledger=ledger, refresh_interval=refresh_interval)
    p.prompts.value = prompts
    p.models.value = models
    for s, box in p.strategy_boxes.items():
        box.value = s in strategies
    p.concurrency.value = concurrency
    return p


def rows(panel: ComparePanel) -> pd.DataFrame:
    """The panel's results, which must exist."""
    assert panel.results is not None
    return panel.results


class Watch:
    """Records each change of a widget value and whether the panel was running at that moment."""

    def __init__(self, panel: ComparePanel, widget: Any) -> None:
        self.panel, self.during, self.after = panel, 0, 0
        widget.observe(self._seen, names="value")

    def _seen(self, change: dict[str, Any]) -> None:
        if self.panel.running:
            self.during += 1
        else:
            self.after += 1


def test_split_prompts_uses_blank_lines() -> None:
    assert split_prompts(PROMPTS) == ["Say hello.", "Tell me a short joke\nabout cats.", "Why is the sky blue?"]
    assert split_prompts(" \n\n \r\n") == []


async def test_a_grid_runs_in_the_background_and_refreshes_while_running(ledger: Ledger) -> None:
    # a slower gateway than the module's: a chart drawn in a worker thread while the loop reads 2 streams takes
    # about a second on a busy 2-core machine, and the grid must outlast at least one drawing
    with serve(seed=31, speed=0.1) as slow:
        await _grid_runs_in_the_background(ak.Client(KEY, base_url=slow.base_url, on_record=None), ledger)


async def _grid_runs_in_the_background(client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger)
    table, chart = Watch(panel, panel.table), Watch(panel, panel.chart)
    answers, advice = Watch(panel, panel.answers_table), Watch(panel, panel.recommendation_line)
    assert panel.cancel_button.disabled and not panel.run_button.disabled
    panel.run_button.click()
    task = panel.task
    assert isinstance(task, asyncio.Task) and not task.done()  # scheduled, not run inside the click
    await asyncio.sleep(0.05)
    assert panel.running and panel.run_button.disabled and not panel.cancel_button.disabled
    await task
    assert not panel.running and panel.cancel_button.disabled and not panel.run_button.disabled
    assert panel.error == ""

    df = rows(panel)
    assert isinstance(df, pd.DataFrame) and isinstance(panel.summary, pd.DataFrame)
    assert len(df) == 3 * 2 * 5 == df["cell"].nunique()
    assert set(df["status"]) == {"ok"}
    assert set(df["optimize"]) == set(STRATEGIES5) and set(df["model_requested"]) == {"gpt-4o-mini", "llama-3.3-70b"}
    assert (df["source"] == "offline").all()
    # refreshed during the run, not only at the end (a redraw identical to the last one fires no change event)
    assert table.during >= 2 and chart.during >= 1, (table.during, chart.during)  # the chart draws off-loop
    assert table.after <= 1 and chart.after <= 1
    # the answers and the recommendation are drawn with the chart, off the loop, during the run too
    assert answers.during >= 1 and advice.during >= 1, (answers.during, advice.during)
    assert "auriko-answers" in panel.answers_table.value and "Recommendation" in panel.recommendation_line.value
    assert panel.table_updates >= table.during + 1 and 2 <= panel.chart_updates <= panel.table_updates + 1
    assert bytes(panel.chart.value).startswith(PNG)
    # progress: final count, errors, spend, offline label
    spent = float(df["cost_usd"].sum())
    assert spent > 0
    assert panel.progress.value == panel.progress.max == 30
    assert "30/30 calls" in panel.status.value and "0 errors" in panel.status.value
    assert f"${spent:.4f}" in panel.status.value
    assert "offline simulation" in panel.status.value and "offline simulation" in panel.header.value
    # the table is the comparison's summary with 95 % intervals: by the axes that vary (two models, five
    # strategies, providers)
    summary = panel.summary
    assert isinstance(panel.comparison, ak.Comparison) and panel.comparison.summary(ci=0.95).equals(summary)
    assert {"ttft_client_p50_lo", "ttft_client_p50_hi", "few_calls"} <= set(summary.columns)
    assert list(summary.columns[:3]) == ["model_requested", "optimize", "provider"] and summary["calls"].sum() == 30
    assert set(summary["model_requested"]) == {"gpt-4o-mini", "llama-3.3-70b"}
    for _, g in summary.iterrows():
        assert all(f"<td>{g[k]}</td>" in panel.table.value for k in ("model_requested", "optimize", "provider"))

    # a second run appends to the same ledger under a new run id
    first_run = panel.run_ids[0]
    assert ledger.to_dataframe(run_id=first_run)["call_id"].nunique() == 30
    panel.models.value = ("gpt-4o",)
    panel.strategy_boxes["tps"].value = False
    panel.run_button.click()
    await panel.wait()
    assert len(panel.run_ids) == 2 and panel.run_ids[1] != first_run
    all_rows = ledger.to_dataframe()
    assert len(all_rows) == 30 + 3 * 4
    assert all_rows.groupby("run_id", observed=True).size().to_dict() == {first_run: 30, panel.run_ids[1]: 12}
    assert len(rows(panel)) == 12 and set(rows(panel)["run_id"]) == {panel.run_ids[1]}


async def test_refreshes_are_throttled(client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, refresh_interval=60)
    table = Watch(panel, panel.table)
    await panel.run_async()
    assert len(rows(panel)) == 30
    # the first row draws at once, then nothing more for 60 s, then once at the end
    assert (table.during, table.after) == (1, 1) and panel.table_updates == 2
    assert 1 <= panel.chart_updates <= 2  # a background drawing older than the final one is dropped


async def test_cancel_mid_run_keeps_finished_rows_and_marks_the_rest_cancelled(
        client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, refresh_interval=0.2)
    panel.repeats.value = 2  # 60 cells
    panel.run_button.click()
    while panel.progress.value < 4:
        await asyncio.sleep(0.002)
    finished = {k: r["call_id"] for k, r in panel.sweep.rows.items() if r["status"] == "ok"}  # type: ignore[union-attr]
    assert not panel.cancel_button.disabled
    panel.cancel_button.click()
    assert panel.cancel_button.disabled and "cancelling" in panel.status.value
    await asyncio.wait_for(panel.wait(), 10)

    df = rows(panel)
    assert len(df) == 60 == df["cell"].nunique()
    assert set(df["status"]) == {"ok", "cancelled"}
    counts = df["status"].value_counts()
    assert counts["ok"] >= len(finished) >= 4 and counts["cancelled"] >= 30
    kept = df.set_index("cell")
    for cell, call_id in finished.items():
        assert kept.loc[cell, "status"] == "ok" and kept.loc[cell, "call_id"] == call_id
    assert panel.progress.value == 60 and panel.status.value.startswith("cancelled")
    assert f"{counts['cancelled']} cancelled" in panel.status.value
    assert panel.error == "" and not panel.running and not panel.run_button.disabled
    on_disk = ledger.to_dataframe(run_id=panel.run_ids[-1])
    assert len(on_disk) == 60 and on_disk["status"].value_counts().to_dict() == counts.to_dict()
    # what was collected is shown in full: the table, the recommendation and the answers of the finished calls
    assert panel.summary is not None and panel.summary["ok"].sum() == counts["ok"]
    assert panel.recommendation is not None and "Recommendation" in panel.recommendation_line.value
    assert "auriko-answers" in panel.answers_table.value and "cancelled" in panel.answers_table.value


async def test_a_budget_too_small_shows_the_error_and_keeps_previous_results(
        client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, models=("gpt-4o-mini",), strategies=("cost",), prompts="hi")
    await panel.run_async()
    before, table, chart, status = panel.results, panel.table.value, panel.chart.value, panel.status.value
    assert before is not None and len(before) == 1
    panel.prompts.value = PROMPTS
    panel.models.value = ("gpt-4o", "claude-sonnet-4-6")
    panel.budget.value = 1e-7
    panel.run_button.click()
    await panel.wait()  # no exception escapes
    assert "exceeds budget" in panel.error and "\n" not in panel.error and "Traceback" not in panel.error
    assert "color:#b00020" in panel.error_label.value and "exceeds budget" in panel.error_label.value
    assert panel.results is before and panel.table.value == table and panel.chart.value == chart
    assert panel.status.value == status and panel.progress.value == panel.progress.max == 1
    assert len(ledger) == 1 and not panel.running and not panel.run_button.disabled
    # a budget large enough runs; the error goes away
    panel.budget.value = 5.0
    panel.models.value = ("gpt-4o-mini",)
    await panel.run_async()
    assert panel.error == "" and len(rows(panel)) == 3


def widget_texts(widget: Any) -> list[str]:
    """Every string a widget tree shows: values, descriptions, placeholders and tooltips, children included."""
    texts = [v for name in ("value", "description", "placeholder", "tooltip")
             if isinstance(v := getattr(widget, name, None), str)]
    for child in getattr(widget, "children", ()):
        texts.extend(widget_texts(child))
    return texts


async def test_a_budget_reached_mid_run_stops_the_grid_and_cancels_the_rest(
        client: ak.Client, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    """Notebook 04's capped sweep in the panel: 12 prompts on gpt-4o, concurrency 1, budget $0.004.

    The panel has no box for `expected_output_tokens`, so the sweep it builds gets notebook 04's value (1) here:
    the estimate (prompt tokens plus one output token a call) passes the budget, the real answers cost far more,
    and spend reaches the budget part-way through the grid.
    """
    budget = 0.004
    panel = make_panel(client, ledger, models=("gpt-4o",), strategies=("cost",), concurrency=1,
                       prompts="\n\n".join(f"Question {i}" for i in range(12)))
    panel.budget.value = budget
    build = panel.build_sweep

    def build_with_one_expected_output_token() -> ak.Sweep:
        sweep = build()
        sweep.output_tokens = 1
        return sweep

    monkeypatch.setattr(panel, "build_sweep", build_with_one_expected_output_token)
    panel.run_button.click()
    await asyncio.wait_for(panel.wait(), 30)

    sweep = panel.sweep
    assert sweep is not None and sweep.stop_reason == "budget"
    assert sweep.estimate_usd is not None and sweep.estimate_usd < budget  # the estimate let the run start
    df = rows(panel)
    # every grid cell ends as exactly one row
    assert len(df) == 12 == df["cell"].nunique() and set(df["cell"]) == {c.key for c in sweep.cells}
    assert set(df["status"]) == {"ok", "cancelled"}
    ok, cancelled = df[df["status"] == "ok"], df[df["status"] == "cancelled"]
    assert len(ok) >= 2 and len(cancelled) >= 2
    # with one call at a time the grid ran in order up to the budget, and nothing after it was called
    assert list(df["status"]) == ["ok"] * len(ok) + ["cancelled"] * len(cancelled)
    assert set(cancelled["error_code"]) == {"budget"}
    assert cancelled["error_message"].str.contains("budget_usd").all() and cancelled["cost_usd"].fillna(0).eq(0).all()
    spent = float(ok["cost_usd"].sum())
    assert spent == pytest.approx(sweep.spent_usd) and spent > sweep.estimate_usd
    assert spent + float(ok["cost_usd"].mean()) > budget  # the next call would have passed the budget
    # the panel says why it stopped, counts the cancelled cells and shows no error
    assert panel.status.value.startswith("stopped at the budget: "), panel.status.value
    assert "12/12 calls" in panel.status.value and "0 errors" in panel.status.value
    assert f"{len(cancelled)} cancelled" in panel.status.value and f"${spent:.4f}" in panel.status.value
    assert panel.progress.value == panel.progress.max == 12 and panel.progress.bar_style == "warning"
    assert panel.error == "" and panel.error_label.value == ""
    assert not panel.running and not panel.run_button.disabled and panel.cancel_button.disabled
    summary = panel.summary
    assert summary is not None and summary["calls"].sum() == 12
    assert (summary["ok"].sum(), summary["cancelled"].sum()) == (len(ok), len(cancelled))
    assert bytes(panel.chart.value).startswith(PNG)
    # no traceback anywhere: not in the widgets, not printed, not logged by the event loop
    shown = "\n".join(widget_texts(panel.widget))
    assert "stopped at the budget" in shown and "Traceback" not in shown
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    on_disk = ledger.to_dataframe(run_id=panel.run_ids[-1])
    assert len(on_disk) == 12 and on_disk["status"].value_counts().to_dict() == {"ok": len(ok),
                                                                                  "cancelled": len(cancelled)}


@pytest.mark.parametrize("change, message", [
    (lambda p: setattr(p.prompts, "value", "  \n\n  "), "prompts: write at least one prompt"),
    (lambda p: setattr(p.models, "value", ()), "models: select at least one model"),
    (lambda p: setattr(p.repeats, "value", 0), "repeats must be >= 1"),
    (lambda p: setattr(p.concurrency, "value", 0), "concurrency must be >= 1"),
    (lambda p: setattr(p.budget, "value", -1.0), "budget must be >= 0"),
    (lambda p: [b.set_trait("value", False) for b in p.strategy_boxes.values()], "strategies: check at least one"),
])
async def test_invalid_inputs_show_an_inline_error(client: ak.Client, ledger: Ledger, change: Any,
                                                   message: str) -> None:
    panel = make_panel(client, ledger)
    change(panel)
    panel.run_button.click()
    await panel.wait()
    assert panel.error.startswith(message) and html.escape(message) in panel.error_label.value
    assert panel.results is None and len(ledger) == 0 and not panel.running
    assert panel.cancel_button.disabled and not panel.run_button.disabled


async def test_an_unknown_model_gives_error_rows_in_the_panel(client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, strategies=("cost",), prompts="hi")
    panel.models.options = (*panel.models.options, "no-such-model")
    panel.models.value = ("gpt-4o-mini", "no-such-model")
    await panel.run_async()
    df = rows(panel)
    assert df is not None and len(df) == 2
    bad = df[df["model_requested"] == "no-such-model"].iloc[0]
    assert bad["status"] == "error" and bad["http_status"] == 404
    assert "1 errors" in panel.status.value and panel.progress.bar_style == "danger"
    assert panel.error == ""


async def test_no_preference_runs_with_the_session_routing(client: ak.Client, ledger: Ledger,
                                                           gw: GatewayHandle) -> None:
    settings.routing = {"optimize": "cost", "max_ttft_ms": 5000}
    panel = make_panel(client, ledger, models=("gpt-4o-mini",), strategies=(None, "ttft"), prompts="hi")
    panel.stream.value = False
    await panel.run_async()
    df = rows(panel)
    assert df is not None and len(df) == 2 and set(df["status"]) == {"ok"}
    assert not df["stream"].any()
    sent = [r["body"]["gateway"]["routing"] for r in gw.stats.requests[-2:]]
    assert sorted(sent, key=lambda r: len(r)) == [{"max_ttft_ms": 5000}, {"optimize": "ttft", "max_ttft_ms": 5000}]


async def test_export_writes_the_results_as_csv(client: ak.Client, ledger: Ledger, tmp_path: Path) -> None:
    panel = make_panel(client, ledger, strategies=("cost", "ttft"), prompts="hi")
    assert panel.export_path.value == "auriko-compare.csv"
    panel.export_button.click()
    assert "nothing to export" in panel.error
    await panel.run_async()
    target = tmp_path / "out.csv"
    panel.export_path.value = str(target)
    panel.export_button.click()
    assert panel.error == "" and str(target) in panel.export_note.value
    back = pd.read_csv(target)
    assert len(back) == len(rows(panel)) == 4
    assert set(back["call_id"]) == set(rows(panel)["call_id"])
    assert list(back.columns) == list(rows(panel).columns)


def test_clicking_without_a_running_loop_runs_to_the_end(client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, strategies=("cost",), prompts="hi")
    panel.run_button.click()
    assert panel.task is None and panel.results is not None and len(rows(panel)) == 2
    assert panel.error == "" and not panel.running


def test_the_panel_displays_itself_and_labels_live_clients(ledger: Ledger) -> None:
    live = ak.Client(KEY, base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    panel = compare_panel(client=live, ledger=ledger)
    assert "live API" in panel.header.value and "offline simulation" not in panel.header.value
    assert panel.models.options == () and "could not list models" in panel.models_note.value
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    offline = compare_panel(client=ak.connect(mode="offline", seed=31, speed=0.02), ledger=ledger)
    assert "offline simulation" in offline.header.value and "gpt-4o-mini" in offline.models.value


@pytest.mark.skipif(os.environ.get("AURIKO_NB_SKIP_KERNEL") == "1", reason="kernel test disabled")
def test_in_a_real_kernel_a_comm_click_runs_on_the_kernel_loop(tmp_path: Path) -> None:
    """The browser's click (a comm message) schedules the run on the kernel's loop; the kernel stays responsive."""
    with kernel() as (run, comm):
        setup = (
            "import auriko_nb as ak\n"
            "from auriko_nb.offline import serve\n"
            "from auriko_nb.notebook.widgets import compare_panel\n"
            "gw = serve(seed=31, speed=0.02)\n"
            f"panel = compare_panel(client=ak.Client({KEY!r}, base_url=gw.base_url), "
            f"ledger={str(tmp_path / 'kernel.sqlite')!r}, refresh_interval=0.1)\n"
            "panel.prompts.value = 'a\\n\\nb'\n"
            "panel.models.value = ('gpt-4o-mini', 'llama-3.3-70b')\n"
            "panel.concurrency.value = 2\n"
            "panel.repeats.value = 4\n"
            "print(panel.run_button.model_id)\n"
        )
        model_id = run(setup).strip()
        comm(model_id, {"method": "custom", "content": {"event": "click"}})
        # the next cell runs while the sweep is still going: the click did not block the kernel
        assert run("print(panel.task is not None, panel.running, panel.task.done())").strip() == "True True False"
        done = run("await panel.task\nprint(len(panel.results), set(panel.results.status), panel.error == '', "
                   "'offline simulation' in panel.header.value)")
        assert done.strip() == "32 {'ok'} True True"


async def test_cancelling_the_task_itself_keeps_a_consistent_result(client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, refresh_interval=0.2)
    panel.run_button.click()
    while panel.progress.value < 3:
        await asyncio.sleep(0.002)
    assert panel.task is not None
    panel.task.cancel()  # e.g. the kernel tearing the task down
    with pytest.raises(asyncio.CancelledError):
        await panel.task
    df = rows(panel)
    assert len(df) == 30 == df["cell"].nunique() and set(df["status"]) == {"ok", "cancelled"}
    assert panel.status.value.startswith("interrupted") and not panel.running and not panel.run_button.disabled


async def test_without_a_client_the_panel_uses_connect_and_the_session_ledger(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    monkeypatch.setenv("AURIKO_NB_OFFLINE_SPEED", "0.02")
    panel = compare_panel()
    assert panel.client.source == "offline" and "offline simulation" in panel.header.value
    assert panel.models.value == ("gpt-4o-mini",)  # the session's default model is preselected
    panel.prompts.value = "hi"
    await panel.run_async()
    assert len(rows(panel)) == 2 and panel.error == ""
    session = ak.session_ledger()
    assert session is not None and len(session.to_dataframe(run_id=panel.run_ids[0])) == 2


# -- checks, intervals, the recommendation and the answers (issue 14) --------------------------------------------

TASK_KINDS = ("arithmetic", "capital", "json_extract", "weekday")  # kinds whose expect `contains` can judge
WRONG = "What is the capital of Switzerland? ==> Zurich"  # no answer meets it: a certain ✘
WRONG_PROMPT = "What is the capital of Switzerland?"


def task_prompts() -> tuple[list[dict[str, Any]], str]:
    """Two tasks of each kind from the built-in task set, and the panel text: `prompt ==> expect` blocks."""
    tasks = [t for kind in TASK_KINDS for t in [t for t in task_set() if t["kind"] == kind][:2]]
    return tasks, "\n\n".join(f"{t['prompt']} ==> {t['expect']}" for t in tasks)


async def test_checks_give_pass_rates_intervals_a_recommendation_and_answers(client: ak.Client, ledger: Ledger,
                                                                          gw: GatewayHandle) -> None:
    tasks, text = task_prompts()
    panel = make_panel(client, ledger, models=("llama-3.3-70b",), strategies=("cost", "ttft"),
                       prompts=f"{text}\n\n{WRONG}")
    panel.checks.value = "contains"
    panel.repeats.value = 2
    sent_before = len(gw.stats.requests)
    await panel.run_async()
    assert panel.error == "", panel.error
    df = rows(panel)
    n_prompts = len(tasks) + 1
    assert len(df) == n_prompts * 2 * 2 and set(df["status"]) == {"ok"}
    sent = [r["body"]["messages"][-1]["content"] for r in gw.stats.requests[sent_before:]
            if r.get("path") == "/v1/chat/completions"]
    assert len(sent) == len(df)
    # the prompts were sent without their expectations, and every answer was checked against its own
    assert set(sent) == {t["prompt"] for t in tasks} | {WRONG_PROMPT}
    assert set(df["prompt_text"]) == {t["prompt"] for t in tasks} | {WRONG_PROMPT}
    assert df["passed"].notna().all()
    wrong = df[df["prompt_text"] == WRONG_PROMPT]
    assert not wrong["passed"].any()
    assert wrong["checks_failed"].str.contains("contains").all()
    right = df[df["prompt_text"] != WRONG_PROMPT]
    assert right["passed"].mean() >= 0.5  # the simulated providers answer these right most of the time

    # the table: intervals and the pass rate of each group
    summary = panel.summary
    assert summary is not None and summary["checked"].sum() == len(df)
    for _, g in summary.iterrows():
        assert g["pass_rate"] == pytest.approx(df[df["provider"] == g["provider"]].query(
            f"optimize == {g['optimize']!r}")["passed"].mean())
        assert 0 <= g["pass_rate_lo"] <= g["pass_rate"] <= g["pass_rate_hi"] <= 1
    table = panel.table.value
    # the display form (issue 15, point 4): headers with units; the raw columns stay in `panel.summary`
    assert "<th>pass rate</th>" in table and "<th>TTFT p50 (ms)</th>" in table
    assert "cost_per_pass_usd" in summary.columns
    assert re.search(r"<td>[\d,]+ (ms )?\[[\d,]+–[\d,]+\]</td>", table), table  # e.g. "812 [640–990]"
    assert re.search(r"<td>\d+% \[\d+–\d+%\]</td>", table), table  # e.g. "80% [49–94%]"
    assert "few calls" not in table  # 18 calls a group: enough for intervals

    # the recommendation line: with no SLO, the cheapest group, with a note on how to set one
    rec = panel.recommendation
    assert rec is not None and rec.choice is not None
    line = panel.recommendation_line.value
    assert "Recommendation" in line and "cheapest" in line and rec.choice["provider"] in line
    assert "Set an SLO" in line and "\n" not in line
    # an SLO in the boxes redoes it at once, without a run
    panel.min_pass_rate.value = 50
    panel.max_ttft_p95.value = 5000
    line = panel.recommendation_line.value
    assert "pass rate ≥ 50%" in line and "TTFT p95 ≤ 5,000 ms" in line, line
    assert panel.recommendation is not None and panel.recommendation.constraints == {
        "max_ttft_p95_ms": 5000.0, "min_pass_rate": 0.5}
    panel.min_pass_rate.value = 0
    panel.max_ttft_p95.value = 0
    assert "cheapest" in panel.recommendation_line.value

    # the Answers tab: every prompt, a ✔ or ✘ in every cell, Zurich always ✘
    assert panel.tabs.titles == ("Summary", "Answers")
    assert panel.tabs.children[1].children[0] is panel.answers_table
    shown = panel.answers_table.value
    assert "auriko-answers" in shown
    for t in tasks:
        assert html.escape(t["prompt"]) in shown or html.escape(t["prompt"][:100]) in shown
    groups = df.groupby(["optimize", "provider"], observed=True).ngroups
    assert shown.count("✔</b>") + shown.count("✘</b>") == n_prompts * groups
    assert shown.count("✘</b>") >= groups  # at least the Zurich row
    matrix = answers_of(panel)
    assert matrix.passed().loc["p9"].eq(False).all()  # the 9th prompt is the Zurich one: p9 by position


def answers_of(panel: ComparePanel) -> Any:
    from auriko_nb.measure.answers import answers

    assert panel.comparison is not None
    return answers(panel.comparison)


def test_the_expected_box_applies_to_prompts_without_their_own(client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, prompts="What is 17 * 23?\n\nWhat is the capital of France? ==> Paris")
    panel.expected.value = " 391 "
    assert panel.prompt_list() == ["What is 17 * 23?", "What is the capital of France?"]
    sweep = panel.build_sweep()
    assert [s.expect for s in sweep.specs] == ["391", "Paris"]
    assert [c.name for c in sweep.checks] == ["contains"]  # no check written: contains
    panel.checks.value = "number\n\n  json_valid  "
    assert [c.name for c in panel.build_sweep().checks] == ["number", "json_valid"]
    # without any expected answer and without checks, a plain sweep as before
    panel.expected.value = ""
    panel.prompts.value = "hi\n\nthere"
    panel.checks.value = ""
    sweep = panel.build_sweep()
    assert sweep.checks == () and [s.expect for s in sweep.specs] == [None, None]


@pytest.mark.parametrize("prompts, expected, checks, message", [
    ("What is 2 + 2? ==> 4", "", "nope", "check 'nope': unknown check 'nope'; known: contains"),
    ("What is 2 + 2? ==> 4", "", "regex=(", "regex"),
    ("What is 2 + 2? ==> 4", "", "json_schema={", "check 'json_schema={': the schema is not JSON"),
    ("What is 2 + 2? ==> 4", "", "contains\njson_schema={\"type\": 12}",
     "checks line 2: json_schema: not a valid JSON Schema"),
    ("What is 2 + 2?\n\nhi ==> hello", "", "", "checks: contains needs an expected answer and prompt 1 has none"),
    ("What is 2 + 2?", "", "number", "checks: number needs an expected answer and prompt 1 has none"),
    ("What is 2 + 2? ==>", "", "", "prompts: prompt 1: nothing after ==>"),
    ("hi\n\n==> 4", "", "", "prompts: prompt 2: nothing before ==>"),
])
async def test_a_bad_check_or_expectation_shows_one_line_and_sends_nothing(
        client: ak.Client, ledger: Ledger, gw: GatewayHandle, prompts: str, expected: str, checks: str,
        message: str) -> None:
    panel = make_panel(client, ledger, prompts=prompts)
    panel.expected.value, panel.checks.value = expected, checks
    sent = len(gw.stats.requests)
    panel.run_button.click()
    await panel.wait()
    assert panel.error.startswith(message), panel.error
    assert "\n" not in panel.error and "Traceback" not in panel.error
    assert "color:#b00020" in panel.error_label.value and html.escape(message) in panel.error_label.value
    assert len(gw.stats.requests) == sent and len(ledger) == 0 and panel.sweep is None
    assert panel.results is None and not panel.running and not panel.run_button.disabled
    assert panel.answers_table.value == "<i>no answers yet</i>" and panel.recommendation_line.value == ""


async def test_without_checks_a_pass_rate_slo_says_why_there_is_no_recommendation(
        client: ak.Client, ledger: Ledger) -> None:
    panel = make_panel(client, ledger, models=("gpt-4o-mini",), strategies=("cost", "ttft"), prompts="hi")
    await panel.run_async()
    assert "<th>pass rate</th>" not in panel.table.value  # nothing was checked: no pass-rate column
    assert "cheapest" in panel.recommendation_line.value
    assert "auriko-answers" in panel.answers_table.value and "✔" not in panel.answers_table.value
    panel.min_pass_rate.value = 90
    assert panel.recommendation is None
    assert panel.recommendation_line.value.startswith('<span style="color:#a15c00">No recommendation: ')
    assert "no call was checked" in panel.recommendation_line.value
    assert panel.error == ""  # a recommendation that cannot be made is not an input error


# -- what a person sees (issue 15: points 5-9) --------------------------------------------------------------------

def test_the_summary_table_scrolls_inside_its_own_box(client: ak.Client, ledger: Ledger) -> None:
    """Point 5: a table wider than the panel scrolls in its own box instead of widening the panel's tab."""
    panel = make_panel(client, ledger, strategies=("cost",), prompts="hi")
    panel.run_button.click()
    box = re.search(r'<div class="auriko-scroll-box auriko-panel-table" style="([^"]*)">\s*<table', panel.table.value)
    assert box is not None, panel.table.value[:300]
    assert "overflow-x:auto" in box.group(1) and "max-width:100%" in box.group(1)
    assert panel.table.value.rstrip().endswith("</table></div>")  # the whole table is inside the box
    # the HTML widget's content may shrink below the table's width, so the box (not the tab) scrolls
    assert ".jupyter-widget-html-content:has(> .auriko-scroll-box) { min-width: 0; }" in panel.table.value
    summary_tab = panel.tabs.children[0]
    for widget in (panel.table, summary_tab, panel.tabs, panel.answers_table):
        assert widget.layout.max_width == "100%" and widget.layout.width == "100%"
    assert 'class="auriko-scroll-box" style="overflow-x:auto;max-width:100%"' in panel.answers_table.value
    assert "auriko-answers" in panel.answers_table.value


def test_the_chart_is_hidden_until_drawn_and_shown_at_its_own_size(client: ak.Client, ledger: Ledger) -> None:
    """Points 6 and 7: no broken-image icon on the empty panel; the PNG is drawn at twice the CSS size it is shown
    at (sharp, never stretched), with a height that fits under the table."""
    from auriko_nb.notebook.widgets._chart import CHART_DENSITY, png_size

    panel = make_panel(client, ledger, strategies=("cost", "ttft"), prompts="hi")
    assert panel.chart.value == b"" and panel.chart.layout.display == "none"
    panel.budget.value = 1e-9  # a run that cannot start draws nothing: still hidden
    panel.run_button.click()
    assert "exceeds budget" in panel.error and panel.chart.layout.display == "none"
    panel.budget.value = 0
    panel.run_button.click()
    png = bytes(panel.chart.value)
    assert png.startswith(PNG) and panel.chart.layout.display == ""
    width, height = png_size(png)
    css_width, css_height = int(panel.chart.width), int(panel.chart.height)
    assert CHART_DENSITY == 2 and (width, height) == (2 * css_width, 2 * css_height)
    assert 600 <= css_width <= 800 and 300 <= css_height <= 420
    assert panel.chart.layout.max_width == "100%" and panel.chart.layout.height == "auto"  # narrower: scaled down


def strategy_help_of(panel: ComparePanel, strategy: str | None) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", panel.strategy_help[strategy].value))


def test_the_inputs_explain_themselves(client: ak.Client, ledger: Ledger) -> None:
    """Point 8: how to pick several models, what each strategy does, and that a budget of 0 is no limit."""
    panel = make_panel(client, ledger)
    shown = "\n".join(widget_texts(panel.widget))
    assert "Ctrl/⌘-click to pick several" in shown
    assert len(panel.models.options) == 10 and panel.models.rows == 10  # every model visible, no hidden ones
    texts = {s: strategy_help_of(panel, s) for s in panel.strategy_boxes}
    assert texts["cost"] == "favours a low price, still weighs the others"
    assert texts["cost-focus"] == "almost only the price (the gateway's default)"
    assert texts["balanced"] == "weighs price, first token and throughput equally"
    assert "gateway's default (cost-focus)" in texts[None]
    assert len(set(texts.values())) == len(texts) == 8  # one distinct line each
    for s, box in panel.strategy_boxes.items():
        assert box.tooltip == texts[s]
    assert panel.budget.value == 0 and "no limit" in panel.budget_note.value
    panel.budget.value = 0.5
    assert "no limit" not in panel.budget_note.value and "$0.5" in panel.budget_note.value
    panel.budget.value = 0
    assert "no limit" in panel.budget_note.value


async def test_the_estimate_line_before_a_run_and_the_time_left_during_it(client: ak.Client, ledger: Ledger) -> None:
    """Point 8: "N calls, about $X" before Run (the directory prices the sweep plans with); while it runs, the
    time left from the rate so far; a note of an earlier run is cleared when the next run starts."""
    from auriko_nb.notebook.widgets._estimate import money

    panel = make_panel(client, ledger)  # 3 prompts × 2 models × 5 strategies
    line = html.unescape(panel.estimate.value)
    m = re.search(r">30 calls, about (\$[\d.]+)<", line)
    assert m is not None, line
    panel.repeats.value = 2
    assert ">60 calls, about $" in panel.estimate.value
    panel.repeats.value = 1
    seen: list[str] = []
    panel.estimate.observe(lambda change: seen.append(change["new"]), names="value")
    await panel.run_async()
    sweep = panel.sweep
    assert sweep is not None and sweep.estimate_usd is not None
    assert m.group(1) == money(sweep.estimate_usd)  # the sweep's own estimate, as shown before the run
    left = [s for s in seen if " s left" in s]
    assert left and all(s.startswith('<span style="color:#666">30 calls, about $') for s in left), seen
    assert re.search(r" · about \d+ s left<", left[0])
    assert ">30 calls, about $" in panel.estimate.value and "left" not in panel.estimate.value  # after: the plan
    # a note of an earlier run goes when the next run starts
    assert panel.export(Path(ledger.path).with_suffix(".csv")) is not None and "wrote 30 rows" in panel.export_note.value
    panel.models.value = ("gpt-4o-mini",)
    panel.strategy_boxes["ttft"].value = False
    await panel.run_async()
    assert panel.export_note.value == "" and len(rows(panel)) == 12
    # nothing to run: no estimate; a model without a directory price is named
    panel.prompts.value = ""
    assert panel.estimate.value == ""
    panel.prompts.value = "hi"
    panel.models.options = (*panel.models.options, "no-such-model")
    panel.models.value = ("gpt-4o-mini", "no-such-model")
    assert re.search(r">8 calls, about \$[\d.]+ \(no price for no-such-model\)<", panel.estimate.value)
