"""An adaptive concurrency limit for sweeps: halve on a 429 and pause for Retry-After, creep back on success."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType


class AdaptiveLimiter:
    """At most `limit` holders at once (never more than `maximum`); a rate limit shrinks it and pauses everyone."""

    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be >= 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.peak = 0
        self.paused_until = 0.0
        self.rate_limited = 0
        self._successes = 0
        self._cond = asyncio.Condition()

    async def acquire(self) -> None:
        """Wait for a free slot under the current limit and past any Retry-After pause."""
        async with self._cond:
            while True:
                wait = self.paused_until - time.monotonic()
                if wait <= 0 and self.in_flight < self.limit:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), timeout=wait if wait > 0 else None)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    async def release(self, *, ok: bool) -> None:
        """Free a slot; every `limit` successes in a row raise the limit by one, up to the maximum."""
        async with self._cond:
            self.in_flight -= 1
            if ok and self.limit < self.maximum:
                self._successes += 1
                if self._successes >= self.limit:
                    self.limit += 1
                    self._successes = 0
            self._cond.notify_all()

    async def rate_limited_for(self, retry_after: float | None) -> None:
        """A 429 arrived: halve the limit and hold every new request back for Retry-After (or 1 s)."""
        async with self._cond:
            self.rate_limited += 1
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            pause = retry_after if retry_after is not None and retry_after >= 0 else 1.0
            self.paused_until = max(self.paused_until, time.monotonic() + pause)
            self._cond.notify_all()

    async def __aenter__(self) -> AdaptiveLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.release(ok=exc_type is None)
