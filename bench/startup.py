"""6. Start-up: `import auriko_nb` and `%load_ext auriko_nb` in fresh interpreters, against `import pandas`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from .common import ROOT, BenchResult, Check, Table, median

NAME = "startup"
TITLE = "6. Start-up (fresh interpreters)"
HEAVY = ("matplotlib", "ipywidgets", "uvicorn")
WHAT = ("Each case runs in a fresh `python -c` subprocess that times the statement with `time.perf_counter` "
        "and then lists which heavy modules are in `sys.modules`. The cases take turns, every one runs "
        "several times, and the table shows medians. Bytecode is cached (in a temporary "
        "`PYTHONPYCACHEPREFIX`, after a warm-up run) for every package alike, as on a user's machine. "
        "For `%load_ext`, the IPython shell is created before the timer starts (a notebook kernel has it "
        "already).")

_PROBE = """
import json, sys, time
{setup}
t0 = time.perf_counter()
{stmt}
dt = time.perf_counter() - t0
print(json.dumps({{"t": dt, "heavy": [m for m in {heavy!r} if m in sys.modules], "pandas": "pandas" in sys.modules}}))
"""

CASES: dict[str, tuple[str, str]] = {
    "import pandas": ("", "import pandas"),
    "import auriko_nb": ("", "import auriko_nb"),
    "import auriko_nb (pandas already imported)": ("import pandas", "import auriko_nb"),
    "%load_ext auriko_nb": ("from IPython.core.interactiveshell import InteractiveShell\n"
                            "shell = InteractiveShell.instance()",
                            "shell.run_line_magic('load_ext', 'auriko_nb')"),
    "%load_ext auriko_nb (pandas already imported)": ("import pandas\n"
                                                      "from IPython.core.interactiveshell import InteractiveShell\n"
                                                      "shell = InteractiveShell.instance()",
                                                      "shell.run_line_magic('load_ext', 'auriko_nb')"),
}


def _sizes(quick: bool) -> int:
    return 1 if quick else 9


def _probe(setup: str, stmt: str, env: dict[str, str]) -> dict[str, Any]:
    code = _PROBE.format(setup=setup, stmt=stmt, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> BenchResult:
    t_start = time.perf_counter()
    reps = _sizes(quick)
    with tempfile.TemporaryDirectory(prefix="auriko-bench-pyc-") as pyc:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=pyc, AURIKO_NB_LEDGER="off", MPLBACKEND="Agg")
        for setup, stmt in CASES.values():  # warm-up: fills the bytecode cache
            _probe(setup, stmt, env)
        samples: dict[str, list[dict[str, Any]]] = {k: [] for k in CASES}
        for rep in range(reps):
            names = list(CASES)
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                samples[name].append(_probe(*CASES[name], env))
    t = {k: median([s["t"] for s in v]) for k, v in samples.items()}
    heavy = {k: sorted({m for s in v for m in s["heavy"]}) for k, v in samples.items()}
    pandas_t = t["import pandas"]
    rows = []
    for name in CASES:
        rows.append([name, t[name] * 1000, (t[name] - pandas_t) * 1000, t[name] / pandas_t,
                     ", ".join(heavy[name]) or "none",
                     "yes" if all(s["pandas"] for s in samples[name]) else "no",
                     ", ".join(f"{s['t'] * 1000:.0f}" for s in samples[name])])
    table = Table(["case", "median ms", "− import pandas, ms", "× import pandas",
                   "matplotlib / ipywidgets / uvicorn loaded", "pandas loaded", "runs ms"], rows,
                  caption=f"{reps} runs per case.")
    imp, ext = t["import auriko_nb"], t["%load_ext auriko_nb"]
    imp_after = t["import auriko_nb (pandas already imported)"]
    ext_after = t["%load_ext auriko_nb (pandas already imported)"]
    checks = [
        Check("`import auriko_nb` beyond `import pandas`", imp - pandas_t, 0.3, " s"),
        Check("`%load_ext auriko_nb` beyond `import pandas`", ext - pandas_t, 0.3, " s"),
        Check("heavy modules (matplotlib, ipywidgets, uvicorn) loaded by `import auriko_nb`",
              len(heavy["import auriko_nb"]), 0, ""),
    ]
    notes = [f"On top of an already imported pandas (the usual notebook), `import auriko_nb` adds "
             f"{imp_after * 1000:.0f} ms and `%load_ext auriko_nb` {ext_after * 1000:.0f} ms."]
    if heavy["%load_ext auriko_nb"]:
        notes.append(f"`%load_ext auriko_nb` loads {', '.join(heavy['%load_ext auriko_nb'])}.")
    res = BenchResult(NAME, TITLE, WHAT, [table], checks, notes,
                      summary=(f"import {imp * 1000:.0f} ms, load_ext {ext * 1000:.0f} ms, pandas "
                               f"{pandas_t * 1000:.0f} ms; heavy after import: "
                               f"{', '.join(heavy['import auriko_nb']) or 'none'}"))
    res.seconds = time.perf_counter() - t_start
    return res


def profile(quick: bool = False) -> str:
    """`python -X importtime -c 'import auriko_nb'`: the 25 slowest imports (cumulative µs)."""
    with tempfile.TemporaryDirectory(prefix="auriko-bench-pyc-") as pyc:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=pyc, AURIKO_NB_LEDGER="off")
        cmd = [sys.executable, "-X", "importtime", "-c", "import auriko_nb"]
        subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT, check=True)
        err = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True).stderr
    rows = []
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return "cumulative µs | module\n" + "\n".join(f"{us:>12,} | {name}" for us, name in rows[:25])
