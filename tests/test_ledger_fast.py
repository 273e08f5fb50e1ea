"""The ledger's Arrow read path gives exactly the frame the sqlite3 path gives, falls back when it cannot read a
file, and `columns=` reads a subset."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auriko_nb as ak
from auriko_nb.measure import _ledger_arrow
from auriko_nb.measure.ledger import Ledger

pytestmark = pytest.mark.skipif(not _ledger_arrow.available(), reason="the [fast] extra is part of [dev]")


def _records(n: int) -> list[dict[str, Any]]:
    """Varied rows: the first 1,500 carry no provider, cost or tags (leading NULLs), then every kind of value."""
    out = []
    for i in range(n):
        late = i >= 1500
        out.append({
            "run_id": f"run-{i % 3}", "call_id": f"c{i}", "started_at": f"2026-11-{1 + i % 28:02d}T10:00:00.{i % 999:06d}+00:00",
            "status": ["ok", "error", "cancelled"][i % 3] if late else "error", "source": "offline",
            "endpoint": "chat.completions", "model_requested": "gpt-4o", "stream": [True, False, None][i % 3],
            "provider": ["openai", "groq", "azure", None][i % 4] if late else None,
            "routing_strategy": ["cost", "ttft", None][i % 3] if late else None,
            "cost_usd": (i * 1e-6 if i % 5 else np.nan) if late else None,
            "ttft_ms_server": float(i % 300) if late else None, "ttft_ms_client": np.float32(i % 7) if late else None,
            "prompt_tokens": np.int64(i) if i % 2 else None, "completion_tokens": i % 600 if late else None,
            "tags": ["a", "b"] if late and i % 2 else None, "routing": {"optimize": "cost"} if i % 4 == 0 else None,
            "error_message": "Rate limit exceeded" if i % 3 == 1 else None, "http_status": 429 if i % 3 == 1 else None,
        })
    return out


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "fast.sqlite")
    led.append_many(_records(3000))
    return led


def _both(led: Ledger, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    used: list[bool] = []
    real = _ledger_arrow._read

    def spy(*a: Any) -> pd.DataFrame:
        used.append(True)
        return real(*a)

    monkeypatch.setattr(_ledger_arrow, "_read", spy)
    fast = led.to_dataframe(**kw)
    assert used, "the Arrow path was not taken"
    monkeypatch.setattr(_ledger_arrow, "available", lambda: False)
    slow = led.to_dataframe(**kw)
    monkeypatch.undo()
    return fast, slow


def test_the_arrow_path_gives_the_same_frame(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(ledger, monkeypatch)
    assert len(fast) == 3000 and list(fast.columns) == list(ak.RECORD_COLUMNS)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert str(fast["provider"].dtype) == "category" and str(fast["started_at"].dtype) == "datetime64[us, UTC]"
    assert fast["provider"].isna().sum() == 1500 + 375  # the leading NULLs did not break type inference


@pytest.mark.parametrize("filters", [
    {"run_id": "run-1"}, {"status": ["ok", "cancelled"], "since": "2026-11-10"},
    {"until": pd.Timestamp("2026-11-05", tz="UTC"), "source": "offline"}, {"run_id": []},
    {"columns": ["cost_usd", "provider", "started_at", "stream"]}, {"columns": ["tags"], "status": "ok"},
])
def test_filters_and_columns_agree(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, filters: dict) -> None:
    fast, slow = _both(ledger, monkeypatch, **filters)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    if "columns" in filters:
        assert list(fast.columns) == filters["columns"]


def test_a_column_it_cannot_type_falls_back_to_sqlite3(ledger: Ledger) -> None:
    """Another tool wrote text into an integer column: the Arrow path gives up, the frame is still right."""
    with sqlite3.connect(ledger.path) as raw:
        raw.execute("UPDATE calls SET prompt_tokens = 'many' WHERE id = 2000")
        raw.execute("UPDATE calls SET started_at = 'yesterday' WHERE id = 2001")
    df = ledger.to_dataframe()
    assert len(df) == 3000 and pd.isna(df.loc[1999, "prompt_tokens"]) and df.loc[2001, "prompt_tokens"] == 2001
    assert pd.isna(df.loc[2000, "started_at"]) and df["started_at"].notna().sum() == 2999


def test_unknown_columns_are_named(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match=r"\['ttft'\] are not record columns"):
        ledger.to_dataframe(columns=["cost_usd", "ttft"])
    with pytest.raises(ValueError, match="at least one"):
        ledger.to_dataframe(columns=[])


def test_an_empty_ledger_reads_as_typed_empty_frames(tmp_path: Path) -> None:
    with Ledger(tmp_path / "empty.sqlite") as led:
        assert led.to_dataframe().empty and list(led.to_dataframe(columns=["provider"]).columns) == ["provider"]
