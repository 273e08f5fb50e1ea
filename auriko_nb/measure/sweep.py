"""Comparison sweeps: the grid prompts × models × strategies × repeats, run concurrently under a cap,
a budget and an adaptive rate limit; every grid cell ends as exactly one row (ok, error or cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import threading
import urllib.request
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ..client import observe
from ..client._body import assemble, check_extra_body, extra_gateway, sent_fields, yield_to_extra
from ..client._deadline import check_deadline
from ..client._retry import backoff_delay
from ..client._sharded_pool import ShardedTransport
from ..client.base import DEFAULT_TIMEOUT, to_messages
from ..client.clients import AsyncClient, Client
from ..client.records import RECORD_COLUMNS, CallContext, make_record, prompt_id
from ..errors import (  # BudgetError: defined in errors.py, importable from here as before
    AurikoError,
    BudgetError,
    LedgerError,
    MalformedResponseError,
    RateLimitError,
    RequestValidationError,
    StreamError,
)
from ..types.request import STRATEGIES, Routing, coerce_metadata, coerce_routing
from .checks import Check, as_checks, run_checks
from .estimate import DEFAULT_OUTPUT_TOKENS, bound_call_usd, check_budget, estimate_call_usd
from .ledger_writer import LedgerWriter
from .limiter import AdaptiveLimiter
from .prompts import PromptSpec, sweep_prompts

if TYPE_CHECKING:
    import pandas as pd

    from ..types.catalog import Directory
    from .comparison import Comparison
    from .ledger import Ledger

Prompt = str | Sequence[Mapping[str, Any]]
Row = dict[str, Any]
T = TypeVar("T")
DEFAULT_LEDGER: Any = object()
RATE_LIMIT_ATTEMPTS = 8
WRITER_CLOSE_TIMEOUT_S = 120.0  # how long the end of a run waits for the ledger to commit the last rows
_CHAT_OPTIONS = frozenset({"gateway", "extra_body", "extra_headers", "deadline", "system"})  # not body fields


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    prompt_index: int
    model: str
    strategy: str | None
    repeat: int

    @property
    def key(self) -> str:
        """A stable label stored in each row's `cell` column (used by resume)."""
        return f"p{self.prompt_index}|{self.model}|{self.strategy or 'none'}|r{self.repeat}"


def build_grid(n_prompts: int, models: Sequence[str], strategies: Sequence[str | None], repeats: int) -> list[Cell]:
    """Every cell, repeats innermost-last so early rows already cover every combination."""
    return [Cell(p, m, s, r) for r in range(repeats) for p in range(n_prompts) for m in models for s in strategies]


def _http_client(connections: int, timeout: float | httpx.Timeout) -> httpx.AsyncClient:
    """An httpx client for many calls in flight: a sharded pool (BENCHMARKS.md), or one pool behind a proxy."""
    if {"http", "https", "all"} & set(urllib.request.getproxies()):  # the proxy settings httpx itself reads
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(limits=limits, timeout=timeout, follow_redirects=True)  # honours the proxy
    return httpx.AsyncClient(transport=ShardedTransport(connections), timeout=timeout, follow_redirects=True)


def _own_client(pool: httpx.AsyncClient) -> AsyncClient:
    """The client a sweep builds when given none: `connect_async`'s, on `pool` (which the sweep closes when it ends)."""
    from ..notebook.connect import connect_async

    return connect_async(max_retries=0, http_client=pool)


def _sweep_view(client: Client | AsyncClient, capture: Callable[[Row], None]) -> Client | AsyncClient:
    """The caller's client as it is (transport, headers, proxy, TLS, pool), retry-free (the sweep does its own
    retries), its records captured by the sweep (which writes its own rows) and no session defaults (the sweep
    resolved them already)."""
    return client.with_options(max_retries=0, on_record=capture, defaults=None)


