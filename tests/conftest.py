"""Every test starts from the built-in session settings and gets its own session ledger file, so no test
writes into the working directory or sees another test's defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import auriko_nb as ak
import auriko_nb.measure.ledger as ledger_mod
from auriko_nb.notebook.settings import settings

if TYPE_CHECKING:
    from auriko_nb.offline import GatewayHandle


@pytest.fixture(scope="session", autouse=True)
def no_ledger_left_in_the_working_directory() -> Iterator[None]:
    """A test (or a module-scoped fixture, set up before the per-test isolation) that writes the default session
    ledger into the working directory fails the run here."""
    stray = Path.cwd() / ledger_mod.DEFAULT_LEDGER_PATH
    existed = stray.exists()
    yield
    assert existed or not stray.exists(), f"a test wrote the session ledger into the working directory: {stray}"


@pytest.fixture(autouse=True)
def isolated_session_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "session-ledger.sqlite"
    monkeypatch.setenv(ledger_mod.LEDGER_ENV, str(path))
    monkeypatch.setattr(ledger_mod, "_session", None)
    monkeypatch.setattr(ledger_mod, "_session_off", False)
    settings.reset()
    yield path
    settings.reset()


# -- the sweep tests' gateway and clients (tests/test_sweep*.py) ----------------------------------------------

SWEEP_KEY = "ak_test_sweeps"


@pytest.fixture
def gw() -> Iterator[GatewayHandle]:
    """A fast offline gateway (seed 1) on 127.0.0.1 for one test; a test file with its own `gw` uses that instead."""
    from auriko_nb.offline import serve  # loaded by the tests that use it, not by every test

    with serve(seed=1, speed=0.02) as g:
        yield g


@pytest.fixture
def client_on() -> Callable[[GatewayHandle], ak.Client]:
    """`client_on(gateway)`: a plain `Client` (fake key, 10 s timeout) on that gateway."""
    def make(gateway: GatewayHandle) -> ak.Client:
        return ak.Client(SWEEP_KEY, base_url=gateway.base_url, timeout=10)
    return make
