"""Real browser: notebook 02 in JupyterLab (headless Chromium via Playwright): run all, click Run in the
comparison panel, see the table and chart render, and check the routing toggle changes the next call. Ends with
a picture of the whole panel: the README's docs/jupyterlab-compare-panel.png with AURIKO_NB_SCREENSHOT_DIR=docs."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

NOTEBOOK = "02_routing_comparison.ipynb"
# for page.wait_for_function with the comparison panel's element as `p`
TABLE_FITS = ("p.querySelector('table.auriko-summary').getBoundingClientRect().right"
              " <= p.getBoundingClientRect().right")
PANEL_SHOWN = (  # all of the panel inside the notebook's scrolled area, the chart drawn at full size in the panel
    "(() => { const v = p.closest('.jp-WindowedPanel-outer').getBoundingClientRect(),"
    " b = p.getBoundingClientRect(), c = p.querySelector('img.widget-image').getBoundingClientRect();"
    " return b.top >= v.top && b.bottom <= v.bottom && c.height > 200 && c.bottom <= b.bottom; })()")


def _run_cell_containing(page: Page, text: str) -> Any:
    cell = page.locator(".jp-CodeCell", has=page.locator(".jp-InputArea", has_text=text)).first
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    return cell


def test_notebook_02_panels_in_jupyterlab(jupyter_lab: dict[str, Any], page: Page, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{jupyter_lab['base']}/lab/tree/{NOTEBOOK}?token={jupyter_lab['token']}")
    expect(page.locator("#jp-main-statusbar")).to_contain_text("(ipykernel) | Idle", timeout=90_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

    # the comparison panel renders with its Run button once every cell above it has run
    run_button = page.locator(".jp-OutputArea-output .widget-button", has_text="Run").first
    expect(run_button).to_be_visible(timeout=180_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)
    run_button.click()
    panel = page.locator(".widget-vbox", has=page.locator(".widget-button", has_text="Export CSV")).first
    expect(panel.locator(".widget-html", has_text="done:")).to_be_visible(timeout=120_000)
    table = panel.locator("table.auriko-summary")
    expect(table).to_be_visible()
    expect(table).to_contain_text("ttft")
    assert table.locator("tbody tr").count() >= 2
    chart = panel.locator("img.widget-image")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.naturalWidth") > 100
    expect(panel).to_contain_text("offline simulation")

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

    # the README picture (docs/jupyterlab-compare-panel.png, regenerated with AURIKO_NB_SCREENSHOT_DIR=docs):
    # the whole panel as one element, its table and the complete chart with the x-axis. With the file browser
    # collapsed the table fits the panel's width; the window is then made tall enough to show all of the panel.
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.wait_for_function(f"p => {TABLE_FITS}", arg=panel.element_handle())
    box = panel.bounding_box()
    assert box is not None
    page.set_viewport_size({"width": 1400, "height": int(box["height"]) + 300})
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
    assert abs(width - shown["width"]) <= 1 and abs(height - shown["height"]) <= 1, (width, height, shown)
