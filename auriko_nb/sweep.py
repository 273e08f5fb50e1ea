"""Comparison sweeps: the grid prompts × models × strategies × repeats, run concurrently under a cap,
a budget and an adaptive rate limit; every grid cell ends as exactly one row (ok, error or cancelled).
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ._deadline import check_deadline
from ._retry import backoff_delay
from ._sharded_pool import ShardedTransport
from .client import AsyncClient, Client
from .errors import AurikoError, RateLimitError, StreamError
from .estimate import DEFAULT_OUTPUT_TOKENS, estimate_call_usd
from .limiter import AdaptiveLimiter
from .records import RECORD_COLUMNS, CallContext, make_record, prompt_id
from .types.request import STRATEGIES, Routing, coerce_metadata, coerce_routing

if TYPE_CHECKING:
    import pandas as pd

    from .ledger import Ledger

Prompt = str | Sequence[Mapping[str, Any]]
Row = dict[str, Any]
DEFAULT_LEDGER: Any = object()
RATE_LIMIT_ATTEMPTS = 8


class BudgetError(AurikoError, ValueError):
    """A sweep refused to start because its estimated cost exceeds `budget_usd`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="budget_estimate_exceeded", type="invalid_request_error")


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


def _as_async_client(client: Client | AsyncClient | None, concurrency: int) -> AsyncClient:
    """A retry-free AsyncClient with a pool big enough for the cap (the sweep does its own retries)."""
    from ._core import DEFAULT_TIMEOUT
    from .connect import _resolve

    if client is None:
        key, base_url, source = _resolve(None, None, "auto", None, None)
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT
        deadline = None
    else:
        key = client._api_key.get_secret_value() if client._api_key else None
        base_url, source, timeout, deadline = client.base_url, client.source, client.timeout, client.deadline
    out = AsyncClient(key, base_url=base_url, max_retries=0, timeout=timeout, on_record=None, deadline=deadline,
                      http_client=_http_client(concurrency + 8, timeout))
    out.source = source
    return out


