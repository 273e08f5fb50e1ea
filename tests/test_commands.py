"""`%auriko` subcommands are `NotebookSession` methods a script can call; traits and `ak.settings` stay in sync."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import IPython.testing.globalipapp as globalipapp
import pandas as pd
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from traitlets.config import Config

import auriko_nb as ak
from auriko_nb.errors import AnalysisError, AurikoError, CheckError, MagicUsageError, TemplateError
from auriko_nb.measure.checks import find_numbers
from auriko_nb.notebook.commands import (
    SLO_KEYS,
    NotebookSession,
    SessionStatus,
    check_slo,
    describe_settings,
    resolve_checks,
    summary_text,
)
from auriko_nb.notebook.magics import AurikoMagics
from auriko_nb.notebook.settings import DEFAULT_MODEL, settings
from auriko_nb.offline import GatewayHandle, serve, task_set

KEY = "ak_test_commands_canary_41c9"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=3, speed=0.02) as g:
        yield g


@pytest.fixture
def env(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch, isolated_session_ledger: Any) -> Iterator[None]:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    yield


def new_magics(shell: Any) -> AurikoMagics:
    magics = AurikoMagics(shell)
    shell.register_magics(magics)
    return magics


@pytest.fixture
def shell(env: None) -> Iterator[Any]:
    settings.reset()
    sh = globalipapp.start_ipython() or globalipapp.get_ipython()
    sh.config.pop("AurikoMagics", None)
    sh.display_pub = CapturingDisplayPublisher()
    before = list(sh.configurables)
    yield sh
    for c in sh.configurables[len(before):]:
        if isinstance(c, AurikoMagics):
            c.state.reconnect()
    sh.configurables[:] = [c for c in sh.configurables if not isinstance(c, AurikoMagics)]
    sh.config.pop("AurikoMagics", None)
    settings.reset()


def run(sh: Any, cell: str) -> Any:
    result = sh.run_cell(cell)
    assert result.success, repr(result.error_in_exec)
    return result.result


def test_every_subcommand_returns_what_the_magic_shows(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    session = new_magics(shell).state
    run(shell, "%%auriko --no-stream --chat\nSomething to log")
    pd.testing.assert_frame_equal(run(shell, "%auriko models llama"), session.models("llama"))
    pd.testing.assert_frame_equal(run(shell, "%auriko providers"), session.providers())
    pd.testing.assert_frame_equal(run(shell, "%auriko prices llama-3.3-70b"), session.prices("llama-3.3-70b"))
    assert run(shell, "%auriko me") == session.me() and session.me()["workspace"]["id"]
    assert run(shell, "%auriko balance") == session.balance() > 0
    pd.testing.assert_frame_equal(run(shell, "%auriko log 1"), session.log(1))
    capsys.readouterr()
    run(shell, "%auriko status")
    status = session.status()
    assert isinstance(status, SessionStatus) and capsys.readouterr().out == f"{status}\n"
    assert (status.calls, status.ok, status.turns, status.source) == (1, 1, 1, "live")  # the key, on a loopback URL
    assert KEY not in str(status) + repr(status) + repr(session)
    run(shell, "%auriko config model=deepseek-chat max_ttft_ms=900 stream=off")
    printed = capsys.readouterr().out  # what a person reads, not the Settings repr (issue 15)
    assert printed == f"{describe_settings()}\n" and "Settings(" not in printed
    assert "routing:    on: max TTFT 900 ms\n" in printed and "stream:     off\n" in printed
    assert (settings.model, settings.routing, settings.stream) == ("deepseek-chat", {"max_ttft_ms": 900}, False)
    assert session.reset() == 1 and session.reset() == 0
    assert type(run(shell, "%auriko routing")).__name__ == type(session.routing_panel()).__name__ == "RoutingPanel"


def test_a_script_uses_the_session_without_ipython(env: None) -> None:
    script = textwrap.dedent("""
        import json, sys
        import auriko_nb as ak
        s = ak.NotebookSession()
        s.configure(model="llama-3.3-70b", optimize="ttft", max_tokens=20)
        r = s.client().chat("hi", stream=False)
        out = {"models": list(s.models("llama")["id"]), "provs": len(s.providers()),
               "prices": float(s.prices("llama-3.3-70b")["input ($ per 1M tokens)"].min()), "me": bool(s.me()["workspace"]),
               "balance": s.balance(), "log": list(s.log()["request_id"]), "rid": r.request_id,
               "status": str(s.status()), "mode": s.use("offline"),
               "ask": s.ask("hello", chat=True, stream=False).text, "turns": len(s.history),
               "compared": len(s.compare("hi", by="model", values=["gpt-4o-mini"], max_tokens=5)),
               "ipython": "IPython" in sys.modules}
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["models"] == ["llama-3.3-70b"] and out["provs"] >= 8 and out["prices"] == pytest.approx(0.13)
    assert out["me"] and out["balance"] > 0 and out["log"] == [out["rid"]]
    assert re.search(r"^session: +1 calls \(1 ok\)", out["status"], re.M) and "API key set" in out["status"]
    assert out["mode"] == "offline" and out["ipython"] is False
    assert out["ask"] and out["turns"] == 2 and out["compared"] == 1


