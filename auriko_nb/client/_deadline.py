"""A call's total deadline: one limit on everything a call does (attempts, backoff, and the whole stream).

httpx's timeouts are per operation, so a server that keeps sending a byte now and then, or a stream that runs
long, is never cut off by them. A `Deadline` bounds each phase httpx starts by the time left, and once the
headers are in, hangs up the connection when the time is up (shutting the socket down wakes a blocked read,
in a thread or on an event loop).
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import httpx

from ..errors import APITimeoutError, StreamError

MIN_PHASE_S = 0.001  # httpx treats 0 as "no timeout" in places; the smallest real limit we hand it


def check_deadline(value: float | None, name: str = "deadline") -> float | None:
    """`value` if it is None or a positive, finite number of seconds; else a one-line ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of seconds or None, not {value!r}")
    return float(value)


class _Clamped(dict[str, Any]):
    """httpx's per-request timeout dict, whose every value is read as min(its own, the time left)."""

    def __init__(self, base: dict[str, Any], deadline: Deadline) -> None:
        super().__init__(base)
        self._deadline = deadline

    def _clamp(self, value: float | None) -> float:
        left = max(self._deadline.remaining(), MIN_PHASE_S)
        return left if value is None else min(value, left)

    def get(self, key: str, default: Any = None) -> Any:
        return self._clamp(super().get(key, default))

    def __getitem__(self, key: str) -> Any:
        return self._clamp(super().__getitem__(key))


class Deadline:
    """The time left to a call that must end `seconds` after it started; arms a hang-up once a response is in."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._cancel: Callable[[], None] | None = None

    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def passed(self) -> bool:
        """Whether the time is up (checked, not only when the hang-up fired)."""
        return self.expired or self.remaining() <= 0

    def bound(self, request: httpx.Request) -> None:
        """Make every phase of the next attempt (pool, connect, write, read) end by the deadline."""
        base = request.extensions.get("timeout", {})
        request.extensions["timeout"] = _Clamped(dict(base), self)

    def arm(self, response: httpx.Response, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Hang up `response`'s connection when the time is up (on `loop` for an async client, else a timer thread)."""
        self.disarm()
        delay = max(self.remaining(), 0.0)
        if loop is not None:
            handle = loop.call_later(delay, self._hang_up, response)
            self._cancel = handle.cancel
        else:
            timer = threading.Timer(delay, self._hang_up, args=(response,))
            timer.daemon = True
            timer.start()
            self._cancel = timer.cancel

    def disarm(self) -> None:
        if self._cancel is not None:
            self._cancel()
            self._cancel = None

    def _hang_up(self, response: httpx.Response) -> None:
        self.expired = True
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        shutdown = getattr(sock, "shutdown", None)  # a socket.socket, or asyncio's TransportSocket
        if shutdown is not None:
            with suppress(OSError):
                shutdown(socket.SHUT_RDWR)

    def error(self, attempts: int, request_id: str | None = None) -> APITimeoutError:
        return APITimeoutError(f"The call did not finish within its deadline of {self.seconds:g} s.",
                               code="deadline_exceeded", attempts=attempts, request_id=request_id, transient=False)

    def stream_error(self, partial: str) -> StreamError:
        return StreamError(f"the stream did not finish within the call's deadline of {self.seconds:g} s",
                           code="deadline_exceeded", partial_text=partial)
