"""Run the reliability suite and write RELIABILITY.md with its figures and the command behind each.

    .venv/bin/python tests/reliability/report.py            # runs every part, writes RELIABILITY.md
    .venv/bin/python tests/reliability/report.py --print    # the same, printed instead of written

Each part is one pytest file, run on its own with AURIKO_NB_REL_FIGURES pointing at a scratch file: the
tests append their figures there (see rel_support.figure) and this script turns them into tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

PARTS: list[tuple[str, str, str, list[str]]] = [
    ("faults", "1. Faults lose nothing", "test_rel_faults.py", [
        "A sweep of 2,000 streamed calls (500 prompts x 2 models x 2 strategies, concurrency 50, client timeout "
        "1 s) against the offline gateway injecting 20% faults: 429 with Retry-After (whole seconds, as servers send "
        "it; from Auriko's own limiter or passed on from a provider, `X-Rate-Limit-Source`), 429 "
        "`budget_exhausted` (not retried), 500, 503 with Retry-After, "
        "an error event after a 200 mid-stream, a dropped connection mid-stream, a malformed chunk, a proxy's HTML "
        "502, and a stall of 2 s (past the timeout). A second sweep of 400 non-streamed calls takes the same faults.",
        "Checked against the gateway's own records of every request it received: each grid cell ends as exactly one "
        "row (in the results and in the ledger), `ok` or `error` with the code its last attempt earned; the row's "
        "`attempts` equals the requests the gateway saw for the cell; a cell is never sent again once a response "
        "began (a stream, or a success): at most one 200 per cell and it is the last; the next attempt after a 429 "
        "or 503 arrives no sooner than Retry-After, after a 5xx or stall no sooner than the backoff; the gateway's "
        "count of charged successes, and the sum it charged, equal our ok rows and their recorded cost.",
    ]),
    ("crashes", "2. Crashes lose nothing", "test_rel_crashes.py", [
        "A sweep of 80 calls (5% server errors) runs in a subprocess against a gateway in the test process and is "
        "killed with SIGKILL at a seeded random point: at start-up, mid-import or mid-run (six trials). The ledger "
        "then opens, every row in it is a request the gateway served, every call the gateway completed is a row "
        "bar those in flight (at most the concurrency, 4), and `resume` sends exactly the cells without an ok row: "
        "the grid ends complete with one ok row per cell, no finished cell re-run. A second test SIGKILLs three "
        "processes appending to one ledger as fast as they can: the file passes `PRAGMA integrity_check` and keeps "
        "every committed row.",
    ]),
    ("secrets", "3. Secrets never leak", "test_rel_secrets.py test_rel_secrets_notebooks.py", [
        "A random canary key (`ak_test_canary_<24 hex>`) is used for everything; the search looks for the key, its "
        "hex body and either half of it.",
        "In-process: every `%%auriko` option (all flags, every format, `--chat`, `-o`, `VAR <<`, both `--compare` "
        "forms) and every `%auriko` subcommand (`help status login use config(every key) models providers prices me "
        "balance log reset routing compare`), 16 failing magic lines, and every injected fault through the magic "
        "(streamed and not) plus a refused connection; every error path of the client: each HTTP error status, "
        "HTML and non-JSON bodies, wrong shapes, stream errors, connection and timeout errors, validation errors, "
        "a budget refusal, a faulty sweep, an async stream, and servers that echo the Authorization header back "
        "in a JSON envelope, an HTML page, a 200 body, a stream error event, or partially; the repr, str, "
        "attributes, HTML repr and pickles of every public object. Searched: stdout/stderr, every display, "
        "exception str/repr/args/attributes and formatted tracebacks, records, the ledger files on disk (with "
        "WAL), and all logs at DEBUG. `%auriko status` says `API key set` (or `not set`), never the key.",
        "Notebooks: each of the four example notebooks is copied and executed with nbclient in a temp dir with "
        "AURIKO_API_KEY set to the canary and AURIKO_BASE_URL on a loopback offline gateway, so notebooks 01-03 "
        "take the live path with the key on the wire (notebook 04 starts its own fault-injecting gateways by "
        "design); DEBUG logging goes to a file. Searched: the saved notebook, every file the run left (ledgers "
        "with WAL, the log, IPython's history database) and the kernel's stdout/stderr.",
    ]),
    ("bad_input", "4. Bad input gets a clear error", "test_rel_bad_input.py", [
        "A parametrized catalogue: bad `%%auriko`/`%auriko` lines (unknown and abbreviated flags, missing values, "
        "bad and out-of-range numbers, unknown strategies and formats, reserved params, contradictions, template "
        "errors, metadata over each limit, bad `config` keys and values), bad Python arguments (conflicting and "
        "out-of-range routing options, weights all zero, every metadata limit, empty prompts, a huge prompt, "
        "sweep arguments) and bad server answers (not JSON, truncated, empty, not UTF-8, HTML, the wrong shape, "
        "100,000-deep nesting, a false gzip header, non-envelope errors, odd envelope types, a bad Retry-After; "
        "streams answered with JSON, garbage and binary lines, wrong-shape chunks, string error events, no [DONE], "
        "comments only, cut mid-event). Each must fail with one line containing the expected text.",
        "Nothing crashes or is lost: the magics share one IPython shell whose earlier call records survive every "
        "bad cell, `config` changes nothing when it fails, and the shell runs code after each; the Python entries "
        "share one client whose earlier rows (in memory and in its ledger) survive; each bad answer leaves exactly "
        "one error row whose message is the error line.",
        "Decisions: a huge prompt is sent as is (the toolkit sets no size limit: how much fits is the model's "
        "context window, which only the gateway knows); the gateway's 413 `payload_too_large` or 400 "
        "`context_length_exceeded` comes back as one short line that does not repeat the prompt, and the offline "
        "gateway (no context limit) answers a 2 MB prompt. A non-streamed body must be UTF-8 JSON, so invalid "
        "UTF-8 is an error; inside a streamed text delta it becomes U+FFFD, as the SSE standard prescribes.",
    ]),
    ("properties", "5. Property tests", "test_rel_properties.py", [
        "Hypothesis, derandomized (the same examples on every run, so a CI failure reproduces). (a) Valid chat "
        "streams with random text (any Unicode), usage and routing metadata, random line endings (LF, CRLF, CR), "
        "comments, `event:`/`id:`/`retry:` fields and JSON spread over several `data:` lines, cut into random "
        "pieces (or one byte at a time): the text, every delta, usage and metadata come out as generated, through "
        "the sync and async clients. (b) Arbitrary bodies (random bytes; SSE events of arbitrary JSON; documented "
        "chunks, events and bodies with one node replaced by arbitrary JSON; all with trailing junk), any status, "
        "content type and content encoding, streamed or not, chat and Responses, sync and async: nothing but "
        "`ak.AurikoError`s escape, their text is one line, and every call leaves exactly one record. An exploratory "
        "run with fresh random examples (5,000 sync and 2,500 async) found nothing more.",
    ]),
    ("timeouts", "6. Timeouts and interrupts", "test_rel_timeouts.py test_rel_deadline.py", [
        "Per-operation deadlines with `timeout=0.3` (a float, or `httpx.Timeout` with `connect=`/`read=`): connecting to a "
        "loopback port whose accept queue is full, a gateway that stalls before answering (streamed and not, sync "
        "and async), a stream that stalls after two deltas (a raw socket server), a port with nothing listening, "
        "and a sweep of 12 stalled calls. Each ends no sooner than the deadline and within it plus 1 s of "
        "scheduling slack; the total deadline of a call with retries is (max_retries + 1) x timeout + the "
        "backoff between attempts, and it ends within it; a stream that stalled after "
        "it began is not retried and the client hangs up. `timeout` is per operation, as in httpx and the "
        "official SDKs: a server that keeps sending something is not cut off by it.",
        "Total deadlines with `deadline=1.0` (on the client or per call, with `timeout=0.5` per operation): a "
        "stream and a non-streamed body that drip a piece every 0.1 s forever (raw socket servers), sync and "
        "async; a gateway that stalls before answering under `timeout=30` and 3 retries; a connect that hangs "
        "under `httpx.Timeout(30)`; a gateway answering 503 with 6 retries allowed; a sweep of stalled calls "
        "from a client with a deadline. Each ends no sooner than the deadline and within it plus 1 s, with "
        "`deadline_exceeded` (an `APITimeoutError`, or a `StreamError` keeping the partial text); the server sees "
        "the client hang up; no attempt starts after the deadline (the 503 case raises the last 503 before it); "
        "calls that finish in time are untouched, keep their connection, and leave no timer thread behind; bad "
        "values (0, negative, NaN, infinite, text, bool) get one line.",
        "Interrupts: a real SIGINT to the main thread (what the kernel's interrupt sends) during a streamed "
        "`%%auriko` cell, a non-streamed call, a `%%auriko --compare` cell and a sweep in a notebook (a running "
        "loop, so the sweep runs in a worker thread); and a KeyboardInterrupt raised in the display update, "
        "outside the stream's own code. "
        "Each stops at once, the gateway's in-flight count returns to 0 (connections closed), finished rows are "
        "kept, the interrupted call is recorded as `cancelled` (`error_code` `interrupted`), and the shell carries "
        "on. The sweep returns one row per cell only once every cell has its row, and every call the gateway "
        "charged is an ok row bar those finishing at the moment of the interrupt.",
    ]),
]

FIXES = [
    "**Echoed keys** (`errors.py`): a server or proxy that echoes the Authorization header into its error "
    "(JSON message, HTML page, non-JSON 200 body, stream error event) put the key into the exception text, "
    "the record and the ledger. Error text and bodies from the server now have `ak_...` keys and bearer tokens "
    "replaced by `[redacted]`.",
    "**Wrong-shape stream chunks** (`streaming.py`): valid JSON of the wrong shape (`choices` not a list of "
    "objects, `delta` not an object, a number as `content`, `arguments`, `role` or `finish_reason`, a malformed "
    "`usage` or `id`, a Responses event whose `type` is a list or whose `response` is not an object) escaped as "
    "AttributeError, TypeError or pydantic ValidationError; a string `error` event was taken for a normal "
    "chunk. They are now `StreamError`s with code `malformed_chunk` (and `stream_error` with the text as the "
    "message), keeping the partial text.",
    "**Undecodable bodies** (`client/clients.py`, `client/streaming.py`): `Content-Encoding: gzip` (or deflate, br, zstd) on a "
    "body that is not escaped as `httpx.DecodingError`; now `MalformedResponseError` (or a `StreamError` in a "
    "stream), not retried.",
    "**Deeply nested JSON** (`client/base.py`, `client/_error_mapping.py`, `client/streaming.py`): a body of 100,000 nested "
    "brackets escaped as RecursionError; now \"not valid JSON\".",
    "**Odd values in otherwise valid bodies** (`types/responses.py`): a non-numeric `cached_tokens` or a "
    "non-string `text` part in a Responses body raised TypeError while building the record; now ignored.",
    "**Interrupted calls left no row** (`client/base.py`, `client/clients.py`, `client/streaming.py`): Ctrl-C during a call, or a "
    "cancelled task, ended it without a record although every call, cancellations included, is documented to "
    "become one; the call is now recorded as `cancelled` (`interrupted` for Ctrl-C) with its partial progress.",
    "**Ctrl-C in a notebook sweep could return early** (`sweep.py`): before Python 3.13, a `Thread.join` that "
    "Ctrl-C interrupts can mark the worker thread as stopped, so `compare` returned before the calls in flight "
    "were cancelled and the other cells marked: rows missing from the DataFrame (and the worker still writing to "
    "the ledger). It now waits on an event the worker sets when it is done.",
    "**Magics configured from ipython_config.py** (`magics.py`): `c.AurikoMagics.mode` or `.offline_speed` "
    "in a config file made `%load_ext auriko_nb` fail with AttributeError (trait observers ran before the state "
    "existed).",
    "**`%auriko config speed=0`** (`magics.py`) was accepted and broke the next offline call; now refused with "
    "one line.",
    "**No total deadline** (`client/_deadline.py`, `client/clients.py`, `client/streaming.py`): `timeout` is per operation, so a "
    "server trickling bytes, or a stream that never ends, held a call forever. `deadline=` (client or per call) "
    "now bounds the whole call: each phase httpx starts is given at most the time left, and once the headers are "
    "in the connection is shut down at the deadline (waking a blocked read in a thread or on an event loop).",
    "**Protocol errors were retried** (`client/clients.py`, `client/_retry.py`): a non-streamed answer whose body was cut "
    "after the status line (`RemoteProtocolError`) was sent again, which the official SDK does not do (it "
    "retries timeouts and network errors only) and which could charge a call twice on a gateway that bills at "
    "the status line. Protocol and proxy errors are now final (`APIConnectionError.transient` is False), in "
    "the client and in sweeps, and so is a call past its own deadline.",
    "**A success whose body timed out was sent again** (`client/clients.py`): found by the 2,000-call fault "
    "sweep on a loaded machine, where one cell was answered (and charged) twice: a 200 whose body then passed "
    "the read timeout, or whose connection was reset mid-body, was retried like a timeout before any answer. "
    "On an inference call it is now final (the call may have been billed); reads that cost nothing (GET) "
    "keep the SDK's retry.",
    "**Lost request id** (`client/clients.py`): when a connection dropped after the headers of a non-streamed answer had "
    "arrived, the error and its row had no request id (the support handle); the id is now taken from the "
    "headers that arrived.",
    "**`Ledger(path)` on a file that is not SQLite** raised a raw `sqlite3.DatabaseError`; now one line "
    "(`<path> is not a ledger (file is not a database)`), the file left untouched.",
    "**`%auriko status` in offline mode** said `API key not set` when a key was set (it was only unused); now "
    "`API key set (unused: mode offline)`.",
    "**Notebook 03 on the live path**: it passed `api_key=None` to the openai SDK when a key was set, so the "
    "cell failed (\"Missing credentials\"); it now passes the Auriko key.",
    "**Issue 12 (numbers against the live API)**: `extra_body` was sent as a literal key (now merged as the SDKs "
    "do, conflicts refused); a non-streamed call's time to headers was shown as its TTFT (now `headers_ms_client`, "
    "TTFT empty); one malformed part of `routing_metadata` lost the whole object (now field by field, with an "
    "`unparsed_field` warning); a Responses mid-stream error had type `error` and status 200 (now typed by its "
    "code through the SDK registry, and never retried); a stream ending without `[DONE]` after usage and metadata "
    "lost its cost (now kept, with a `stream_incomplete` warning); a budget could be overspent by half at "
    "concurrency 4 (now an upper bound per call with `max_tokens`, billed errors and unreported costs counted); "
    "a 429 with an undocumented error type was not retried (now classed by its status).",
    "**Redaction gaps** (`errors.py`): an `ak_` key after `%22`, `_` or `%2F` (URL-encoded JSON, `bad_ak_...`) and "
    "a bearer token written `Bearer%20...`, `Bearer+...` or after `%3A` were not redacted; each form now has its "
    "own test, and each branch of the pattern a test that only it passes.",
]

LIMITS = [
    "`deadline` is off by default (as `timeout` alone is in httpx and the official SDKs): set it on the client "
    "or per call to bound a call's wall-clock time. A deadline that passes while a stream is being read makes it "
    "a `StreamError` (code `deadline_exceeded`) with the partial text; the hang-up needs a socket, so behind an "
    "in-process transport (tests, `httpx.MockTransport`) the deadline is checked between events only.",
    "Interrupts are tested in-process (IPython shell, a real SIGINT) and in a notebook-like running loop; the "
    "kernel interrupt button over a Jupyter server is not exercised (the browser test does not press it).",
]


def run_part(test_files: str, figures: Path) -> tuple[str, float, str]:
    files = [str(HERE / f) for f in test_files.split()]
    cmd = [sys.executable, "-m", "pytest", *files, "-p", "no:randomly", "-o", "addopts=", "-q"]
    env = {**os.environ, "AURIKO_NB_REL_FIGURES": str(figures)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    summary = next((ln for ln in reversed(proc.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", ln)),
                   f"exit code {proc.returncode}")
    return re.sub(r"=+", "", summary).strip(), wall, proc.stdout[-3000:] if proc.returncode else ""


def command(test_files: str) -> str:
    files = " ".join(f"tests/reliability/{f}" for f in test_files.split())
    return f"AURIKO_NB_REL_FIGURES=figures.jsonl .venv/bin/python -m pytest {files} -p no:randomly"


def fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(results: dict[str, tuple[str, float, str]], figures: list[dict[str, Any]]) -> str:
    out = [
        "# Reliability and security",
        "",
        "What the toolkit guarantees when things go wrong, and the tests that hold it to that (issue 9): faults lose "
        "nothing, crashes lose nothing, secrets never leak, bad input gets a clear error, parsing never raises a "
        "foreign exception, deadlines and interrupts are honoured. Everything runs on loopback against the offline "
        "gateway (or a scripted transport), bounded in size and time, and runs in CI with the rest of the suite.",
        "",
        "This file is generated by `.venv/bin/python tests/reliability/report.py`, which runs each part below on "
        "its own (the command is given with each part; the tests append their figures to the file named by "
        "`AURIKO_NB_REL_FIGURES`) and writes the figures into the tables.",
        "",
        f"Last run: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} · Python "
        f"{platform.python_version()} · {platform.system()} {platform.machine()} · {os.cpu_count()} CPUs.",
        "",
    ]
    for section, title, files, prose in PARTS:
        summary, wall, _ = results[section]
        out += [f"## {title}", ""]
        for p in prose:
            out += [p, ""]
        out += [f"Command: `{command(files)}` — {summary} (wall {wall:.0f} s).", "",
                "| figure | value |", "|---|---|"]
        rows = [f for f in figures if f["section"] == section]
        out += [f"| {f['name']} | {fmt(f['value'])} |" for f in rows] or ["| (no figures recorded) | |"]
        out.append("")
    out += ["## Bugs these tests found, now fixed", ""] + [f"- {f}" for f in FIXES] + [""]
    out += ["## Limits and decisions", ""] + [f"- {f}" for f in LIMITS] + [""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the document instead of writing it")
    parser.add_argument("--out", default=str(ROOT / "RELIABILITY.md"))
    args = parser.parse_args()
    results: dict[str, tuple[str, float, str]] = {}
    figures: list[dict[str, Any]] = []
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for section, title, files, _ in PARTS:
            path = Path(tmp) / f"{section}.jsonl"
            print(f"running {title} ({files}) ...", file=sys.stderr, flush=True)
            results[section] = run_part(files, path)
            if results[section][2]:
                failed = True
                print(results[section][2], file=sys.stderr)
            if path.exists():
                figures += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    text = render(results, figures)
    if args.print:
        print(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