def _sync_chat(client: Client, prompt: Prompt, stream: bool, kwargs: dict[str, Any], halt: threading.Event) -> Any:
    """One call of a sync client, in a worker thread (so TTFT is measured there); a stream stops once `halt` is set."""
    if not stream:
        return client.chat(prompt, **kwargs)
    with client.chat(prompt, stream=True, **kwargs) as chunks:
        for _ in chunks:
            if halt.is_set():
                return None  # the sweep is over and has already written this cell's `cancelled` row
        return chunks.result


def _model_list(models: Sequence[str] | str) -> list[str]:
    """The models as a list (one string is one model); none is refused."""
    out = [models] if isinstance(models, str) else list(models)
    if not out:
        raise ValueError("models: give at least one model")
    return out


def _strategy_axis(strategies: Sequence[str | None] | None, routing: Routing | Mapping[str, Any] | None,
                   extra_body: Any) -> tuple[dict[str, Any], list[str | None]]:
    """(the routing every call sends, the strategies the grid sweeps); `strategies=` and an `optimize` in
    `extra_body` both choosing the strategy is refused. Without `routing=` the session's routing applies."""
    from ..notebook.settings import settings

    extra = check_extra_body(extra_body)  # sent with every call; session defaults yield to it
    base = coerce_routing(yield_to_extra(settings.effective_routing(), extra) if routing is None else routing)
    base_routing = base.to_dict() if base else {}
    extra_routing = extra_gateway(extra, "routing")
    extra_optimize = extra_routing.get("optimize") if isinstance(extra_routing, Mapping) else None
    if strategies is not None and extra_optimize is not None:
        raise RequestValidationError(
            f'strategies={list(strategies)!r} and extra_body["gateway"]["routing"]["optimize"]={extra_optimize!r} '
            "both choose the strategy: give one of them", param="gateway.routing.optimize")
    axis: list[str | None] = (
        list(strategies) if strategies is not None
        else [base_routing.get("optimize") or (extra_optimize if extra_optimize in STRATEGIES else None)])
    for s in axis:
        if s is not None and s not in STRATEGIES:
            raise ValueError(f"strategies: unknown strategy {s!r}; choose from {', '.join(STRATEGIES)}")
    return base_routing, axis