def test_session_errors_are_our_types(env: None) -> None:
    s = NotebookSession()
    with pytest.raises(MagicUsageError, match="start with 'ak_'"):
        s.login("sk-nope")
    with pytest.raises(MagicUsageError, match="unknown key 'colour'"):
        s.configure(colour="blue")
    with pytest.raises(MagicUsageError, match="no model 'nope'"):
        s.prices("nope")
    assert issubclass(MagicUsageError, AurikoError) and issubclass(TemplateError, AurikoError)
    assert ak.MagicUsageError is MagicUsageError and ak.TemplateError is TemplateError
    from auriko_nb.notebook.magic_args import MagicUsageError as old_path
    from auriko_nb.notebook.templating import TemplateError as old_template_path
    assert old_path is MagicUsageError and old_template_path is TemplateError
    s.reconnect()


def test_settings_and_config_traits_stay_in_sync_both_ways(shell: Any) -> None:
    magics = new_magics(shell)
    ak.settings.model = "deepseek-chat"
    ak.settings.max_tokens = 42
    ak.settings.stream = False
    ak.settings.routing = {"optimize": "cost", "max_ttft_ms": 800}
    assert (magics.default_model, magics.max_tokens, magics.stream, magics.default_optimize) == (
        "deepseek-chat", 42, False, "cost")
    run(shell, "%config AurikoMagics.default_model")  # shows the value without error
    run(shell, "%config AurikoMagics.default_model = 'gpt-4o'")
    run(shell, "%config AurikoMagics.max_tokens = 7")
    run(shell, "%config AurikoMagics.default_optimize = 'ttft-focus'")
    run(shell, "%config AurikoMagics.stream = True")
    assert (settings.model, settings.max_tokens, settings.stream) == ("gpt-4o", 7, True)
    assert settings.routing == {"optimize": "ttft-focus", "max_ttft_ms": 800}
    run(shell, "%auriko config optimize=none speed=0.5")
    assert magics.default_optimize == "" and magics.offline_speed == 0.5 and magics.state.speed == 0.5
    magics.offline_speed = 0.25
    assert magics.state.speed == 0.25
    shell.run_cell("%config AurikoMagics.max_tokens = 0")  # refused by the trait (IPython logs it)
    assert settings.max_tokens == magics.max_tokens == 7


def test_load_ext_keeps_settings_set_from_python(shell: Any) -> None:
    ak.settings.model = "x-from-python"
    ak.settings.routing = {"optimize": "balanced"}
    ak.settings.max_tokens = 11
    magics = new_magics(shell)
    assert (settings.model, settings.routing, settings.max_tokens) == ("x-from-python", {"optimize": "balanced"}, 11)
    assert (magics.default_model, magics.default_optimize, magics.max_tokens) == ("x-from-python", "balanced", 11)


