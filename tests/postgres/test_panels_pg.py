"""The comparison panel given a postgresql:// ledger writes its rows there (the routing panel uses the session ledger,
which `%auriko config ledger=postgresql://...` points at a database: tests/postgres/test_ledger_postgres.py)."""

from __future__ import annotations

import pytest
from cluster import PASSWORD

import auriko_nb as ak
from auriko_nb.measure.ledger import Ledger
from auriko_nb.notebook.widgets.compare_panel import compare_panel
from auriko_nb.offline import serve

pytest.importorskip("ipywidgets")


def test_the_compare_panel_given_a_url_writes_its_rows_to_postgres(pg_url: str) -> None:
    with serve(seed=5, speed=0.02) as gw:
        panel = compare_panel(client=ak.Client("ak_test_panel_pg", base_url=gw.base_url), ledger=pg_url,
                              refresh_interval=0.1)
        panel.prompts.value = "Say hello.\n\nWhy is the sky blue?"
        panel.models.value = ("llama-3.3-70b",)
        for s, box in panel.strategy_boxes.items():
            box.value = s in ("cost", "ttft")
        panel.run_button.click()  # no running loop here: the run goes to the end
    assert panel.error == "" and panel.results is not None and len(panel.results) == 4
    stored = Ledger(pg_url).to_dataframe()
    assert sorted(stored["call_id"]) == sorted(panel.results["call_id"])
    assert PASSWORD not in repr(panel.ledger)
