"""Sweeps on the offline gateway: complete grid, concurrency cap, budget, 429 back-off, resume, interrupts."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import auriko_nb as ak
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.sweep import BudgetError, Sweep, compare
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_sweeps"
PROMPTS = ["Explain TTFT", "Compare routing strategies briefly"]
ClientOn = Callable[[GatewayHandle], ak.Client]  # the `client_on` fixture (tests/conftest.py)


def test_grid_is_complete_one_row_per_cell(gw: GatewayHandle, tmp_path: Path, client_on: ClientOn) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    df = compare(PROMPTS, models=["gpt-4o", "claude-sonnet-4-6"], strategies=["cost-focus", "ttft-focus", None],
                 repeats=2, concurrency=4, client=client_on(gw), ledger=ledger, progress=False, max_tokens=30)
    assert len(df) == 2 * 2 * 3 * 2 and df["cell"].is_unique
    assert set(df["status"]) == {"ok"} and (df["source"] == "offline").all()
    assert len(ledger.to_dataframe(run_id=df["run_id"].iloc[0])) == 24
    assert gw.stats.successes == 24
    assert set(df["optimize"].dropna()) == {"cost-focus", "ttft-focus"} and df["optimize"].isna().sum() == 8
    bodies = [r["body"] for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]
    assert all(b["stream"] is True and b["max_tokens"] == 30 for b in bodies)
    no_pref = [b for b in bodies if "optimize" not in (b.get("gateway") or {}).get("routing", {})]
    assert len(no_pref) == 8


class RecordingBar:
    """Stands in for tqdm: remembers what the sweep did to its progress bar."""

    made: list[RecordingBar] = []

    def __init__(self, *, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = 0
        self.postfixes: list[dict[str, object]] = []
        self.closed = False
        RecordingBar.made.append(self)

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, refresh: bool = True, **values: object) -> None:
        self.postfixes.append(values)

    def close(self) -> None:
        self.closed = True


def test_progress_bar_counts_every_cell_and_shows_the_spend(monkeypatch: pytest.MonkeyPatch,
                                                            client_on: ClientOn) -> None:
    import tqdm.auto
    monkeypatch.setattr(RecordingBar, "made", [])
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    with serve(seed=3, speed=0.02, faults={"server_error": 0.3}) as gw:
        sweep = Sweep(PROMPTS * 2, models=["gpt-4o-mini", "claude-sonnet-4-6"], concurrency=3, client=client_on(gw),
                      ledger=None, progress=True, stream=False, max_retries=0)
        df = asyncio.run(sweep.run())
    ok, failed = df[df.status == "ok"], df[df.status == "error"]
    assert len(df) == 8 and len(ok) >= 1 and len(failed) >= 1  # the seed gives both kinds
    [bar] = RecordingBar.made
    assert bar.total == len(sweep.cells) == 8 and bar.unit == "call" and sweep.run_id in bar.desc
    assert bar.n == len(df) and bar.closed
    assert len(bar.postfixes) == len(df)  # refreshed once per finished row
    # the spend shown at the end is what the successful rows cost, formatted as the sweep formats it
    assert bar.postfixes[-1] == {"spend": f"${ok['cost_usd'].astype(float).sum():.4f}", "errors": len(failed)}
    assert float(str(bar.postfixes[-1]["spend"])[1:]) > 0


def test_concurrency_never_exceeds_the_cap(gw: GatewayHandle, client_on: ClientOn) -> None:
    df = compare([f"prompt {i}" for i in range(30)], models=["gpt-4o-mini"], concurrency=5, client=client_on(gw),
                 ledger=None, progress=False)
    assert len(df) == 30 and gw.stats.max_in_flight <= 5
    assert gw.stats.max_in_flight >= 4  # the cap is actually used


def test_budget_refuses_to_start_with_the_estimate(gw: GatewayHandle, client_on: ClientOn) -> None:
    before = len(gw.stats.requests)
    with pytest.raises(BudgetError) as info:
        compare(PROMPTS * 10, models=["gpt-4o"], client=client_on(gw), ledger=None, progress=False,
                budget_usd=0.0001)
    line = str(info.value)
    assert "estimated cost $" in line and "exceeds budget_usd=$0.0001" in line and "\n" not in line
    assert all(r["path"] != "/v1/chat/completions" for r in gw.stats.requests[before:])


def test_budget_stops_scheduling_at_the_right_place(gw: GatewayHandle, client_on: ClientOn) -> None:
    sweep = Sweep([f"budget probe {i}" for i in range(12)], models=["gpt-4o"], concurrency=1, client=client_on(gw),
                  ledger=None, progress=False, expected_output_tokens=1, budget_usd=0.002)
    df = asyncio.run(sweep.run())
    ok, cancelled = df[df.status == "ok"], df[df.status == "cancelled"]
    assert len(ok) >= 1 and len(cancelled) >= 1 and len(ok) + len(cancelled) == 12
    assert (cancelled["error_code"] == "budget").all()
    costs = ok["cost_usd"].astype(float).tolist()
    static = sweep.estimate_usd / 12  # the directory estimate is far below the real cost here
    assert static < min(costs)
    # from the first result on, the estimate is the mean real cost, so spend stays within the budget...
    assert sum(costs[:-1]) + static <= 0.002 and sum(costs) <= 0.002 + (max(costs) - min(costs))
    # ...and the sweep stopped because one more call would have passed it
    assert sum(costs) + sum(costs) / len(costs) > 0.002
    assert sweep.stop_reason == "budget"


def test_rate_limits_slow_the_sweep_down_and_every_cell_ends_ok(client_on: ClientOn) -> None:
    with serve(seed=2, speed=0.02, faults={"rate_limit": 0.25}) as gw:
        sweep = Sweep([f"rl {i}" for i in range(16)], models=["gpt-4o-mini"], concurrency=6, client=client_on(gw),
                      ledger=None, progress=False, stream=False)
        df = asyncio.run(sweep.run())
        assert (df.status == "ok").all() and len(df) == 16
        assert gw.stats.faults.get("rate_limit", 0) >= 1
        assert sweep.limiter is not None and sweep.limiter.rate_limited == gw.stats.faults["rate_limit"]
        assert df["attempts"].astype(int).sum() == 16 + gw.stats.faults["rate_limit"]
        # Retry-After honoured: a cell's next attempt arrives no sooner than Retry-After after its 429
        reqs = [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]
        by_prompt: dict[str, list[dict]] = {}
        for r in reqs:
            by_prompt.setdefault(r["body"]["messages"][0]["content"], []).append(r)
        retry_after = 1.0  # whole seconds, as servers send it (a nominal 1 s x speed, rounded up)
        for attempts in by_prompt.values():
            for prev, nxt in zip(attempts, attempts[1:], strict=False):
                assert prev["status"] == 429
                assert nxt["received_at"] - prev["received_at"] >= retry_after - 0.002


def test_a_429_halves_the_limit_and_pauses_every_cell_for_retry_after(monkeypatch: pytest.MonkeyPatch,
                                                                      client_on: ClientOn) -> None:
    import auriko_nb.measure.sweep as sweep_mod
    from auriko_nb.measure.limiter import AdaptiveLimiter

    acquired: list[float] = []  # when each call got its slot (monotonic, the clock of the gateway's received_at)
    handled: list[tuple[float, float, float | None, int]] = []  # a 429 handled: (began, done, retry_after, limit)

    class Recording(AdaptiveLimiter):
        async def acquire(self) -> None:
            await super().acquire()
            acquired.append(time.monotonic())

        async def rate_limited_for(self, retry_after: float | None) -> None:
            began = time.monotonic()
            await super().rate_limited_for(retry_after)
            handled.append((began, time.monotonic(), retry_after, self.limit))
    monkeypatch.setattr(sweep_mod, "AdaptiveLimiter", Recording)

    speed, concurrency = 0.25, 8
    retry_after = 1.0  # what the gateway's simulated rate limit sends: Retry-After in whole seconds, rounded up
    with serve(seed=2, speed=speed, faults={"rate_limit": 0.25}, fixed_latency_ms=60) as gw:  # calls take 15 ms
        sweep = Sweep([f"pause {i}" for i in range(20)], models=["gpt-4o-mini"], concurrency=concurrency,
                      client=client_on(gw), ledger=None, progress=False)
        df = asyncio.run(sweep.run())
        reqs = [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]
    assert (df.status == "ok").all() and len(df) == 20
    answered_429 = [r["received_at"] for r in reqs if r["status"] == 429]
    assert len(answered_429) >= 2 and len(handled) == len(answered_429) and len(acquired) == len(reqs)
    assert all(ra == retry_after for _, _, ra, _ in handled)
    # the limit halves: 8 -> 4 on the first 429, and 20 cells are too few to win it all back (4+5+6+7 successes)
    assert isinstance(sweep.limiter, Recording) and handled[0][3] == concurrency // 2
    assert sweep.limiter.limit < concurrency
    # Every cell waits, not just the one that got the 429: after a 429 answered at t, a request reaches the
    # gateway before t + Retry-After only if it had its slot before the sweep handled that 429 (it was on its way).
    for t in answered_429:
        done = min(d for began, d, _, _ in handled if began >= t)  # a 429 handled after this one was answered
        on_their_way = sum(a < done for a in acquired) - sum(r["received_at"] <= t for r in reqs)
        early = [r for r in reqs if t < r["received_at"] < t + retry_after - 0.002]
        assert len(early) <= on_their_way, (t, [(r["received_at"] - t, r["status"]) for r in early])


def test_resume_runs_exactly_the_missing_cells(tmp_path: Path, client_on: ClientOn) -> None:
    ledger = Ledger(tmp_path / "resume.sqlite")
    grid = dict(models=["gpt-4o-mini", "deepseek-chat"], strategies=["cost", "balanced"], ledger=ledger,
                progress=False, stream=False, max_retries=0)
    with serve(seed=4, speed=0.02, faults={"server_error": 0.3}) as bad:
        first = compare(PROMPTS, client=client_on(bad), **grid)
    failed = set(first.loc[first.status != "ok", "cell"])
    assert failed and len(first) == 8
    run_id = first["run_id"].iloc[0]
    with serve(seed=4, speed=0.02) as good:
        second = compare(PROMPTS, client=client_on(good), resume=run_id, **grid)
        sent = [r for r in good.stats.requests if r["path"] == "/v1/chat/completions"]
    assert len(sent) == len(failed)
    assert len(second) == 8 and (second.status == "ok").all() and second["cell"].is_unique
    assert set(second["run_id"]) == {run_id}
    ok_before = first.loc[first.status == "ok", "call_id"]
    assert set(ok_before) <= set(second["call_id"])  # finished cells were not re-run


def test_cancel_keeps_finished_rows_and_marks_the_rest(gw: GatewayHandle, client_on: ClientOn) -> None:
    rows: list[dict] = []
    sweep = Sweep([f"cancel {i}" for i in range(40)], models=["gpt-4o"], concurrency=2, client=client_on(gw),
                  ledger=None, progress=False, on_row=rows.append)

    async def go() -> None:
        task = asyncio.create_task(sweep.run())
        while len(rows) < 3:
            await asyncio.sleep(0.01)
        sweep.cancel(now=True)
        await task
    asyncio.run(go())
    df = sweep.results
    assert len(df) == 40 and df["cell"].is_unique
    assert (df.status == "ok").sum() >= 3 and (df.status == "cancelled").sum() >= 30
    assert set(df.status) <= {"ok", "cancelled"}


def test_compare_works_inside_a_running_event_loop(gw: GatewayHandle, client_on: ClientOn) -> None:
    async def notebook_cell() -> object:
        return compare(["hi from a notebook"], models=["gpt-4o-mini"], client=client_on(gw), ledger=None,
                       progress=False)
    df = asyncio.run(notebook_cell())
    assert len(df) == 1 and df.status.iloc[0] == "ok"


def test_compare_without_a_client_or_key_runs_on_the_offline_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    connect_mod = importlib.import_module("auriko_nb.notebook.connect")  # the module (ak.connect is the function)
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    monkeypatch.delenv("AURIKO_BASE_URL", raising=False)
    monkeypatch.delenv("AURIKO_NB_OFFLINE_SEED", raising=False)
    monkeypatch.setenv("AURIKO_NB_OFFLINE_SPEED", "0.02")
    started: dict[tuple[int, float], GatewayHandle] = {}
    monkeypatch.setattr(connect_mod, "_gateways", started)  # only this test's embedded gateway, stopped below
    try:
        df = ak.compare(["hi"], models=["gpt-4o-mini"], ledger=None, progress=False)
    finally:
        for g in started.values():
            g.stop()
    assert list(started) == [(0, 0.02)]  # ak.connect()'s gateway, at the speed from the environment
    assert len(df) == 1 and (df.source == "offline").all() and (df.status == "ok").all()
    assert started[(0, 0.02)].stats.successes == 1


def test_keyboard_interrupt_in_a_notebook_keeps_rows(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch,
                                                     client_on: ClientOn) -> None:
    import auriko_nb.measure.sweep as sweep_mod
    real_join = threading.Thread.join
    rows: list[dict] = []
    fired = {"done": False}

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        if self.name.startswith("auriko-sweep") and len(rows) >= 2 and not fired["done"]:
            fired["done"] = True
            raise KeyboardInterrupt  # what Ctrl-C (the kernel's interrupt) does to the waiting cell
        real_join(self, timeout)
    monkeypatch.setattr(threading.Thread, "join", join)

    async def cell() -> object:
        with pytest.warns(UserWarning, match="interrupted"):
            return sweep_mod.compare([f"k {i}" for i in range(200)], models=["gpt-4o"], concurrency=2,
                                     client=client_on(gw), ledger=None, progress=False, on_row=rows.append)
    df = asyncio.run(cell())
    assert fired["done"] and len(df) == 200 and df["cell"].is_unique
    assert (df.status == "cancelled").sum() > 0 and (df.status == "ok").sum() >= 2


def test_a_killed_sweep_leaves_a_ledger_that_resume_completes(tmp_path: Path, client_on: ClientOn) -> None:
    db = tmp_path / "killed.sqlite"
    script = textwrap.dedent(f"""
        import auriko_nb as ak
        from auriko_nb.offline import serve
        from auriko_nb.measure.sweep import compare
        gw = serve(seed=5, speed=0.05)
        compare([f"kill {{i}}" for i in range(40)], models=["gpt-4o-mini"], concurrency=2, run_id="run-killed",
                client=ak.Client("{KEY}", base_url=gw.base_url), ledger={str(db)!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and len(Ledger(db)) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ledger = Ledger(db)
    before = ledger.to_dataframe(run_id="run-killed")
    assert 5 <= len(before) < 40 and before["cell"].is_unique and (before.status == "ok").all()
    with serve(seed=5, speed=0.02) as gw:
        after = compare([f"kill {i}" for i in range(40)], models=["gpt-4o-mini"], resume="run-killed",
                        client=client_on(gw), ledger=ledger, progress=False)
        sent = [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]
    assert len(sent) == 40 - len(before)
    assert len(after) == 40 and (after.status == "ok").all() and after["cell"].is_unique


def test_hundreds_of_calls_finish_near_the_ideal_time(client_on: ClientOn) -> None:
    # every call's TTFT is pinned to 200 ms with the answer right after, so the ideal is exact: 300 calls, 30 at a
    # time -> 10 rounds of 200 ms = 2.0 s. Measured 2.3-2.4 s alone, 3.6 s once inside the full suite on 2 cores;
    # 5.6 s with the load average at 5 on 2 cores. The bound (4x) holds on a busy machine and still fails a sweep
    # that lost its concurrency (one at a time: 60 s; a cap of k/2: 4 s + overhead); a starved client may not fill
    # every slot at once, so `max_in_flight` must reach 80% of k (and never pass it: test_concurrency_never_exceeds).
    # How near the ideal it gets is measured in bench/ (BENCHMARKS.md).
    calls, k, latency_s = 300, 30, 0.2
    with serve(seed=6, speed=1.0, fixed_latency_ms=latency_s * 1000) as gw:
        compare("warm-up", models=["gpt-4o-mini"], client=client_on(gw), ledger=None, progress=False)  # imports
        t0 = time.perf_counter()
        df = compare([f"bulk {i}" for i in range(calls)], models=["gpt-4o-mini"], concurrency=k,
                     client=client_on(gw), ledger=None, progress=False)
        wall = time.perf_counter() - t0
        assert 0.8 * k <= gw.stats.max_in_flight <= k
    assert (df.status == "ok").all() and len(df) == calls
    assert (df["latency_ms"].astype(float) >= latency_s * 1000).all()  # the pin holds: no call was faster
    ideal = calls / k * latency_s
    assert wall <= 4 * ideal, (wall, ideal)


def test_bad_sweep_arguments_fail_fast() -> None:
    for kwargs, msg in [(dict(models=[]), "models"), (dict(models=["m"], strategies=["cheapest"]), "cheapest"),
                        (dict(models=["m"], repeats=0), "repeats"), (dict(models=["m"], concurrency=0), "concurrency"),
                        (dict(models=["m"], budget_usd=-1), "budget_usd")]:
        with pytest.raises(ValueError, match=msg):
            Sweep(["p"], ledger=None, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prompts"):
        Sweep([""], models=["m"], ledger=None)
    json.dumps({})


def test_ctrl_c_in_a_script_cancels_in_flight_and_keeps_finished_rows(tmp_path: Path) -> None:
    db = tmp_path / "sigint.sqlite"
    script = textwrap.dedent(f"""
        import sys, warnings
        import auriko_nb as ak
        from auriko_nb.offline import serve
        gw = serve(seed=8, speed=0.05)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = ak.compare([f"int {{i}}" for i in range(200)], models=["gpt-4o"], concurrency=2, ledger={str(db)!r},
                            client=ak.Client("{KEY}", base_url=gw.base_url), progress=False)
        print("ROWS", len(df), int((df.status == "ok").sum()), int((df.status == "cancelled").sum()), flush=True)
        print("WARN", any("interrupted" in str(w.message) for w in caught), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (db.exists() and len(Ledger(db)) >= 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    rows = dict(line.split(" ", 1) for line in out.strip().splitlines())
    total, ok, cancelled = map(int, rows["ROWS"].split())
    assert total == 200 and ok >= 4 and cancelled >= 100 and ok + cancelled == 200
    assert rows["WARN"] == "True"
    ledger_rows = Ledger(db).to_dataframe()
    assert len(ledger_rows) == 200 and ledger_rows["cell"].is_unique


def test_a_failing_on_row_stops_the_sweep_raises_its_error_and_keeps_every_row(gw: GatewayHandle,
                                                                                 client_on: ClientOn) -> None:
    seen: list[dict] = []

    def on_row(row: dict) -> None:
        seen.append(row)
        if len(seen) == 2:
            raise RuntimeError("my dashboard is down")

    sweep = Sweep([f"hook {i}" for i in range(12)], models=["gpt-4o"], concurrency=1, client=client_on(gw),
                  ledger=None, progress=False, on_row=on_row)
    with pytest.raises(RuntimeError, match="my dashboard is down"):
        asyncio.run(sweep.run())
    df = sweep.results
    assert len(df) == 12 and df["cell"].is_unique  # nothing collected is lost; the cells left are marked
    assert (df.status == "ok").sum() >= 2 and (df.status == "cancelled").sum() >= 9
    assert set(df.loc[df.status == "cancelled", "error_code"]) == {"hook_failed"}
    assert sweep.stop_reason == "hook_failed"


# -- prompts with expectations and quality checks (issue 14) ------------------------------------------------

TASKS = [{"prompt": "What is 17 * 23?", "expect": 391, "id": "arith-1", "kind": "arithmetic"},
         {"prompt": "What is 128 + 256?", "expect": 384, "id": "arith-2", "kind": "arithmetic"},
         {"prompt": "What is the capital of France?", "expect": "Paris", "id": "capital-1", "kind": "capital",
          "checks": [ak.measure.checks.contains()]},
         {"prompt": "Explain TTFT in one line", "id": "free"}]


def _last_number(text: str) -> float | None:
    from auriko_nb.measure.checks import find_numbers

    found = find_numbers(text)
    return found[-1] if found else None


def test_a_sweep_over_a_task_set_with_checks_fills_passed_score_and_checks_failed(
        gw: GatewayHandle, tmp_path: Path, client_on: ClientOn) -> None:
    from auriko_nb.measure.checks import number

    ledger = Ledger(tmp_path / "l.sqlite")
    is_short = ak.measure.checks.as_check(lambda text: len(text) < 2000)
    arith = TASKS[:2]
    cmp = compare(TASKS, models=["llama-3.3-70b", "gpt-4o-mini"], repeats=2, client=client_on(gw), ledger=ledger,
                  progress=False, max_tokens=40, checks=is_short)
    arith_cmp = compare(arith, models=["llama-3.3-70b"], repeats=3, client=client_on(gw), ledger=None,
                        progress=False, max_tokens=40, checks=[number()])
    df = cmp.rows
    assert len(df) == 4 * 2 * 2 and set(df.status) == {"ok"}
    assert df.groupby("prompt_label")["prompt_id"].nunique().eq(1).all()  # one prompt_id per prompt, as before
    assert df.groupby("prompt_id")["prompt_label"].nunique().eq(1).all()
    assert sorted(set(df.prompt_label)) == ["arith-1", "arith-2", "capital-1", "free"]
    assert (df.prompt_text == df.prompt_label.map({t["id"]: t["prompt"] for t in TASKS})).all()
    assert df.answer_text.map(lambda t: isinstance(t, str) and len(t) > 0).all()
    capital = df[df.prompt_label == "capital-1"]
    assert (capital.passed == capital.answer_text.str.lower().str.contains("paris")).all()
    assert set(capital.score) <= {0.5, 1.0} and set(df[df.prompt_label != "capital-1"].score) == {1.0}
    for row in df.to_dict("records"):
        failed = json.loads(row["checks_failed"])
        assert (failed == []) is bool(row["passed"])
        assert all(f["check"] == "contains" and "paris" in f["reason"].lower() and not f["errored"] for f in failed)
    arith_rows = arith_cmp.rows
    want = arith_rows.prompt_label.map({t["id"]: float(t["expect"]) for t in arith})
    got = arith_rows.answer_text.map(_last_number)
    assert (arith_rows.passed == (got.sub(want).abs() < 1e-6)).all()
    assert (arith_rows.score == arith_rows.passed.astype(float)).all()
    stored_rows = ledger.to_dataframe(run_id=cmp.grid.run_id).set_index("cell").loc[df["cell"]]
    for col in ("prompt_label", "passed", "score", "checks_failed"):
        assert stored_rows[col].tolist() == df[col].tolist(), col
    assert stored_rows["prompt_text"].isna().all() and stored_rows["answer_text"].isna().all()  # no text by default


def test_without_checks_the_check_columns_stay_empty_and_failed_calls_get_no_verdict(client_on: ClientOn) -> None:
    with serve(seed=3, speed=0.02, faults={"server_error": 0.4}) as gw:
        plain = compare(["Say hi", "Say bye"], models=["gpt-4o-mini"], client=client_on(gw), ledger=None,
                        progress=False, max_tokens=10)
        checked = compare(["Say hi", "Say bye"] * 3, models=["gpt-4o-mini"], client=client_on(gw), ledger=None,
                          progress=False, max_tokens=10, max_retries=0, stream=False,
                          checks=ak.measure.checks.regex(r"\w"))
    assert plain.rows[["passed", "score", "checks_failed"]].isna().all().all()
    assert plain.rows["prompt_label"].tolist() == ["p1", "p2"]
    failed, ok = checked.rows[checked.status == "error"], checked.rows[checked.status == "ok"]
    assert len(failed) >= 1 and len(ok) >= 1  # the seed gives both kinds
    assert failed[["passed", "score", "checks_failed", "answer_text"]].isna().all().all()
    assert failed["prompt_label"].notna().all() and failed["prompt_text"].notna().all()
    assert ok["passed"].all() and (ok["checks_failed"] == "[]").all()


def test_a_raising_check_marks_its_rows_errored_and_the_sweep_goes_on(gw: GatewayHandle, client_on: ClientOn) -> None:
    def fragile(text: str) -> bool:
        raise KeyError("no grader for this")

    cmp = compare(["Explain TTFT", "Name a colour"], models=["gpt-4o", "gpt-4o-mini"], client=client_on(gw),
                  ledger=None, progress=False, max_tokens=20, checks=[fragile, ak.measure.checks.regex(".")])
    df = cmp.rows
    assert len(df) == 4 and set(df.status) == {"ok"}
    assert (df.passed == False).all() and (df.score == 0.5).all()  # noqa: E712 - a boolean column
    for failed in df.checks_failed.map(json.loads):
        assert failed == [{"check": "fragile", "reason": "KeyError: 'no grader for this'", "errored": True}]


@pytest.mark.parametrize(("kwargs", "error", "says"), [
    (dict(checks=["contains"]), "CheckError", "checks: 'contains' is not a check"),
    (dict(checks=[42]), "CheckError", "checks: 42 is not a check"),
    (dict(checks="contains"), "CheckError", "'contains' is not a check"),
    (dict(checks=ak.measure.checks.contains), "CheckError", "contains makes a check: call it"),
    (dict(prompts=[{"prompt": "ok"}, {"expect": 3}]), "RequestValidationError", "prompts: item 2 has no 'prompt'"),
    (dict(prompts=[{"prompt": "a", "id": "x"}, {"prompt": "b", "id": "x"}]), "RequestValidationError",
     "ids must be unique"),
    (dict(prompts=[{"prompt": "a", "checks": [3]}]), "CheckError", "prompts: item 1: checks: 3 is not a check"),
])
def test_bad_checks_and_prompts_are_one_line_before_any_call(gw: GatewayHandle, client_on: ClientOn,
                                                             kwargs: dict, error: str, says: str) -> None:
    prompts = kwargs.pop("prompts", ["Say hi"])
    for run in (lambda: compare(prompts, models=["gpt-4o-mini"], client=client_on(gw), ledger=None,
                                progress=False, **kwargs),
                lambda: Sweep(prompts, models=["gpt-4o-mini"], client=client_on(gw), ledger=None, **kwargs)):
        with pytest.raises(ValueError) as err:
            run()
        assert type(err.value).__name__ == error and says in str(err.value) and "\n" not in str(err.value)
    assert gw.stats.requests == [] and gw.stats.successes == 0  # nothing was sent


def test_a_bad_regex_or_schema_is_refused_before_any_call(gw: GatewayHandle, client_on: ClientOn) -> None:
    from auriko_nb.errors import CheckError
    from auriko_nb.measure.checks import json_schema, regex

    with pytest.raises(CheckError, match=r"^regex: bad pattern '\[a-': "):
        compare(["Say hi"], models=["gpt-4o-mini"], client=client_on(gw), ledger=None, progress=False,
                checks=[regex("[a-")])
    with pytest.raises(CheckError, match="^json_schema: not a valid JSON Schema"):
        compare(["Say hi"], models=["gpt-4o-mini"], client=client_on(gw), ledger=None, progress=False,
                checks=json_schema({"type": 12}))
    assert gw.stats.requests == []


def test_compare_async_takes_a_dataframe_of_prompts_and_checks(gw: GatewayHandle, client_on: ClientOn) -> None:
    import pandas as pd

    from auriko_nb.measure.checks import contains
    from auriko_nb.measure.sweep import compare_async

    frame = pd.DataFrame({"prompt": ["What is the capital of France?", "What is 12 * 12?"],
                          "expect": ["Paris", "144"], "id": ["fr", "sq"]})
    cmp = asyncio.run(compare_async(frame, models=["gpt-4o"], client=client_on(gw), ledger=None, progress=False,
                                    checks=contains(), max_tokens=30))
    df = cmp.rows
    assert df["prompt_label"].tolist() == ["fr", "sq"] and df["passed"].notna().all()
    assert bool(df.passed.iloc[0]) == ("paris" in df.answer_text.iloc[0].lower())
    assert bool(df.passed.iloc[1]) == ("144" in df.answer_text.iloc[1])