def test_a_value_set_in_the_ipython_config_still_applies(shell: Any) -> None:
    ak.settings.model = "x-from-python"
    ak.settings.max_tokens = 11
    cfg = Config()
    cfg.AurikoMagics.default_model = "from-config"
    shell.config.merge(cfg)
    magics = new_magics(shell)
    assert settings.model == magics.default_model == "from-config"
    assert settings.max_tokens == magics.max_tokens == 11  # not in the config: Python's value stays
    assert settings.model != DEFAULT_MODEL


def test_a_bug_in_a_subcommand_keeps_its_traceback(shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    new_magics(shell)

    def broken(self: NotebookSession) -> Any:
        raise TypeError("a bug in our code")

    monkeypatch.setattr(NotebookSession, "providers", broken)
    result = shell.run_cell("%auriko providers")
    assert isinstance(result.error_in_exec, TypeError)  # not flattened into a one-line UsageError


@pytest.mark.parametrize(("line", "message"), [
    ("%auriko prices a b", "%auriko prices: unrecognized arguments: b (name one model"),
    ("%auriko log many", "%auriko log: argument N: expected a whole number, got 'many'"),
    ("%auriko use sideways", "%auriko use: argument MODE: expected live, offline or auto, got 'sideways'"),
    ("%auriko config stream=maybe", "stream needs true or false, got 'maybe'"),
    ("%auriko config speed=0", "speed must be > 0"),
    ("%auriko reset now", "%auriko reset: unrecognized arguments: now"),
])
def test_argparse_errors_are_one_line(shell: Any, line: str, message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    new_magics(shell)
    capsys.readouterr()
    result = shell.run_cell(line)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert not result.success and len(lines) == 1 and lines[0].startswith("UsageError: ") and message in lines[0]


def test_help_prints_the_parsers_subcommands(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    new_magics(shell)
    run(shell, "%auriko help")
    out = capsys.readouterr().out
    assert "%%auriko [VAR <<] [options]" in out and "usage: %auriko SUBCOMMAND [ARGS]" in out
    for name in ("status", "login", "use", "config", "models", "providers", "prices", "me", "balance", "log",
                 "reset", "routing", "compare"):
        assert f"\n    {name} " in out or f"\n    {name}\n" in out


# -- %%auriko as methods: NotebookSession.ask / compare from plain Python (no IPython shell) --------------------

def chat_bodies(gw: GatewayHandle) -> list[dict[str, Any]]:
    return [r["body"] for r in gw.stats.requests if r["path"] == "/v1/chat/completions"]


@pytest.fixture
def session(env: None) -> Iterator[NotebookSession]:
    settings.reset()
    s = NotebookSession()
    yield s
    s.reconnect()
    settings.reset()


def test_ask_merges_the_call_routing_over_the_session_defaults(session: NotebookSession, gw: GatewayHandle) -> None:
    session.configure(optimize="cost-focus", max_ttft_ms=2000)
    merged = {"optimize": "ttft", "max_ttft_ms": 2000}
    assert session.routing_for({"optimize": "ttft"}) == merged and session.routing_for() is None
    result = session.ask("Route me", routing={"optimize": "ttft"}, stream=False, tags=["t1"], trace_id="tr-1",
                         max_tokens=10)
    body = chat_bodies(gw)[-1]
    assert isinstance(result, ak.Result) and body["gateway"]["routing"] == merged and "stream" not in body
    assert body["gateway"]["metadata"] == {"tags": ["t1"], "trace_id": "tr-1"} and body["max_tokens"] == 10
    session.ask("Defaults", stream=False)
    assert chat_bodies(gw)[-1]["gateway"]["routing"] == {"optimize": "cost-focus", "max_ttft_ms": 2000}
    assert session.records[-1]["status"] == "ok" and len(session.records) == 2


def test_ask_no_optimize_sends_no_routing(session: NotebookSession, gw: GatewayHandle) -> None:
    session.configure(optimize="ttft-focus")
    assert session.routing_for({"max_ttft_ms": 5}, no_optimize=True) == {}
    session.ask("No routing", no_optimize=True, routing={"max_ttft_ms": 5}, stream=False)
    assert "gateway" not in chat_bodies(gw)[-1]
    session.configure(optimize=False)  # routing off in the session: only the call's own fields are sent
    session.ask("Only mine", routing={"max_ttft_ms": 3000}, stream=False)
    assert chat_bodies(gw)[-1]["gateway"]["routing"] == {"max_ttft_ms": 3000}


@pytest.mark.parametrize("stream", [False, True])
def test_ask_with_chat_keeps_the_conversation(session: NotebookSession, gw: GatewayHandle, stream: bool) -> None:
    first = session.ask("First question", chat=True, stream=stream, max_tokens=20)
    if isinstance(first, ak.ChatStream):
        assert stream and session.history == []  # not read yet: the turn is not complete
        text = "".join(first)  # a script reads the stream; the turn then joins the history
    else:
        assert not stream
        text = first.text
    assert text and session.history == [{"role": "user", "content": "First question"},
                                        {"role": "assistant", "content": text}]
    second = session.ask("Follow-up", chat=True, stream=stream, max_tokens=20)
    assert chat_bodies(gw)[-1]["messages"] == [*session.history[:2], {"role": "user", "content": "Follow-up"}]
    second_text = second.result.text if isinstance(second, ak.ChatStream) else second.text
    assert session.history[2:] == [{"role": "user", "content": "Follow-up"},
                                   {"role": "assistant", "content": second_text}]
    assert session.ask("Not part of it", stream=stream, max_tokens=5).text  # without chat: history unchanged
    assert len(session.history) == 4 and session.status().turns == 2
    assert session.reset() == 2 and session.history == []


def test_an_unread_chat_stream_is_not_part_of_the_conversation(session: NotebookSession, gw: GatewayHandle) -> None:
    unread = session.ask("Never read", chat=True, stream=True, max_tokens=5)
    assert isinstance(unread, ak.ChatStream)
    unread.close()
    session.ask("Next", chat=True, stream=False, max_tokens=5)
    assert chat_bodies(gw)[-1]["messages"] == [{"role": "user", "content": "Next"}]
    assert [m["content"] for m in session.history][::2] == ["Next"]


def test_compare_by_optimize_from_python(session: NotebookSession, gw: GatewayHandle) -> None:
    session.configure(max_ttft_ms=5000, optimize="balanced")
    before = len(chat_bodies(gw))
    result = session.compare("Compare me", by="optimize", values=["cost-focus", "none"], model="llama-3.3-70b",
                             repeats=2, stream=False, max_tokens=10, tags=["cmp"])
    assert isinstance(result, ak.Comparison) and len(result) == 4 and (result.status == "ok").all()
    assert result.grid is not None and result.grid.repeats == 2
    sent = chat_bodies(gw)[before:]
    assert sorted(str(b["gateway"]["routing"].get("optimize")) for b in sent) == [
        "None", "None", "cost-focus", "cost-focus"]  # "none" drops the session's strategy, keeps its limits
    assert all(b["gateway"]["routing"]["max_ttft_ms"] == 5000 and b["model"] == "llama-3.3-70b" for b in sent)
    assert all(b["gateway"]["metadata"]["tags"] == ["cmp"] and "stream" not in b for b in sent)
    assert len(session.records) >= 4  # the rows reach the session's records


def test_compare_by_model_from_python(session: NotebookSession, gw: GatewayHandle) -> None:
    session.configure(optimize="cost")
    before = len(chat_bodies(gw))
    result = session.compare("Compare models", by="model", values=["gpt-4o-mini", "deepseek-chat"],
                             system="Be terse.", max_tokens=10)
    assert set(result["model_canonical"]) == {"gpt-4o-mini", "deepseek-chat"}
    sent = chat_bodies(gw)[before:]
    assert len(sent) == 2 and all(b["gateway"]["routing"] == {"optimize": "cost"} for b in sent)
    assert all(b["messages"][0] == {"role": "system", "content": "Be terse."} and b["stream"] for b in sent)
    result = session.compare("Compare models", by="model", values=["gpt-4o-mini"], no_optimize=True, max_tokens=5)
    assert "gateway" not in chat_bodies(gw)[-1] and len(result) == 1  # --no-optimize: no strategy either


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda s: s.ask("   "), MagicUsageError, "ask: the prompt is empty"),
    (lambda s: s.ask("hi", metadata={"tags": ["x"]}), MagicUsageError, "give tags= and trace_id="),
    (lambda s: s.ask("hi", routing={"optimize": "fastest"}), ak.RequestValidationError, "fastest"),
    (lambda s: s.ask("hi", tags=["x" * 60]), ak.RequestValidationError, "the limit is 50"),
    (lambda s: s.compare("hi", by="colour", values=["red"]), MagicUsageError, "by must be 'optimize' or 'model'"),
    (lambda s: s.compare("hi", by="optimize", values=["cost", "fastest"]), MagicUsageError,
     "unknown strategy 'fastest'"),
    (lambda s: s.compare("hi", by="optimize", values=[]), MagicUsageError, "give at least one value"),
    (lambda s: s.compare("hi", by="model", values=["gpt-4o"], model="deepseek-chat"), MagicUsageError,
     "leave out -m/model="),
    (lambda s: s.compare("hi", by="optimize", values=["cost"], routing={"optimize": "ttft"}), MagicUsageError,
     "leave out -s/optimize"),
])
def test_a_bad_call_is_one_line_of_our_type_and_sends_nothing(session: NotebookSession, gw: GatewayHandle,
                                                              call: Any, error: type[Exception], message: str) -> None:
    before = len(gw.stats.requests)
    with pytest.raises(error, match=message) as info:
        call(session)
    assert "\n" not in str(info.value) and isinstance(info.value, AurikoError)
    assert len(gw.stats.requests) == before and session.history == []


