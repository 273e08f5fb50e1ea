"""The magics through a real IPython shell against a loopback offline gateway: options reach the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import IPython.testing.globalipapp as globalipapp
import pandas as pd
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher

from auriko_nb.magics import AurikoMagics
from auriko_nb.offline import GatewayHandle, serve
from auriko_nb.session import settings

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
    shell.display_pub = CapturingDisplayPublisher()
    magics = AurikoMagics(shell)
    shell.register_magics(magics)
    shell.user_ns["_magics"] = magics
    yield shell
    magics.state.reconnect()
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
    updates = [o for o in out if o["update"]]
    growing = [u["data"]["text/plain"] for u in updates[:-1]]
    assert len(growing) >= 1 and all(g for g in growing)  # the answer grew in place while streaming
    assert growing == sorted(growing, key=len) and ip.user_ns["_auriko"].text.startswith(growing[-1])
    assert updates[-1]["data"] == {"text/plain": ""}  # the placeholder is emptied at the end
    finals = [o for o in out if not o["update"] and "text/markdown" in o["data"]]
    assert finals[-1]["data"]["text/markdown"] == ip.user_ns["_auriko"].text
    footer = out[-1]["data"]["text/plain"]
    assert "openai · gpt-4o" in footer and "TTFT" in footer and "offline simulation" in footer
    assert ip.user_ns["_auriko"].request_id in footer


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
    assert isinstance(df, pd.DataFrame) and len(df) == 6 and (df.status == "ok").all()
    assert set(df["provider"]) >= {"deepinfra", "cerebras"}
    shown = outputs(ip)
    assert any("routing_strategy" in o["data"].get("text/plain", "") and "ttft-focus" in o["data"]["text/plain"]
               for o in shown)
    assert any("(offline simulation)" in o["data"].get("text/plain", "") for o in shown)
    assert any("image/png" in o["data"] for o in shown)
    run(ip, "%%auriko res << --compare model=gpt-4o-mini,deepseek-chat\nCompare models")
    assert set(ip.user_ns["res"]["model_canonical"]) == {"gpt-4o-mini", "deepseek-chat"}


def test_subcommands_return_what_they_say(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%%auriko --no-stream\nSomething to log")
    models = run(ip, "%auriko models llama")
    assert list(models["id"]) == ["llama-3.3-70b"] and "groq" in models["providers"].iloc[0]
    assert len(run(ip, "%auriko models")) >= 11
    provs = run(ip, "%auriko providers")
    assert len(provs) >= 8 and {"id", "data_policy"} <= set(provs.columns)
    prices = run(ip, "%auriko prices llama-3.3-70b")
    assert len(prices) >= 5 and prices["input_per_1m"].min() == pytest.approx(0.13)
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
    ("%%auriko -s fastest\nhi", "invalid choice: 'fastest'"),
    ("%%auriko --tag " + "x" * 60 + "\nhi", "the limit is 50"),
    ("%%auriko\n   ", "the cell is empty"),
    ("%%auriko\nHello {{undefined_name}}", "no variable named 'undefined_name'"),
    ("%%auriko -m no-such-model\nhi", "model_not_found"),
    ("%%auriko --max-cost-per-1m 0.0001\nhi", "cost_constraint_exceeded"),
    ("%%auriko --param 'X-Auriko-Fault=1' --no-stream\nhi", ""),
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
    if not message:  # an unknown parameter is sent as is: the gateway tolerates it
        assert result.success
        return
    assert not result.success
    err_lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(err_lines) == 1 and err_lines[0].startswith("UsageError: ") and message in err_lines[0]
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
