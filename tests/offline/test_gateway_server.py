"""serve() start/stop in a background thread, and the `auriko-nb serve` command in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import httpx
import pytest
from gateway_helpers import AUTH, chat

from auriko_nb.cli import build_parser, main
from auriko_nb.offline import serve


def test_serve_start_stop_is_quick_and_idempotent() -> None:
    t0 = time.monotonic()
    gw = serve(seed=1, speed=0.05)
    assert time.monotonic() - t0 < 5
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", gw.base_url) and gw.url + "/v1" == gw.base_url
    assert gw.port > 0 and gw.running and gw.app.state.sim.stats is gw.stats
    assert httpx.get(gw.base_url + "/registry/providers").status_code == 200
    gw.stop()
    gw.stop()  # idempotent
    assert not gw.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(gw.base_url + "/registry/providers", timeout=1)


def test_stop_returns_quickly_with_a_stalled_request_open() -> None:
    with serve(speed=0.05) as gw:
        errors: list[BaseException] = []

        def stalled() -> None:
            try:
                httpx.post(gw.base_url + "/chat/completions", json=chat(), headers={**AUTH, "X-Auriko-Fault": "stall"},
                           timeout=20)
            except BaseException as e:  # the server goes away under the request
                errors.append(e)

        t = threading.Thread(target=stalled, daemon=True)
        t.start()
        deadline = time.monotonic() + 2
        while gw.stats.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gw.stats.in_flight == 1
        t0 = time.monotonic()
        gw.stop()
        assert time.monotonic() - t0 < 4
    t.join(5)


def test_two_gateways_are_independent() -> None:
    with serve(seed=1, speed=0.01) as a, serve(seed=2, speed=0.01) as b:
        assert a.port != b.port
        httpx.post(a.base_url + "/chat/completions", json=chat(), headers=AUTH)
        assert len(a.stats.requests) == 1 and b.stats.requests == []


def test_cli_parser_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--fault-rate", "rate_limit=0.1",
                                      "--fault-rate", "stall=0.01", "--speed", "0.5"])
    assert args.command == "serve" and args.fault_rate == [("rate_limit", 0.1), ("stall", 0.01)] and args.speed == 0.5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--fault-rate", "rate_limit"])
    assert main(["serve", "--port", "0", "--fault-rate", "meteor=0.1"]) == 2
    assert "unknown fault kind" in capsys.readouterr().err


def test_cli_serve_subprocess() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auriko_nb.cli", "serve", "--port", "0", "--seed", "3", "--speed", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line
        base = match.group(1)
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.get(base + "/models", headers=AUTH, timeout=2)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status_code == 200 and r.headers["x-auriko-offline"] == "simulation"
        assert len(r.json()["data"]) >= 10
        ok = httpx.post(base + "/chat/completions", json=chat(stream=True), headers=AUTH, timeout=5)
        assert ok.text.endswith("data: [DONE]\n\n")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode is not None
