"""A client that builds its own pool sets the default headers on the pool once (a per-call saving); the bytes on
the wire stay exactly those of the per-request merge that a caller's `http_client=` gets."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

import auriko_nb as ak

DEFAULTS = [None, {"X-Team": "a"}, {"Accept": "application/json"}, {"authorization": "Bearer ak_test_zzz"},
            {"User-Agent": "mine"}, {"accept-encoding": "identity", "X-B": "1"}, {"Content-Type": "text/plain"}]
EXTRA = [None, {"X-Trace": "t"}, {"x-team": "b"}, {"User-Agent": "x"}, {"Accept": "a/b"}, {"content-type": "c"},
         {"Authorization": "Bearer ak_test_q"}]


def _handler(seen: list[Any]) -> httpx.MockTransport:
    def handle(req: httpx.Request) -> httpx.Response:
        seen.append((req.method, str(req.url), req.headers.raw, req.content))
        if req.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": []})
        return httpx.Response(200, json={"id": "x", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})
    return httpx.MockTransport(handle)


def _calls(own: bool, defaults: Any, extra: Any, stream: bool) -> list[Any]:
    seen: list[Any] = []
    kw: dict[str, Any] = ({"transport": _handler(seen)} if own else
                          {"http_client": httpx.Client(transport=_handler(seen), timeout=60.0, follow_redirects=True)})
    c = ak.Client("ak_test_hdr", base_url="http://gw.test", default_headers=defaults, max_retries=0, **kw)
    r = c.chat("hi", model="m", extra_headers=extra, stream=stream)
    if stream:
        r.close()
    c.models()
    c.with_options(max_retries=1).chat("hi", model="m", extra_headers=extra)
    return seen


@pytest.mark.parametrize("stream", [False, True])
def test_own_pool_and_callers_http_client_send_the_same_bytes(stream: bool) -> None:
    for defaults, extra in itertools.product(DEFAULTS, EXTRA):
        own, callers = _calls(True, defaults, extra, stream), _calls(False, defaults, extra, stream)
        assert len(own) == 3 and own == callers, (defaults, extra)


async def test_the_async_client_sends_the_same_bytes_either_way() -> None:
    for defaults, extra in itertools.product(DEFAULTS, EXTRA):
        outs = []
        for own in (True, False):
            seen: list[Any] = []
            kw: dict[str, Any] = ({"transport": _handler(seen)} if own else {"http_client": httpx.AsyncClient(
                transport=_handler(seen), timeout=60.0, follow_redirects=True)})
            c = ak.AsyncClient("ak_test_hdr", base_url="http://gw.test", default_headers=defaults, max_retries=0, **kw)
            await c.chat("hi", model="m", extra_headers=extra)
            await c.models()
            outs.append(seen)
        assert len(outs[0]) == 2 and outs[0] == outs[1], (defaults, extra)
