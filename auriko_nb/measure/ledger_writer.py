"""A group-commit background writer: rows are put from the event loop without waiting, and one daemon thread
commits everything queued so far in one `append_many`, so a remote ledger's round trip never stalls a sweep.

Batches grow with the load (no timer: a lone row is written at once, rows that arrive meanwhile go in the next
batch). A failed batch is retried with a short bounded backoff, which is safe because inserts are idempotent by
call_id; if it still fails, the rows are kept in `unwritten` and the next `put` or `flush` raises the error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import LedgerError
from .ledger import Ledger

__all__ = ["LedgerWriter", "BACKOFF_S"]

BACKOFF_S = (0.5, 2.0)  # the waits between the tries of one batch: 3 tries over about 2.5 s
NOT_RETRIED = (ValueError, TypeError, PermissionError)  # bad rows or a readonly ledger: a retry cannot help


def _failure(ledger: Ledger, exc: BaseException, rows: int, tries: int) -> LedgerError:
    """One line saying how many rows the ledger did not take, where, why, and where they are kept."""
    why = exc.message if isinstance(exc, LedgerError) else f"{type(exc).__name__}: {exc}"
    code = exc.code if isinstance(exc, LedgerError) and exc.code else "ledger_unavailable"
    where = ledger.location  # the file, or the URL without its password
    head = f"{rows} row{'s' * (rows != 1)} not written" + ("" if where in why else f" to the ledger {where}")
    after = f" after {tries} tries" if tries > 1 else ""
    return LedgerError(f"{head}{after} (kept in the writer's .unwritten and a sweep's .rows): {why}", code=code)


class LedgerWriter:
    """Commit rows to `ledger` in a background thread, in batches as large as the queue; thread-safe.

    `put(row)` never waits for the database; `flush()` waits until every row put so far is committed; `close()`
    flushes and stops the thread. After a batch fails every try, the writer stops writing: that batch and every
    row put later are kept in `unwritten`, and `put`/`flush`/`close` raise the `LedgerError`.
    """

    def __init__(self, ledger: Ledger, *, backoff: Sequence[float] | None = None,
                 name: str = "auriko-ledger-writer") -> None:
        self.ledger = ledger
        self.backoff = tuple(BACKOFF_S if backoff is None else backoff)
        self.unwritten: list[Mapping[str, Any]] = []
        self.error: LedgerError | None = None
        self.written = 0  # rows committed (duplicates of rows already in the ledger included)
        self.added = 0  # of those, the rows that were new (what append_many reported)
        self.batches = 0
        self.largest_batch = 0
        self._queue: list[Mapping[str, Any]] = []
        self._put = self._done = 0  # rows put; rows settled (committed or kept in `unwritten`)
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    # -- the caller's side --------------------------------------------------------------------------------

    def put(self, row: Mapping[str, Any]) -> None:
        """Queue one row for the next batch (never waits for the database); raises the writer's error, if any,
        after keeping the row in `unwritten`."""
        with self._cond:
            if self.error is not None or self._closing:
                self.unwritten.append(row)
                raise self.error or LedgerError(f"the ledger writer for {self.ledger.location} is closed "
                                                "(the row is kept in .unwritten)", code="ledger_closed")
            self._queue.append(row)
            self._put += 1
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every row put so far is committed; a `LedgerError` if the writer failed or `timeout` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._put
            while self._done < target and self.error is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise LedgerError(f"the ledger {self.ledger.location} has not committed {target - self._done} "
                                      f"rows within {timeout:g} s (they are still being written)",
                                      code="ledger_timeout")
                self._cond.wait(left)
            if self.error is not None:
                raise self.error

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the thread (idempotent); raises the writer's error, if any."""
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
        self._thread.join(None if timeout is None else 1.0)

    @property
    def pending(self) -> int:
        """Rows put but not yet committed (nor given up)."""
        with self._cond:
            return self._put - self._done

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"failed, {len(self.unwritten)} unwritten" if self.error else f"{self.pending} pending"
        return f"LedgerWriter({self.ledger.location!r}, written={self.written}, {state})"

    # -- the thread's side --------------------------------------------------------------------------------

    def _drain(self) -> None:
        """Take everything queued, commit it as one batch, repeat; after a final failure keep the rest unwritten."""
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            err, added = self._commit(batch)
            with self._cond:
                self._done += len(batch)
                if err is None:
                    self.written += len(batch)
                    self.added += added
                    self.batches += 1
                    self.largest_batch = max(self.largest_batch, len(batch))
                else:
                    self.error = err
                    self.unwritten.extend(batch)
                    self.unwritten.extend(self._queue)
                    self._done += len(self._queue)
                    self._queue = []
                self._cond.notify_all()
                if err is not None:
                    return

    def _commit(self, batch: list[Mapping[str, Any]]) -> tuple[LedgerError | None, int]:
        """`append_many(batch)` with the bounded retries: (None, rows added) or (the error, 0)."""
        tries = 0
        while True:
            tries += 1
            try:
                return None, int(self.ledger.append_many(batch))
            except NOT_RETRIED as exc:
                return _failure(self.ledger, exc, len(batch), tries), 0
            except Exception as exc:  # noqa: BLE001 - a dropped connection, a locked file, ...: retried, then kept
                if tries > len(self.backoff):
                    return _failure(self.ledger, exc, len(batch), tries), 0
                time.sleep(self.backoff[tries - 1])