class Sweep:
    """A comparison run; `await sweep.run()` (or `ak.compare`) returns one row per grid cell.

    `prompts` may carry expectations (dicts `{"prompt", "expect", "id", "checks"}` or a DataFrame: see
    `measure.prompts`); `checks=` (one check or a list, see `measure.checks`) runs on every ok row's answer,
    locally, filling `passed`, `score` and `checks_failed`.
    Other keywords (OpenAI parameters, `extra_body=`, `gateway=`, `system=`, ...) go to every call; a conflict between
    `extra_body` and the other options (e.g. `strategies=` and its `gateway.routing.optimize`) is refused here.
    """

    def __init__(self, prompts: Prompt | Sequence[Prompt], *, models: Sequence[str] | str | None = None,
                 strategies: Sequence[str | None] | None = None, routing: Routing | Mapping[str, Any] | None = None,
                 repeats: int = 1, concurrency: int = 8, budget_usd: float | None = None, stream: bool = True,
                 ledger: Ledger | str | None = DEFAULT_LEDGER, resume: str | None = None,
                 client: Client | AsyncClient | None = None, progress: bool = True, run_id: str | None = None,
                 metadata: Mapping[str, Any] | None = None, expected_output_tokens: int | None = None,
                 max_retries: int = 2, on_row: Callable[[Row], None] | None = None, checks: Any = None,
                 **params: Any) -> None:
        from ..notebook.settings import settings

        self.prompts: list[Prompt]
        self.prompts, self.specs = sweep_prompts(prompts)  # a bad item: one error line before any call
        self.checks: tuple[Check, ...] = as_checks(checks)  # not a check, a bad regex or schema: the same
        self.models = _model_list([settings.model] if models is None else models)
        self.base_routing, self.strategies = _strategy_axis(strategies, routing, params.get("extra_body"))
        if repeats < 1:
            raise ValueError("repeats must be >= 1")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        budget_usd = check_budget(budget_usd)  # a finite number > 0, or one RequestValidationError line
        self.metadata = coerce_metadata(metadata)
        self.repeats, self.concurrency, self.budget_usd, self.stream = repeats, concurrency, budget_usd, stream
        self.params, self.max_retries, self.progress, self.on_row = params, max_retries, progress, on_row
        check_deadline(params.get("deadline"))  # per call, as for client.chat: refused before anything runs
        self._check_bodies()  # conflicts between extra_body and the other options: refused before any call
        self.output_tokens = (expected_output_tokens or params.get("max_tokens")
                              or params.get("max_completion_tokens") or DEFAULT_OUTPUT_TOKENS)
        self.resume = resume
        self.run_id = resume or run_id or f"run-{uuid.uuid4().hex[:10]}"
        self.ledger = self._open_ledger(ledger)
        self.cells = build_grid(len(self.prompts), self.models, self.strategies, repeats)
        self._cell_of = {c.key: c for c in self.cells}
        self._client_arg = client
        self._init_state()

    def _init_state(self) -> None:
        """What a run fills in: its rows, its spend and budget bookkeeping, and its handles for `cancel`."""
        self.rows: dict[str, Row] = {}
        self.spent_usd = 0.0
        self.errors = 0
        self.estimate_usd: float | None = None
        self.stop_reason: str | None = None
        self.limiter: AdaptiveLimiter | None = None
        self._stop = False
        self._hook_error: Exception | None = None  # the first exception of `on_row` or the ledger
        self._writer: LedgerWriter | None = None  # commits the rows to the ledger in the background, during `run`
        self._tasks: set[asyncio.Task[None]] = set()
        self._observed: dict[tuple[str, str | None], tuple[float, int]] = {}  # (model, strategy) -> (cost, n)
        self._static: dict[str, tuple[float, float | None]] = {}  # cell -> (expected cost, upper bound or None)
        self._reserved: dict[Cell, float] = {}  # the estimate held for each call in flight
        self._settled: set[tuple[str, str | None]] = set()  # (model, strategy) with at least one call finished
        self._began: set[str] = set()  # cells whose call failed after its answer began (may have been billed)
        self._captured: dict[str, Row] = {}  # the last row the client emitted, per cell
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None  # runs a sync client's calls
        self._halt = threading.Event()  # tells those calls' streams to stop once the run is over

    @staticmethod
    def _open_ledger(ledger: Any) -> Ledger | None:
        from .ledger import Ledger

        if ledger is DEFAULT_LEDGER:
            from ..notebook.attach import session_ledger_as_set

            return session_ledger_as_set()  # stores prompt and answer text as ak.settings.store_text says
        if ledger is None or isinstance(ledger, Ledger):
            return ledger
        return Ledger(ledger)

    # -- per cell ---------------------------------------------------------------------------------------

    def _routing_for(self, cell: Cell) -> dict[str, Any] | None:
        """The typed `routing=` a cell's call passes; what is sent (and recorded) also merges `extra_body`'s routing."""
        r = {k: v for k, v in self.base_routing.items() if k != "optimize"}
        if cell.strategy is not None:
            r["optimize"] = cell.strategy
        return r or None

    def _messages(self, cell: Cell) -> list[dict[str, Any]]:
        """The one message builder: a cell's messages as its call sends them (`system=` included)."""
        return to_messages(self.prompts[cell.prompt_index], self.params.get("system"))

    def _body(self, cell: Cell) -> dict[str, Any]:
        """The body a cell's call sends, assembled as the client assembles it (conflict checks included)."""
        p = self.params
        return assemble("messages", self._messages(cell),
                        endpoint="chat.completions", model=cell.model, routing=self._routing_for(cell),
                        metadata=self.metadata, models=None, gateway=p.get("gateway"),
                        params={k: v for k, v in p.items() if k not in _CHAT_OPTIONS}, stream=self.stream,
                        extra_body=p.get("extra_body"))

    def _check_bodies(self) -> None:
        """Every prompt, model and strategy makes a valid body: a conflict is one error before any call."""
        per_prompt = "messages" in (self.params.get("extra_body") or {})  # else only the model and strategy vary
        for i in range(len(self.prompts)):
            if per_prompt:
                self._body(Cell(i, self.models[0], self.strategies[0], 0))
            else:
                self._messages(Cell(i, self.models[0], self.strategies[0], 0))
        for model in self.models:
            for strategy in self.strategies:
                self._body(Cell(0, model, strategy, 0))

    def _context(self, cell: Cell, source: str) -> CallContext:
        """The record context of a cell whose call failed or never ran: the same fields as its ok row would have
        (its prompt_id hashes the messages the client hashes: those of `_messages`)."""
        sent = sent_fields(self._body(cell))
        return CallContext(endpoint="chat.completions", model_requested=sent.model_requested, routing=sent.routing,
                           tags=sent.tags, trace_id=sent.trace_id, prompt_id=prompt_id(self._messages(cell)),
                           stream=self.stream, source=source, run_id=self.run_id, cell=cell.key)

    async def _attempt(self, client: Client | AsyncClient, cell: Cell) -> Row:
        kwargs: dict[str, Any] = dict(model=cell.model, routing=self._routing_for(cell), metadata=self.metadata,
                                      run_id=self.run_id, cell=cell.key, **self.params)
        prompt = self.prompts[cell.prompt_index]
        if isinstance(client, Client):  # a sync client's call runs (and is timed) in a worker thread
            result = await self._in_thread(_sync_chat, client, prompt, self.stream, kwargs, self._halt)
        elif self.stream:
            stream = await client.chat(prompt, stream=True, **kwargs)
            result = await stream.get_result()
        else:
            result = await client.chat(prompt, **kwargs)
        row = self._captured.pop(cell.key, None) or result.to_record()  # the client's hook already built it
        if row.get("answer_text") is None:
            row["answer_text"] = getattr(result, "text", None)
        return row

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the sweep's worker threads; a cancelled cell stops waiting (its thread may finish the call)."""
        assert self._pool is not None
        call = functools.partial(contextvars.copy_context().run, fn, *args)  # the sweep's trace context goes along
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def _run_cell(self, client: Client | AsyncClient, cell: Cell) -> Row:
        """One cell to one row: 429s wait (adaptive limit), retryable errors retry, an answer that began never does."""
        assert self.limiter is not None
        attempts = retries = 0
        while True:
            attempts += 1
            try:
                async with self.limiter:
                    row = await self._attempt(client, cell)
                row["attempts"] = attempts
                return row
            except AurikoError as err:
                row = self._captured.pop(cell.key, {}) or make_record(self._context(cell, client.source), error=err)
                row["attempts"] = attempts
                if isinstance(err, StreamError | MalformedResponseError):  # the answer had begun: never sent again,
                    self._began.add(cell.key)  # whatever `retryable` says (a mid-stream 429 is a RateLimitError too)
                    return row
                if isinstance(err, RateLimitError) and err.retryable and attempts < RATE_LIMIT_ATTEMPTS:
                    await self.limiter.rate_limited_for(err.retry_after)
                    continue
                if err.retryable and retries < self.max_retries:
                    await asyncio.sleep(backoff_delay(retries, err.retry_after))
                    retries += 1
                    continue
                return row

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _estimate(self, cell: Cell) -> float:
        """What a call reserves of the budget: its upper bound (with max_tokens) or its expected cost, raised to the
        mean of what such calls really cost when that is more (the directory can be below the real price)."""
        expected, bound = self._static.get(cell.key, (0.0, None))
        static = bound if bound is not None else expected
        seen = self._observed.get((cell.model, cell.strategy))
        return max(static, seen[0] / seen[1]) if seen else static

    def _may_start(self, cell: Cell, est: float) -> bool:
        """Whether a call reserving `est` may start: spent + every in-flight reservation + `est` within the budget;
        and without an upper bound, only one call of a (model, strategy) until one has shown what such calls cost."""
        if self.budget_usd is None:
            return True
        if self.spent_usd + sum(self._reserved.values()) + est > self.budget_usd:
            return False
        kind = (cell.model, cell.strategy)
        probing = self._static.get(cell.key, (0.0, None))[1] is None and kind not in self._settled
        return not (probing and any((c.model, c.strategy) == kind for c in self._reserved))

    def _charge(self, row: Row, reserved: float) -> None:
        """Add a finished call to the spend: its reported cost (billed errors too); else, if it may have been billed
        (ok, or failed after its answer began), its reservation, kept in `cost_estimated_usd` (never in `cost_usd`,
        which holds only what the gateway reported) with a `cost_not_reported` warning; else nothing."""
        cost = row.get("cost_usd")
        if cost is not None and cost == cost:  # not None, not NaN
            self.spent_usd += float(cost)
            if row["status"] == "ok":
                key = (row.get("model_requested") or "", row.get("optimize"))
                total, n = self._observed.get(key, (0.0, 0))
                self._observed[key] = (total + float(cost), n + 1)
        elif reserved > 0 and (row["status"] == "ok" or row["cell"] in self._began):
            row["cost_estimated_usd"] = reserved
            self.spent_usd += reserved
            warned = json.loads(row["warnings"]) if row.get("warnings") else []
            warned.append({"type": "auriko_nb", "code": "cost_not_reported", "message": "no cost reported: the "
                           f"sweep counted its estimate ${reserved:.6f} (cost_estimated_usd) against budget_usd"})
            row.update(warnings=json.dumps(warned), warning_count=len(warned))

    def _finish(self, row: Row, bar: Any, reserved: float = 0.0) -> None:
        """Keep a finished row: charge it, then ledger, progress bar and `on_row`."""
        self.rows[row["cell"]] = row
        self._charge(row, reserved)
        if row["status"] == "error":
            self.errors += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(spend=f"${self.spent_usd:.4f}", errors=self.errors, refresh=False)
        for hook in (self._store, self.on_row):
            try:
                if hook is not None:
                    hook(row)
            except Exception as exc:  # a failing hook stops the sweep; `run` raises it once every row is kept
                self._failed(exc)

    def _store(self, row: Row) -> None:
        """Hand a row to the background writer (never waits for the database), or append it when none runs."""
        if self._writer is not None:
            self._writer.put(row)
        elif self.ledger is not None:
            self.ledger.append(row)

    def _failed(self, exc: Exception) -> None:
        """The first failure of the ledger or `on_row` stops the sweep (`run` raises it once every row is kept)."""
        if self._hook_error is None:
            self._hook_error, self._stop = exc, True
            self.stop_reason = self.stop_reason or ("ledger_failed" if isinstance(exc, LedgerError) else "hook_failed")

    def _close_writer(self) -> None:
        """Commit the rows still queued and stop the writer; its error stops the run like a failing hook."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close(timeout=WRITER_CLOSE_TIMEOUT_S)
            except LedgerError as exc:
                self._failed(exc)

    def _cancelled(self, cell: Cell, source: str, reason: str, message: str) -> Row:
        row = make_record(self._context(cell, source), status="cancelled")
        row.update(error_code=reason, error_message=message, attempts=0)
        return row

    def _estimates(self, directory: Directory | None, todo: Sequence[Cell]) -> dict[str, tuple[float, float | None]]:
        """Per cell: the expected cost (0 when unpriced) and, with an output cap, the upper bound of its body."""
        est: dict[str, tuple[float, float | None]] = {}
        for cell in todo:
            if directory is None:
                est[cell.key] = (0.0, None)
                continue
            body = self._body(cell)
            routing = (body.get("gateway") or {}).get("routing")
            expected = estimate_call_usd(directory, cell.model, cell.strategy, self.prompts[cell.prompt_index],
                                         int(self.output_tokens))
            est[cell.key] = (expected or 0.0, bound_call_usd(directory, cell.model, routing, body["messages"], body))
        return est

    def _resumed(self, stored: Row) -> Row:
        """A row resumed from the ledger, with its prompt's label and text (the ledger may not keep the text)."""
        row = dict(stored)
        cell = self._cell_of.get(row.get("cell") or "")
        if cell is not None:
            spec = self._spec(cell)
            row["prompt_label"], row["prompt_text"] = spec.label, spec.text
        return row

    def _done_cells(self) -> dict[str, Row]:
        if not self.resume or self.ledger is None:
            return {}
        df = self.ledger.to_dataframe(run_id=self.resume, status="ok")
        return {r["cell"]: r for r in df.to_dict("records") if isinstance(r.get("cell"), str)}

    # -- control ----------------------------------------------------------------------------------------

    def cancel(self, now: bool = False) -> None:
        """Stop scheduling new calls; with `now=True` also cancel the calls in flight. Thread-safe."""
        def _do() -> None:
            self._stop = True
            self.stop_reason = self.stop_reason or "cancelled"
            if now:
                for t in list(self._tasks):
                    t.cancel()
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            _do()
        else:
            loop.call_soon_threadsafe(_do)

    async def run(self) -> pd.DataFrame:
        """Run the grid; returns one row per cell (resumed cells included).

        With `budget_usd`, a call starts only while the spend plus every in-flight call's reserved estimate plus its
        own stay within the budget. With `max_tokens` (or `max_completion_tokens`) a call reserves an upper bound
        of its cost, so the spend stays within the budget (at directory list prices); without one it reserves its
        expected cost and the cap is best effort. `spent_usd` (this run's calls) equals the sum of their rows' cost_usd.
        """
        self._loop = asyncio.get_running_loop()
        done = self._done_cells()
        todo = [c for c in self.cells if c.key not in done]
        self._writer = LedgerWriter(self.ledger, name=f"auriko-ledger-{self.run_id}") if self.ledger is not None else None
        built = contextlib.AsyncExitStack()  # what this run builds, each closed once, last built first
        try:
            traced = built.enter_context(observe.run(self.run_id, len(todo)))  # tracing: the calls' parent span
            built.callback(lambda: traced.end(ok=sum(r.get("status") == "ok" for r in self.rows.values()),
                                              errors=self.errors, spend_usd=self.spent_usd))
            client = self._open(built)
            self.limiter = AdaptiveLimiter(self.concurrency)
            await self._plan(client, todo)  # may refuse to start (BudgetError): then no row is written
            bar = self._progress_bar(len(todo))
            if bar is not None:
                built.callback(bar.close)
            built.callback(self._cancel_rest, todo, client.source, bar)  # first out: the cells left get their rows
            await self._schedule(client, todo, bar)
        except BaseException as exc:  # Ctrl-C, a cancelled task or an error: the calls in flight end first
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                self.stop_reason = "interrupted"
            await self._end_tasks()
            raise
        finally:
            await built.aclose()
            self._close_writer()  # after the cells left got their rows; waits out the writer's bounded retries
        self.rows = {**{k: self._resumed(v) for k, v in done.items()}, **self.rows}
        if self._hook_error is not None:
            raise self._hook_error
        return self.results

    def _open(self, built: contextlib.AsyncExitStack) -> Client | AsyncClient:
        """The client the sweep's calls go through: a view of the caller's, or of one the sweep builds on its own
        pool. What the sweep builds (pool, client, worker threads) goes on `built`; the caller's client never does."""
        given = self._client_arg
        if given is None or (isinstance(given, Client) and not given.custom_transport):
            # no client: the session's, built here; a sync client on httpx defaults: its async twin (Ctrl-C then
            # closes the calls in flight)
            pool = _http_client(self.concurrency + 8, DEFAULT_TIMEOUT if given is None else given.timeout)
            built.push_async_callback(pool.aclose)
            own = _own_client(pool) if given is None else given.async_twin(http_client=pool)
            built.push_async_callback(own.aclose)
            return _sweep_view(own, self._capture)
        client = _sweep_view(given, self._capture)
        if isinstance(client, Client):  # a transport of the caller's: its calls run in worker threads
            self._halt = threading.Event()
            self._pool = ThreadPoolExecutor(self.concurrency + 1, thread_name_prefix=f"auriko-{self.run_id}")
            built.callback(self._pool.shutdown, wait=False, cancel_futures=True)
            built.callback(self._halt.set)  # their streams stop at the next chunk
        return client

    async def _end_tasks(self) -> None:
        """Cancel the calls in flight and wait until each has written its row (a call cancelled before it began
        writes none: `_cancel_rest` does); their reservations come back."""
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._reserved.clear()

    def _capture(self, rec: Row) -> None:
        """The sweep's record hook: keep the last record of each cell (the row `_attempt` returns)."""
        if rec.get("cell"):
            self._captured[rec["cell"]] = rec

    async def _plan(self, client: Client | AsyncClient, todo: list[Cell]) -> None:
        """Price the cells to run from the directory; refuse to start when their expected cost passes the budget."""
        try:
            if not todo:
                directory = None
            elif isinstance(client, Client):
                directory = await self._in_thread(client.directory)
            else:
                directory = await client.directory()
        except AurikoError:
            directory = None
        self._static = self._estimates(directory, todo)
        self.estimate_usd = sum(expected for expected, _ in self._static.values())
        if self.budget_usd is None:
            return
        if self.estimate_usd > self.budget_usd:
            raise BudgetError(f"estimated cost ${self.estimate_usd:.4f} for {len(todo)} calls exceeds budget_usd="
                              f"${self.budget_usd:.4f}; raise the budget or shrink the grid")
        unpriced = sorted({c.model for c in todo if self._static[c.key] == (0.0, None)})
        if unpriced:
            warnings.warn(f"budget_usd: no directory price for {', '.join(unpriced)}; their calls count only what "
                          "they report, so the cap is best effort for them", stacklevel=3)

    async def _schedule(self, client: Client | AsyncClient, todo: list[Cell], bar: Any) -> None:
        """Start calls in grid order while the concurrency limit and the budget allow; then wait for the last ones."""
        assert self.limiter is not None
        pending = deque(todo)
        while pending and not self._stop:
            est = self._estimate(pending[0])
            if not self._may_start(pending[0], est) or len(self._tasks) >= self.limiter.limit:
                if not self._tasks:  # over the budget with nothing in flight: no reservation can come back
                    self.stop_reason = "budget"
                    break
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)  # a reservation comes back
                continue
            cell = pending.popleft()
            self._reserved[cell] = est
            task = asyncio.create_task(self._run_one(client, cell, bar))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _run_one(self, client: Client | AsyncClient, cell: Cell, bar: Any) -> None:
        """One cell to its row; its reservation turns into what it cost in the same step (no await between)."""
        try:
            row = await self._run_cell(client, cell)
        except asyncio.CancelledError:
            row = self._cancelled(cell, client.source, "cancelled", "cancelled while in flight")
        self._settled.add((cell.model, cell.strategy))
        self._annotate(row, cell)
        self._finish(row, bar, self._reserved.pop(cell, 0.0))

    def _spec(self, cell: Cell) -> PromptSpec:
        return self.specs[cell.prompt_index]

    def _annotate(self, row: Row, cell: Cell) -> None:
        """A row's prompt label and text, and on an ok row the checks' verdict on its answer (run here, locally;
        a check that raises is that row's errored check, the sweep goes on)."""
        spec = self._spec(cell)
        row["prompt_label"], row["prompt_text"] = spec.label, spec.text
        checks = self.checks + spec.checks
        if checks and row.get("status") == "ok":
            text = row.get("answer_text")
            row.update(run_checks(text if isinstance(text, str) else "", spec.expect, checks).row_fields())

    def _cancel_rest(self, todo: list[Cell], source: str, bar: Any) -> None:
        """Every scheduled-or-not cell without a row gets its `cancelled` row (tasks cancelled before starting too)."""
        reason = self.stop_reason or "cancelled"
        message = {"budget": f"not run: spend plus in-flight estimates would pass budget_usd=${self.budget_usd}",
                   "interrupted": "not run: the sweep was interrupted",
                   "hook_failed": "not run: on_row or the ledger raised (see the sweep's error)",
                   "ledger_failed": "not run: the ledger failed (see the sweep's error)"}.get(reason, "not run: the sweep was cancelled")
        for cell in todo:
            if cell.key not in self.rows:
                row = self._cancelled(cell, source, reason, message)
                self._annotate(row, cell)
                self._finish(row, bar)

    def _progress_bar(self, total: int) -> Any:
        if not self.progress or total == 0:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"compare {self.run_id}", unit="call")

    @property
    def results(self) -> pd.DataFrame:
        """The rows so far, one per finished cell, in grid order."""
        import pandas as pd

        from .ledger import to_frame

        ordered = [self.rows[c.key] for c in self.cells if c.key in self.rows]
        return to_frame(ordered) if ordered else pd.DataFrame(columns=list(RECORD_COLUMNS))


