"""Bad input gets a clear error: a catalogue of bad magic lines, routing options, metadata, prompts, sweep
arguments and server responses, each with the error it must give.

Every entry must fail with one line (no newline, no traceback) naming the problem, and nothing may crash or
lose what came before: the magics run in one IPython shell whose earlier call records survive every bad cell
(and the shell still runs code after each), the Python entries share one client whose earlier rows, in
memory and in its ledger, survive every bad call. Bad responses each leave exactly one error row.

"Huge" prompts: the toolkit sets no size limit of its own (how much fits is the model's context window,
which only the gateway knows); a huge prompt is sent as is and the gateway's 413/400 comes back as one short
line that does not repeat the prompt. The offline gateway has no context limit, so a 2 MB prompt succeeds.
Invalid UTF-8: a non-streamed body must be UTF-8 JSON (RFC 8259), so it is an error; in a stream, bytes that
are not UTF-8 inside a text delta become U+FFFD, as the SSE standard prescribes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import IPython.testing.globalipapp as globalipapp
import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from rel_support import figure

import auriko_nb as ak
from auriko_nb.measure import ledger as ledger_mod
from auriko_nb.measure.ledger import Ledger
from auriko_nb.measure.sweep import Sweep
from auriko_nb.notebook.magics import AurikoMagics
from auriko_nb.notebook.settings import settings
from auriko_nb.offline import GatewayHandle, serve

KEY = "ak_test_reliability_bad_input"


@dataclass(frozen=True)
class Bad:
    """One catalogue entry: what is fed in, and the error line it must give."""

    id: str
    feed: Any  # a magic cell (str), a callable taking the client, or a server response (see SERVER)
    expect: str  # a fragment of the one-line message
    error: type[BaseException] = ak.AurikoError
    label: str = "UsageError"  # how the magic labels the line: API errors carry their own class name (issue 15)


# -- magics: each fails the cell with one line: "UsageError: ..." for a mistake in the magic's use, the error's
# own class name ("NotFoundError: ...") for what the gateway refused ------------------------------------------

MAGIC = [
    Bad("unknown flag", "%%auriko --bogus\nhi", "unrecognized arguments: --bogus"),
    Bad("unknown short flag", "%%auriko -z 1\nhi", "unrecognized arguments: -z 1"),
    Bad("abbreviated flag", "%%auriko --max-tok 5\nhi", "unrecognized arguments: --max-tok"),
    Bad("missing value -m", "%%auriko -m\nhi", "argument -m/--model: expected one argument"),
    Bad("missing value --max-tokens", "%%auriko --max-tokens\nhi", "argument --max-tokens: expected one argument"),
    Bad("bad whole number", "%%auriko --max-tokens many\nhi", "--max-tokens: expected a whole number, got 'many'"),
    Bad("zero max tokens", "%%auriko --max-tokens 0\nhi", "--max-tokens: must be >= 1, got 0"),
    Bad("zero deadline", "%%auriko --deadline 0\nhi", "--deadline: must be a finite number of seconds > 0, got 0"),
    Bad("infinite deadline", "%%auriko --deadline inf\nhi", "--deadline: must be a finite number of seconds > 0"),
    Bad("deadline as a param", "%%auriko --param deadline=3\nhi", "--param deadline=... is not allowed"),
    Bad("magic negative max ttft", "%%auriko --max-ttft-ms -5\nhi", "--max-ttft-ms: must be >= 1, got -5"),
    Bad("bad float", "%%auriko --max-cost-per-1m abc\nhi", "--max-cost-per-1m: expected a number, got 'abc'"),
    Bad("zero min tps", "%%auriko --min-tps 0\nhi", "--min-tps: must be > 0, got 0"),
    Bad("temperature out of range", "%%auriko --temperature 3\nhi", "--temperature: must be between 0 and 2, got 3"),
    Bad("zero repeats", "%%auriko --compare optimize=cost --repeat 0\nhi", "--repeat: must be >= 1, got 0"),
    Bad("magic unknown strategy", "%%auriko -s fastest\nhi", "invalid choice: 'fastest'"),
    Bad("unknown strategy in compare", "%%auriko --compare optimize=cost,fastest\nhi", "unknown strategy 'fastest'"),
    Bad("unknown compare key", "%%auriko --compare colour=red\nhi", "expected optimize=a,b or model=a,b"),
    Bad("empty compare list", "%%auriko --compare model=,\nhi", "expected a comma-separated list"),
    Bad("unknown format", "%%auriko --format html\nhi", "invalid choice: 'html'"),
    Bad("param without value", "%%auriko --param novalue\nhi", "expected key=value, got 'novalue'"),
    Bad("reserved param", "%%auriko --param model=x\nhi", "--param model=... is not allowed"),
    Bad("bad -o name", "%%auriko -o 1bad\nhi", "-o needs a variable name, got '1bad'"),
    Bad("compare with chat", "%%auriko --compare optimize=cost --chat\nhi", "--compare and --chat cannot be combined"),
    Bad("optimize and no-optimize", "%%auriko -s cost --no-optimize\nhi", "--optimize and --no-optimize contradict"),
    Bad("unbalanced quote", "%%auriko --system 'oops\nhi", "cannot parse the line"),
    Bad("empty cell", "%%auriko\n   \n", "the cell is empty"),
    Bad("unknown template variable", "%%auriko\nHello {{nobody_defined_this}}", "no variable named 'nobody_defined_this'"),
    Bad("unknown template attribute", "%%auriko\nHello {{topic.nope}}", "str has no attribute 'nope'"),
    Bad("tag over 50 chars", "%%auriko --tag " + "t" * 51 + "\nhi", "tag 0 is 51 characters; the limit is 50"),
    Bad("magic 101 tags", "%%auriko " + " ".join(f"--tag t{i}" for i in range(101)) + "\nhi", "101 tags; the limit is 100"),
    Bad("trace id over 255", "%%auriko --trace-id " + "x" * 256 + "\nhi", "trace_id: is 256 characters; the limit is 255"),
    Bad("unknown model (gateway)", "%%auriko -m no-such-model\nhi", "404 model_not_found", label="NotFoundError"),
    Bad("unsatisfiable ttft (gateway)", "%%auriko --max-ttft-ms 1\nhi", "latency_constraint_exceeded",
        label="BadRequestError"),
    Bad("unknown subcommand", "%auriko frobnicate", "unknown subcommand 'frobnicate'"),
    Bad("config unknown key", "%auriko config colour=blue", "expected key=value with key in"),
    Bad("config without =", "%auriko config model", "expected key=value"),
    Bad("config bad int", "%auriko config max_tokens=lots", "max_tokens needs a whole number, got 'lots'"),
    Bad("config bad number", "%auriko config max_ttft_ms=soon", "max_ttft_ms needs a whole number, got 'soon'"),
    Bad("config unknown strategy", "%auriko config optimize=fastest", "gateway.routing.optimize: got 'fastest'"),
    Bad("config negative limit", "%auriko config max_ttft_ms=-1", "max_ttft_ms: Input should be greater than 0"),
    Bad("config zero max tokens", "%auriko config max_tokens=0", "max_tokens must be >= 1, got 0"),
    Bad("config bad bool", "%auriko config stream=maybe", "stream needs true or false, got 'maybe'"),
    Bad("config bad speed", "%auriko config speed=fast", "speed needs a number, got 'fast'"),
    Bad("config zero speed", "%auriko config speed=0", "speed must be > 0"),
    Bad("log N not a number", "%auriko log many", "argument N: expected a whole number, got 'many'"),
    Bad("use sideways", "%auriko use sideways", "expected live, offline or auto"),
    Bad("prices without model", "%auriko prices", "name one model"),
    Bad("prices unknown model", "%auriko prices nope", "no model 'nope' in the directory"),
    Bad("compare panel with args", "%auriko compare now", "takes no arguments"),
    Bad("unparseable subcommand line", "%auriko config 'model=x", "cannot parse the line"),
]


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayHandle]:
    with serve(seed=41, speed=0.02) as g:
        yield g


@pytest.fixture(scope="module")
def shell(gw: GatewayHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, AurikoMagics]]:
    with pytest.MonkeyPatch.context() as mp:
        # module-scoped: set up before the per-test isolated ledger, so it gets its own (never ./auriko_ledger.sqlite)
        mp.setenv(ledger_mod.LEDGER_ENV, str(tmp_path_factory.mktemp("bad-input") / "session.sqlite"))
        mp.setattr(ledger_mod, "_session", None)
        mp.setenv("AURIKO_API_KEY", KEY)
        mp.setenv("AURIKO_BASE_URL", gw.base_url)
        ip = globalipapp.start_ipython() or globalipapp.get_ipython()
        ip.display_pub = CapturingDisplayPublisher()
        magics = AurikoMagics(ip)
        ip.register_magics(magics)
        ip.user_ns["topic"] = "latency"
        assert ip.run_cell("%%auriko --no-stream --max-tokens 10\nA good call first").success
        assert ip.run_cell("%%auriko --max-tokens 10\nAnd a streamed one").success
        yield ip, magics
        magics.state.reconnect()


@pytest.mark.parametrize("case", MAGIC, ids=lambda c: c.id)
def test_bad_magic_line_gives_one_clear_line(case: Bad, shell: tuple[Any, AurikoMagics],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    ip, magics = shell
    first = list(magics.state.records[:2])
    before = len(magics.state.records)
    settings_before = repr(settings)
    capsys.readouterr()
    result = ip.run_cell(case.feed)
    out = capsys.readouterr()
    assert not result.success
    lines = [ln for ln in out.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{case.label}: "), out.err
    assert case.expect in lines[0], lines[0]
    assert "Traceback" not in out.out + out.err
    # nothing lost, nothing half-applied, and the shell carries on
    assert magics.state.records[:2] == first and len(magics.state.records) >= before
    if case.feed.startswith("%auriko config"):
        assert repr(settings) == settings_before
    assert ip.run_cell("_probe = 21 * 2").success and ip.user_ns["_probe"] == 42


# -- Python API: request options, metadata, prompts, sweep arguments -----------------------------------------

def _chat(**kw: Any) -> Callable[[ak.Client], Any]:
    kw.setdefault("model", "gpt-4o-mini")
    return lambda c: c.chat(kw.pop("prompt", "hi"), **kw)


def _sweep(**kw: Any) -> Callable[[ak.Client], Any]:
    kw.setdefault("models", ["gpt-4o-mini"])
    return lambda c: Sweep(kw.pop("prompts", ["hi"]), client=c, ledger=None, progress=False, **kw)


RV = ak.RequestValidationError
PYTHON = [
    Bad("routing byok and platform", _chat(routing={"only_byok": True, "only_platform": True}),
        "only_byok and only_platform are mutually exclusive", RV),
    Bad("weights all zero", _chat(routing={"weights": {"cost": 0, "ttft": 0, "throughput": 0}}),
        "at least one weight must be > 0", RV),
    Bad("weight negative", _chat(routing={"weights": {"cost": -1, "ttft": 1}}), "weight 'cost' must be a finite number >= 0", RV),
    Bad("weight unknown", _chat(routing={"weights": {"price": 1}}), "unknown weight 'price'", RV),
    Bad("negative max ttft", _chat(routing={"max_ttft_ms": -1}), "max_ttft_ms: Input should be greater than 0", RV),
    Bad("zero max cost", _chat(routing={"max_cost_per_1m": 0}), "max_cost_per_1m: Input should be greater than 0", RV),
    Bad("negative min tps", _chat(routing={"min_throughput_tps": -3}), "min_throughput_tps: Input should be greater than 0", RV),
    Bad("zero fallback attempts", _chat(routing={"max_fallback_attempts": 0}), "greater than or equal to 1", RV),
    Bad("negative call deadline", _chat(deadline=-2), "deadline must be a positive number of seconds or None, not -2", RV),
    Bad("text call deadline", _chat(deadline="10"), "deadline must be a positive number of seconds or None, not '10'", RV),
    Bad("deadline before timeout", _chat(routing={"timeout_ms": 10, "deadline_ms": 5}), "deadline_ms (5) must be >= timeout_ms (10)", RV),
    Bad("unknown routing field", _chat(routing={"colour": "blue"}), "gateway.routing.colour: unknown field", RV),
    Bad("unknown strategy", _chat(routing={"optimize": "fastest"}), "gateway.routing.optimize: got 'fastest'", RV),
    Bad("routing not a dict", _chat(routing=["cost"]), "expected a dict or Routing, got list", RV),
    Bad("providers not a list", _chat(routing={"providers": "groq"}), "gateway.routing.providers: Input should be a valid list", RV),
    Bad("model and models", _chat(models=["gpt-4o", "gpt-4o-mini"]), "model and gateway.models are mutually exclusive", RV),
    Bad("no model", lambda c: c.chat("hi"), "no model given", RV),
    Bad("empty models", _chat(model=None, models=[]), "gateway.models: List should have at least 1 item", RV),
    Bad("extra_body not a dict", _chat(extra_body=["gateway"]), "extra_body: expected a dict, got list", RV),
    Bad("extra_body conflict", _chat(routing={"optimize": "cost"}, extra_body={"gateway": {"routing": {"optimize": "ttft"}}}),
        """gateway.routing.optimize given twice: routing= says 'cost', extra_body["gateway"]["routing"] says 'ttft'""", RV),
    Bad("response_metadata not text", lambda c: c.responses("hi", model="gpt-4o-mini", response_metadata={"n": 1}),
        "response_metadata: expected a dict of str to str", RV),
    Bad("101 tags", _chat(metadata={"tags": [f"t{i}" for i in range(101)]}), "101 tags; the limit is 100", RV),
    Bad("tag 51 chars", _chat(metadata={"tags": ["x" * 51]}), "tag 0 is 51 characters; the limit is 50", RV),
    Bad("user id 256", _chat(metadata={"user_id": "u" * 256}), "user_id: is 256 characters; the limit is 255", RV),
    Bad("trace id 256", _chat(metadata={"trace_id": "t" * 256}), "trace_id: is 256 characters; the limit is 255", RV),
    Bad("11 custom fields", _chat(metadata={"custom_fields": {f"k{i}": "v" for i in range(11)}}), "11 fields; the limit is 10", RV),
    Bad("custom key 51", _chat(metadata={"custom_fields": {"k" * 51: "v"}}), "is 51 characters; the limit is 50", RV),
    Bad("custom value 201", _chat(metadata={"custom_fields": {"k": "v" * 201}}), "is 201 characters; the limit is 200", RV),
    Bad("custom value not text", _chat(metadata={"custom_fields": {"k": 1}}), "custom_fields.k: Input should be a valid string", RV),
    Bad("unknown metadata field", _chat(metadata={"owner": "me"}), "gateway.metadata.owner: unknown field", RV),
    Bad("empty prompt", _chat(prompt=""), "messages: the prompt is empty", RV),
    Bad("blank prompt", _chat(prompt=" \n\t "), "messages: the prompt is empty", RV),
    Bad("empty message list", _chat(prompt=[]), "messages: the message list is empty", RV),
    Bad("empty responses input", lambda c: c.responses("  ", model="gpt-4o-mini"), "input: the prompt is empty", RV),
    Bad("param not JSON", _chat(temperature=object()), "request body is not JSON-serialisable", RV),
    Bad("sweep without prompts", _sweep(prompts=[]), "prompts: give at least one non-empty prompt", ValueError),
    Bad("sweep empty prompt", _sweep(prompts=["ok", ""]), "prompts: item 2 is empty", ValueError),
    Bad("sweep without models", _sweep(models=[]), "models: give at least one model", ValueError),
    Bad("sweep unknown strategy", _sweep(strategies=["fastest"]), "unknown strategy 'fastest'", ValueError),
    Bad("sweep zero concurrency", _sweep(concurrency=0), "concurrency must be >= 1", ValueError),
    Bad("sweep zero repeats", _sweep(repeats=0), "repeats must be >= 1", ValueError),
    Bad("sweep negative budget", _sweep(budget_usd=-1), "budget_usd must be > 0", ValueError),
    Bad("sweep metadata over limit", _sweep(metadata={"tags": ["x" * 51]}), "the limit is 50", RV),
    Bad("negative max_retries", lambda c: ak.Client(KEY, max_retries=-1), "max_retries must be >= 0", ValueError),
    Bad("unknown connect mode", lambda c: ak.connect(mode="sideways"), "mode must be 'auto', 'live' or 'offline'", ValueError),
    Bad("huge prompt: 413", _chat(prompt="word " * 400_000, model="too-big"), "413 payload_too_large"),
    Bad("huge prompt: context", _chat(prompt="word " * 200_000, model="small-ctx"), "400 context_length_exceeded"),
]


# -- server responses: what a gateway (or a proxy in front of it) may send -----------------------------------

def _resp(status: int, body: bytes, ctype: str = "application/json", **headers: str) -> httpx.Response:
    return httpx.Response(status, stream=httpx.ByteStream(body),  # not decoded here: the client decodes
                          headers={"content-type": ctype, "x-request-id": "req_bad", **headers})


def _sse(body: bytes) -> httpx.Response:
    return _resp(200, body, "text/event-stream")


GOOD_CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"Hello "}}]}\n\n'
# (response, streamed?) -> error
SERVER = [
    Bad("200 not JSON", (_resp(200, b"Hello, I am not JSON"), False), "response is not valid JSON"),
    Bad("200 truncated JSON", (_resp(200, b'{"id":"c","choices":[{"index":0,"mess'), False), "response is not valid JSON"),
    Bad("200 empty body", (_resp(200, b""), False), "response is not valid JSON"),
    Bad("200 not UTF-8", (_resp(200, b'{"id":"\xff\xfe\xfa"}'), False), "response is not valid JSON"),
    Bad("200 HTML", (_resp(200, b"<html><title>Login</title></html>", "text/html"), False), "is not valid JSON (starts '<html>"),
    Bad("200 JSON list", (_resp(200, b"[1, 2, 3]"), False), "response has the wrong shape"),
    Bad("200 choices not a list", (_resp(200, b'{"choices": "abc"}'), False), "response has the wrong shape"),
    Bad("200 message not an object", (_resp(200, b'{"choices": [{"message": 5}]}'), False), "response has the wrong shape"),
    Bad("200 usage wrong", (_resp(200, b'{"choices": [], "usage": {"prompt_tokens": "many"}}'), False), "wrong shape"),
    Bad("200 deeply nested", (_resp(200, b"[" * 100_000 + b"]" * 100_000), False), "response is not valid JSON"),
    Bad("200 gzip that is not", (_resp(200, b"plain text", **{"content-encoding": "gzip"}), False), "could not be decoded"),
    Bad("500 HTML page", (_resp(500, b"<html><title>500 Internal Server Error</title></html>", "text/html"), False),
        "500 malformed_response: The gateway answered HTTP 500 with a non-JSON body (text/html: '500 Internal Server Error')"),
    Bad("400 JSON not an envelope", (_resp(400, b'{"detail": "bad"}'), False), "JSON that is not an error envelope"),
    Bad("404 envelope odd types", (_resp(404, b'{"error": {"message": 5, "code": 7, "type": "not_found_error"}}'), False),
        "404 7: 5"),
    Bad("401 envelope", (_resp(401, json.dumps({"error": {"message": "Invalid API key.", "type": "authentication_error",
                                                          "code": "invalid_api_key"}}).encode()), False),
        "401 invalid_api_key: Invalid API key."),
    Bad("429 with bad Retry-After", (_resp(429, b'{"error": {"message": "slow", "type": "rate_limit_error", '
                                            b'"code": "rate_limit_exceeded"}}', **{"retry-after": "soon"}), False),
        "429 rate_limit_exceeded: slow"),
    Bad("stream answered with JSON", (_resp(200, b'{"id": "x"}'), True), "asked for a stream but the gateway answered application/json"),
    Bad("stream garbage line", (_sse(GOOD_CHUNK + b"data: {not json\n\n"), True), "data line that is not JSON: '{not json'"),
    Bad("stream binary garbage", (_sse(GOOD_CHUNK + b"data: \xff\xfe\x00\x01\n\n"), True), "data line that is not JSON"),
    Bad("stream JSON list", (_sse(b"data: [1, 2]\n\n"), True), "sent a JSON list, not a chunk object"),
    Bad("stream choices wrong", (_sse(b'data: {"choices": [1]}\n\n'), True), "chunk of the wrong shape"),
    Bad("stream content a number", (_sse(b'data: {"choices": [{"delta": {"content": 5}}]}\n\n'), True),
        "delta.content is not a string but int"),
    Bad("stream usage wrong", (_sse(GOOD_CHUNK + b'data: {"choices": [], "usage": "lots"}\n\ndata: [DONE]\n\n'), True),
        "chunk of the wrong shape (usage: Input should be a valid dictionary"),
    Bad("stream error as text", (_sse(GOOD_CHUNK + b'data: {"error": "provider exploded"}\n\n'), True),
        "stream_error: provider exploded"),
    Bad("stream error envelope", (_sse(GOOD_CHUNK + b'data: {"error": {"message": "upstream died", "type": "api_error", '
                                                    b'"code": "upstream_error"}}\n\n'), True), "upstream_error: upstream died"),
    Bad("stream without [DONE]", (_sse(GOOD_CHUNK), True), "stream ended before its end marker"),
    Bad("stream of comments only", (_sse(b": ping\n\n: ping\n\n"), True), "stream ended before its end marker"),
    Bad("stream cut mid-event", (_sse(GOOD_CHUNK + b'data: {"choices": [{"delta": {"content": "wor'), True),
        "stream ended before its end marker"),
    Bad("stream gzip that is not", (_resp(200, GOOD_CHUNK, "text/event-stream", **{"content-encoding": "gzip"}), True),
        "stream could not be decoded"),
]
CATALOGUE_SIZE = len(MAGIC) + len(PYTHON) + len(SERVER)


class Shared:
    """One client for the whole Python catalogue, with rows from before it started."""

    def __init__(self, tmp: Path) -> None:
        self.rows: list[dict[str, Any]] = []
        self.ledger = Ledger(tmp / "bad-input.sqlite")
        self.sent: list[httpx.Request] = []
        self.next: httpx.Response | None = None
        self.client = ak.Client(KEY, base_url="http://gateway.test", transport=httpx.MockTransport(self.handle),
                                max_retries=0, on_record=[self.rows.append, self.ledger])
        self.next = _resp(200, json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                                        "finish_reason": "stop"}]}).encode())
        self.client.chat("a good call first", model="gpt-4o-mini")
        self.first = dict(self.rows[0])

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        body = json.loads(request.content)
        size = len(request.content)
        if body.get("model") == "too-big" and size > 1_000_000:
            return _resp(413, json.dumps({"error": {"message": f"Request body of {size} bytes exceeds the limit.",
                                                    "type": "invalid_request_error", "code": "payload_too_large"}}).encode())
        if body.get("model") == "small-ctx":
            return _resp(400, json.dumps({"error": {
                "message": "This model's maximum context length is 8192 tokens; the messages have 200004 tokens.",
                "type": "invalid_request_error", "code": "context_length_exceeded", "param": "messages"}}).encode())
        assert self.next is not None
        return self.next


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    return Shared(tmp_path_factory.mktemp("bad-input"))


def _check_one_line(err: BaseException, expect: str) -> None:
    text = str(err)
    assert "\n" not in text and expect in text, text
    assert len(text) < 400, len(text)  # short: never the whole prompt or body


@pytest.mark.parametrize("case", PYTHON, ids=lambda c: c.id)
def test_bad_python_input_gives_one_clear_line(case: Bad, shared: Shared) -> None:
    before_rows, before_sent, before_ledger = len(shared.rows), len(shared.sent), len(shared.ledger)
    with pytest.raises(case.error) as info:
        case.feed(shared.client)
    _check_one_line(info.value, case.expect)
    if isinstance(info.value, ak.RequestValidationError) or case.error is ValueError:
        assert len(shared.sent) == before_sent  # refused before anything was sent
    assert shared.rows[0] == shared.first and len(shared.rows) >= before_rows
    assert len(shared.ledger) >= before_ledger and shared.ledger.to_dataframe()["call_id"].iloc[0] == shared.first["call_id"]


@pytest.mark.parametrize("case", SERVER, ids=lambda c: c.id)
def test_bad_server_response_gives_one_clear_line(case: Bad, shared: Shared) -> None:
    response, stream = case.feed
    before_rows, before_ledger = len(shared.rows), len(shared.ledger)
    shared.next = response
    with pytest.raises(ak.AurikoError) as info:
        if stream:
            s = shared.client.chat("hi", model="gpt-4o-mini", stream=True)
            for _ in s:
                pass
        else:
            shared.client.chat("hi", model="gpt-4o-mini")
    _check_one_line(info.value, case.expect)
    # exactly one error row for the failed call, and everything before it kept
    assert len(shared.rows) == before_rows + 1 and shared.rows[-1]["status"] == "error"
    assert shared.rows[-1]["error_message"] == str(info.value)
    assert shared.rows[0] == shared.first and len(shared.ledger) == before_ledger + 1


def test_stream_bytes_that_are_not_utf8_inside_text_become_replacement_characters(shared: Shared) -> None:
    shared.next = _sse(b'data: {"choices":[{"index":0,"delta":{"content":"caf\xe9"}}]}\n\ndata: [DONE]\n\n')
    assert shared.client.chat("hi", model="gpt-4o-mini", stream=True).text == "caf\ufffd"


def test_a_huge_prompt_is_sent_as_is_and_the_offline_gateway_answers(gw: GatewayHandle) -> None:
    prompt = "Summarise this log line. " * 80_000  # 2 MB
    res = ak.Client(KEY, base_url=gw.base_url, on_record=None).chat(prompt, model="gpt-4o-mini", max_tokens=10)
    assert res.text and res.usage is not None and res.usage.prompt_tokens > 400_000


def test_the_catalogue_is_big_enough() -> None:
    assert CATALOGUE_SIZE >= 40 and len({c.id for c in MAGIC + PYTHON + SERVER}) == CATALOGUE_SIZE
    figure("bad_input", "catalogue", {"magic lines": len(MAGIC), "python api": len(PYTHON),
                                      "server responses": len(SERVER), "total": CATALOGUE_SIZE})


def test_magics_configured_from_ipython_config_load() -> None:
    """Trait values from ipython_config.py (`c.AurikoMagics.mode = ...`) arrive before the magics' state exists."""
    ip = globalipapp.start_ipython() or globalipapp.get_ipython()
    ip.config.AurikoMagics.mode = "offline"
    ip.config.AurikoMagics.offline_speed = 0.05
    try:
        magics = AurikoMagics(ip)
        assert (magics.state.mode, magics.state.speed) == ("offline", 0.05)
    finally:
        del ip.config.AurikoMagics["mode"], ip.config.AurikoMagics["offline_speed"]
