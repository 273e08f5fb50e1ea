"""Read-only endpoints: models, registry, directory, /v1/me and the billing balance, built from the catalog."""

from __future__ import annotations

import hashlib
import time
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .catalog import PER_PROVIDER_PARAMS, Catalog, ModelInfo
from .envelope import GatewayError, json_response
from .inference import check_api_key
from .state import DEFAULT_RPM, SimState

__all__ = ["list_models", "get_model", "get_me", "registry_providers", "registry_models", "directory_models",
           "billing_balance"]


def _model_object(m: ModelInfo) -> dict[str, Any]:
    return {
        "id": m.id, "object": "model", "created": m.created, "owned_by": "auriko", "context_window": m.context_window,
        "supported_endpoints": list(m.endpoints), "aliases": list(m.aliases),
        "providers": [{"name": o.provider, "input_price": o.tiers[0].input, "output_price": o.tiers[0].output,
                       "data_policy": o.data_policy} for o in m.offers],
    }


@lru_cache(maxsize=16)
def _models_data(catalog: Catalog, endpoint: str) -> tuple[dict[str, Any], ...]:
    return tuple(_model_object(m) for m in catalog.models.values() if endpoint in m.endpoints)


async def list_models(request: Request) -> Response:
    """GET /v1/models (?endpoint=chat_completions|responses)."""
    sim: SimState = request.app.state.sim
    check_api_key(request)
    endpoint = request.query_params.get("endpoint") or "chat_completions"
    if endpoint not in ("chat_completions", "responses"):
        raise GatewayError("invalid_parameter_value", "endpoint must be chat_completions or responses",
                           param="endpoint")
    return json_response({"object": "list", "data": list(_models_data(sim.catalog, endpoint)),
                          "catalog_version": sim.catalog.version,
                          "catalog_age_seconds": round(time.time() - sim.catalog.loaded_at, 3)})


async def get_model(request: Request) -> Response:
    """GET /v1/models/{model_id}: aliases resolve to the canonical id."""
    sim: SimState = request.app.state.sim
    check_api_key(request)
    model_id = request.path_params["model_id"]
    model = sim.catalog.resolve(model_id)
    if model is None:
        raise GatewayError("model_not_found", f"The model '{model_id}' does not exist.", param="model",
                           suggestion="GET /v1/models lists the available models.")
    return json_response(_model_object(model))


async def get_me(request: Request) -> Response:
    """GET /v1/me in the SDK 1.2.0 shape; never echoes the key itself."""
    sim: SimState = request.app.state.sim
    key = check_api_key(request)
    key_id = "key_" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return json_response({
        "credential_type": "api_key", "status": "active", "profile": "standard", "key_id": key_id,
        "key_prefix": key[:8], "key_name": "offline simulation key",
        "workspace": {"id": sim.workspace_id, "name": "Offline simulation"},
        "scopes": ["inference", "models:read", "workspace:read"],
        "rate_limits": {"inference_rpm": sim.rpm or DEFAULT_RPM, "management_reads_rpm": 60,
                        "management_writes_rpm": 10},
        "expires_at": None, "created_at": sim.iso(sim.started_at), "offline": True,
    }, headers=sim.budget_headers())


@lru_cache(maxsize=4)
def _providers_payload(catalog: Catalog) -> dict[str, Any]:
    items = [{"id": p.id, "display_name": p.display_name, "description": p.description, "icon": f"/icons/{p.id}.svg",
              "data_policy": p.data_policy} for p in catalog.providers.values()]
    return {"providers": items, "count": len(items)}


async def registry_providers(request: Request) -> Response:
    """GET /v1/registry/providers (public)."""
    return json_response(_providers_payload(request.app.state.sim.catalog))


@lru_cache(maxsize=4)
def _registry_payload(catalog: Catalog) -> dict[str, Any]:
    items = [{"id": m.id, "family": m.family, "display_name": m.display_name, "capabilities": dict(m.capabilities),
              "input_modalities": list(m.input_modalities), "output_modalities": list(m.output_modalities),
              "providers": [o.provider for o in m.offers], "has_free_provider": False, "author": m.author}
             for m in catalog.models.values()]
    return {"models": items, "count": len(items), "playground_defaults": list(catalog.playground_defaults)}