# -- compare with an expected answer, checks and an SLO (issue 14) ------------------------------------------------

def test_compare_with_expect_and_checks_judges_every_answer_and_recommends(session: NotebookSession,
                                                                            gw: GatewayHandle) -> None:
    task = next(t for t in task_set() if t["id"] == "arithmetic-1")  # the simulator answers it (provider accuracy)
    before = len(chat_bodies(gw))
    result = session.compare(task["prompt"], by="optimize", values=["cost-focus", "ttft-focus"],
                             model="llama-3.3-70b", repeats=4, expect=task["expect"], checks=["number"],
                             slo={"min_pass_rate": 0.2}, max_latency_p95_ms=60_000, max_tokens=30)
    sent = chat_bodies(gw)[before:]
    assert len(sent) == 8 and all("expect" not in b and "checks" not in b and "min_pass_rate" not in b for b in sent)
    ok = result.rows[result.rows["status"] == "ok"]
    assert len(ok) == 8 and ok["passed"].notna().all()
    right = [bool(find_numbers(a)) and find_numbers(a)[-1] == task["expect"] for a in ok["answer_text"]]
    assert list(ok["passed"].astype(bool)) == right  # `number` judged each answer against the expected 391
    summary = result.summary(ci=0.95)
    assert {"pass_rate", "pass_rate_lo", "pass_rate_hi"} <= set(summary.columns) and (summary["checked"] == 4).all()
    rec = session.recommend(result)
    assert rec.constraints == {"min_pass_rate": 0.2, "max_latency_p95_ms": 60_000.0}  # the SLO it was run with
    assert rec.choice is not None or rec.candidate is not None
    override = session.recommend(result, max_latency_p95_ms=None, min_pass_rate=0.1)
    assert override.constraints == {"min_pass_rate": 0.1}
    assert session.recommend(result.rows).constraints == {}  # plain rows: no SLO remembered
    assert "No constraints given" in session.recommend(result.rows).explanation


