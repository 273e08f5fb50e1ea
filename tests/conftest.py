"""Every test starts from the built-in session settings and gets its own session ledger file, so no test
writes into the working directory or sees another test's defaults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import auriko_nb.measure.ledger as ledger_mod
from auriko_nb.notebook.settings import settings


@pytest.fixture(autouse=True)
def isolated_session_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "session-ledger.sqlite"
    monkeypatch.setenv(ledger_mod.LEDGER_ENV, str(path))
    monkeypatch.setattr(ledger_mod, "_session", None)
    monkeypatch.setattr(ledger_mod, "_session_off", False)
    settings.reset()
    yield path
    settings.reset()
