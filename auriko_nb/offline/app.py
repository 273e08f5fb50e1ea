"""The Starlette app: routes, the recording/offline-header middleware and envelope error handlers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import discovery
from .budget import BudgetConfig
from .catalog import load_catalog
from .envelope import GatewayError, error_response
from .faults import FaultConfig
from .inference import handle_inference
from .state import SimState

__all__ = ["create_app", "OFFLINE_HEADER"]

OFFLINE_HEADER = ("x-auriko-offline", "simulation")
_OFFLINE = (OFFLINE_HEADER[0].encode(), OFFLINE_HEADER[1].encode())


class RecordingMiddleware:
    """Gives each request an id and a record in stats, and stamps every response as offline with its id."""

    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received_at = time.monotonic()
        number, request_id = self.sim.next_request()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        headers.pop("authorization", None)  # never store the key
        peer = scope.get("client")
        record: dict[str, Any] = {
            "peer": f"{peer[0]}:{peer[1]}" if peer else None,  # the client's address: one per connection
            "method": scope["method"], "path": scope["path"], "body": None, "headers": headers,
            "received_at": received_at, "status": None, "fault": None, "provider": None, "request_id": request_id,
            "number": number, "ttft_ms_planned": None, "ttft_ms": None,  # ttft_ms: applied, once the first token left
        }
        self.sim.stats.add_record(record)
        scope.setdefault("state", {})
        scope["state"]["sim_record"] = record
        rid = (b"x-request-id", request_id.encode())

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), _OFFLINE, rid]}
            await send(message)

        await self.app(scope, receive, stamped)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        err = GatewayError("method_not_allowed", f"Method {request.method} is not allowed on {request.url.path}.")
    elif exc.status_code == 404:
        err = GatewayError("resource_not_found", f"No route for {request.method} {request.url.path}.",
                           suggestion="The offline gateway serves the documented /v1 endpoints.")
    else:
        err = GatewayError("invalid_request", str(exc.detail), status=exc.status_code)
    return error_response(err)


async def _crash(request: Request, exc: Exception) -> Response:
    """Unexpected bug: still answer with an envelope (this runs outside the middleware, so stamp it here)."""
    record = request.scope.get("state", {}).get("sim_record") or {}
    headers = {OFFLINE_HEADER[0]: OFFLINE_HEADER[1]}
    if record.get("request_id"):
        headers["x-request-id"] = record["request_id"]
    return error_response(GatewayError("internal_error", f"Offline gateway bug: {type(exc).__name__}: {exc}"),
                          headers)


async def _chat(request: Request) -> Response:
    return await handle_inference(request, "chat_completions")


async def _responses(request: Request) -> Response:
    return await handle_inference(request, "responses")


def create_app(seed: int = 0, speed: float = 1.0, faults: FaultConfig | Mapping[str, Any] | None = None,
               rpm: int | None = None, credit_usd: float = 25.0, fixed_latency_ms: float | None = None,
               budget: BudgetConfig | float | Mapping[str, Any] | None = None) -> Starlette:
    """A fresh simulated gateway as an ASGI app; its state (stats, balance, ...) is `app.state.sim`.

    `fixed_latency_ms` pins every call's TTFT to that many ms (times `speed`) instead of sampling the provider's
    profile, and sends the rest of the answer right after the first token. `budget` (USD, or a mapping with
    `limit_usd`, `period`, `scope`) simulates a spending cap: see `auriko_nb.offline.budget`.
    """
    sim = SimState(load_catalog(), seed=seed, speed=speed, faults=FaultConfig.coerce(faults), rpm=rpm,
                   credit_usd=credit_usd, fixed_latency_ms=fixed_latency_ms, budget=BudgetConfig.coerce(budget))
    routes = [
        Route("/v1/chat/completions", _chat, methods=["POST"]),
        Route("/v1/responses", _responses, methods=["POST"]),
        Route("/v1/models", discovery.list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", discovery.get_model, methods=["GET"]),
        Route("/v1/me", discovery.get_me, methods=["GET"]),
        Route("/v1/registry/providers", discovery.registry_providers, methods=["GET"]),
        Route("/v1/registry/models", discovery.registry_models, methods=["GET"]),
        Route("/v1/directory/models", discovery.directory_models, methods=["GET"]),
        Route("/v1/workspaces/{workspace_id}/billing/balance", discovery.billing_balance, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={GatewayError: _gateway_error, HTTPException: _http_error,
                                                       Exception: _crash})
    app.add_middleware(RecordingMiddleware, sim=sim)
    app.state.sim = sim
    return app
