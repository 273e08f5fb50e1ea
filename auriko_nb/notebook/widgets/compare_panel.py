"""The provider-comparison panel: inputs for a `Sweep` (prompts with expected answers, checks), Run / Cancel /
Export, live progress, and two tabs: Summary (the table with intervals and pass rates, an SLO, the recommendation
line, the chart) and Answers (the answer matrix).

A run is `Sweep(..., on_row=...)` awaited as a task on the running event loop (in a kernel, the loop that runs
cells and widget callbacks), so the notebook stays responsive. Rows update the progress at once; the summary table
is redrawn at most every `refresh_interval` seconds and once at the end, and the chart, recommendation and answers
with it, computed in a worker thread while the run goes on. Nothing here computes anything a plain `ak.Sweep` /
`ak.summarize(ci=)` / `ak.recommend` / `ak.answers` / `ak.plots.cost_vs_ttft` call could not.

Before Run an estimate line says how many calls the inputs make and about what they cost (the directory prices the
sweep plans with); during a run it adds the time left. The table scrolls sideways in its own box; the chart is hidden
until there is one and is drawn at twice the CSS size it is shown at.

Expected answers: a prompt block may end with `==> expected`; the "expected" box gives the expected answer of every
prompt without its own. Checks are written one per line (`checks.from_spec`: `contains`, `number=42~0.5`,
`regex=PATTERN`, `json_valid`, ...); with expected answers and no check written, the check is `contains`.
"""

from __future__ import annotations

import asyncio
import html
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ...client.clients import AsyncClient
from ...errors import AurikoError
from ...measure.checks import Check, from_spec
from ...measure.comparison import Comparison, split_prompts  # noqa: F401 - the prompt rule, re-exported
from ...measure.sweep import DEFAULT_LEDGER, BudgetError, Row, Sweep
from ...types.request import STRATEGIES
from ._chart import (
    CHART_DENSITY,
    CI,
    NO_ANSWERS,
    Views,
    png_size,
    recommendation_html,
    render_views,
    summary_of,
    table_html,
)
from ._common import (
    ERROR_STYLE,
    NOTE_STYLE,
    OFFLINE_LABEL,
    STRATEGY_HELP,
    WIDE,
    DisplayMixin,
    choices_from,
    close_tree,
    default_client,
    is_offline,
    message_html,
    one_line,
)
from ._estimate import RunClock, estimate_text, sweep_cost
from ._inputs import ARROW, DEFAULT_CHECK, needs_expect, parse_checks, parse_prompts

if TYPE_CHECKING:
    import pandas as pd

    from ...measure.recommend import Recommendation

DEFAULT_EXPORT = "auriko-compare.csv"
_UNREAD = object()  # the directory has not been read yet
DEFAULT_STRATEGIES = ("cost", "ttft")
NO_PREFERENCE = "no preference"
PROMPTS_PLACEHOLDER = (f"one prompt per block, blocks separated by a blank line; to check the answer, end the block "
                       f"with {ARROW} and the expected answer, e.g.\nWhat is 17 * 23? {ARROW} 391")
EXPECTED_PLACEHOLDER = f"expected answer of every prompt without its own {ARROW}"
CHECKS_PLACEHOLDER = (f"checks, one per line (none: {DEFAULT_CHECK} when an expected answer is given), e.g.\n"
                      "contains · equals · number=42~0.5 · regex=PATTERN · json_valid · json_schema={...}")
MODELS_HINT = "Ctrl/⌘-click to pick several"
MAX_MODEL_ROWS = 12  # more models than this: the list scrolls
NO_PREFERENCE_HELP = "sends no strategy: the session routing, else the gateway's default (cost-focus)"
NO_LIMIT = "no limit"


def _model_ids(client: Any) -> tuple[list[str], str]:
    """Model ids from `/v1/models` and a note ("" when it worked), never raising."""
    if isinstance(client, AsyncClient):
        return [], "pass a sync ak.Client (or none) to list models"
    return choices_from(client, lambda c: c.models().ids, "no client: no models to choose from",
                        "could not list models ({error})")


