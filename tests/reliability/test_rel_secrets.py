"""Secrets never leak: with a random canary key, every magic option and subcommand, every error path (each
status, each injected fault, dropped and refused connections, timeouts, and servers that echo the
Authorization header back) and the reprs of every public object are searched, together with the displays,
stdout/stderr, exception texts and tracebacks, records, the ledger files on disk and DEBUG logs: zero hits.
The notebooks are covered by test_rel_secrets_notebooks.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import IPython.testing.globalipapp as globalipapp
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from rel_support import canary_key, figure, free_port, key_fragments

import auriko_nb as ak
from auriko_nb.measure.ledger import Ledger
from auriko_nb.notebook.magics import CONFIG_KEYS, AurikoMagics
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import FAULT_KINDS, GatewayHandle, serve

KEY = canary_key()
LOGIN_KEY = canary_key()  # typed at %auriko login's hidden prompt


def leaks(text: str, keys: tuple[str, ...] = (KEY, LOGIN_KEY)) -> list[str]:
    """The key fragments found in `text` (empty when clean)."""
    return [frag for key in keys for frag in key_fragments(key) if frag in text]


def files_text(root: Path) -> str:
    """Every file under `root` (SQLite ledgers with their -wal/-shm files included) as text."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file())


def error_texts(err: BaseException) -> list[str]:
    """Everything an exception can print: str, repr, attributes, args and the full formatted traceback."""
    out = [str(err), repr(err), repr(err.args), "".join(traceback.format_exception(type(err), err, err.__traceback__))]
    out.append(repr(vars(err)))
    return out


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=21, speed=0.02) as g:
        yield g


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "auriko_nb", "uvicorn", "asyncio", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog


# -- magics -----------------------------------------------------------------------------------------------

OPTION_CELLS = [
    "%%auriko -m llama-3.3-70b -s ttft --max-ttft-ms 900 --max-cost-per-1m 5 --min-tps 20 --providers groq,cerebras "
    "--exclude together --prefer groq --require-parameters --system 'be terse' --temperature 0.3 --max-tokens 25 "
    "--param top_p=0.9 --param 'stop=[\"END\"]' --tag exp-1 --tag nb --trace-id tr-9 --no-stream\nHello there",
    "%%auriko --no-optimize --format text\nPlain text please",
    "%%auriko --format code --deadline 30\nSome code",
    "%%auriko --format json --max-tokens 20\nSome JSON",
    "%%auriko --format markdown -o saved\nMarkdown",
    "%%auriko captured << -m gpt-4o\nCaptured",
    "%%auriko --chat\nFirst turn",
    "%%auriko --chat --no-stream\nSecond turn about {{topic}}",
    "%%auriko --compare optimize=cost,ttft-focus,none --repeat 2 --max-tokens 10\nCompare strategies",
    "%%auriko -s balanced --compare model=gpt-4o-mini,deepseek-chat --no-stream\nCompare models",
]
SUBCOMMANDS = (["%auriko", "%auriko help", "%auriko status", "%auriko use live", "%auriko use auto",
                "%auriko config"]
               + [f"%auriko config {k}={v}" for k, v in zip(CONFIG_KEYS, (
                   "gpt-4o-mini", "cost-focus", "5000", "50", "1", "groq,openai", "together", "openai", "none",
                   "true", "64", "{ledger}", "0.02", "true"), strict=True)]
               + ["%auriko config optimize=off", "%auriko config optimize=balanced max_tokens=none",
                  "%auriko models", "%auriko models llama", "%auriko providers", "%auriko prices gpt-4o",
                  "%auriko me", "%auriko balance", "%auriko log", "%auriko log 3", "%auriko reset",
                  "%auriko routing", "%auriko compare", "%auriko login", "%auriko status", "%auriko use offline",
                  "%auriko status", "%auriko use live"])
USAGE_ERRORS = ["%%auriko --bogus\nhi", "%%auriko -m\nhi", "%%auriko --max-tokens many\nhi", "%%auriko -s fastest\nhi",
                "%%auriko --tag " + "x" * 60 + "\nhi", "%%auriko\n   ", "%%auriko\n{{nope}}",
                "%%auriko -m no-such-model\nhi", "%%auriko --max-ttft-ms 1\nhi", "%%auriko --max-cost-per-1m 0.0001\nhi",
                "%auriko frobnicate", "%auriko config colour=blue", "%auriko prices nope", "%auriko use sideways",
                "%auriko log many", "%auriko compare now"]


