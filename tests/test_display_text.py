"""What a person reads from the magics (issue 15, points 10-12): status and config as aligned lines, the log and
prices with the useful columns first and units in the headers, API errors as one line under their own name with
hints a notebook user can follow, "did you mean", Responses-only models, the waiting line and a one-line footer."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import IPython.testing.globalipapp as globalipapp
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher

import auriko_nb.notebook.display as display_mod
from auriko_nb.client.clients import Client
from auriko_nb.client.result import short_request_id
from auriko_nb.errors import NotFoundError
from auriko_nb.notebook.commands import LOG_COLUMNS, NotebookSession, describe_settings
from auriko_nb.notebook.display import WAITING, show_stream
from auriko_nb.notebook.magics import AurikoMagics, user_hints
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_display_text_5d1e"
UNIT = "($ per 1M tokens)"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=15, speed=0.02) as g:
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
    if magics in shell.configurables:
        shell.configurables.remove(magics)
    settings.reset()


def run(ip: Any, cell: str) -> Any:
    result = ip.run_cell(cell)
    assert result.success, result.error_in_exec
    return result.result


def failed_line(ip: Any, cell: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a cell that must fail, with no traceback."""
    capsys.readouterr()
    result = ip.run_cell(cell)
    out = capsys.readouterr()
    assert not result.success
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in out.out + out.err, out.err
    return lines[0]


def model_list_reads(gw: GatewayHandle) -> int:
    return sum(r["path"] == "/v1/models" for r in gw.stats.requests)


# -- 10: status, config, log, prices -------------------------------------------------------------------------