class Sweep:
    """A comparison run; `await sweep.run()` (or `ak.compare`) returns one row per grid cell."""

    def __init__(self, prompts: Prompt | Sequence[Prompt], *, models: Sequence[str] | str | None = None,
                 strategies: Sequence[str | None] | None = None, routing: Routing | Mapping[str, Any] | None = None,
                 repeats: int = 1, concurrency: int = 8, budget_usd: float | None = None, stream: bool = True,
                 ledger: Ledger | str | None = DEFAULT_LEDGER, resume: str | None = None,
                 client: Client | AsyncClient | None = None, progress: bool = True, run_id: str | None = None,
                 metadata: Mapping[str, Any] | None = None, expected_output_tokens: int | None = None,
                 max_retries: int = 2, on_row: Callable[[Row], None] | None = None, **params: Any) -> None:
        self.prompts: list[Prompt] = [prompts] if isinstance(prompts, str) else list(prompts)  # type: ignore[arg-type]
        if not self.prompts or any(isinstance(p, str) and not p.strip() for p in self.prompts):
            raise ValueError("prompts: give at least one non-empty prompt")
        from .session import settings

        if models is None:
            models = [settings.model]
        self.models = [models] if isinstance(models, str) else list(models)
        if not self.models:
            raise ValueError("models: give at least one model")
        base = coerce_routing(settings.effective_routing() if routing is None else routing)
        self.base_routing = base.to_dict() if base else {}
        self.strategies: list[str | None] = (list(strategies) if strategies is not None
                                             else [self.base_routing.get("optimize")])
        for s in self.strategies:
            if s is not None and s not in STRATEGIES:
                raise ValueError(f"strategies: unknown strategy {s!r}; choose from {', '.join(STRATEGIES)}")
        if repeats < 1:
            raise ValueError("repeats must be >= 1")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if budget_usd is not None and budget_usd <= 0:
            raise ValueError("budget_usd must be > 0")
        self.metadata = coerce_metadata(metadata)
        self.repeats, self.concurrency, self.budget_usd, self.stream = repeats, concurrency, budget_usd, stream
        self.params, self.max_retries, self.progress, self.on_row = params, max_retries, progress, on_row
        check_deadline(params.get("deadline"))  # per call, as for client.chat: refused before anything runs
        self.output_tokens = (expected_output_tokens or params.get("max_tokens")
                              or params.get("max_completion_tokens") or DEFAULT_OUTPUT_TOKENS)
        self.resume = resume
        self.run_id = resume or run_id or f"run-{uuid.uuid4().hex[:10]}"
        self.ledger = self._open_ledger(ledger)
        self.cells = build_grid(len(self.prompts), self.models, self.strategies, repeats)
        self._client_arg = client
        self.rows: dict[str, Row] = {}
        self.spent_usd = 0.0
        self.errors = 0
        self.estimate_usd: float | None = None
        self.stop_reason: str | None = None
        self.limiter: AdaptiveLimiter | None = None
        self._stop = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._observed: dict[tuple[str, str | None], tuple[float, int]] = {}  # (model, strategy) -> (cost, n)
        self._captured: dict[str, Row] = {}  # the last row the client emitted, per cell
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _open_ledger(ledger: Any) -> Ledger | None:
        from .ledger import Ledger, session_ledger

        if ledger is DEFAULT_LEDGER:
            return session_ledger()
        if ledger is None or isinstance(ledger, Ledger):
            return ledger
        return Ledger(ledger)

    # -- per cell ---------------------------------------------------------------------------------------

    def _routing_for(self, cell: Cell) -> dict[str, Any] | None:
        r = {k: v for k, v in self.base_routing.items() if k != "optimize"}
        if cell.strategy is not None:
            r["optimize"] = cell.strategy
        return r or None

    def _context(self, cell: Cell, source: str) -> CallContext:
        meta = self.metadata.to_dict() if self.metadata else {}
        prompt = self.prompts[cell.prompt_index]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return CallContext(endpoint="chat.completions", model_requested=cell.model, routing=self._routing_for(cell),
                           tags=meta.get("tags"), trace_id=meta.get("trace_id"), prompt_id=prompt_id(messages),
                           stream=self.stream, source=source, run_id=self.run_id, cell=cell.key)

    async def _attempt(self, client: AsyncClient, cell: Cell) -> Row:
        kwargs: dict[str, Any] = dict(model=cell.model, routing=self._routing_for(cell), metadata=self.metadata,
                                      run_id=self.run_id, cell=cell.key, **self.params)
        prompt = self.prompts[cell.prompt_index]
        if self.stream:
            stream = await client.chat(prompt, stream=True, **kwargs)
            result = await stream.get_result()
        else:
            result = await client.chat(prompt, **kwargs)
        return self._captured.pop(cell.key, None) or result.to_record()  # the client's hook already built it

    async def _run_cell(self, client: AsyncClient, cell: Cell) -> Row:
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
                if isinstance(err, RateLimitError) and err.retryable and attempts < RATE_LIMIT_ATTEMPTS:
                    await self.limiter.rate_limited_for(err.retry_after)
                    continue
                if err.retryable and not isinstance(err, StreamError) and retries < self.max_retries:
                    await asyncio.sleep(backoff_delay(retries, err.retry_after))
                    retries += 1
                    continue
                return row

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _estimate(self, cell: Cell, static: float) -> float:
        """A call's expected cost: the directory estimate, or the mean of what such calls really cost if more."""
        seen = self._observed.get((cell.model, cell.strategy))
        return max(static, seen[0] / seen[1]) if seen else static

    def _finish(self, row: Row, bar: Any) -> None:
        self.rows[row["cell"]] = row
        if row["status"] == "ok" and row.get("cost_usd"):
            cost = float(row["cost_usd"])
            self.spent_usd += cost
            key = (row.get("model_requested") or "", row.get("optimize"))
            total, n = self._observed.get(key, (0.0, 0))
            self._observed[key] = (total + cost, n + 1)
        if row["status"] == "error":
            self.errors += 1
        if self.ledger is not None:
            self.ledger.append(row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(spend=f"${self.spent_usd:.4f}", errors=self.errors, refresh=False)
        if self.on_row is not None:
            self.on_row(row)

    def _cancelled(self, cell: Cell, source: str, reason: str, message: str) -> Row:
        row = make_record(self._context(cell, source), status="cancelled")
        row.update(error_code=reason, error_message=message, attempts=0)
        return row

    def _estimates(self, directory: Any) -> dict[str, float]:
        est: dict[str, float] = {}
        for cell in self.cells:
            e = estimate_call_usd(directory, cell.model, cell.strategy, self.prompts[cell.prompt_index],
                                  int(self.output_tokens))
            est[cell.key] = e or 0.0
        return est

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
        """Run the grid; returns one row per cell (resumed cells included)."""
        self._loop = asyncio.get_running_loop()
        client = _as_async_client(self._client_arg, self.concurrency)
        client.record_hooks.append(lambda rec: self._captured.__setitem__(rec["cell"], rec)
                                   if rec.get("cell") else None)
        self.limiter = AdaptiveLimiter(self.concurrency)
        done = self._done_cells()
        todo = [c for c in self.cells if c.key not in done]
        try:
            estimates = self._estimates(await client.directory()) if todo else {}
        except AurikoError:
            estimates = {c.key: 0.0 for c in todo}
        self.estimate_usd = sum(estimates.get(c.key, 0.0) for c in todo)
        if self.budget_usd is not None and self.estimate_usd > self.budget_usd:
            await client.aclose()
            raise BudgetError(f"estimated cost ${self.estimate_usd:.4f} for {len(todo)} calls exceeds budget_usd="
                              f"${self.budget_usd:.4f}; raise the budget or shrink the grid")
        bar = self._progress_bar(len(todo))
        pending = deque(todo)
        inflight_est = 0.0
        launched: dict[str, float] = {}

        async def run_one(cell: Cell) -> None:
            nonlocal inflight_est
            try:
                row = await self._run_cell(client, cell)
            except asyncio.CancelledError:
                row = self._cancelled(cell, client.source, "cancelled", "cancelled while in flight")
            finally:
                inflight_est -= launched.pop(cell.key, 0.0)
            self._finish(row, bar)

        try:
            while pending and not self._stop:
                cell = pending[0]
                est = self._estimate(cell, estimates.get(cell.key, 0.0))
                if self.budget_usd is not None and self.spent_usd + inflight_est + est > self.budget_usd:
                    if self._tasks:  # in-flight estimates may be pessimistic: decide again when one ends
                        await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                        continue
                    self.stop_reason = "budget"
                    break
                if len(self._tasks) >= self.limiter.limit:
                    await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                pending.popleft()
                inflight_est += est
                launched[cell.key] = est
                task = asyncio.create_task(run_one(cell))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            while self._tasks:
                await asyncio.wait(set(self._tasks))
        except asyncio.CancelledError:
            self.stop_reason = "interrupted"
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._cancel_rest(todo, client.source, bar)
            await client.aclose()
            if bar is not None:
                bar.close()
            raise
        self._cancel_rest(todo, client.source, bar)
        await client.aclose()
        if bar is not None:
            bar.close()
        self.rows = {**{k: dict(v) for k, v in done.items()}, **self.rows}
        return self.results

    def _cancel_rest(self, todo: list[Cell], source: str, bar: Any) -> None:
        """Every scheduled-or-not cell without a row gets its `cancelled` row (tasks cancelled before starting too)."""
        reason = self.stop_reason or "cancelled"
        message = {"budget": f"not run: spend plus in-flight estimates would pass budget_usd=${self.budget_usd}",
                   "interrupted": "not run: the sweep was interrupted"}.get(reason, "not run: the sweep was cancelled")
        for cell in todo:
            if cell.key not in self.rows:
                self._finish(self._cancelled(cell, source, reason, message), bar)

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


async def compare_async(prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> pd.DataFrame:
    """`compare` for code that is already async (a notebook cell with `await`, a widget callback)."""
    return await Sweep(prompts, **kwargs).run()


def compare(prompts: Prompt | Sequence[Prompt], **kwargs: Any) -> pd.DataFrame:
    """Run prompts × models × strategies × repeats concurrently; one DataFrame row per call.

    Works from a script and from a notebook (whose event loop is already running: the sweep then runs on a
    private loop in a worker thread). Ctrl-C cancels the calls in flight and returns every finished row,
    the rest marked `cancelled`.
    """
    sweep = Sweep(prompts, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        try:
            return asyncio.run(sweep.run())
        except KeyboardInterrupt:
            warnings.warn(f"compare interrupted: {len(sweep.rows)} rows kept (run_id={sweep.run_id})", stacklevel=2)
            return sweep.results
    return _run_in_thread(sweep)


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

    worker = threading.Thread(target=target, name=f"auriko-sweep-{sweep.run_id}", daemon=True)
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
