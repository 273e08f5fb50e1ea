"""Secrets never leak from the notebooks: each example notebook is copied, executed with nbclient in a temp
directory with AURIKO_API_KEY set to a random canary and AURIKO_BASE_URL on a loopback offline gateway (so
every cell takes the live path, with the key on the wire), with DEBUG logging to a file. Then the saved
notebook, every file the run left (ledgers with their WAL, logs, IPython history) and the kernel's own
stdout/stderr are searched for the key: zero hits. The gateway saw the key on every keyed request.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from rel_support import canary_key, figure, key_fragments

from auriko_nb.offline import GatewayHandle, serve

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
KEY = canary_key()
OFFLINE_BY_DESIGN = {"04_errors_and_limits"}  # runs its own offline gateways (fault injection), key or not
LOGGING_CELL = """\
import logging, os
logging.basicConfig(filename=os.path.join(os.environ["REL_WORKDIR"], "kernel-debug.log"), level=logging.DEBUG,
                    force=True)
for _name in ("httpx", "httpcore", "auriko_nb", "urllib3", "openai"):
    logging.getLogger(_name).setLevel(logging.DEBUG)
"""


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=31, speed=0.02) as g:
        yield g


def test_notebooks_found() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_routing_comparison.ipynb",
                                           "03_cost_and_latency.ipynb", "04_errors_and_limits.ipynb",
                                           "05_choosing_a_provider.ipynb"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_run_live_with_a_canary_key_never_shows_it(notebook: Path, gw: GatewayHandle, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "run"
    (work / "tmp").mkdir(parents=True)
    copy = work / notebook.name
    shutil.copy(notebook, copy)
    for name, value in {"AURIKO_API_KEY": KEY, "AURIKO_BASE_URL": gw.base_url, "REL_WORKDIR": str(work),
                        "TMPDIR": str(work / "tmp"), "IPYTHONDIR": str(work / "ipython"),
                        "AURIKO_NB_LEDGER": str(work / "session.sqlite"), "MPLBACKEND": "Agg",
                        "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    nb = nbformat.read(copy, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(LOGGING_CELL))
    before = len(gw.stats.requests)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(work)}})
    logging.getLogger("traitlets").setLevel(logging.WARNING)
    client.execute()
    out_path = work / f"{notebook.stem}_executed.ipynb"
    nbformat.write(nb, out_path)
    kernel_io = capfd.readouterr()

    # the cells ran, live, against our gateway, with the key on the wire (the gateway drops it from its records)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    unexpected = [f"{o['ename']}: {o['evalue']}" for c in code_cells for o in c.get("outputs", [])
                  if o.get("output_type") == "error" and "raises-exception" not in c.get("metadata", {}).get("tags", [])]
    assert not unexpected, unexpected  # only the cells meant to fail did
    live = [r for r in gw.stats.requests[before:] if r["path"] == "/v1/chat/completions"]
    if notebook.stem in OFFLINE_BY_DESIGN:
        assert not live  # it starts its own fault-injecting gateways and says so
    else:
        assert len(live) >= 5, "the notebook should have called the gateway given by AURIKO_BASE_URL"

    # search everything the run left behind
    searched = {p.relative_to(work).as_posix(): p.read_bytes().decode("utf-8", "replace")
                for p in sorted(work.rglob("*")) if p.is_file()}
    searched["kernel stdout"], searched["kernel stderr"] = kernel_io.out, kernel_io.err
    assert "kernel-debug.log" in searched and any(name.endswith(".sqlite") for name in searched)
    hits = {name: frag for name, text in searched.items() for frag in key_fragments(KEY) if frag in text}
    assert not hits, hits
    figure("secrets", f"notebook {notebook.stem}", {
        "cells": len(code_cells) - 1, "outputs": sum(len(c.get("outputs", [])) for c in code_cells),
        "live_calls": len(live), "files_searched": len(searched) - 2,
        "bytes_searched": sum(len(t) for t in searched.values()), "hits": 0})
    assert os.environ["AURIKO_API_KEY"] == KEY
