"""The benchmark suite keeps working: `python -m bench --quick --no-write` runs every benchmark at tiny sizes.

Only that they run and report is checked, never how fast: CI machines are too noisy for that.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "streaming", "sweep", "ttft", "ledger", "startup", "decision", "shared_ledger", "otel")

pytest.importorskip("openai")
pytest.importorskip("auriko")


def _stamp(path: Path) -> float | None:
    return path.stat().st_mtime_ns if path.exists() else None


def test_quick_benchmarks_run_and_report_every_result() -> None:
    doc = ROOT / "BENCHMARKS.md"
    before = _stamp(doc)
    env = {**os.environ, "AURIKO_NB_LEDGER": "off"}
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--no-write"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    for name in BENCHMARKS:
        assert re.search(rf"^RESULT {name}: (PASS|MISS) \(\d+/\d+ targets\)", out.stdout, re.M), (
            f"no result line for {name}:\n{out.stdout[-4000:]}")
        assert f"<!-- bench:{name} -->" in out.stdout  # --no-write prints the sections instead
    assert _stamp(doc) == before  # --no-write leaves BENCHMARKS.md alone