async def registry_models(request: Request) -> Response:
    """GET /v1/registry/models (public)."""
    return json_response(_registry_payload(request.app.state.sim.catalog))


@lru_cache(maxsize=4)
def _directory_payload(catalog: Catalog) -> dict[str, Any]:
    updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(catalog.loaded_at))
    models: dict[str, Any] = {}
    for m in catalog.models.values():
        providers = []
        for o in m.offers:
            params = sorted(o.parameters, key=PER_PROVIDER_PARAMS.index)
            providers.append({
                "provider": o.provider, "provider_model_id": o.provider_model_id, "context_window": o.context_window,
                "max_output_tokens": o.max_output_tokens, "capabilities": dict(m.capabilities),
                "input_modalities": list(m.input_modalities), "output_modalities": list(m.output_modalities),
                "tools": [], "updated_at": updated, "data_policy": o.data_policy, "accepted_params": params,
                "supported_parameters": params, "supported_endpoints": list(o.endpoints), "shutdown_at": None,
                "byok": o.byok, "platform": o.platform,
                "tiers": [{"name": t.name, "input_price": t.input, "output_price": t.output,
                           "cache_read_price": t.cache_read, "cache_write_price": None,
                           "latency_hint": f"ttft p50 {t.ttft_p50:g} ms", "price_variants": [],
                           "ttft_ms": {"p50": t.ttft_p50, "p95": t.ttft_p95},
                           "throughput_tps": {"p50": t.tps_p50, "p95": t.tps_p95}} for t in o.tiers],
            })
        supported = sorted({p for o in m.offers for p in o.parameters}, key=PER_PROVIDER_PARAMS.index)
        models[m.id] = {"family": m.family, "display_name": m.display_name, "author": m.author,
                        "supported_parameters": supported, "aliases": list(m.aliases), "providers": providers}
    return {"generated_at": updated, "models": models}


async def directory_models(request: Request) -> Response:
    """GET /v1/directory/models (public; the pricing source, `models` keyed by id)."""
    return json_response(_directory_payload(request.app.state.sim.catalog))


def _is_session_token(token: str) -> bool:
    parts = token.split(".")
    return not token.startswith("ak_") and len(parts) == 3 and all(parts)


async def billing_balance(request: Request) -> Response:
    """GET /v1/workspaces/{id}/billing/balance: session JWT only; field names are our choice (undocumented)."""
    sim: SimState = request.app.state.sim
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if token.startswith("ak_"):
        raise GatewayError("insufficient_permissions",
                           "This endpoint requires a session token (dashboard sign-in JWT); API keys are not accepted.",
                           suggestion="Read X-Credits-Balance-Microdollars from any inference response instead.")
    if scheme.lower() != "bearer" or not _is_session_token(token):
        raise GatewayError("invalid_api_key", "A session token (dashboard sign-in JWT) is required.")
    if request.path_params["workspace_id"] != sim.workspace_id:
        raise GatewayError("resource_not_found", f"Workspace {request.path_params['workspace_id']!r} not found.",
                           param="workspace_id")
    bal = int(round(sim.balance_micro))
    spent = int(round(sim.spent_micro))
    bought = int(round(sim.credit_usd * 1_000_000))
    return json_response({
        "balance_microdollars": bal, "balance_cents": bal // 10_000, "balance_usd": f"{bal / 1e6:.2f}",
        "lifetime_purchased_microdollars": bought, "lifetime_purchased_cents": bought // 10_000,
        "lifetime_consumed_microdollars": spent, "lifetime_consumed_cents": spent // 10_000,
        "auto_reload_enabled": False, "billing_tier": "builder", "has_payment_method": False,
        "auto_reload_threshold_microdollars": None, "auto_reload_threshold_cents": None,
        "auto_reload_target_microdollars": None, "auto_reload_target_cents": None,
        "platform_fee_rate": "0.00", "lifetime_volume_usd": f"{spent / 1e6:.2f}", "volume_to_next_tier_usd": "500.00",
        "byok_monthly_request_cap": None, "byok_requests_remaining": None, "card_last4": None, "card_brand": None,
        "offline": True,
    })