def test_every_magic_option_subcommand_and_error_keeps_the_key_out(
        gw: GatewayHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        debug_logs: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": LOGIN_KEY)
    ledger = tmp_path / "magic-ledger.sqlite"
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.display_pub = CapturingDisplayPublisher()
    magics = AurikoMagics(shell)
    shell.register_magics(magics)
    shell.user_ns["topic"] = "rate limits"
    texts: list[str] = []
    cells = 0
    try:
        for cell in OPTION_CELLS + [c.format(ledger=ledger) for c in SUBCOMMANDS]:
            result = shell.run_cell(cell)
            assert result.success, (cell, result.error_in_exec)
            texts.append(repr(result.result))
            cells += 1
        status = capsys.readouterr()
        texts += [status.out, status.err]
        # %auriko status says whether a key is set, never what it is
        lines = [ln for ln in status.out.splitlines() if ln.startswith("connection:")]
        assert any(ln.endswith("API key set") and "live API" in ln for ln in lines), lines
        for cell in USAGE_ERRORS:
            assert not shell.run_cell(cell).success, cell
            cells += 1
        # every injected fault, through the magic, streamed and not (the gateway answers with each one)
        for kind in FAULT_KINDS:
            with serve(seed=22, speed=0.02, faults={kind: 1.0, "stall_seconds": 0.05}) as faulty:
                monkeypatch.setenv("AURIKO_BASE_URL", faulty.base_url)
                shell.run_cell("%auriko use live")
                for cell in ("%%auriko -m gpt-4o-mini\nfault", "%%auriko -m gpt-4o-mini --no-stream\nfault"):
                    assert not shell.run_cell(cell).success, (kind, cell)
                    cells += 1
                monkeypatch.setenv("AURIKO_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
                shell.run_cell("%auriko use live")
        assert not shell.run_cell("%%auriko --no-stream\nnobody listens").success  # connection refused
        out = capsys.readouterr()
        texts += [out.out, out.err]
        # one line per failed cell: "UsageError: ..." for the magic's use, the class name for API errors (issue 15)
        labels = re.findall(r"^(\w+Error): ", out.err, re.M)
        assert len(labels) >= len(USAGE_ERRORS) + 2 * len(FAULT_KINDS) + 1, out.err
        # nothing else was printed as a traceback
        assert "Traceback" not in out.out + out.err
    finally:
        magics.state.reconnect()
        settings.reset()
    texts.append(json.dumps([o["data"] for o in shell.display_pub.outputs], default=repr))
    texts += [repr(magics.state), repr(magics), repr(settings), repr(magics.state.records)]
    texts.append(debug_logs.text)
    texts.append(files_text(tmp_path))
    blob = "\n".join(texts)
    assert "ak_test_canary_" not in blob and not leaks(blob)
    assert len(magics.state.records) >= 20
    figure("secrets", "magic cells run", cells)
    figure("secrets", "magic text searched (chars)", len(blob))


def test_status_without_a_key_says_not_set(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    magics = AurikoMagics(shell, offline_speed=0.02)
    shell.register_magics(magics)
    try:
        assert shell.run_cell("%auriko status").success
    finally:
        magics.state.reconnect()
    out = capsys.readouterr().out
    assert "API key not set" in out and "offline simulation" in out and "ak_offline_simulation" not in out


def test_status_in_offline_mode_says_the_key_is_set_but_unused(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    key = canary_key()
    monkeypatch.setenv("AURIKO_API_KEY", key)
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    magics = AurikoMagics(shell, offline_speed=0.02)
    shell.register_magics(magics)
    try:
        assert shell.run_cell("%auriko use offline").success and shell.run_cell("%auriko status").success
    finally:
        magics.state.mode = "auto"
        magics.state.reconnect()
    out = capsys.readouterr().out
    assert "API key set (unused: mode offline)" in out and "offline simulation" in out
    assert not any(frag in out for frag in key_fragments(key))


# -- error paths ------------------------------------------------------------------------------------------

def _envelope(status: int, code: str, type_: str, message: str = "failed") -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": type_, "code": code}},
                          headers={"x-request-id": "req_secret_test"})


def _sse(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _echo(kind: str) -> Any:
    """A server (or proxy) that echoes the request's Authorization header back in its answer."""
    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        if kind == "envelope":
            return _envelope(401, "invalid_api_key", "authentication_error", f"Invalid API key: {auth}")
        if kind == "html":
            return httpx.Response(502, content=f"<html><title>{auth}</title><body>{auth}</body></html>".encode(),
                                  headers={"content-type": "text/html"})
        if kind == "partial":  # as some APIs do: part of the key
            return _envelope(401, "invalid_api_key", "authentication_error",
                             f"Incorrect API key provided: {auth[7:22]}****{auth[-4:]}")
        if kind == "ok-body":
            return httpx.Response(200, content=f"not json {auth}".encode(), headers={"content-type": "text/plain"})
        if kind == "stream":
            err = {"error": {"message": f"provider rejected {auth}", "type": "api_error", "code": "upstream_error",
                             "suggestion": f"check {auth}", "param": auth, "provider": auth}}
            return _sse(f"data: {json.dumps(err)}\n\n".encode())
        raise AssertionError(kind)
    return handler


SCRIPTED: list[tuple[str, Any, bool]] = [
    *[(f"{s}-{code}", _envelope(s, code, t), False) for s, code, t in [
        (400, "invalid_parameter_value", "invalid_request_error"), (401, "invalid_api_key", "authentication_error"),
        (403, "insufficient_permissions", "permission_error"), (404, "model_not_found", "not_found_error"),
        (409, "duplicate_resource", "invalid_request_error"), (413, "payload_too_large", "invalid_request_error"),
        (429, "budget_exhausted", "rate_limit_error"), (429, "rate_limit_exceeded", "rate_limit_error"),
        (500, "internal_error", "api_error"), (503, "no_provider_available", "api_error"),
        (504, "upstream_timeout", "api_error")]],
    ("html-502", httpx.Response(502, text="<html><title>Bad Gateway</title></html>"), False),
    ("not-json-200", httpx.Response(200, text="{trunc"), False),
    ("wrong-shape-200", httpx.Response(200, json=[1, 2]), False),
    ("stream-error", _sse(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"error":{"message":"m","type":"api_error",'
                          b'"code":"upstream_error"}}\n\n'), True),
    ("stream-garbage", _sse(b"data: {nope\n\n"), True),
    ("stream-incomplete", _sse(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'), True),
    ("stream-as-json", httpx.Response(200, json={"id": "x"}), True),
    ("connect-error", httpx.ConnectError("refused"), False),
    ("read-timeout", httpx.ReadTimeout("slow"), False),
    *[(f"echo-{k}", _echo(k), k == "stream") for k in ("envelope", "html", "partial", "ok-body", "stream")],
]


def test_every_error_path_keeps_the_key_out(gw: GatewayHandle, tmp_path: Path,
                                            debug_logs: pytest.LogCaptureFixture) -> None:
    ledger = Ledger(tmp_path / "errors.sqlite")
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    hooks = [rows.append, ledger]
    for name, response, stream in SCRIPTED:
        def handler(request: httpx.Request, response: Any = response) -> httpx.Response:
            if isinstance(response, Exception):
                raise response
            return response(request) if callable(response) else response
        client = ak.Client(KEY, base_url="http://gateway.test", transport=httpx.MockTransport(handler), max_retries=0,
                           on_record=hooks)
        with pytest.raises(ak.AurikoError) as info:
            if stream:
                client.chat("hi", model="m", stream=True).result
            else:
                client.chat("hi", model="m")
        texts += error_texts(info.value)
        assert "\n" not in str(info.value), name
    # the real loopback gateway: every injected fault, streamed and not; a refused port; a stalled read
    for kind in FAULT_KINDS:
        with serve(seed=23, speed=0.02, faults={kind: 1.0, "stall_seconds": 1.0}) as faulty:
            client = ak.Client(KEY, base_url=faulty.base_url, timeout=0.3, max_retries=1, on_record=hooks)
            for stream in (False, True):
                with pytest.raises(ak.AurikoError) as info:
                    if stream:
                        client.chat("fault", model="gpt-4o-mini", stream=True).result
                    else:
                        client.chat("fault", model="gpt-4o-mini")
                texts += error_texts(info.value)
            texts.append(repr(faulty.stats.requests))  # the gateway's own records drop the Authorization header
    with pytest.raises(ak.APIConnectionError) as refused:
        ak.Client(KEY, base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0, on_record=hooks).chat("hi", model="m")
    texts += error_texts(refused.value)
    # request validation errors, a sweep's errors and its budget refusal
    client = ak.Client(KEY, base_url=gw.base_url, on_record=hooks)
    for bad in (dict(metadata={"tags": ["x" * 51]}), dict(routing={"optimize": "fastest"}), dict(models=[])):
        with pytest.raises(ak.RequestValidationError) as info:
            client.chat("hi", model=None if "models" in bad else "gpt-4o", **bad)  # type: ignore[arg-type]
        texts += error_texts(info.value)
    with pytest.raises(ak.BudgetError) as budget:
        ak.compare(["x"] * 50, models=["gpt-4o"], client=client, budget_usd=1e-6, progress=False, ledger=ledger)
    texts += error_texts(budget.value)
    with serve(seed=24, speed=0.02, faults={"server_error": 0.5, "stream_error": 0.3}) as faulty:
        df = ak.compare([f"s{i}" for i in range(10)], models=["gpt-4o-mini"], ledger=ledger, progress=False,
                        client=ak.Client(KEY, base_url=faulty.base_url))
    texts.append(df.to_csv())
    # an async client and stream too
    async def async_paths() -> None:
        aclient = ak.AsyncClient(KEY, base_url=gw.base_url, on_record=hooks, max_retries=0)
        s = await aclient.chat("async", model="gpt-4o-mini", stream=True, extra_headers={"X-Auriko-Fault": "stream_error"})
        try:
            await s.get_result()
        except ak.StreamError as e:
            texts.extend(error_texts(e))
        texts.extend([repr(s), repr(aclient)])
        await aclient.aclose()
    asyncio.run(async_paths())
    ledger.close()
    texts += [repr(rows), debug_logs.text, files_text(tmp_path)]
    blob = "\n".join(texts)
    assert not leaks(blob), leaks(blob)
    assert len(rows) >= len(SCRIPTED) + 2 * len(FAULT_KINDS)
    figure("secrets", "error paths", len(SCRIPTED) + 2 * len(FAULT_KINDS) + 5)
    figure("secrets", "error text searched (chars)", len(blob))


# -- public objects ---------------------------------------------------------------------------------------

def test_reprs_of_every_public_object_keep_the_key_out(gw: GatewayHandle, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    objects: list[Any] = [getattr(ak, name) for name in ak.__all__]
    client = ak.Client(KEY, base_url=gw.base_url)
    connected = ak.connect()
    assert connected.source == "live" and connected.has_key
    aclient = ak.AsyncClient(KEY, base_url=gw.base_url)
    result = client.chat("hi", model="gpt-4o-mini", routing={"optimize": "cost"}, metadata={"tags": ["t"]})
    stream = client.chat("hi", model="gpt-4o-mini", stream=True)
    objects += [client, connected, aclient, result, stream]
    list(stream)
    objects += [stream, stream.result, result.to_record(), result.headers, result.routing_metadata, result.response,
                result.context]
    ledger = ak.Ledger(tmp_path / "objects.sqlite")
    sweep = ak.Sweep(["p"], models=["gpt-4o-mini"], client=client, ledger=ledger, progress=False)
    df = asyncio.run(sweep.run())
    comparison = ak.compare(["p"], models=["gpt-4o-mini"], client=client, ledger=ledger, progress=False)
    objects += [ledger, sweep, df, comparison, comparison.grid, ak.summarize(df), ak.pareto(df), ak.settings, ak.session_ledger(), gw, gw.stats,
                ak.Routing(optimize="cost"), ak.Metadata(tags=["a"]), ak.Gateway(), ak.ResponseHeaders(),
                ak.routing_panel(client=client), ak.compare_panel(client=client)]
    objects += [cls("message") for cls in (ak.AurikoError, ak.APIStatusError, ak.BadRequestError, ak.ConflictError,
                                            ak.AuthenticationError, ak.PermissionDeniedError, ak.NotFoundError,
                                            ak.RateLimitError, ak.ServerError, ak.APIConnectionError,
                                            ak.APITimeoutError, ak.StreamError, ak.MalformedResponseError,
                                            ak.RequestValidationError, ak.BudgetError)]
    texts: list[str] = []
    for obj in objects:
        texts += [repr(obj), str(obj)]
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            texts += [repr(v) for v in vars(obj).values()]
        if hasattr(obj, "_repr_html_") and not isinstance(obj, type):
            texts.append(str(obj._repr_html_()))
    for obj in (result, stream.result, result.to_record(), df):
        texts.append(pickle.dumps(obj).decode("latin-1"))
    asyncio.run(aclient.aclose())
    blob = "\n".join(texts)
    assert not leaks(blob, (KEY,))
    assert "api_key=set" in repr(client) and "api_key=set" in repr(connected)
    figure("secrets", "public objects checked", len(objects))