def test_compare_with_only_an_expected_answer_checks_that_the_answer_contains_it(session: NotebookSession) -> None:
    task = next(t for t in task_set() if t["id"] == "capital-1")
    result = session.compare(task["prompt"], by="model", values=["gpt-4o-mini"], repeats=2, expect=task["expect"],
                             max_tokens=20)
    ok = result.rows[result.rows["status"] == "ok"]
    assert len(ok) == 2 and ok["passed"].notna().all()
    assert list(ok["passed"].astype(bool)) == [task["expect"].lower() in a.lower() for a in ok["answer_text"]]
    plain = session.compare("hi", by="model", values=["gpt-4o-mini"], max_tokens=5)
    assert plain.rows["passed"].isna().all()  # no expect, no check: nothing judged


def test_resolve_checks_and_slo_names() -> None:
    from auriko_nb.measure.recommend import CONSTRAINTS

    assert SLO_KEYS == CONSTRAINTS
    assert [c.name for c in resolve_checks(["contains", "number=42~0.5", "json_valid"])] == [
        "contains", "number", "json_valid"]
    assert [c.name for c in resolve_checks(None, expect_given=True)] == ["contains"]
    assert resolve_checks(None) == () and [c.name for c in resolve_checks("regex=^a")] == ["regex"]
    assert check_slo({"min_pass_rate": 1, "max_ttft_p95_ms": 800}, checked=True, stream=True) == {
        "min_pass_rate": 1.0, "max_ttft_p95_ms": 800.0}


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"checks": ["bogus"]}, CheckError, "unknown check 'bogus'"),
    ({"checks": ["json_schema={\"type\": \"nope\"}"]}, CheckError, "not a valid JSON Schema"),
    ({"checks": [42]}, CheckError, "is not a check"),
    ({"checks": ["contains"]}, CheckError, "prompt p1 has none"),
    ({"expect": "x", "slo": {"max_ttft": 5}}, AnalysisError, "unknown constraint 'max_ttft'"),
    ({"expect": "x", "min_pass_rate": 1.5}, AnalysisError, "min_pass_rate is a rate between 0 and 1"),
    ({"expect": "x", "slo": {"max_latency_p95_ms": -1}}, AnalysisError, "positive number of milliseconds"),
    ({"slo": {"min_pass_rate": 0.9}}, AnalysisError, "min_pass_rate needs checks"),
    ({"max_ttft_p95_ms": 500, "stream": False}, AnalysisError, "max_ttft_p95_ms needs streamed calls"),
])
def test_bad_checks_or_slo_are_one_line_before_any_call(session: NotebookSession, gw: GatewayHandle,
                                                        kwargs: dict[str, Any], error: type[Exception],
                                                        message: str) -> None:
    before = len(gw.stats.requests)
    with pytest.raises(error, match=message) as info:
        session.compare("What is 17 * 23?", by="optimize", values=["cost"], **kwargs)
    assert "\n" not in str(info.value) and isinstance(info.value, AurikoError)
    assert len(gw.stats.requests) == before and session.records == []


