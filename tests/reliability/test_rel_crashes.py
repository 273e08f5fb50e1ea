"""Crashes lose nothing: a sweep in a subprocess is SIGKILLed at random points (several trials, seeded).

The gateway runs in the test process, so it outlives the kill and knows what it served. After each kill the
ledger opens and reads cleanly, holds one row for every call the gateway completed (bar the few in flight
when the process died), no row the gateway did not serve, and `resume` runs exactly the cells without an
ok row, so no finished cell is paid for twice.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from rel_support import chat_requests, figure, wait_until

import auriko_nb as ak
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.sweep import compare
from auriko_nb.offline import serve

KEY = "ak_test_reliability_crashes"
SEED = 20260509  # kill points are drawn from this; change it to explore other points
TRIALS = 6
CONCURRENCY = 4
PROMPTS = [f"Crash probe {i}" for i in range(40)]
MODELS = ["gpt-4o-mini", "deepseek-chat"]  # 80 cells
GRID = dict(models=MODELS, concurrency=CONCURRENCY, max_tokens=40)

SCRIPT = textwrap.dedent("""
    import sys
    import auriko_nb as ak
    from auriko_nb.measure.sweep import compare
    base_url, ledger, run_id = sys.argv[1:4]
    compare({prompts!r}, models={models!r}, concurrency={concurrency}, max_tokens=40, run_id=run_id, ledger=ledger,
            client=ak.Client({key!r}, base_url=base_url), progress=False)
    print("FINISHED", flush=True)
""").format(prompts=PROMPTS, models=MODELS, concurrency=CONCURRENCY, key=KEY)


def kill_points() -> list[tuple[str, float]]:
    """Per trial: kill after N inference requests reached the gateway, or after T seconds (maybe mid-import)."""
    rng = random.Random(SEED)
    points: list[tuple[str, float]] = [("seconds", rng.uniform(0.05, 0.5)),  # at start-up: before or while it opens
                                       ("seconds", rng.uniform(0.5, 1.5))]
    points += [("requests", rng.randint(1, 70)) for _ in range(TRIALS - 2)]
    return points


@pytest.mark.parametrize(("trial", "point"), list(enumerate(kill_points())),
                         ids=[f"trial{i}-{k}-{v:.3g}" for i, (k, v) in enumerate(kill_points())])
def test_sigkill_at_a_random_point_loses_nothing_and_resume_completes(tmp_path: Path, trial: int,
                                                                      point: tuple[str, float]) -> None:
    kind, at = point
    db = tmp_path / "crash.sqlite"
    run_id = f"run-crash-{trial}"
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "AURIKO_NB_LEDGER": "off"}
    with serve(seed=trial, speed=0.05, faults={"server_error": 0.05}) as gw:
        proc = subprocess.Popen([sys.executable, str(script), gw.base_url, str(db), run_id], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        if kind == "seconds":
            time.sleep(at)
        else:
            wait_until(lambda: len(chat_requests(gw.stats)) >= at or proc.poll() is not None, timeout=60,
                       step=0.002)
            time.sleep(random.Random(SEED + trial).uniform(0, 0.03))  # land anywhere inside a call
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_after = time.monotonic() - t0
        assert proc.returncode == -signal.SIGKILL, proc.communicate()  # it was killed, not finished
        assert wait_until(lambda: gw.stats.in_flight == 0, timeout=10)
        served = chat_requests(gw.stats)
        completed = gw.stats.successes  # charged: the whole answer went out
        server_errors = sum(r["fault"] == "server_error" for r in served)

    # the ledger opens and reads (it may not exist yet if the kill came first: then it is simply empty)
    ledger = Ledger(db)
    before = ledger.to_dataframe(run_id=run_id)
    assert before["cell"].is_unique and set(before["status"]) <= {"ok", "error"}
    ok_before = before[before.status == "ok"]
    # every row is a call the gateway really served...
    served_ids = {r["request_id"]: r for r in served}
    for row in before.to_dict("records"):
        got = served_ids[row["request_id"]]
        assert got["fault"] == ("server_error" if row["status"] == "error" else None)
    # ...and every completed call is a row, bar the ones in flight when the process died
    lost = completed - len(ok_before)
    assert 0 <= lost <= CONCURRENCY, (completed, len(ok_before))
    assert 0 <= server_errors - int((before.status == "error").sum()) <= CONCURRENCY

    # resume runs exactly the cells without an ok row, and the grid ends complete
    with serve(seed=100 + trial, speed=0.02) as gw2:
        after = compare(PROMPTS, resume=run_id, ledger=ledger, progress=False,
                        client=ak.Client(KEY, base_url=gw2.base_url), **GRID)  # type: ignore[arg-type]
        resent = chat_requests(gw2.stats)
    assert len(after) == len(PROMPTS) * len(MODELS) and after["cell"].is_unique and (after.status == "ok").all()
    assert len(resent) == len(after) - len(ok_before)
    resent_cells = {(r["body"]["messages"][0]["content"], r["body"]["model"]) for r in resent}
    done_cells = {(PROMPTS[int(c.split("|")[0][1:])], c.split("|")[1]) for c in ok_before["cell"]}
    assert not resent_cells & done_cells  # no finished cell ran again
    assert set(ok_before["call_id"]) <= set(after["call_id"])
    final = ledger.to_dataframe(run_id=run_id, status="ok")
    assert final["cell"].is_unique and len(final) == len(after)  # one ok row per cell, ever
    ledger.close()
    figure("crashes", f"trial {trial}", {
        "kill": f"after {at:.2f} s" if kind == "seconds" else f"after {int(at)} requests",
        "killed_after_s": round(killed_after, 2), "gateway_completed": completed, "ledger_ok": len(ok_before),
        "ledger_error": int((before.status == "error").sum()), "in_flight_lost": lost, "resumed": len(resent),
        "grid": len(after)})


def _rows(db: Path) -> int:
    """Rows committed to the hammered ledger so far (0 before its table exists)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return int(conn.execute("SELECT count(*) FROM calls").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_a_ledger_killed_mid_write_still_opens(tmp_path: Path) -> None:
    """Kill processes hammering one ledger with appends: every committed row survives, the file stays valid."""
    db = tmp_path / "hammer.sqlite"
    code = textwrap.dedent(f"""
        from auriko_nb.measure.ledger import Ledger
        led = Ledger({str(db)!r})
        i = 0
        while True:
            led.append({{"run_id": "hammer", "call_id": f"c{{i}}", "status": "ok", "cost_usd": 0.001}})
            i += 1
    """)
    rng = random.Random(SEED)
    seen = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code])
        deadline = time.monotonic() + 60  # a busy machine can take seconds just to import pandas
        while time.monotonic() < deadline and _rows(db) <= seen:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))  # then kill it at a random point of its appends
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        with Ledger(db) as led:
            df = led.to_dataframe()
            assert led._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert isinstance(df, pd.DataFrame) and len(df) > seen and df["call_id"].notna().all()
        seen = len(df)
    figure("crashes", "hammer rows after 3 kills", len(Ledger(db)))
