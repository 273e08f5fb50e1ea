"""Real browser: notebooks in JupyterLab (headless Chromium via Playwright).

Notebook 02: run all, click Run in the comparison panel, see the table, chart, recommendation line and the Answers
tab render, and check the routing toggle changes the next call. The fixture notebook compare_panel_checks.ipynb:
the panel with built-in tasks and their expected answers checked, pass rates with intervals, an SLO typed in the
browser, the answers with ✔/✘; it ends with a picture of the whole panel: the README's
docs/jupyterlab-compare-panel.png with AURIKO_NB_SCREENSHOT_DIR=docs."""

from __future__ import annotations

import math
import os
import re
import struct
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

NOTEBOOK = "02_routing_comparison.ipynb"
CHECKS_NOTEBOOK = "compare_panel_checks.ipynb"
SHOT_WIDTH = 1700  # the README picture's window: wide enough for the summary's interval columns on one line
# for page.wait_for_function with the comparison panel's element as `p`
TABLE_FITS = ("p.querySelector('table.auriko-summary').getBoundingClientRect().right"
              " <= p.getBoundingClientRect().right")
CURRENT_KERNEL_IDLE = (  # the notebook `name` is the current tab and its kernel is idle
    "name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
    " const k = w && w.context && w.context.path === name && w.sessionContext.session"
    " && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }")
PANEL_SHOWN = (  # all of the panel inside the notebook's scrolled area, the chart drawn at full size in the panel
    "(() => { const v = p.closest('.jp-WindowedPanel-outer').getBoundingClientRect(),"
    " b = p.getBoundingClientRect(), c = p.querySelector('img.widget-image').getBoundingClientRect();"
    " return b.top >= v.top && b.bottom <= v.bottom && c.height > 200 && c.bottom <= b.bottom; })()")


TABLE_BOXES = ("t => { const r = e => { const b = e.getBoundingClientRect(); return [Math.round(b.left), "
               "Math.round(b.right)]; }; return {table: r(t), box: r(t.parentElement), "
               "output: r(t.closest('.jp-OutputArea-output'))}; }")
TABLE_INSIDE_ITS_BOX = (  # the table's box ends inside the output area; a wider table scrolls within that box
    "t => { const box = t.parentElement.getBoundingClientRect(),"
    " out = t.closest('.jp-OutputArea-output').getBoundingClientRect(),"
    " scrolls = getComputedStyle(t.parentElement).overflowX;"
    " return box.right <= out.right + 1 && (t.getBoundingClientRect().right <= box.right + 1"
    " || scrolls === 'auto' || scrolls === 'scroll'); }")


