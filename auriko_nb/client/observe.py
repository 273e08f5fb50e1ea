"""A tiny process-global registry of call observers: how tracing (`ak.instrument()`) sees every call.

Empty until something registers (as every OpenTelemetry instrumentor, it is process-wide by design); while it is
empty a call pays one empty-tuple check. The client core calls `start_watches` when a call is about to be sent,
then `retry` / `first_token` / `end` on what it returned; `end` happens exactly once per call (ok, error, cancel).
Observers must not raise: anything they raise is swallowed here, so a tracing bug never breaks a call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from .records import CallContext
    from .result import Result


class CallStart(NamedTuple):
    """What a call is about to send: the request body as sent (never its headers) and where (immutable, and a
    NamedTuple rather than a frozen dataclass: built on every traced call, it costs a fraction)."""

    endpoint: str
    body: Mapping[str, Any]
    base_url: str
    stream: bool
    context: CallContext


class CallWatch(Protocol):
    """One call being observed (e.g. an OpenTelemetry span)."""

    def retry(self, attempt: int, error: BaseException, delay_s: float) -> None:
        """Attempt `attempt` failed with `error`; the next starts after `delay_s` seconds."""

    def first_token(self) -> None:
        """A stream's first content token arrived."""

    def end(self, record: Mapping[str, Any], result: Result | None = None) -> None:
        """The call ended (its record; its Result when it succeeded)."""


class RunWatch(Protocol):
    """One sweep being observed."""

    def end(self, totals: Mapping[str, Any]) -> None:
        """The sweep's totals (ok, errors, spend) just before it ends."""


class CallObserver(Protocol):
    """What `add_observer` takes: starts a watch per call, and a context per sweep (`run`)."""

    def start(self, call: CallStart) -> CallWatch | None:
        """A watch for this call, or None to ignore it."""

    def run(self, run_id: str, size: int) -> AbstractContextManager[RunWatch | None]:
        """A context manager around a sweep of `size` calls: calls started inside belong to it."""


OBSERVERS: tuple[CallObserver, ...] = ()
"""The registered observers (read as `observe.OBSERVERS`; replaced, never mutated, by add/remove)."""


def add_observer(observer: CallObserver) -> None:
    """Register `observer` for every call in this process (once: adding it again does nothing)."""
    global OBSERVERS
    if observer not in OBSERVERS:
        OBSERVERS = (*OBSERVERS, observer)


def remove_observer(observer: CallObserver) -> None:
    """Unregister `observer` (calls already started still end their watches)."""
    global OBSERVERS
    OBSERVERS = tuple(o for o in OBSERVERS if o is not observer)


def start_watches(call: CallStart) -> tuple[CallWatch, ...]:
    """Each registered observer's watch for this call (observer errors are ignored)."""
    out = []
    for observer in OBSERVERS:
        try:  # try/except rather than contextlib.suppress: nothing to pay per call unless it raises
            watch = observer.start(call)
        except Exception:  # an observer's bug must not break the call
            continue
        if watch is not None:
            out.append(watch)
    return tuple(out)


def retry(watches: tuple[CallWatch, ...], attempt: int, error: BaseException, delay_s: float) -> None:
    """Tell the watches that attempt `attempt` failed and the next waits `delay_s` seconds."""
    for w in watches:
        with contextlib.suppress(Exception):
            w.retry(attempt, error, delay_s)


def first_token(watches: tuple[CallWatch, ...]) -> None:
    """Tell the watches the stream's first token arrived."""
    for w in watches:
        try:  # noqa: SIM105 - per-call path: try/except costs nothing unless it raises
            w.first_token()
        except Exception:
            pass


def end(context: CallContext, record: Mapping[str, Any], result: Result | None = None) -> None:
    """End the call's watches, once: they are taken off the context before being told."""
    watches, context.watches = context.watches, ()
    for w in watches:
        try:  # noqa: SIM105 - per-call path: try/except costs nothing unless it raises
            w.end(record, result)
        except Exception:
            pass


def end_ok(context: CallContext, result: Result) -> None:
    """End the watches of a call that succeeded when no record hook wants its row: they get the row's numbers from
    where the row takes them (`Result.numbers()`) and its status, without the cost of building the whole row."""
    if context.watches:
        fields = result.numbers()
        fields.setdefault("source", context.source)
        fields["status"] = "ok"
        end(context, fields, result)


class _Run:
    """The handle `run()` yields: `end(**totals)` reports the sweep's totals to every observer's run watch."""

    def __init__(self) -> None:
        self.watches: list[RunWatch] = []

    def end(self, **totals: Any) -> None:
        for w in self.watches:
            with contextlib.suppress(Exception):
                w.end(totals)


@contextlib.contextmanager
def run(run_id: str, size: int) -> Iterator[_Run]:
    """Around a sweep: each observer's run context is entered (so its calls nest in it); yields a handle whose
    `end(ok=..., errors=..., spend_usd=...)` reports the totals. With no observer it does nothing."""
    handle = _Run()
    if not OBSERVERS:
        yield handle
        return
    with contextlib.ExitStack() as stack:
        for observer in OBSERVERS:
            with contextlib.suppress(Exception):
                watch = stack.enter_context(observer.run(run_id, size))
                if watch is not None:
                    handle.watches.append(watch)
        yield handle
