"""`with` and `async with` for what holds a connection (the clients and the streams): leaving the block closes it."""

from __future__ import annotations

from typing import TypeVar

S = TypeVar("S", bound="Closing")
A = TypeVar("A", bound="AsyncClosing")


class Closing:
    """`with obj:` calls `obj.close()` at the end; a subclass defines `close`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClosing:
    """`async with obj:` awaits `obj.aclose()` at the end; a subclass defines `aclose`."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: A) -> A:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