async def compare_async(prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> Comparison:
    """`compare` for code that is already async (a notebook cell with `await`, a widget callback)."""
    from .comparison import Comparison

    sweep = Sweep(prompts, **kwargs)
    return Comparison.from_sweep(sweep, await sweep.run())


def compare(prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> Comparison:
    """Run prompts × models × strategies × repeats concurrently; returns a `Comparison`: one row per call
    (read it like a DataFrame, or `.rows`) with its grid, `.summary()`, `.pareto()`, `.plot()`, `.export()`.

    Prompts may carry expectations and `checks=` judges each ok answer locally (see `Sweep`); bad prompts or
    checks are one error line before any call.

    Works from a script and from a notebook (whose event loop is already running: the sweep then runs on a
    private loop in a worker thread). Ctrl-C cancels the calls in flight and returns every finished row,
    the rest marked `cancelled`. `budget_usd` is a hard cap when `max_tokens` is set, else best effort
    (see `Sweep.run`).
    """
    from .comparison import Comparison

    sweep = Sweep(prompts, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        try:
            return Comparison.from_sweep(sweep, asyncio.run(sweep.run()))
        except KeyboardInterrupt:
            warnings.warn(f"compare interrupted: {len(sweep.rows)} rows kept (run_id={sweep.run_id})", stacklevel=2)
            return Comparison.from_sweep(sweep)
    return Comparison.from_sweep(sweep, _run_in_thread(sweep))


def _run_in_thread(sweep: Sweep) -> pd.DataFrame:
    box: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["df"] = asyncio.run(sweep.run())
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread
            box["err"] = e
        finally:
            finished.set()

    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,),  # the caller's trace context
                              name=f"auriko-sweep-{sweep.run_id}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        sweep.cancel(now=True)
        # not worker.join(): before Python 3.13 a join that Ctrl-C interrupted can mark the thread as stopped, and
        # a second join then returns at once, before the calls in flight are cancelled and the rest marked
        finished.wait()
        warnings.warn(f"compare interrupted: {len(sweep.rows)} rows kept (run_id={sweep.run_id})", stacklevel=3)
        return sweep.results
    if "err" in box:
        raise box["err"]
    df: pd.DataFrame = box["df"]
    return df
