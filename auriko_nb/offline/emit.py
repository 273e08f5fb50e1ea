"""The timed ASGI response: sends headers and body parts at their offsets, stops when the client leaves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .wire_format import Part

__all__ = ["Emission", "TimedResponse", "InjectedDisconnect", "install_log_filter"]

COALESCE_S = 0.010  # parts due within this window go out in one write (keeps hundreds of streams cheap)


class InjectedDisconnect(httpx.RemoteProtocolError):
    """Raised after the response started to make the server drop the connection (the `disconnect` fault).

    It is an httpx.RemoteProtocolError so an in-process client (httpx.ASGITransport re-raises app errors)
    sees the same exception type as a client on loopback.
    """


class _QuietInjected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDisconnect)


def install_log_filter() -> None:
    """Keep uvicorn from logging a traceback for every injected disconnect (idempotent)."""
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietInjected) for f in log.filters):
        log.addFilter(_QuietInjected())


@dataclass
class Emission:
    """What to send and when: status and headers at `start_at`, then each part at its offset, then end or drop.

    When the first part with `content=True` goes out, its lateness (seconds after its offset; negative if it
    was coalesced into an earlier write) is measured, given to `on_first_content`, and every later part with
    a `make_late` is serialized with it, so the gateway reports the TTFT it really applied.
    """

    status: int
    headers: dict[str, str]
    start_at: float
    parts: Sequence[Part] = ()
    drop: bool = False  # end by dropping the connection instead of completing the body
    on_start: Callable[[], dict[str, str]] | None = None  # called just before the headers go; adds headers
    on_complete: Callable[[], None] | None = None  # called once the whole body was sent
    on_first_content: Callable[[float], None] | None = None  # called with the first content part's lateness (s)
    media_type: str = "application/json"


class TimedResponse(Response):
    """Plays an Emission against the clock of the request's arrival; cancelled if the client disconnects."""

    def __init__(self, emission: Emission, t0: float, on_finish: Callable[[], None]) -> None:
        super().__init__(status_code=emission.status)
        self.emission = emission
        self.t0 = t0
        self.on_finish = on_finish

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        delay = self.t0 + at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _play(self, send: Send) -> None:
        e = self.emission
        loop = asyncio.get_running_loop()
        await self._sleep_until(loop, e.start_at)
        headers = dict(e.headers)
        if e.on_start is not None:
            headers.update(e.on_start())
        headers.setdefault("content-type", e.media_type)
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": e.status, "headers": raw})
        parts, i, n = e.parts, 0, len(e.parts)
        first = next((k for k, p in enumerate(parts) if p.content), n)  # index of the first content part
        late = 0.0
        while i < n:
            await self._sleep_until(loop, parts[i].offset)
            now = loop.time() - self.t0
            horizon = now + COALESCE_S
            j = i + 1
            while j < n and parts[j].offset <= horizon:
                j += 1
            if i <= first < j:  # the first token goes out in this write: how late is it really?
                late = now - parts[first].offset
                if e.on_first_content is not None:
                    e.on_first_content(late)
            body = b"".join([p.data if p.make_late is None else p.make_late(late) for p in parts[i:j]])
            await send({"type": "http.response.body", "body": body, "more_body": True})
            i = j
        if e.drop:
            raise InjectedDisconnect("offline gateway: injected disconnect")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if e.on_complete is not None:
            e.on_complete()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the emission and a disconnect watcher side by side; whichever ends first stops the other."""
        player = asyncio.ensure_future(self._play(send))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({player, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (player, watcher):
                if not task.done():
                    task.cancel()
            self.on_finish()
        if player.done() and not player.cancelled():
            player.result()  # re-raise InjectedDisconnect (or a bug) to the server


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
