"""The magics through a real IPython shell against a loopback offline gateway: options reach the gateway."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import IPython.testing.globalipapp as globalipapp
import pandas as pd
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher

import auriko_nb as ak
import auriko_nb.measure.ledger as ledger_mod
from auriko_nb.measure.ledger import Ledger
from auriko_nb.notebook.display import PLACEHOLDER, WAITING
from auriko_nb.notebook.magics import AurikoMagics
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import GatewayHandle, serve, task_set

KEY = "ak_test_magics_canary_7f3e9a"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=12, speed=0.02) as g:
        yield g


@pytest.fixture
def ip(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    settings.reset()
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.config.pop("AurikoMagics", None)
    shell.display_pub = CapturingDisplayPublisher()
    magics = AurikoMagics(shell)
    shell.register_magics(magics)
    shell.user_ns["_magics"] = magics
    yield shell
    magics.state.reconnect()
    shell.config.pop("AurikoMagics", None)  # `%config AurikoMagics.x = v` lands in the shell's config: the next
    if magics in shell.configurables:       # test's magics would start from it
        shell.configurables.remove(magics)
    settings.reset()


def run(ip: Any, cell: str) -> Any:
    result = ip.run_cell(cell)
    if not result.success:
        raise AssertionError(f"cell failed: {result.error_in_exec!r}")
    return result.result


def sent(gw: GatewayHandle) -> dict[str, Any]:
    body: dict[str, Any] = [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"][-1]["body"]
    return body


def outputs(ip: Any) -> list[dict[str, Any]]:
    return list(ip.display_pub.outputs)


def test_every_option_reaches_the_gateway(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%%auriko -m llama-3.3-70b -s ttft --max-ttft-ms 900 --max-cost-per-1m 5 --min-tps 20 "
            "--providers groq,cerebras,together --exclude together --prefer groq --require-parameters "
            "--system 'be terse' --temperature 0.3 --max-tokens 25 --param top_p=0.9 --param 'stop=[\"END\"]' "
            "--param seed=7 --tag exp-1 --tag nb --trace-id tr-9 --no-stream\nHello there")
    body = sent(gw)
    assert body["model"] == "llama-3.3-70b" and "stream" not in body
    assert body["messages"] == [{"role": "system", "content": "be terse"}, {"role": "user", "content": "Hello there"}]
    assert body["gateway"]["routing"] == {"optimize": "ttft", "max_ttft_ms": 900, "max_cost_per_1m": 5.0,
                                          "min_throughput_tps": 20.0, "providers": ["groq", "cerebras", "together"],
                                          "exclude_providers": ["together"], "prefer": "groq",
                                          "require_parameters": True}
    assert body["gateway"]["metadata"] == {"tags": ["exp-1", "nb"], "trace_id": "tr-9"}
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop"], body["seed"]) == (
        0.3, 25, 0.9, ["END"], 7)


def test_deadline_bounds_the_call_and_is_not_sent(ip: Any, gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float | None] = []
    client = ip.user_ns["_magics"].state.client()
    real = type(client)._send

    def spy(self: Any, prep: Any, stream: bool = False) -> Any:
        if prep.context is not None:  # the inference calls (not the model list the session reads once)
            seen.append(prep.deadline)
        return real(self, prep, stream)

    monkeypatch.setattr(type(client), "_send", spy)
    run(ip, "%%auriko --deadline 30\nHello in time")
    run(ip, "%%auriko --deadline 2.5 --no-stream\nHello again")
    assert seen == [30.0, 2.5]
    assert "deadline" not in sent(gw) and ip.user_ns["_magics"].state.records[-1]["status"] == "ok"


def test_streaming_grows_a_display_in_place_then_shows_the_footer(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%%auriko -m gpt-4o --max-tokens 80\nTell me about streaming")
    out = outputs(ip)
    assert sent(gw)["stream"] is True
    first = out[0]  # before the first token: a quiet waiting line, which the growing answer then replaces
    assert not first["update"] and "waiting for the first token…" in first["data"]["text/html"]
    assert first["data"]["text/plain"] == ""  # a saved notebook read without its updates shows nothing stale
    assert "color:#6b7280" in first["data"]["text/html"] and first["transient"]["display_id"] == out[1]["transient"][
        "display_id"]
    updates = [o for o in out if o["update"]]
    growing = [u["data"]["text/plain"] for u in updates[:-1]]
    assert len(growing) >= 1 and all(g for g in growing)  # the answer grew in place while streaming
    assert growing == sorted(growing, key=len) and ip.user_ns["_auriko"].text.startswith(growing[-1])
    assert updates[-1]["data"] == {"text/plain": "", "text/html": ""}  # the placeholder is emptied at the end
    finals = [o for o in out if not o["update"] and "text/markdown" in o["data"]]
    assert finals[-1]["data"]["text/markdown"] == ip.user_ns["_auriko"].text
    footer = out[-1]["data"]["text/plain"]
    assert "openai · gpt-4o" in footer and "TTFT" in footer and "offline simulation" in footer
    assert ip.user_ns["_auriko"].request_id[:12] + "…" in footer and ip.user_ns["_auriko"].request_id not in footer
    assert "no preference → cost-focus" in footer  # no strategy asked: the footer says what the gateway chose


def test_capture_and_out_store_the_result(ip: Any) -> None:
    assert run(ip, "%%auriko answer << --no-stream\nHi") is None
    assert ip.user_ns["answer"].text and ip.user_ns["answer"] is ip.user_ns["_auriko"]
    run(ip, "%%auriko -o second\nHi again")
    assert ip.user_ns["second"].routing_metadata.provider and ip.user_ns["second"] is ip.user_ns["_auriko"]


def test_braces_survive_and_double_braces_substitute(ip: Any, gw: GatewayHandle) -> None:
    ip.user_ns["lang"] = "TypeScript"
    ip.user_ns["cfg"] = type("Cfg", (), {"name": "prod"})()
    run(ip, "%%auriko --no-stream\nIn {{lang}} ({{ cfg.name }}): const x = {a: 1}; $\\frac{1}{2}$ and \\{{literal}}")
    assert sent(gw)["messages"][-1]["content"] == \
        "In TypeScript (prod): const x = {a: 1}; $\\frac{1}{2}$ and {{literal}}"


def test_chat_sends_the_history_and_reset_clears_it(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%%auriko --chat --no-stream\nFirst question")
    first_answer = ip.user_ns["_auriko"].text
    run(ip, "%%auriko --chat --no-stream\nFollow-up")
    assert sent(gw)["messages"] == [{"role": "user", "content": "First question"},
                                    {"role": "assistant", "content": first_answer},
                                    {"role": "user", "content": "Follow-up"}]
    run(ip, "%auriko reset")
    run(ip, "%%auriko --chat --no-stream\nFresh")
    assert sent(gw)["messages"] == [{"role": "user", "content": "Fresh"}]


def test_streamed_chat_joins_the_history_once_shown(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%%auriko --chat --max-tokens 20\nFirst, streamed")
    first = ip.user_ns["_auriko"]
    assert sent(gw)["stream"] is True and first.text
    run(ip, "%%auriko --chat --max-tokens 20\nSecond, streamed")
    assert sent(gw)["messages"] == [{"role": "user", "content": "First, streamed"},
                                    {"role": "assistant", "content": first.text},
                                    {"role": "user", "content": "Second, streamed"}]
    assert len(ip.user_ns["_magics"].state.history) == 4


def test_session_defaults_and_no_optimize(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%auriko config model=deepseek-chat optimize=cost-focus max_ttft_ms=2000 max_tokens=30 stream=false")
    run(ip, "%%auriko\nDefaults please")
    body = sent(gw)
    assert body["model"] == "deepseek-chat" and body["gateway"]["routing"] == {"optimize": "cost-focus",
                                                                               "max_ttft_ms": 2000}
    assert body["max_tokens"] == 30 and "stream" not in body
    run(ip, "%%auriko --no-optimize\nNo routing")
    assert "gateway" not in sent(gw)
    run(ip, "%%auriko -s ttft-focus\nOverride the strategy only")
    assert sent(gw)["gateway"]["routing"] == {"optimize": "ttft-focus", "max_ttft_ms": 2000}
    run(ip, "%auriko config optimize=off")
    run(ip, "%%auriko\nOff")
    assert "gateway" not in sent(gw)
    run(ip, "%config AurikoMagics.default_model = 'gpt-4o'")
    run(ip, "%%auriko\nTraitlets config")
    assert sent(gw)["model"] == "gpt-4o"


def test_compare_runs_a_sweep_and_shows_a_summary_and_chart(ip: Any) -> None:
    run(ip, "%%auriko -m llama-3.3-70b --compare optimize=cost-focus,ttft-focus,none --repeat 2 --max-tokens 20\n"
            "Compare me")
    df = ip.user_ns["_auriko"]
    assert isinstance(df, ak.Comparison) and isinstance(df.rows, pd.DataFrame)
    assert len(df) == 6 and (df.status == "ok").all() and df.grid is not None and df.grid.repeats == 2
    assert set(df["provider"]) >= {"deepinfra", "cerebras"}
    shown = outputs(ip)
    assert any("optimize" in o["data"].get("text/plain", "") and "ttft-focus" in o["data"]["text/plain"]
               for o in shown)
    assert any("(offline simulation)" in o["data"].get("text/plain", "") for o in shown)
    assert any("image/png" in o["data"] for o in shown)
    run(ip, "%%auriko res << --compare model=gpt-4o-mini,deepseek-chat\nCompare models")
    assert set(ip.user_ns["res"]["model_canonical"]) == {"gpt-4o-mini", "deepseek-chat"}


def test_compare_sends_the_system_message_and_summarises_by_model(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%%auriko --system 'Be terse.' --compare model=gpt-4o-mini,deepseek-chat --max-tokens 10\nHi")
    result = ip.user_ns["_auriko"]
    assert sent(gw)["messages"] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]
    assert result["prompt_id"].nunique() == 1
    assert set(result.summary()["model_requested"]) == {"gpt-4o-mini", "deepseek-chat"}


def test_subcommands_return_what_they_say(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%%auriko --no-stream\nSomething to log")
    models = run(ip, "%auriko models llama")
    assert list(models["id"]) == ["llama-3.3-70b"] and "groq" in models["providers"].iloc[0]
    assert len(run(ip, "%auriko models")) >= 11
    provs = run(ip, "%auriko providers")
    assert len(provs) >= 8 and {"id", "data_policy"} <= set(provs.columns)
    prices = run(ip, "%auriko prices llama-3.3-70b")
    assert len(prices) >= 5 and prices["input ($ per 1M tokens)"].min() == pytest.approx(0.13)
    me = run(ip, "%auriko me")
    assert me["workspace"]["id"]
    assert run(ip, "%auriko balance") > 0
    log = run(ip, "%auriko log 1")
    assert len(log) == 1 and log["status"].iloc[0] == "ok"
    ip.run_cell("df_log = %auriko log")
    assert isinstance(ip.user_ns["df_log"], pd.DataFrame) and len(ip.user_ns["df_log"]) >= 1
    run(ip, "%auriko status")
    run(ip, "%auriko help")
    out = capsys.readouterr().out
    assert "API key set" in out and "calls" in out and "%%auriko [VAR <<] [options]" in out


def test_use_and_login(ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%auriko use offline")
    run(ip, "%%auriko --no-stream\nOffline now")
    assert ip.user_ns["_auriko"].offline and ip.user_ns["_magics"].state.client().source == "offline"
    monkeypatch.setattr("getpass.getpass", lambda prompt="": KEY)
    run(ip, "%auriko login")
    client = ip.user_ns["_magics"].state.client()
    assert client.source == "live" and client.has_key
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "sk-not-auriko")
    assert not ip.run_cell("%auriko login").success
    out = capsys.readouterr()
    assert "start with 'ak_'" in out.err and "sk-not-auriko" not in out.out + out.err


@pytest.mark.parametrize(("cell", "message"), [
    ("%%auriko --bogus\nhi", "unrecognized arguments: --bogus"),
    ("%%auriko -m\nhi", "expected one argument"),
    ("%%auriko --max-tokens many\nhi", "expected a whole number"),
    ("%%auriko --deadline 0\nhi", "must be a finite number of seconds > 0"),
    ("%%auriko --deadline soon\nhi", "expected a number of seconds"),
    ("%%auriko --param deadline=5\nhi", "--param deadline=... is not allowed"),
    ("%%auriko --param chat=true\nhi", "--param chat=... is not allowed"),
    ("%%auriko -s ttft --compare optimize=cost,tps\nhi", "leave out -s/optimize"),
    ("%%auriko -m gpt-4o --compare model=gpt-4o-mini,deepseek-chat\nhi", "leave out -m/model="),
    ("%%auriko -s fastest\nhi", "invalid choice: 'fastest'"),
    ("%%auriko --tag " + "x" * 60 + "\nhi", "the limit is 50"),
    ("%%auriko\n   ", "the cell is empty"),
    ("%%auriko\nHello {{undefined_name}}", "no variable named 'undefined_name'"),
    # API errors carry their own class name, not "UsageError" (issue 15)
    ("%%auriko -m no-such-model\nhi", "NotFoundError: 404 model_not_found"),
    ("%%auriko --max-cost-per-1m 0.0001\nhi", "BadRequestError: 400 cost_constraint_exceeded"),
    ("%%auriko --param 'X-Auriko-Fault=1' --no-stream\nhi", "BadRequestError: 400 unknown_field"),  # the gateway refuses it
    ("%auriko frobnicate", "unknown subcommand 'frobnicate'"),
    ("%auriko config colour=blue", "expected key=value"),
    ("%auriko config max_tokens=lots", "whole number"),
    ("%auriko prices", "name one model"),
    ("%auriko prices nope", "no model 'nope'"),
    ("%auriko use sideways", "expected live, offline or auto"),
])
def test_errors_fail_the_cell_with_one_line_and_no_key(ip: Any, cell: str, message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = len(ip.user_ns["_magics"].state.records)
    result = ip.run_cell(cell)
    out = capsys.readouterr()
    text = out.out + out.err + json.dumps([o["data"] for o in outputs(ip)], default=str)
    assert KEY not in text
    assert not result.success
    err_lines = [ln for ln in out.err.splitlines() if ln.strip()]
    label = message.split(":")[0] + ": " if message.split(":")[0].endswith("Error") else "UsageError: "
    assert len(err_lines) == 1 and err_lines[0].startswith(label) and message in err_lines[0]
    assert "Traceback" not in out.err + out.out
    assert len(ip.user_ns["_magics"].state.records) >= before  # nothing collected is lost


def test_api_error_line_has_code_and_request_id(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_cell("%%auriko --max-ttft-ms 1\nhi")
    err = capsys.readouterr().err
    assert "latency_constraint_exceeded" in err and "request id req_" in err and "hint:" in err


def test_load_ext_registers_both_magics(gw: GatewayHandle) -> None:
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "auriko_nb")
    assert "auriko" in shell.magics_manager.magics["cell"] and "auriko" in shell.magics_manager.magics["line"]
    assert any(isinstance(c, AurikoMagics) for c in shell.configurables)


def test_routing_toggle_changes_what_the_next_cell_sends(ip: Any, gw: GatewayHandle) -> None:
    panel = run(ip, "%auriko routing")
    assert type(panel).__name__ == "RoutingPanel"
    panel.strategy.value = "ttft-focus"
    panel.max_ttft_ms.value = 1500
    run(ip, "%%auriko -m gpt-4o --no-stream\nAfter the toggle")
    assert sent(gw)["gateway"]["routing"] == {"optimize": "ttft-focus", "max_ttft_ms": 1500}
    assert json.loads(panel.preview_text) == {"optimize": "ttft-focus", "max_ttft_ms": 1500}
    panel.enabled.value = False
    run(ip, "%%auriko -m gpt-4o --no-stream\nRouting off")
    assert "gateway" not in sent(gw)
    panel.close()


def test_compare_subcommand_opens_the_panel(ip: Any) -> None:
    panel = run(ip, "%auriko compare")
    assert type(panel).__name__ == "ComparePanel" and "llama-3.3-70b" in panel.models.options
    assert not ip.run_cell("%auriko compare now").success


# -- the footer -------------------------------------------------------------------------------------------------

FOOTER = re.compile(
    r"^(?P<provider>[\w-]+) · (?P<model>[\w.-]+) · (?:(?P<asked>[\w -]+) → )?(?P<strategy>[\w-]+) · "
    r"(?:TTFT (?P<ttft_server>\d+) ms \(server\) · TTFT (?P<ttft_client>\d+) ms \(client\) · )?latency (?P<latency>\d+) ms · "
    r"(?P<prompt>\d+)→(?P<completion>\d+) tokens · \$(?P<cost>\d+\.\d{6}) · (?P<request_id>req_[0-9a-f]{8})… · "
    r"offline simulation(?P<warnings> · ⚠ .+)?$")
QUIET, WARNING_COLOUR = "#6b7280", "#b45309"


def chat_records(gw: GatewayHandle) -> list[dict[str, Any]]:
    return [r for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]


def footer_of(ip: Any) -> tuple[dict[str, Any], re.Match[str]]:
    """The cell's last output, which must be the footer: text and HTML, the text in the footer's shape."""
    footer: dict[str, Any] = outputs(ip)[-1]["data"]
    assert set(footer) == {"text/plain", "text/html"}
    m = FOOTER.match(footer["text/plain"])
    assert m, footer["text/plain"]
    return footer, m


def no_stream(stream: bool) -> str:
    return "" if stream else " --no-stream"


@pytest.mark.parametrize("stream", [False, True])
def test_footer_shows_every_field_of_the_call(ip: Any, gw: GatewayHandle, stream: bool) -> None:
    run(ip, f"%%auriko -m llama-3.3-70b -s ttft --providers groq --max-tokens 40{no_stream(stream)}\n"
            "What goes in a footer?")
    res, rec = ip.user_ns["_auriko"], chat_records(gw)[-1]
    footer, m = footer_of(ip)
    assert (m["provider"], m["model"], m["strategy"]) == ("groq", "llama-3.3-70b", "ttft") and rec["provider"] == "groq"
    assert rec["request_id"] == res.request_id  # the id the gateway gave this very call, shortened in the footer:
    assert res.request_id.startswith(m["request_id"]) and len(m["request_id"]) == 12 and m["asked"] is None
    latency = int(m["latency"])
    assert latency == round(res.latency_ms)
    if not stream:  # a non-streamed answer has no first token: the footer shows its latency alone
        assert res.ttft_ms is None and m["ttft_server"] is None and "TTFT" not in footer["text/plain"]
    else:
        assert m["ttft_server"] == f"{rec['ttft_ms']:.0f}"  # the TTFT the gateway applied, as it reported it
        ttft_server, ttft_client = int(m["ttft_server"]), int(m["ttft_client"])
        assert ttft_client == round(res.ttft_ms)
        assert ttft_client >= ttft_server - 1 and latency >= ttft_client - 1  # the client's clock spans the server's
    assert (int(m["prompt"]), int(m["completion"])) == (res.usage.prompt_tokens, res.usage.completion_tokens)
    assert 0 < int(m["completion"]) <= 40
    assert m["cost"] == f"{res.cost_usd:.6f}" and res.cost_usd > 0
    assert m["warnings"] is None and "⚠" not in footer["text/plain"]
    assert footer["text/html"] == (f'<div style="font-size:0.85em;color:{QUIET}">'
                                   f'{html.escape(footer["text/plain"])}</div>')


@pytest.mark.parametrize("stream", [False, True])
def test_footer_marks_a_dropped_parameter(ip: Any, gw: GatewayHandle, stream: bool) -> None:
    # groq serves llama-3.3-70b with seed but without logprobs: the gateway drops logprobs and says so
    run(ip, f"%%auriko -m llama-3.3-70b --providers groq --param logprobs=true --param seed=7{no_stream(stream)}\n"
            "Warn me")
    body, res = sent(gw), ip.user_ns["_auriko"]
    assert (body["logprobs"], body["seed"]) == (True, 7) and res.provider == "groq"
    warning = "parameter_dropped: logprobs is not supported by groq and was dropped."
    assert res.warnings == [warning]
    footer, m = footer_of(ip)
    assert m["provider"] == "groq" and m["warnings"] == f" · ⚠ {warning}"  # seed was kept: not flagged
    assert (m["asked"], m["strategy"]) == ("no preference", "cost-focus")  # asked nothing: the gateway's default
    assert footer["text/html"] == (f'<div style="font-size:0.85em;color:{WARNING_COLOUR}">'
                                   f'{html.escape(footer["text/plain"])}</div>')
    assert "⚠ parameter_dropped: logprobs" in footer["text/html"]


# -- --format ---------------------------------------------------------------------------------------------------

def answers(ip: Any) -> list[dict[str, Any]]:
    """What the cell left on screen before its footer (the emptied stream placeholder aside)."""
    shown = [o["data"] for o in outputs(ip) if not o["update"] and o["data"] not in ({"text/plain": ""}, PLACEHOLDER, WAITING)]
    assert "offline simulation" in shown[-1]["text/plain"]  # the footer comes last
    return shown[:-1]


def growing(ip: Any) -> list[dict[str, Any]]:
    """The in-place updates of a streamed answer while it grew."""
    return [o["data"] for o in outputs(ip) if o["update"] and o["data"] not in ({"text/plain": ""}, PLACEHOLDER)]


def fenced(text: str) -> str:
    return f"```\n{text.strip()}\n```"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("fmt", "bundle"), [
    ("markdown", lambda t: {"text/markdown": t, "text/plain": t}),
    ("text", lambda t: {"text/plain": t}),
    ("code", lambda t: {"text/markdown": fenced(t), "text/plain": t}),
])
def test_format_sets_what_the_answer_is_shown_as(ip: Any, gw: GatewayHandle, fmt: str, bundle: Any,
                                                stream: bool) -> None:
    run(ip, f"%%auriko --format {fmt}{no_stream(stream)}\nWrite a short function")
    text = ip.user_ns["_auriko"].text
    assert text and sent(gw).get("stream", False) is stream
    assert answers(ip) == [bundle(text)]
    grown = growing(ip)
    assert bool(grown) is stream
    for g in grown:  # while it streams, the answer is already shown in the asked format
        assert set(g) == set(bundle(text)) and text.startswith(g["text/plain"])
        if fmt == "code":
            assert g["text/markdown"] == fenced(g["text/plain"])


@pytest.mark.parametrize("stream", [False, True])
def test_format_json_shows_the_parsed_object(ip: Any, gw: GatewayHandle, stream: bool) -> None:
    run(ip, f"%%auriko --format json --param 'response_format={{\"type\": \"json_object\"}}'{no_stream(stream)}\n"
            "Describe JSON as JSON")
    text = ip.user_ns["_auriko"].text
    assert sent(gw)["response_format"] == {"type": "json_object"}
    [shown] = answers(ip)
    assert shown == {"application/json": json.loads(text), "text/plain": text}
    assert isinstance(shown["application/json"], dict) and shown["application/json"]["topic"]
    assert bool(growing(ip)) is stream
    assert all("text/markdown" not in g for g in growing(ip))  # partial JSON is never rendered as markdown


def test_format_json_shows_plain_text_when_the_answer_is_not_json(ip: Any) -> None:
    run(ip, "%%auriko --format json --no-stream\nNot JSON at all")
    text = ip.user_ns["_auriko"].text
    with pytest.raises(ValueError):
        json.loads(text)
    assert answers(ip) == [{"text/plain": text}]


# -- session defaults: the ledger and %config -------------------------------------------------------------------

def test_config_ledger_writes_to_that_file_and_off_stops(ip: Any, gw: GatewayHandle, tmp_path: Path,
                                                         isolated_session_ledger: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the session ledger is put back as it was after the test, whatever conftest does
    monkeypatch.setattr(ledger_mod, "_session", ledger_mod._session)
    monkeypatch.setattr(ledger_mod, "_session_off", ledger_mod._session_off)
    path = tmp_path / "notebook ledger" / "calls.sqlite"  # a new folder, and a space the line must keep
    run(ip, f"%auriko config 'ledger={path}'")
    on = ledger_mod.session_ledger()
    assert on is not None and on.path == path
    run(ip, "%%auriko --no-stream --tag led\nFirst to the ledger")
    first = ip.user_ns["_auriko"].request_id
    run(ip, "%%auriko --tag led\nSecond, streamed")
    second = ip.user_ns["_auriko"].request_id
    with Ledger(path, readonly=True) as led:
        df = led.to_dataframe()
    assert list(df["request_id"]) == [first, second] == [r["request_id"] for r in chat_records(gw)[-2:]]
    assert list(df["status"]) == ["ok", "ok"] and list(df["stream"]) == [False, True]
    assert [json.loads(t) for t in df["tags"]] == [["led"], ["led"]]
    assert not isolated_session_ledger.exists()  # the default file got nothing
    run(ip, "%auriko config ledger=off")
    assert ledger_mod.session_ledger() is None
    run(ip, "%%auriko --no-stream\nNot logged")
    run(ip, "%%auriko\nNor this")
    with Ledger(path, readonly=True) as led:
        assert len(led) == 2
    assert not isolated_session_ledger.exists()
    log = run(ip, "%auriko log")  # with the ledger off, the magics' own records
    assert list(log["request_id"])[-2:] == [r["request_id"] for r in chat_records(gw)[-2:]] and len(log) == 4


def test_ledger_path_trait_and_empty_means_the_default_file(ip: Any, gw: GatewayHandle, tmp_path: Path,
                                                           isolated_session_ledger: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_mod, "_session", ledger_mod._session)
    monkeypatch.setattr(ledger_mod, "_session_off", ledger_mod._session_off)
    path = tmp_path / "trait.sqlite"
    run(ip, f"%config AurikoMagics.ledger_path = {str(path)!r}")
    run(ip, "%%auriko --no-stream\nTo the trait's file")
    first = ip.user_ns["_auriko"].request_id
    run(ip, "%config AurikoMagics.ledger_path = ''")  # the trait's documented meaning: the default file, not off
    on = ledger_mod.session_ledger()
    assert on is not None and on.path == isolated_session_ledger  # $AURIKO_NB_LEDGER, as at start-up
    run(ip, "%%auriko --no-stream\nTo the default file")
    second = ip.user_ns["_auriko"].request_id
    run(ip, "%auriko config ledger=off")
    run(ip, "%%auriko --no-stream\nTo no file")
    with Ledger(path, readonly=True) as mine, Ledger(isolated_session_ledger, readonly=True) as default:
        assert list(mine.to_dataframe()["request_id"]) == [first]
        assert list(default.to_dataframe()["request_id"]) == [second]
    run(ip, "%auriko config ledger=")  # the same through %auriko config
    back = ledger_mod.session_ledger()
    assert back is not None and back.path == isolated_session_ledger


def test_config_traits_reach_the_request(ip: Any, gw: GatewayHandle) -> None:
    run(ip, "%config AurikoMagics.default_optimize = 'ttft-focus'")
    run(ip, "%config AurikoMagics.max_tokens = 12")
    run(ip, "%config AurikoMagics.stream = False")
    run(ip, "%%auriko\nTraits please")
    body, res = sent(gw), ip.user_ns["_auriko"]
    assert body["gateway"]["routing"] == {"optimize": "ttft-focus"} and body["max_tokens"] == 12
    assert "stream" not in body and not growing(ip)
    assert res.routing_metadata.routing_strategy == "ttft-focus" and res.usage.completion_tokens <= 12
    run(ip, "%%auriko -s cost --max-tokens 5\nThe cell wins")
    body = sent(gw)
    assert body["gateway"]["routing"] == {"optimize": "cost"} and body["max_tokens"] == 5
    run(ip, "%config AurikoMagics.default_optimize = ''")
    run(ip, "%config AurikoMagics.max_tokens = None")
    run(ip, "%config AurikoMagics.stream = True")
    run(ip, "%%auriko\nBack to the built-in defaults")
    body = sent(gw)
    assert "gateway" not in body and "max_tokens" not in body and body["stream"] is True


# -- API errors -------------------------------------------------------------------------------------------------

BAD_KEY = "sk-live-not-an-auriko-key-5c0ffee1d"


@pytest.fixture(scope="module")
def limited_gw() -> Iterator[GatewayHandle]:
    with serve(seed=5, speed=0.02, faults={"rate_limit": 1.0}) as g:
        yield g


def failed_cell(ip: Any, cell: str, capsys: pytest.CaptureFixture[str], label: str = "UsageError") -> str:
    """Run a cell that must fail with one `label: ...` line, no traceback, nothing displayed and no key shown."""
    capsys.readouterr()
    result = ip.run_cell(cell)
    assert not result.success
    out = capsys.readouterr()
    everything = out.out + out.err + json.dumps([o["data"] for o in outputs(ip)], default=str)
    assert KEY not in everything and BAD_KEY not in everything and "Bearer" not in everything
    assert "Traceback" not in everything and not outputs(ip)
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{label}: "), out.err
    return lines[0]


@pytest.mark.parametrize("stream", [False, True])
def test_invalid_key_fails_the_cell_with_401_and_a_hint(ip: Any, gw: GatewayHandle, stream: bool,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AURIKO_API_KEY", BAD_KEY)  # not an ak_ key: the gateway refuses it
    line = failed_cell(ip, f"%%auriko{no_stream(stream)}\nhi", capsys, "AuthenticationError")
    rec = chat_records(gw)[-1]
    assert rec["status"] == 401 and rec["body"] is None  # refused before the body was read
    assert line.startswith("AuthenticationError: 401 invalid_api_key: Invalid API key")
    assert "hint: Create a key in the Auriko dashboard" in line
    assert line.endswith(f"request id {rec['request_id']})") and "request id req_" in line
    last = ip.user_ns["_magics"].state.records[-1]
    assert (last["status"], last["http_status"], last["request_id"]) == ("error", 401, rec["request_id"])
    assert BAD_KEY not in json.dumps(last, default=str)


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_fails_the_cell_with_429_after_the_retries(ip: Any, limited_gw: GatewayHandle, stream: bool,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AURIKO_BASE_URL", limited_gw.base_url)  # every call there is rate limited
    monkeypatch.setattr("auriko_nb.client.clients.backoff_delay", lambda *a, **k: 0.0)  # the retries, without the waits
    before = len(chat_records(limited_gw))
    line = failed_cell(ip, f"%%auriko{no_stream(stream)}\nhi", capsys, "RateLimitError")
    tries = chat_records(limited_gw)[before:]
    assert [(r["status"], r["fault"]) for r in tries] == [(429, "rate_limit")] * 3
    assert line.startswith("RateLimitError: 429 rate_limit_exceeded: Rate limit exceeded. Retry after")
    assert "after 3 attempts" in line and line.endswith(f"request id {tries[-1]['request_id']})")
    assert "hint:" not in line  # the gateway gives none for a rate limit
    last = ip.user_ns["_magics"].state.records[-1]
    assert (last["status"], last["http_status"], last["attempts"]) == ("error", 429, 3)


# -- --compare with an expected answer, checks and an SLO (issue 14) ----------------------------------------------

def texts(ip: Any) -> list[str]:
    return [o["data"].get("text/plain", "") for o in outputs(ip)]


def test_compare_with_expect_and_check_shows_pass_rates_and_a_recommendation(ip: Any, gw: GatewayHandle) -> None:
    task = next(t for t in task_set() if t["id"] == "arithmetic-2")
    before = len(gw.stats.requests)
    run(ip, f"%%auriko -m llama-3.3-70b --compare optimize=cost-focus,ttft-focus --repeat 3 --max-tokens 30 "
            f"--expect {task['expect']} --check number --check 'regex=\\d'\n{task['prompt']}")
    result = ip.user_ns["_auriko"]
    assert isinstance(result, ak.Comparison) and len(result) == 6
    bodies = [r["body"] for r in gw.stats.requests[before:] if r["path"] == "/v1/chat/completions"]
    assert len(bodies) == 6 and all(b["messages"][-1]["content"] == task["prompt"] for b in bodies)
    ok = result.rows[result.rows["status"] == "ok"]
    assert ok["passed"].notna().all() and len(ok) == 6
    shown = texts(ip)
    table = next(t for t in shown if "pass rate" in t)  # the summary with intervals and the pass rate
    header, *lines = table.splitlines()
    assert header.split()[:2] == ["strategy", "provider"] and "TTFT p50 (ms)" in header
    assert len(lines) == 2 and all(re.search(r"\d+% \[\d+–\d+%\]", ln) for ln in lines)
    assert all("few calls" in ln for ln in lines)  # 3 calls per group: the intervals are flagged
    html_table = next(o["data"]["text/html"] for o in outputs(ip) if "text/html" in o["data"]
                      and "auriko-summary" in o["data"]["text/html"])
    assert "<th>pass rate</th>" in html_table and "few calls" in html_table
    assert any("No constraints given: cost-focus / deepinfra is the cheapest group" in t for t in shown)
    assert any("image/png" in o["data"] for o in outputs(ip))


def test_slo_flags_reach_recommend(ip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import auriko_nb.measure.recommend as recommend_mod

    seen: list[dict[str, Any]] = []
    real = recommend_mod.recommend

    def spy(comparison: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(comparison, **kwargs)

    monkeypatch.setattr(recommend_mod, "recommend", spy)
    task = next(t for t in task_set() if t["id"] == "capital-1")
    run(ip, f"%%auriko -m llama-3.3-70b --compare optimize=cost-focus,ttft-focus --repeat 2 --max-tokens 20 "
            f"--expect {task['expect']} --max-ttft-p95 60000 --max-latency-p95 90000 --min-pass-rate 40% "
            f"--min-success-rate 0.5\n{task['prompt']}")
    assert seen == [{"ci": 0.95, "max_ttft_p95_ms": 60000.0, "max_latency_p95_ms": 90000.0, "min_pass_rate": 0.4,
                     "min_success_rate": 0.5}]
    shown = texts(ip)
    rec = next(t for t in shown if "interval" in t and ("Recommended:" in t or "No group is confirmed" in t))
    assert "meets_min_pass_rate" in rec and "status" in rec  # the table behind the decision


@pytest.mark.parametrize(("cell", "message"), [
    ("%%auriko --expect Paris\nWhat is the capital of France?", "--expect needs --compare"),
    ("%%auriko --check contains=Paris\nhi", "--check needs --compare"),
    ("%%auriko --min-pass-rate 0.9\nhi", "--min-pass-rate needs --compare"),
    ("%%auriko --compare optimize=cost --check bogus\nhi", "unknown check 'bogus'"),
    ("%%auriko --compare optimize=cost --check 'regex=('\nhi", "regex: bad pattern"),
    ("%%auriko --compare optimize=cost --check 'json_schema={\"type\": 5}'\nhi", "not a valid JSON Schema"),
    ("%%auriko --compare optimize=cost --check number\nWhat is 17 * 23?", "prompt p1 has none"),
    ("%%auriko --compare optimize=cost --min-pass-rate 1.5 --expect x\nhi", "must be between 0 and 1"),
    ("%%auriko --compare optimize=cost --max-ttft-p95 0 --expect x\nhi", "must be a number of milliseconds > 0"),
    ("%%auriko --compare optimize=cost --min-pass-rate 0.9\nhi", "min_pass_rate needs checks"),
    ("%%auriko --compare optimize=cost --no-stream --max-ttft-p95 500\nhi", "max_ttft_p95_ms needs streamed calls"),
    ("%%auriko --compare optimize=cost --param min_pass_rate=0.5\nhi", "--param min_pass_rate=... is not allowed"),
])
def test_bad_expect_check_or_slo_is_one_line_and_sends_nothing(ip: Any, gw: GatewayHandle, cell: str, message: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = len(gw.stats.requests)
    result = ip.run_cell(cell)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert not result.success
    assert len(err) == 1 and err[0].startswith("UsageError: ") and message in err[0]
    assert len(gw.stats.requests) == before
