"""What the benchmarks share: canned gateway responses, mock transports for our client and the two SDKs,
timing with `time.perf_counter` (median of several repetitions), percentiles, the offline gateway in its own
process, and the result objects the runner turns into BENCHMARKS.md sections.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import platform
import pstats
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "ak_bench_0123456789abcdef"
BASE_URL = "http://gateway.bench/v1"
MODEL = "gpt-4o"
MESSAGES = [{"role": "user", "content": "Explain time to first token in one paragraph."}]
PROMPT = MESSAGES[0]["content"]

# -- canned responses ------------------------------------------------------------------------------------

ROUTING_METADATA: dict[str, Any] = {
    "provider": "openai", "provider_model_id": "gpt-4o-2024-08-06", "model_canonical": "gpt-4o",
    "routing_strategy": "cost-focus", "tier": "standard", "ttft_ms": 212.5, "throughput_tps": 91.2,
    "cost": {"usd": 0.000105, "cache_savings_percent": 10, "cache_savings_usd": 0.00001},
    "warnings": [{"type": "unsupported_parameter", "code": "parameter_dropped", "param": "seed",
                  "message": "seed is not supported by openai and was dropped."}],
}
USAGE: dict[str, Any] = {"prompt_tokens": 14, "completion_tokens": 42, "total_tokens": 56,
                         "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                         "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}
ANSWER = ("Time to first token is the delay between sending a request and receiving the first piece of the "
          "answer; it is what a reader of a streamed reply feels as responsiveness.")
RESPONSE_HEADERS = {"content-type": "application/json", "x-request-id": "req_0123456789abcdef01234567",
                    "x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599",
                    "x-ratelimit-reset-requests": "2026-11-25T10:00:00Z",
                    "x-credits-balance-microdollars": "48500000"}
SSE_HEADERS = {**RESPONSE_HEADERS, "content-type": "text/event-stream", "cache-control": "no-cache"}


def completion_body() -> bytes:
    """A non-streamed chat.completion as the gateway sends it (routing_metadata included)."""
    return json.dumps({
        "id": "chatcmpl-0123456789abcdef01234567", "object": "chat.completion", "created": 1745100000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE, "system_fingerprint": "fp_bench", "routing_metadata": ROUTING_METADATA,
    }, separators=(",", ":")).encode()


def sse_events(n_chunks: int) -> list[bytes]:
    """A chat SSE stream with `n_chunks` content chunks, one bytes object per event (as paced delivery gives):
    role chunk, content chunks, finish chunk, usage + routing_metadata chunk, [DONE]."""
    head = ('data: {"id":"chatcmpl-0123456789abcdef01234567","object":"chat.completion.chunk",'
            '"created":1745100000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_bench","choices":')
    words = ANSWER.split(" ")
    out = [(head + '[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
                   '"finish_reason":null}]}\n\n').encode()]
    for i in range(n_chunks):
        piece = json.dumps((" " if i else "") + words[i % len(words)])
        out.append((head + f'[{{"index":0,"delta":{{"content":{piece}}},"logprobs":null,"finish_reason":null}}]}}\n\n')
                   .encode())
    out.append((head + '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n').encode())
    tail = json.dumps({"usage": {**USAGE, "completion_tokens": n_chunks, "total_tokens": 14 + n_chunks},
                       "routing_metadata": ROUTING_METADATA}, separators=(",", ":"))
    out.append((head + "[]," + tail[1:] + "\n\n").encode())
    out.append(b"data: [DONE]\n\n")
    return out


def _chunk_stream(base: Any) -> type:
    """A byte stream class (for httpx or httpx2) that yields a list of chunks one by one, sync or async."""

    class Chunks(base.SyncByteStream, base.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, chunks: Sequence[bytes]) -> None:
            self.chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            yield from self.chunks

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for c in self.chunks:
                yield c

    return Chunks


def handler(http: Any, *, body: bytes | None = None, events: Sequence[bytes] | None = None) -> Callable[[Any], Any]:
    """A MockTransport handler for `http` (the httpx or httpx2 module): the canned JSON body, or the SSE
    events delivered one chunk at a time. Each call builds a fresh Response, as a transport does."""
    if events is not None:
        chunks = _chunk_stream(http)
        ev = list(events)
        return lambda request: http.Response(200, headers=SSE_HEADERS, stream=chunks(ev))
    content = body if body is not None else completion_body()
    return lambda request: http.Response(200, headers=RESPONSE_HEADERS, content=content)


# -- the clients under test, all on the same in-process transport ------------------------------------------

def ours(handle: Callable[[Any], Any], *, asynchronous: bool = False, on_record: Any = None) -> Any:
    """A plain `auriko_nb` client on a MockTransport (no hook unless `on_record` is given; see
    `auriko_nb.notebook.attach.attach` for the session ledger)."""
    import httpx

    import auriko_nb as ak

    kw: dict[str, Any] = {"base_url": BASE_URL, "transport": httpx.MockTransport(handle), "max_retries": 0,
                          "on_record": on_record}
    return (ak.AsyncClient if asynchronous else ak.Client)(KEY, **kw)


def openai_client(handle: Callable[[Any], Any], *, asynchronous: bool = False) -> Any:
    """The `openai` SDK with its `http_client` on the same handler (openai 3.x speaks httpx2)."""
    import httpx2
    import openai

    if asynchronous:
        return openai.AsyncOpenAI(api_key=KEY, base_url=BASE_URL, max_retries=0,
                                  http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handle)))
    return openai.OpenAI(api_key=KEY, base_url=BASE_URL, max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handle)))


def auriko_sdk_client(handle: Callable[[Any], Any], *, asynchronous: bool = False) -> Any:
    """The official `auriko` SDK with its own httpx client replaced by one on the same handler."""
    import auriko
    import httpx

    if asynchronous:
        c = auriko.AsyncClient(api_key=KEY, base_url=BASE_URL, max_retries=0)
        c._httpx = httpx.AsyncClient(base_url=c.base_url, headers=c._default_headers,
                                     transport=httpx.MockTransport(handle), follow_redirects=True)
        return c
    c = auriko.Client(api_key=KEY, base_url=BASE_URL, max_retries=0)
    c._httpx = httpx.Client(base_url=c.base_url, headers=c._default_headers, transport=httpx.MockTransport(handle),
                            follow_redirects=True)
    return c


# -- timing and statistics ---------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def interleaved(candidates: dict[str, Callable[[], Any]], n: int, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Microseconds per call of each candidate: `repeats` timed blocks of `n` calls, candidates taking turns
    (rotated each repetition) so that machine noise falls on all of them alike."""
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            candidates[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            fn = candidates[name]
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[name].append((time.perf_counter() - t0) / n * 1e6)
    return out


async def ainterleaved(candidates: dict[str, Callable[[], Awaitable[Any]]], n: int, repeats: int,
                       warmup: int) -> dict[str, list[float]]:
    """`interleaved` for coroutine functions, awaited one after another on the running loop."""
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            await candidates[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            fn = candidates[name]
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                await fn()
            out[name].append((time.perf_counter() - t0) / n * 1e6)
    return out


def profile_text(fn: Callable[[], Any], top: int = 18, sort: str = "tottime") -> str:
    """cProfile of `fn()`: the `top` functions by own time, paths shortened."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(top)
    text = buf.getvalue()
    start = text.find("   ncalls")
    return text[start:].rstrip() if start >= 0 else text.strip()


# -- results -----------------------------------------------------------------------------------------------

@dataclass
class Check:
    """One target: `value` against `limit` (`<=` or `>=`)."""

    label: str
    value: float
    limit: float
    unit: str = ""
    op: str = "<="

    @property
    def passed(self) -> bool:
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"

    def text(self) -> str:
        op = "≤" if self.op == "<=" else "≥"
        return f"{self.label}: {fmt(self.value)}{self.unit} (target {op} {fmt(self.limit)}{self.unit}) **{self.verdict}**"


@dataclass
class Table:
    header: list[str]
    rows: list[list[Any]]
    caption: str = ""

    def markdown(self) -> str:
        lines = [f"{self.caption}\n"] if self.caption else []
        lines.append("| " + " | ".join(self.header) + " |")
        lines.append("|" + "|".join("---" for _ in self.header) + "|")
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class BenchResult:
    name: str
    title: str
    what: str
    tables: list[Table] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""  # the short text after the verdict on the console line
    seconds: float = 0.0
    profile: str | None = None

    @property
    def verdict(self) -> str:
        if not self.checks:
            return "INFO"
        return "PASS" if all(c.passed for c in self.checks) else "MISS"

    def line(self) -> str:
        passed = sum(c.passed for c in self.checks)
        return (f"RESULT {self.name}: {self.verdict} ({passed}/{len(self.checks)} targets) in {self.seconds:.1f} s"
                + (f" | {self.summary}" if self.summary else ""))

    def markdown(self) -> str:
        parts = [f"## {self.title}\n", self.what + "\n"]
        for t in self.tables:
            parts.append(t.markdown() + "\n")
        if self.checks:
            parts.append("Targets:\n")
            parts += [f"- {c.text()}" for c in self.checks]
            parts.append("")
        for n in self.notes:
            parts.append(n + "\n")
        if self.profile:
            parts.append("<details><summary>cProfile of the hot path (top functions by own time)</summary>\n")
            parts.append("```\n" + self.profile + "\n```\n</details>\n")
        parts.append(f"_Section time: {self.seconds:.1f} s._\n")
        return "\n".join(parts)


def fmt(v: Any) -> str:
    """Numbers with a sensible number of significant digits; everything else as str."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if v != v:
        return "–"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


# -- the offline gateway in its own process ----------------------------------------------------------------

_LISTEN = re.compile(r"listening on (http://\S+/v1)")


class Gateway:
    """`auriko-nb serve --port 0 ...` in a subprocess (its own GIL); `.base_url`, `.cpu_seconds()`.

    With `fixed_ttft_ms` it runs through `bench._gateway`, which pins every call's latency to that value."""

    def __init__(self, args: Sequence[str] = (), *, fixed_ttft_ms: float | None = None, timeout: float = 20.0) -> None:
        pin = ["bench._gateway", "--fixed-ttft-ms", str(fixed_ttft_ms)] if fixed_ttft_ms is not None else ["auriko_nb.cli"]
        cmd = [sys.executable, "-m", *pin, "serve", "--host", "127.0.0.1", "--port", "0", *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AURIKO_NB_LEDGER": "off"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                                     env=env)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        seen = []
        while True:
            line = self.proc.stdout.readline()
            if line:
                seen.append(line)
                m = _LISTEN.search(line)
                if m:
                    self.base_url = m.group(1)
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("offline gateway did not start:\n" + "".join(seen))
        self.url = self.base_url.removesuffix("/v1")
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        while True:  # the port is bound before uvicorn listens on it: wait until a connection is accepted
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("offline gateway did not accept connections:\n" + "".join(seen)) from None
                time.sleep(0.02)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the gateway process so far (Linux /proc), or None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_cpu() -> float:
    """This process's user + system CPU seconds."""
    t = os.times()
    return t.user + t.system


# -- machine details ---------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(names: Sequence[str]) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


PACKAGES = ("auriko-nb", "httpx", "httpx-sse", "pydantic", "pandas", "numpy", "matplotlib", "uvicorn", "starlette",
            "h11", "openai", "httpx2", "auriko", "ipython")


def machine() -> dict[str, str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")) / 1024 / 1024
        memory = f"{mem:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    return {
        "CPU": cpu_model(), "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "memory": memory, "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