def _open_and_run_all(page: Page, lab: dict[str, Any], notebook: str) -> None:
    """Open `notebook` alone (`reset`: no tab of an earlier test comes back), wait until it is the current tab
    with its kernel idle, then Run All Cells from the menu."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{lab['base']}/lab/tree/{notebook}?reset&token={lab['token']}")
    page.wait_for_function(CURRENT_KERNEL_IDLE, arg=notebook, timeout=90_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("(ipykernel) | Idle", timeout=90_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()


def _run_panel(page: Page) -> Locator:
    """Click Run in the comparison panel once every cell has run; the panel once its run is done."""
    run_button = page.locator(".jp-OutputArea-output .widget-button", has_text="Run").first
    expect(run_button).to_be_visible(timeout=180_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)
    run_button.click()
    panel = page.locator(".widget-vbox", has=page.locator(".widget-button", has_text="Export CSV")).first
    expect(panel.locator(".widget-html", has_text="done:")).to_be_visible(timeout=120_000)
    return panel


def _show_tab(panel: Locator, title: str) -> None:
    panel.locator(".lm-TabBar-tab", has_text=title).click()
    expect(panel.locator(".lm-TabBar-tab.lm-mod-current")).to_have_text(title)


def _run_cell_containing(page: Page, text: str) -> Any:
    cell = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea", has_text=text)).first
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    return cell


def test_notebook_02_panels_in_jupyterlab(jupyter_lab: dict[str, Any], page: Page) -> None:
    _open_and_run_all(page, jupyter_lab, NOTEBOOK)
    panel = _run_panel(page)
    table = panel.locator("table.auriko-summary")
    expect(table).to_be_visible()
    expect(table).to_contain_text("ttft")
    expect(table).to_contain_text("TTFT p50 (ms)")  # readable headers with units
    expect(table).to_contain_text(re.compile(r"\d+ \[\d+–\d+\]"))  # intervals, e.g. "812 [640–990]"
    # the default layout, file browser open: the table fits or scrolls inside the panel's own box
    assert page.locator("#jp-left-stack").is_visible()
    assert table.evaluate(TABLE_INSIDE_ITS_BOX), table.evaluate(TABLE_BOXES)
    assert table.locator("tbody tr").count() >= 2
    chart = panel.locator("img.widget-image")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.naturalWidth") > 100
    expect(panel).to_contain_text("offline simulation")
    # the recommendation line under the table: no SLO set, so the cheapest group
    line = panel.locator(".auriko-recommendation-line")
    expect(line).to_be_visible()
    expect(line).to_contain_text("Recommendation")
    expect(line).to_contain_text("cheapest group")
    # the Answers tab: the prompts and their answers (no checks here: no ✔/✘)
    _show_tab(panel, "Answers")
    answers = panel.locator("table.auriko-answers")
    expect(answers).to_be_visible()
    expect(answers).to_contain_text("Explain retries with backoff.")
    expect(answers.locator("tbody td").first).to_contain_text(re.compile(r"\S+.*\$0\.\d{6}"))
    expect(table).to_be_hidden()
    _show_tab(panel, "Summary")
    expect(table).to_be_visible()

    # the routing toggle: pick a strategy, the next call sends it; switch routing off, the next call sends none
    routing = page.locator(".widget-vbox", has=page.locator(".widget-toggle-button")).first
    routing.scroll_into_view_if_needed()
    routing.locator(".widget-dropdown select").first.select_option("ttft-focus")
    expect(routing).to_contain_text('"optimize": "ttft-focus"')
    probe = _run_cell_containing(page, "routing_sent_by_next_call")
    expect(probe.locator(".jp-OutputArea-output")).to_contain_text("routing sent: {'optimize': 'ttft-focus'}",
                                                                  timeout=60_000)
    toggle = routing.locator(".widget-toggle-button", has_text="routing on")
    toggle.click()
    expect(routing.locator(".widget-toggle-button")).to_contain_text("routing off")
    probe = _run_cell_containing(page, "routing_sent_by_next_call")
    expect(probe.locator(".jp-OutputArea-output")).to_contain_text("routing sent: None", timeout=60_000)


def test_checks_slo_and_answers_in_jupyterlab(jupyter_lab: dict[str, Any], page: Page, tmp_path: Path) -> None:
    _open_and_run_all(page, jupyter_lab, CHECKS_NOTEBOOK)
    panel = _run_panel(page)
    table = panel.locator("table.auriko-summary")
    expect(table).to_contain_text("pass rate")
    expect(table).to_contain_text(re.compile(r"\d+% \[\d+–\d+%\]"))  # a pass rate with its interval
    line = panel.locator(".auriko-recommendation-line")
    expect(line).to_contain_text("cheapest group")
    # an SLO typed in the browser: the kernel redoes the recommendation and the line shows it
    slo = panel.locator(".widget-inline-hbox", has=page.locator("label", has_text="min pass rate %")).locator("input")
    slo.fill("50")
    slo.press("Enter")
    expect(line).to_contain_text("pass rate ≥ 50%", timeout=30_000)
    # the Answers tab: each task with its answers, ✔ or ✘ from the check
    _show_tab(panel, "Answers")
    answers = panel.locator("table.auriko-answers")
    expect(answers).to_be_visible()
    expect(answers).to_contain_text("What is 17 * 23?")
    expect(answers).to_contain_text("What is the capital of France?")
    marks = answers.locator("td b", has_text=re.compile("^[✔✘]$"))
    expect(marks.first).to_be_visible()
    assert marks.count() == answers.locator("tbody td").count()  # every answer was checked
    _show_tab(panel, "Summary")
    expect(table).to_be_visible()
    _screenshot(page, panel, tmp_path)


def _screenshot(page: Page, panel: Locator, tmp_path: Path) -> None:
    """The README picture (docs/jupyterlab-compare-panel.png, regenerated with AURIKO_NB_SCREENSHOT_DIR=docs):
    the whole panel as one element, its table, the recommendation line and the complete chart with the x-axis.
    With the file browser collapsed and a wide window the table fits the panel's width; the window is then made tall
    enough to show all of the panel."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.set_viewport_size({"width": SHOT_WIDTH, "height": 1000})
    page.wait_for_function(f"p => {TABLE_FITS}", arg=panel.element_handle())
    box = panel.bounding_box()
    assert box is not None
    page.set_viewport_size({"width": SHOT_WIDTH, "height": int(box["height"]) + 300})
    page.wait_for_function(f"p => {{ p.scrollIntoView({{block: 'center'}}); return {PANEL_SHOWN}; }}",
                           arg=panel.element_handle())
    shot_dir = Path(os.environ.get("AURIKO_NB_SCREENSHOT_DIR", str(tmp_path)))
    shot_dir.mkdir(parents=True, exist_ok=True)
    shot = shot_dir / "jupyterlab-compare-panel.png"
    panel.screenshot(path=str(shot), animations="disabled")
    assert shot.stat().st_size > 10_000
    shown = panel.bounding_box()
    assert shown is not None
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # the size in the PNG's IHDR chunk
    # the picture is the panel's box: its size, give or take the pixels a fractional edge partly covers
    for size, start, length in ((width, shown["x"], shown["width"]), (height, shown["y"], shown["height"])):
        assert length - 1 <= size <= math.ceil(start + length) - math.floor(start), (width, height, shown)