class ComparePanel(DisplayMixin):
    """Run prompts × models × strategies × repeats from widgets; `panel.widget` is the VBox shown in a notebook.

    After a run, `comparison` is its `ak.Comparison`; `results` (one row per call) and `summary` (grouped by the
    axes that vary: model, strategy, provider, with 95 % intervals) are DataFrames, and `recommendation` is the
    `ak.Recommendation` under the SLO boxes (None when it could not be made). Cancel calls
    `sweep.cancel(now=True)`: nothing new is scheduled, calls in flight are cancelled, every finished row is kept
    and each cell without a result gets a `cancelled` row.
    """

    def __init__(self, client: Any = None, ledger: Any = DEFAULT_LEDGER, *, refresh_interval: float = 0.5) -> None:
        self.client = client = default_client(client)
        if isinstance(ledger, (str, os.PathLike)):
            from ...measure.ledger import Ledger

            ledger = Ledger(ledger)
        self.ledger = ledger
        self.refresh_interval = refresh_interval
        self.results: pd.DataFrame | None = None
        self.summary: pd.DataFrame | None = None
        self.comparison: Comparison | None = None
        self.recommendation: Recommendation | None = None
        self.sweep: Sweep | None = None
        self.task: asyncio.Task[Any] | None = None
        self.run_ids: list[str] = []
        self.table_updates = 0
        self.chart_updates = 0
        self.running = False
        self.error = ""
        self.offline = client is not None and is_offline(client)
        self._last_refresh = 0.0
        self._chart_seq = self._chart_shown = 0
        self._chart_job: asyncio.Future[Views] | None = None
        self._chart_dirty = False
        self._clock: RunClock | None = None
        self._planned = ""
        self._directory: Any = _UNREAD
        import matplotlib.backends.backend_agg  # noqa: F401 - imported now, not in the middle of a run

        from ...measure import plots  # noqa: F401

        self._build_inputs(*_model_ids(client))
        self._build_outputs()
        self.widget = self._layout()
        self._refresh_header()
        self._set_status("ready")
        self._show_estimate()

    def _build_inputs(self, ids: list[str], note: str) -> None:
        """The prompt, expected-answer and checks boxes, models (the session's model first chosen), strategies,
        numbers, buttons, and the SLO boxes of the recommendation."""
        from ..settings import settings

        default_model = settings.model if settings.model in ids else (ids[0] if ids else None)
        self.prompts = w.Textarea(placeholder=PROMPTS_PLACEHOLDER, layout=w.Layout(width="100%", height="7em"))
        self.expected = w.Text(placeholder=EXPECTED_PLACEHOLDER, description="expected",
                               layout=w.Layout(width="40%"))
        self.checks = w.Textarea(placeholder=CHECKS_PLACEHOLDER, description="checks",
                                 layout=w.Layout(width="60%", height="3.6em"))
        self.models = w.SelectMultiple(options=ids, value=(default_model,) if default_model else (),
                                       description="models", rows=min(max(len(ids), 3), MAX_MODEL_ROWS),
                                       tooltip=MODELS_HINT)
        self.models_hint = w.HTML(message_html(MODELS_HINT, NOTE_STYLE) if ids else "")
        self.models_note = w.HTML(message_html(note, NOTE_STYLE))
        self.strategy_boxes: dict[str | None, Any] = {
            s: w.Checkbox(value=s in DEFAULT_STRATEGIES, description=s, indent=False, tooltip=STRATEGY_HELP[s],
                          layout=w.Layout(width="8em")) for s in STRATEGIES}
        self.strategy_boxes[None] = w.Checkbox(value=False, description=NO_PREFERENCE, indent=False,
                                               tooltip=NO_PREFERENCE_HELP, layout=w.Layout(width="8em"))
        self.strategy_help = {s: w.HTML(message_html(STRATEGY_HELP.get(s or "", NO_PREFERENCE_HELP), NOTE_STYLE))
                              for s in self.strategy_boxes}
        self.repeats = w.IntText(value=1, description="repeats")
        self.concurrency = w.IntText(value=4, description="concurrency")
        self.budget = w.FloatText(value=0.0, step=0.01, description="budget $", tooltip=f"0 = {NO_LIMIT}")
        self.budget_note = w.HTML()
        self.estimate = w.HTML()
        self.stream = w.Checkbox(value=settings.stream, description="stream", indent=False)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.export_path = w.Text(value=DEFAULT_EXPORT, description="CSV path")
        self.export_button = w.Button(description="Export CSV", icon="download")
        self.run_button.on_click(self._on_run_click)
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.export_button.on_click(lambda _b: self.export())
        self.max_ttft_p95 = w.BoundedFloatText(value=0.0, min=0.0, max=1e7, step=50, description="max TTFT p95 ms",
                                               tooltip="0 = no limit", style=WIDE)
        self.min_pass_rate = w.BoundedFloatText(value=0.0, min=0.0, max=100.0, step=5, description="min pass rate %",
                                                tooltip="0 = no minimum (needs checks)", style=WIDE)
        for box in (self.max_ttft_p95, self.min_pass_rate):
            box.observe(lambda _change: self._slo_changed(), names="value")
        self.budget.observe(lambda _change: self._show_budget(), names="value")
        self._show_budget()
        for widget in (self.prompts, self.models, self.repeats, *self.strategy_boxes.values()):
            widget.observe(lambda _change: self._show_estimate(), names="value")

    def _build_outputs(self) -> None:
        """The header, progress, status and error lines; the Summary tab (table, SLO boxes, recommendation line,
        chart) and the Answers tab (the answer matrix)."""
        self.header = w.HTML()
        self.export_note = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=1, description="calls")
        self.status = w.HTML()
        self.error_label = w.HTML()
        fit = {"width": "100%", "max_width": "100%"}  # as wide as the panel, never wider: wide tables scroll
        self.table = w.HTML(table_html(summary_of(_empty_frame())), layout=w.Layout(overflow="auto", **fit))
        # hidden until there is a chart (an Image without a value shows a broken-image icon); shown at its CSS size
        self.chart = w.Image(format="png", layout=w.Layout(display="none", max_width="100%", height="auto"))
        self.recommendation_line = w.HTML()
        self.answers_table = w.HTML(NO_ANSWERS, layout=w.Layout(overflow="auto", **fit))
        summary_tab = w.VBox([self.table,
                              w.HBox([w.HTML("<b>SLO</b>"), self.max_ttft_p95, self.min_pass_rate]),
                              self.recommendation_line, self.chart], layout=w.Layout(**fit))
        self.tabs = w.Tab(children=[summary_tab, w.VBox([self.answers_table], layout=w.Layout(**fit))],
                          titles=("Summary", "Answers"), layout=w.Layout(**fit))

    def _layout(self) -> Any:
        """The panel's VBox: inputs, buttons, progress, then the Summary and Answers tabs."""
        return w.VBox([
            self.header,
            self.prompts,
            w.HBox([self.expected, self.checks]),
            w.HBox([w.VBox([self.models, self.models_hint, self.models_note]),
                    w.VBox([w.HTML("<b>strategies</b>"),
                            *[w.HBox([box, self.strategy_help[s]]) for s, box in self.strategy_boxes.items()]])]),
            w.HBox([self.repeats, self.concurrency, self.budget, self.budget_note, self.stream]),
            self.estimate,
            w.HBox([self.run_button, self.cancel_button, self.export_path, self.export_button]),
            self.export_note,
            w.HBox([self.progress, self.status]),
            self.error_label,
            self.tabs,
        ])

    def _show_budget(self) -> None:
        """Say what the budget box means: 0 (or empty) is no limit."""
        budget = float(self.budget.value or 0)
        text = NO_LIMIT if budget == 0 else "" if budget < 0 else f"stops before spending more than ${budget:g}"
        self.budget_note.value = message_html(text, NOTE_STYLE)

    def directory(self) -> Any:
        """The directory (prices) for the estimate, read once; None without a sync client or when it failed."""
        if self._directory is _UNREAD:
            if self.client is None or isinstance(self.client, AsyncClient):
                self._directory = None
            else:
                try:
                    self._directory = self.client.directory()
                except Exception:  # noqa: BLE001 - no prices only means no cost in the estimate
                    self._directory = None
        return self._directory

    def estimate_line(self) -> str:
        """What the estimate line says before a run: "N calls, about $X" ("" while the inputs describe no run)."""
        try:
            prompts = self.prompt_list()
        except (ValueError, AurikoError):
            return ""
        models, strategies = list(self.models.value), self.selected_strategies()
        repeats = int(self.repeats.value or 0)
        calls = len(prompts) * len(models) * len(strategies) * repeats
        if calls <= 0:
            return ""
        directory = self.directory()
        if directory is None:
            return estimate_text(calls, None)
        usd, unpriced = sweep_cost(directory, prompts, models, strategies, repeats)
        return estimate_text(calls, usd, unpriced)

    def _show_estimate(self) -> None:
        if not self.running:
            self.estimate.value = message_html(self.estimate_line(), NOTE_STYLE)

    # -- inputs ------------------------------------------------------------------------------------------

    def prompt_list(self) -> list[str]:
        """The prompts in the text area (without their `==> expected` parts)."""
        return [item["prompt"] for item in self.prompt_items()]

    def prompt_items(self) -> list[dict[str, Any]]:
        """The prompts as `{"prompt", "expect"}` items: a block's own `==> expected`, else the "expected" box."""
        return parse_prompts(self.prompts.value, self.expected.value)

    def check_list(self, items: list[dict[str, Any]]) -> list[Check]:
        """The checks box's checks (`contains` when it is empty and some prompt has an expected answer); a bad spec,
        or a check that needs an expected answer a prompt lacks, is a one-line error before anything is sent."""
        checks = parse_checks(self.checks.value)
        if not checks and any(item["expect"] is not None for item in items):
            checks = [from_spec(DEFAULT_CHECK)]
        lacking = [n for n, item in enumerate(items, start=1) if item["expect"] is None]
        needing = [c for c in checks if needs_expect(c)]
        if needing and lacking:
            raise ValueError(f"checks: {needing[0].name} needs an expected answer and prompt {lacking[0]} has none "
                             f"(end it with {ARROW} ANSWER, or fill 'expected')")
        return checks

    def slo(self) -> dict[str, float]:
        """The SLO boxes as `ak.recommend` keywords (0 in a box: no such constraint)."""
        out: dict[str, float] = {}
        if float(self.max_ttft_p95.value or 0) > 0:
            out["max_ttft_p95_ms"] = float(self.max_ttft_p95.value)
        if float(self.min_pass_rate.value or 0) > 0:
            out["min_pass_rate"] = float(self.min_pass_rate.value) / 100
        return out

    def selected_strategies(self) -> list[str | None]:
        """The checked strategies, in the order shown (None for "no preference")."""
        return [s for s, box in self.strategy_boxes.items() if box.value]

    def build_sweep(self) -> Sweep:
        """The `Sweep` the inputs describe; raises a ValueError (for prompts and checks, a RequestValidationError or
        CheckError) with a one-line message when they are invalid: nothing is sent then."""
        items = self.prompt_items()
        if not items:
            raise ValueError("prompts: write at least one prompt (separate prompts with a blank line)")
        checks = self.check_list(items)
        prompts: list[Any] = items if checks else [item["prompt"] for item in items]
        models = list(self.models.value)
        if not models:
            raise ValueError("models: select at least one model")
        strategies = self.selected_strategies()
        if not strategies:
            raise ValueError(f"strategies: check at least one (or '{NO_PREFERENCE}')")
        repeats, concurrency, budget = int(self.repeats.value), int(self.concurrency.value), float(self.budget.value)
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if budget < 0:
            raise ValueError(f"budget must be >= 0 (0 = no budget), got {budget}")
        return Sweep(prompts, models=models, strategies=strategies, repeats=repeats, concurrency=concurrency,
                     budget_usd=budget or None, stream=bool(self.stream.value), ledger=self.ledger,
                     client=self.client, progress=False, on_row=self._on_row, checks=checks or None)

    # -- running -----------------------------------------------------------------------------------------

    def _on_run_click(self, _button: Any = None) -> None:
        """Schedule `run_async()` on the running loop (a kernel's); with no loop running, run it to the end."""
        if self.running or (self.task is not None and not self.task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    loop = asyncio.get_event_loop()
                except RuntimeError:
                    loop = None
        if loop is not None and loop.is_running():
            self.task = loop.create_task(self.run_async())
        else:  # a plain script: nothing else would drive the task, so block until the run ends
            self.task = None
            asyncio.run(self.run_async())

    async def run_async(self) -> pd.DataFrame | None:
        """Run the inputs' grid and show it; returns the rows, or None when the run could not start.

        Errors (invalid inputs, a budget the estimate exceeds, a failure) become the one-line message in the
        panel's error label and leave `results` / `summary` as they were.
        """
        if self.running:
            self._set_error("a run is already in progress: wait for it or press Cancel")
            return None
        try:
            sweep = self.build_sweep()
        except (ValueError, AurikoError) as e:
            self._set_error(one_line(e))
            return None
        self._set_error("")
        self.export_note.value = ""  # a note of an earlier run ("wrote 54 rows ...") is not about this one
        before = (self.progress.value, self.progress.max, self.status.value)
        self.sweep = sweep
        self._clock = RunClock(len(sweep.cells))
        self._planned = self.estimate_line()
        self._last_refresh = 0.0
        self.progress.max, self.progress.value, self.progress.bar_style = len(sweep.cells), 0, ""
        self._set_running(True)
        self._set_status(f"running {len(sweep.cells)} calls (run {sweep.run_id})")
        try:
            df = await sweep.run()
        except BudgetError as e:
            self.progress.value, self.progress.max, self.status.value = before
            self._set_error(one_line(e))
            return None
        except asyncio.CancelledError:
            self._finish(sweep, sweep.results, note="interrupted")
            raise
        except Exception as e:  # noqa: BLE001 - shown in the panel, never as a traceback
            self._set_error(f"run failed: {one_line(e)}")
            self._set_status(f"failed after {len(sweep.rows)} of {len(sweep.cells)} calls (run {sweep.run_id})")
            return None
        finally:
            self._set_running(False)
            self._show_estimate()
        self._finish(sweep, df)
        return df

    def _finish(self, sweep: Sweep, df: pd.DataFrame, note: str = "") -> None:
        self.comparison = Comparison.from_sweep(sweep, df)
        self.results = df
        self.run_ids.append(sweep.run_id)
        self.summary = self._refresh(final=True, comparison=self.comparison)
        cancelled = int((df["status"] == "cancelled").sum()) if "status" in df.columns else 0
        self.progress.bar_style = "danger" if sweep.errors else "warning" if cancelled else "success"
        reason = note or ("cancelled" if sweep.stop_reason == "cancelled" else
                          "stopped at the budget" if sweep.stop_reason == "budget" else "done")
        self._set_status(f"{reason}: {self._counts()}")

    def cancel(self, now: bool = True) -> None:
        """Stop the run: no new calls; with `now` (the button's choice) the calls in flight are cancelled too."""
        if self.sweep is not None and self.running:
            self.sweep.cancel(now=now)
            self.cancel_button.disabled = True
            self._set_status(f"cancelling: {self._counts()}")

    async def wait(self) -> pd.DataFrame | None:
        """Await the run the Run button scheduled (if any) and return `results`."""
        if self.task is not None:
            await self.task
        return self.results

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.run_button.disabled = running
        self.cancel_button.disabled = not running

    # -- live updates --------------------------------------------------------------------------------------

    def _on_row(self, row: Row) -> None:
        """Per finished call: progress at once, table and chart at most every `refresh_interval` s. Never raises."""
        try:
            if row.get("source") == "offline" and not self.offline:
                self.offline = True
                self._refresh_header()
            self.progress.value = len(self.sweep.rows) if self.sweep is not None else self.progress.value + 1
            self._set_status(f"running: {self._counts()}")
            if self._clock is not None and self.sweep is not None:
                left = self._clock.left(len(self.sweep.rows))
                self.estimate.value = message_html(" · ".join(t for t in (self._planned, left) if t), NOTE_STYLE)
            if time.monotonic() - self._last_refresh >= self.refresh_interval:
                self._refresh()
        except Exception as e:  # noqa: BLE001 - a display problem must not stop the sweep
            self._set_error(f"display update failed: {one_line(e)}")

    def _refresh(self, final: bool = False, comparison: Comparison | None = None) -> pd.DataFrame | None:
        """Redraw the summary table (returned), the chart, the recommendation and the answers from the rows so far.

        While a run is going all but the table are computed in a worker thread: drawing on the kernel's event
        loop would delay the streams being read and inflate the very TTFTs the panel shows.
        """
        if self.sweep is None:
            return None
        comparison = comparison if comparison is not None else Comparison.from_sweep(self.sweep)
        summary = comparison.summary(ci=CI)
        self.table.value = table_html(summary)
        self.table_updates += 1
        self._last_refresh = time.monotonic()
        self._chart_seq += 1
        seq = self._chart_seq
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if final or loop is None:
            self._show_views(seq, render_views(comparison, self.slo()))
        elif self._chart_job is not None and not self._chart_job.done():
            self._chart_dirty = True  # one drawing at a time: the next starts when this one is shown
        else:
            self._draw_in_background(loop, seq, comparison)
        return summary

    def _draw_in_background(self, loop: asyncio.AbstractEventLoop, seq: int, comparison: Comparison) -> None:
        self._chart_dirty = False
        job = self._chart_job = loop.run_in_executor(None, render_views, comparison, self.slo())

        def done(fut: asyncio.Future[Views]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                self._show_views(seq, fut.result())
            if self._chart_dirty and self.running and self.sweep is not None:
                self._chart_seq += 1
                self._draw_in_background(loop, self._chart_seq, Comparison.from_sweep(self.sweep))
        job.add_done_callback(done)

    def _show_views(self, seq: int, views: Views) -> None:
        """Show a drawing (chart, recommendation, answers) unless a newer one is already shown."""
        if seq > self._chart_shown:
            self._chart_shown = seq
            self._show_chart(views.png)
            self.recommendation_line.value = views.recommendation
            self.answers_table.value = views.answers
            self.recommendation = views.result
            self.chart_updates += 1

    def _show_chart(self, png: bytes) -> None:
        """Show the PNG at its CSS size (its pixels / CHART_DENSITY: never stretched); hidden when there is none."""
        self.chart.value = png
        if png:
            width, height = png_size(png)
            self.chart.width, self.chart.height = str(width // CHART_DENSITY), str(height // CHART_DENSITY)
        self.chart.layout.display = "" if png else "none"

    def _slo_changed(self) -> None:
        """A new SLO: the recommendation of the last run is redone at once (during a run, the next refresh does)."""
        if self.comparison is not None and not self.running:
            self.recommendation_line.value, self.recommendation = recommendation_html(self.comparison, self.slo())

    def _counts(self) -> str:
        s = self.sweep
        if s is None:
            return ""
        rows = list(s.rows.values())
        cancelled = sum(1 for r in rows if r.get("status") == "cancelled")
        text = (f"{len(rows)}/{len(s.cells)} calls, {s.errors} errors, {cancelled} cancelled, "
                f"spent ${s.spent_usd:.4f} (run {s.run_id})")
        return text + (f" — {OFFLINE_LABEL}" if self.offline else "")

    # -- export and display ----------------------------------------------------------------------------------

    def export(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the results to `path` (default: the path box; CSV, or Parquet by suffix) with
        `Comparison.export`; None, with a message, when there is nothing."""
        if self.comparison is None or self.results is None or self.results.empty:
            self._set_error("nothing to export yet: run a comparison first")
            return None
        target = Path(path if path is not None else (self.export_path.value.strip() or DEFAULT_EXPORT)).expanduser()
        try:
            self.comparison.export(target)
        except (OSError, ValueError) as e:
            self._set_error(f"export failed: {one_line(e)}")
            return None
        self._set_error("")
        self.export_note.value = message_html(f"wrote {len(self.results)} rows to {target}", NOTE_STYLE)
        return target

    def _refresh_header(self) -> None:
        where = html.escape(getattr(self.client, "base_url", "") or "")
        label = (f' <span style="color:#a15c00"><b>({OFFLINE_LABEL})</b></span>' if self.offline
                 else " — live API")
        self.header.value = f"<b>Auriko compare</b>{label} <code>{where}</code>"

    def _set_status(self, text: str) -> None:
        self.status.value = html.escape(text)

    def _set_error(self, text: str) -> None:
        self.error = text
        self.error_label.value = message_html(text, ERROR_STYLE)

    def close(self) -> None:
        """Cancel a run in progress and close the widgets."""
        self.cancel()
        close_tree(self.widget)

    def __repr__(self) -> str:
        rows = 0 if self.results is None else len(self.results)
        return f"ComparePanel(running={self.running}, results={rows} rows, runs={self.run_ids})"


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    from ...client.records import RECORD_COLUMNS

    return pd.DataFrame(columns=list(RECORD_COLUMNS))


def compare_panel(client: Any = None, ledger: Any = DEFAULT_LEDGER, *, refresh_interval: float = 0.5) -> ComparePanel:
    """The provider-comparison panel (shown when it is the last expression of a cell)."""
    return ComparePanel(client=client, ledger=ledger, refresh_interval=refresh_interval)