def test_status_and_config_print_aligned_lines_not_a_repr(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    run(ip, "%auriko status")
    status = capsys.readouterr().out.splitlines()
    labels = [ln.split(":")[0] for ln in status]
    assert labels == ["connection", "model", "routing", "stream", "max tokens", "store text", "ledger", "session"]
    assert len({ln.index(ln.split(":", 1)[1].strip()) for ln in status}) == 1  # the values start in one column
    assert "Settings(" not in "\n".join(status)
    assert status[0].endswith("API key set") and "live API at http://127.0.0.1:" in status[0]
    assert status[2] == "routing:    no preference (the gateway picks its default strategy)"
    assert status[3] == "stream:     on" and status[4] == "max tokens: not set (the model's default)"
    run(ip, "%auriko config optimize=ttft max_ttft_ms=900 providers=groq,cerebras stream=off max_tokens=64")
    config = capsys.readouterr().out
    assert config == describe_settings() + "\n"
    assert config.splitlines()[:4] == ["model:      gpt-4o-mini",
                                       "routing:    on: strategy ttft, max TTFT 900 ms, only groq, cerebras",
                                       "stream:     off", "max tokens: 64"]
    settings.optimize_enabled = False
    assert "routing:    off (calls send no routing preferences)" in describe_settings()
    assert repr(settings).startswith("Settings(model='gpt-4o-mini'")  # the repr stays, for code


def test_log_leads_with_what_a_person_looks_for(ip: Any) -> None:
    run(ip, "%%auriko --no-stream -s ttft\nLog me")
    log = run(ip, "%auriko log")
    assert tuple(log.columns[:len(LOG_COLUMNS)]) == LOG_COLUMNS
    assert LOG_COLUMNS[:2] == ("started_at", "model_requested") and "cost_usd" in LOG_COLUMNS
    assert {"run_id", "call_id", "prompt_id"} <= set(log.columns[len(LOG_COLUMNS):])  # still there, after
    row = log.iloc[-1]
    assert (row["optimize"], row["routing_strategy"], row["status"]) == ("ttft", "ttft", "ok")


def test_prices_and_models_carry_their_unit(ip: Any) -> None:
    prices = run(ip, "%auriko prices llama-3.3-70b")
    assert [c for c in prices.columns if "$" in c] == [f"input {UNIT}", f"output {UNIT}", f"cache read {UNIT}"]
    models = run(ip, "%auriko models llama")
    assert f"min input {UNIT}" in models.columns and "context window (tokens)" in models.columns


# -- 11: errors, hints, did you mean, the Responses API ------------------------------------------------------------

def test_api_error_is_one_line_under_its_own_name_with_a_did_you_mean(ip: Any, gw: GatewayHandle,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%%auriko --no-stream\nwarm up")  # the session reads the model list once
    reads = model_list_reads(gw)
    line = failed_line(ip, "%%auriko -m gpt-4o-mnii\nhi", capsys)
    assert line.startswith("NotFoundError: 404 model_not_found: The model 'gpt-4o-mnii' does not exist")
    assert "hint: did you mean 'gpt-4o-mini'? %auriko models lists them" in line and "UsageError" not in line
    assert model_list_reads(gw) == reads  # the list was cached: no extra call for the suggestion
    far = failed_line(ip, "%%auriko -m zzzz-qqqq\nhi", capsys)
    assert far.startswith("NotFoundError: 404") and "did you mean" not in far  # never a guess when nothing is close
    assert "%auriko models" in far and "GET /v1" not in far  # the gateway's hint, in the words a user types


def test_usage_mistakes_stay_usage_errors(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert failed_line(ip, "%%auriko --bogus\nhi", capsys).startswith("UsageError: ")
    assert failed_line(ip, "%%auriko --tag " + "x" * 60 + "\nhi", capsys).startswith("UsageError: ")  # never sent
    near = failed_line(ip, "%auriko prices gpt4-o", capsys)
    assert near.startswith("UsageError: %auriko prices: no model 'gpt4-o'") and "did you mean 'gpt-4o'?" in near


def test_an_api_error_in_the_users_own_code_keeps_its_traceback(ip: Any, gw: GatewayHandle,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    result = ip.run_cell(f"from auriko_nb.client.clients import Client\n"
                         f"Client(api_key={KEY!r}, base_url={gw.base_url!r}).chat('hi', model='nope')")
    out = capsys.readouterr()
    assert isinstance(result.error_in_exec, NotFoundError)
    assert "Traceback" in out.out + out.err and "chat('hi', model='nope')" in out.out + out.err


def test_hints_name_what_the_user_types() -> None:
    assert user_hints("GET /v1/models lists the available models") == "%auriko models lists the available models"
    assert user_hints("Send this request to POST /v1/responses.") == "add --responses to the %%auriko line."
    assert user_hints("see GET /v1/directory/models") == "see %auriko prices MODEL"
    assert user_hints("nothing to change") == "nothing to change"


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_only_model_goes_to_the_responses_api(ip: Any, gw: GatewayHandle, stream: bool) -> None:
    before = len(gw.stats.requests)
    run(ip, f"%%auriko -m o3-pro --system 'be brief' --max-tokens 50{'' if stream else ' --no-stream'}\nHello o3")
    paths = [r["path"] for r in gw.stats.requests[before:]]
    assert "/v1/responses" in paths and "/v1/chat/completions" not in paths
    body = [r for r in gw.stats.requests[before:] if r["path"] == "/v1/responses"][-1]["body"]
    assert body["input"][0] == {"role": "system", "content": "be brief"} and body["max_output_tokens"] == 50
    result = ip.user_ns["_auriko"]
    assert result.text and result.context.endpoint == "responses"
    footer = ip.display_pub.outputs[-1]["data"]["text/plain"]
    assert "openai · o3-pro" in footer and "· Responses API ·" in footer


def test_responses_flag_sends_any_model_there(ip: Any, gw: GatewayHandle, capsys: pytest.CaptureFixture[str]) -> None:
    before = len(gw.stats.requests)
    run(ip, "%%auriko -m gpt-4o-mini --responses --no-stream\nHi")
    assert [r["path"] for r in gw.stats.requests[before:] if r["method"] == "POST"] == ["/v1/responses"]
    assert "Responses API" in ip.display_pub.outputs[-1]["data"]["text/plain"]
    line = failed_line(ip, "%%auriko --responses --compare model=a,b\nhi", capsys)
    assert line == "UsageError: %%auriko: --compare and --responses cannot be combined"


def test_session_suggest_model_without_ipython(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AURIKO_API_KEY", KEY)
    monkeypatch.setenv("AURIKO_BASE_URL", gw.base_url)
    session = NotebookSession()
    try:
        assert session.endpoint_for("o3-pro") == "chat"  # nothing read yet: no call of its own
        assert session.model_list() is not None
        assert session.endpoint_for("o3-pro") == "responses" and session.endpoint_for("openai/o3-pro") == "responses"
        assert session.endpoint_for("gpt-4o") == "chat"
        assert session.suggest_model("claude-sonet-4-6") == "claude-sonnet-4-6"
        assert session.suggest_model("gpt-4o") is None and session.suggest_model("banana") is None
    finally:
        session.reconnect()


# -- 12: the waiting line and the footer ----------------------------------------------------------------------------

def test_stream_shows_a_waiting_line_until_the_first_token(gw: GatewayHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    shell = globalipapp.start_ipython() or globalipapp.get_ipython()
    shell.display_pub = pub = CapturingDisplayPublisher()
    monkeypatch.setattr(display_mod, "UPDATE_EVERY_S", 0.0)  # every chunk: the first update is the first token
    with Client(api_key=KEY, base_url=gw.base_url) as client:
        result = show_stream(client.chat("Say something", model="gpt-4o", stream=True, max_tokens=40))
    out = pub.outputs
    assert out[0]["data"] == WAITING and not out[0]["update"]
    assert WAITING["text/plain"] == "" and "waiting for the first token…" in WAITING["text/html"]  # html only
    updates = [o["data"]["text/plain"] for o in out if o["update"]]
    assert updates[0] and result.text.startswith(updates[0])  # the answer replaced the waiting line, never blank
    assert updates[-1] == ""  # emptied at the end; the answer and footer follow as their own outputs
    assert out[-2]["data"]["text/markdown"] == result.text and "\n" not in out[-1]["data"]["text/plain"]


def test_footer_is_one_line_with_a_short_request_id_and_both_strategies(ip: Any) -> None:
    run(ip, "%%auriko -m gpt-4o\nA footer")
    result = ip.user_ns["_auriko"]
    footer = result.footer()
    assert "\n" not in footer and len(footer) < 170
    assert f"· {result.request_id[:12]}… ·" in footer and result.request_id not in footer
    assert "· no preference → cost-focus ·" in footer
    assert re.search(r"· TTFT \d+ ms \(server\) · TTFT \d+ ms \(client\) ·", footer)
    asked = dataclasses.replace(result.context, routing={"optimize": "ttft"})
    assert "· ttft → cost-focus ·" in dataclasses.replace(result, context=asked).footer()
    same = dataclasses.replace(result.context, routing={"optimize": "cost-focus"})
    plain = dataclasses.replace(result, context=same).footer()
    assert "· gpt-4o · cost-focus ·" in plain and "→ cost-focus" not in plain  # asked what it got: said once


def test_short_request_id() -> None:
    assert short_request_id("req_0123456789abcdef01234567") == "req_01234567…"
    assert short_request_id("abcdef0123456789") == "abcdef01…"
    assert short_request_id("req_short") == "req_short"


def test_another_custom_handler_is_left_alone(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    ip.set_custom_exc((KeyError,), lambda shell, etype, value, tb, tb_offset=None: seen.append(str(value)))
    try:
        magics = AurikoMagics(ip)  # the shell has a handler of its own: ours does not replace it
        ip.register_magics(magics)
        line = failed_line(ip, "%%auriko -m zzzz-qqqq --no-stream\nhi", capsys)
        assert line.startswith("UsageError: NotFoundError: 404 model_not_found")  # still one line, still named
        assert not ip.run_cell("{}['k']").success and seen == ["'k'"]
        magics.state.reconnect()
    finally:
        ip.set_custom_exc((), None)
        ip.register_magics(ip.user_ns["_magics"])
        if magics in ip.configurables:
            ip.configurables.remove(magics)
