"""A connection pool split into small shards, for sweeps with many calls in flight.

httpcore's pool does O(connections) work for every idle connection each time a request starts or a response
closes, so one pool of 100 kept-alive connections spends more CPU on bookkeeping than on the calls
(BENCHMARKS.md, section 3). Shards of at most ten connections keep that cost flat; a request goes to the
first shard with a free connection, so sequential calls keep reusing one connection.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx

SHARD_SIZE = 10


class _Released(httpx.AsyncByteStream):
    """The response body of a shard's request; frees the shard's slot when the body is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: _Slot) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


class _Slot:
    """Frees one busy slot of a shard exactly once."""

    def __init__(self, busy: list[int], index: int) -> None:
        self._busy, self._index, self._done = busy, index, False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._busy[self._index] -= 1


class ShardedTransport(httpx.AsyncBaseTransport):
    """`connections` connections as ⌈connections / 10⌉ httpx pools of at most ten, created as they are needed.

    A sweep builds one for its own client; pass one to yours for many calls in flight:
    `ak.AsyncClient(transport=ak.ShardedTransport(64))`.
    """

    def __init__(self, connections: int, *, shard_size: int = SHARD_SIZE) -> None:
        if connections < 1 or shard_size < 1:
            raise ValueError("connections and shard_size must be >= 1")
        self._shard_size = min(shard_size, connections)
        self._max_shards = -(-connections // self._shard_size)
        self._shards: list[httpx.AsyncHTTPTransport] = []
        self._busy: list[int] = []
        self._ssl: ssl.SSLContext | None = None  # one CA bundle load, shared by every shard

    def _pick(self) -> int:
        for i, busy in enumerate(self._busy):
            if busy < self._shard_size:
                return i
        if len(self._shards) < self._max_shards:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            limits = httpx.Limits(max_connections=self._shard_size, max_keepalive_connections=self._shard_size)
            self._shards.append(httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits))
            self._busy.append(0)
            return len(self._shards) - 1
        return min(range(len(self._busy)), key=self._busy.__getitem__)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pick()
        self._busy[index] += 1
        release = _Slot(self._busy, index)
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, release)
        return response

    @property
    def in_use(self) -> int:
        """How many requests hold a connection now (sent, and their response not yet closed)."""
        return sum(self._busy)

    @property
    def shard_count(self) -> int:
        """How many shards have been opened so far."""
        return len(self._shards)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
