"""Fixtures for the offline gateway tests: a loopback gateway per module and in-process ASGI clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from gateway_helpers import AUTH
from starlette.applications import Starlette

from auriko_nb.offline import GatewayHandle, create_app, serve


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayHandle]:
    """A loopback gateway shared by a module's tests (fast: speed 0.05)."""
    with serve(seed=0, speed=0.05) as gw:
        yield gw


@pytest.fixture
def app() -> Starlette:
    """A fresh in-process app (speed 0.01, so simulated delays are a few ms)."""
    return create_app(seed=0, speed=0.01)


@pytest.fixture
async def aclient(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the in-process app, with a valid key."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://offline.test/v1",
                                 headers=AUTH) as client:
        yield client


@pytest.fixture
def client(gateway: GatewayHandle) -> Iterator[httpx.Client]:
    """A sync httpx client on the loopback gateway, with a valid key."""
    with httpx.Client(base_url=gateway.base_url, headers=AUTH, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def slow_gateway() -> Iterator[GatewayHandle]:
    """speed 0.2: TTFTs of roughly 30-300 ms, well above the 10 ms write coalescing and long enough to measure."""
    with serve(seed=11, speed=0.2) as gw:
        yield gw


@pytest.fixture
def warm_client(slow_gateway: GatewayHandle) -> Iterator[httpx.Client]:
    """A client on the slow gateway whose keep-alive connection is already open, for timing."""
    with httpx.Client(base_url=slow_gateway.base_url, headers=AUTH, timeout=10) as c:
        c.get("/models")
        yield c