def test_summary_text_shows_intervals_pass_rate_and_few_calls() -> None:
    summary = pd.DataFrame({
        "provider": ["groq", None], "calls": [3, 12], "ok": [3, 12], "errors": [0, 0], "success_rate": [1.0, 1.0],
        "checked": [3, 12], "pass_rate": [2 / 3, 1.0], "ttft_client_p50": [120.4, 80.0], "latency_p50": [300.0, 200.0],
        "cost_mean_usd": [0.00012, 0.0001], "cost_per_pass_usd": [0.00018, 0.0001],
        "ttft_client_p50_lo": [100.0, 70.2], "ttft_client_p50_hi": [150.0, 90.0],
        "pass_rate_lo": [0.21, 0.74], "pass_rate_hi": [0.94, 1.0], "few_calls": [True, False], "ci_level": 0.95,
    })
    lines = summary_text(summary).splitlines()
    assert lines[0].split()[:2] == ["provider", "calls"] and "TTFT p50 (ms)" in lines[0] and "pass rate" in lines[0]
    assert "errors" not in lines[0]  # all zero: hidden
    assert "120 [100–150]" in lines[1] and "67% [21–94%]" in lines[1] and "3 (few calls)" in lines[1]
    assert "100% [74–100%]" in lines[2] and "few calls" not in lines[2]
    unchecked = summary.assign(checked=0)
    assert "pass rate" not in summary_text(unchecked) and summary_text(summary.iloc[:0]) == "(no results)"
