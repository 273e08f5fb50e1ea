"""A plain `Client` is an SDK: no file, no session state. The notebook entry points attach the session ledger and
the session defaults in one place (`auriko_nb.notebook.attach`)."""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import auriko_nb as ak
from auriko_nb.notebook.attach import attach, session_ledger_hook, session_ledger_path
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_purity"
CORE = ("client", "errors", "types")  # the HTTP client layer and what it stands on
NOTEBOOK = {"measure", "notebook"}  # what it must never import
# what a plain client must not load: `import auriko_nb` binds ak.connect (notebook.connect); the session loads on use
SESSION_MODULES = {"notebook.settings", "notebook.attach", "measure.ledger", "measure._ledger_arrow",
                   "notebook.magics", "notebook.widgets", "notebook.display"}


@pytest.fixture
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=3, speed=0.02) as g:
        yield g


def test_a_plain_client_in_a_script_leaves_no_file_and_loads_no_session(gw: GatewayHandle, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio, json, sys
        import auriko_nb as ak
        c = ak.Client({KEY!r}, base_url={gw.base_url!r})
        c.chat("hello", model="gpt-4o-mini")
        list(c.chat("hello", model="gpt-4o-mini", stream=True))
        try:
            c.chat("hello", model="nope")
        except ak.NotFoundError:
            pass
        async def run():
            async with ak.AsyncClient({KEY!r}, base_url={gw.base_url!r}) as ac:
                await ac.chat("hello", model="gpt-4o-mini")
        asyncio.run(run())
        c.close()
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("auriko_nb"))))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("AURIKO_NB_LEDGER", "AURIKO_API_KEY")}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert list(tmp_path.iterdir()) == []  # no auriko_ledger.sqlite, -wal or -shm
    loaded = {m.removeprefix("auriko_nb.") for m in json.loads(out.stdout.splitlines()[-1])}
    assert "client.clients" in loaded and not loaded & SESSION_MODULES


def _imports(path: Path, package: str) -> set[str]:
    """Every auriko_nb module a file imports (top level and inside functions), as names relative to auriko_nb."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                full = ".".join(base + ([node.module] if node.module else []))
            else:
                full = node.module or ""
            targets = [full] if node.module else [f"{full}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        names |= {t.removeprefix("auriko_nb.").split(".")[0] for t in targets if t.startswith("auriko_nb.")}
    return names


def test_the_client_core_imports_nothing_of_the_notebook_layer() -> None:
    checked = 0
    for name in CORE:
        spec = importlib.util.find_spec(f"auriko_nb.{name}")
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        files = sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]
        for f in files:
            package = spec.name if origin.name == "__init__.py" else spec.name.rsplit(".", 1)[0]
            bad = _imports(f, package) & NOTEBOOK
            assert not bad, f"{f.name} imports {bad}"
            checked += 1
    assert checked >= len(CORE)


def test_connect_clients_write_the_session_ledger_and_use_the_session_defaults(
        gw: GatewayHandle, isolated_session_ledger: Path) -> None:
    settings.model, settings.max_tokens = "deepseek-chat", 7
    plain = ak.Client(KEY, base_url=gw.base_url)
    assert plain.defaults is None and plain.record_hooks == []
    rows: list[dict] = []
    c = ak.connect(KEY, base_url=gw.base_url, on_record=rows.append)
    assert c.defaults is settings and c.record_hooks == [session_ledger_hook, rows.append]
    c.chat("hello")
    assert rows[-1]["model_requested"] == "deepseek-chat"
    assert session_ledger_path() == isolated_session_ledger.resolve()
    df = ak.session_ledger().to_dataframe()
    assert list(df["model_requested"]) == ["deepseek-chat"]
    plain.chat("not in the ledger", model="gpt-4o-mini")
    assert len(ak.session_ledger().to_dataframe()) == 1

    async def run() -> None:
        async with ak.connect_async(KEY, base_url=gw.base_url) as ac:
            assert ac.defaults is settings
            await ac.chat("hello async")

    asyncio.run(run())
    assert len(ak.session_ledger().to_dataframe()) == 2
    assert attach(c) is c and c.record_hooks.count(session_ledger_hook) == 1  # attaching twice adds nothing


def test_the_magics_client_goes_through_attach(isolated_session_ledger: Path) -> None:
    from auriko_nb.notebook.magics import MagicState

    state = MagicState()
    state.mode, state.speed = "offline", 0.02
    c = state.client()
    assert c.defaults is settings and c.record_hooks == [session_ledger_hook, state.records.append]
    state.reconnect()


def test_with_options_copies_settings_and_shares_the_pool(gw: GatewayHandle) -> None:
    rows: list[dict] = []
    c = ak.Client(KEY, base_url=gw.base_url, max_retries=5, default_headers={"X-Team": "a"}, on_record=rows.append)
    attach(c)
    view = c.with_options(max_retries=0, on_record=None, defaults=None)
    assert (view.max_retries, view.record_hooks, view.defaults) == (0, [], None)
    assert (c.max_retries, c.record_hooks[-1], c.defaults) == (5, rows.append, settings)  # the original is unchanged
    assert view._http is c._http and view._default_headers == c._default_headers
    view.chat("hi", model="gpt-4o-mini")
    view.close()
    assert not c._http.is_closed  # closing the copy leaves the shared pool open
    c.chat("hi", model="gpt-4o-mini")
    c.close()
    assert c._http.is_closed
    with pytest.raises(ValueError, match="max_retries"):
        c.with_options(max_retries=-1)
