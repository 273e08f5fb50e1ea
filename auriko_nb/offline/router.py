"""The router: enumerate candidates, filter by every constraint, score by strategy, then pick with fallback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .catalog import DATA_POLICY_RANK, ModelInfo, Offer, Tier
from .envelope import GatewayError
from .options import Routing
from .validate import InferenceRequest

__all__ = ["Candidate", "RoutePlan", "plan_route", "pick", "STRATEGY_WEIGHTS"]

# Base strategies favour their dimension; balanced weighs all equally. Focus strategies are lexicographic
# (their dimension decides, the other two only break ties): "optimise almost only that dimension".
STRATEGY_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "cost": (0.6, 0.2, 0.2),
    "ttft": (0.2, 0.6, 0.2),
    "tps": (0.2, 0.2, 0.6),
    "balanced": (1 / 3, 1 / 3, 1 / 3),
}
FOCUS_DIMENSION = {"cost-focus": 0, "ttft-focus": 1, "tps-focus": 2}


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (model, provider, tier) the request could be served by, with the metrics it is scored on."""

    model: ModelInfo
    offer: Offer
    tier: Tier
    cost: float  # blended price per 1M tokens
    ttft_ms: float  # at the requested percentile
    tps: float  # at the requested percentile

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.offer.provider


@dataclass(frozen=True)
class RoutePlan:
    """Candidates in the order they would be tried, and the strategy that ranked them."""

    ranked: tuple[Candidate, ...]
    strategy: str


def _enumerate(req: InferenceRequest, routing: Routing) -> list[Candidate]:
    tier_name = routing.tier or "standard"
    ttft_p95 = routing.ttft_percentile == "p95"
    tps_p95 = routing.throughput_percentile == "p95"
    out = []
    for model in req.models:
        for offer in model.offers:
            tier = offer.tier(tier_name)
            if tier is None or req.endpoint not in offer.endpoints:
                continue
            out.append(Candidate(model, offer, tier, tier.blended_price,
                                 tier.ttft_p95 if ttft_p95 else tier.ttft_p50, tier.tps_p95 if tps_p95 else tier.tps_p50))
    return out


def _endpoint_error(req: InferenceRequest, routing: Routing) -> GatewayError:
    names = ", ".join(m.id for m in req.models)
    if not any(req.endpoint in m.endpoints for m in req.models):
        if req.endpoint == "chat_completions":
            return GatewayError("response_api_only", f"{names} can only be called through the Responses API.",
                                param=req.model_param, suggestion="Send this request to POST /v1/responses.")
        return GatewayError("no_responses_endpoint", f"No provider serves {names} on the Responses API.",
                            param=req.model_param, suggestion="Use POST /v1/chat/completions for this model.")
    tiers = sorted({t.name for m in req.models for o in m.offers for t in o.tiers})
    return GatewayError("routing_constraint_unsatisfiable", f"No provider offers tier {routing.tier!r} for {names}.",
                        param="gateway.routing.tier", suggestion=f"Tiers offered: {', '.join(tiers)}.")


Filter = tuple[str, str, str, Callable[[Candidate], bool], Callable[[list[Candidate]], str]]


def _filters(req: InferenceRequest, r: Routing) -> list[Filter]:
    """(code, param, message, keep-predicate, suggestion) for each constraint the request sets, in order:
    which providers, which keys, then what the request needs of a provider (parameters, cost, speed)."""
    names = ", ".join(m.id for m in req.models)
    return [*_provider_filters(r, names), _key_filter(r, names), *_need_filters(req, r, names)]


def _providers_of(cs: list[Candidate]) -> str:
    return ", ".join(sorted({c.provider for c in cs}))


def _provider_filters(r: Routing, names: str) -> list[Filter]:
    """The allow-list, the block-list and the data policy."""
    out: list[Filter] = []
    if r.providers is not None:
        allow = set(r.providers)
        out.append(("provider_not_in_allowlist", "gateway.routing.providers",
                    f"None of the allowed providers ({', '.join(r.providers)}) serves {names}.",
                    lambda c: c.provider in allow, lambda cs: f"Providers serving {names}: {_providers_of(cs)}."))
    if r.exclude_providers:
        block = set(r.exclude_providers)
        out.append(("provider_blocked", "gateway.routing.exclude_providers",
                    f"Every provider serving {names} is in exclude_providers.",
                    lambda c: c.provider not in block, lambda cs: "Remove a provider from exclude_providers."))
    if r.data_policy is not None:
        need = DATA_POLICY_RANK[r.data_policy]
        out.append(("routing_constraint_unsatisfiable", "gateway.routing.data_policy",
                    f"No remaining provider for {names} meets data_policy {r.data_policy!r}.",
                    lambda c: DATA_POLICY_RANK.get(c.offer.data_policy, 0) >= need,
                    lambda cs: "Policies available: " + ", ".join(sorted({f"{c.provider}={c.offer.data_policy}"
                                                                         for c in cs})) + "."))
    return out


def _key_filter(r: Routing, names: str) -> Filter:
    """Which keys may serve the call: BYOK only, platform only, or either (always one filter)."""
    if r.only_byok:
        return ("byok_keys_required", "gateway.routing.only_byok",
                f"only_byok is set but none of your provider keys can serve {names}.",
                lambda c: c.offer.byok, lambda cs: f"Add a provider key for one of: {_providers_of(cs)}.")
    if r.only_platform:
        return ("platform_keys_unavailable", "gateway.routing.only_platform",
                f"only_platform is set but no Auriko-managed key can serve {names} with these constraints.",
                lambda c: c.offer.platform, lambda cs: "Drop only_platform to use your own provider keys.")
    return ("platform_keys_unavailable", "gateway.routing",
            f"No usable key (platform or BYOK) for any remaining provider of {names}.",
            lambda c: c.offer.platform or c.offer.byok, lambda cs: "Add a provider key (BYOK).")


def _need_filters(req: InferenceRequest, r: Routing, names: str) -> list[Filter]:
    """What the request needs of a provider: every parameter sent, a cost cap, a TTFT cap, a throughput floor."""
    out: list[Filter] = []
    if r.require_parameters and req.sent_params:
        sent = set(req.sent_params)
        out.append(("required_params_not_supported", "gateway.routing.require_parameters",
                    f"No remaining provider for {names} supports every parameter sent ({', '.join(req.sent_params)}).",
                    lambda c: sent <= c.offer.parameters,
                    lambda cs: "Unsupported: " + "; ".join(f"{c.provider}: {', '.join(sorted(sent - c.offer.parameters))}"
                                                           for c in cs) + "."))
    if r.max_cost_per_1m is not None:
        cap = r.max_cost_per_1m
        out.append(("cost_constraint_exceeded", "gateway.routing.max_cost_per_1m",
                    f"Every remaining provider for {names} costs more than ${cap:g} per 1M tokens.",
                    lambda c: c.cost <= cap,
                    lambda cs: f"The cheapest costs ${min(c.cost for c in cs):g} per 1M tokens (average of input "
                               f"and output); raise max_cost_per_1m to at least that."))
    if r.max_ttft_ms is not None:
        ttft_cap = r.max_ttft_ms
        pct = r.ttft_percentile or "p50"
        out.append(("latency_constraint_exceeded", "gateway.routing.max_ttft_ms",
                    f"No remaining provider for {names} has a {pct} TTFT under {ttft_cap} ms.",
                    lambda c: c.ttft_ms <= ttft_cap,
                    lambda cs: f"The fastest has a {pct} TTFT of {min(c.ttft_ms for c in cs):g} ms; raise max_ttft_ms."))
    if r.min_throughput_tps is not None:
        floor = r.min_throughput_tps
        tps_pct = r.throughput_percentile or "p50"
        out.append(("throughput_constraint_not_met", "gateway.routing.min_throughput_tps",
                    f"No remaining provider for {names} reaches {floor:g} tokens/s ({tps_pct}).",
                    lambda c: c.tps >= floor,
                    lambda cs: f"The best reaches {max(c.tps for c in cs):g} tokens/s; lower min_throughput_tps."))
    return out


def _norm(values: Sequence[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi == lo else (v - lo) / (hi - lo) for v in values]


def _rank(cands: list[Candidate], strategy: str, weights: tuple[float, float, float]) -> list[Candidate]:
    if not cands:
        return []
    # goodness in [0, 1] per dimension: cheap, fast first token, high throughput
    good = list(zip([1 - x for x in _norm([c.cost for c in cands])], [1 - x for x in _norm([c.ttft_ms for c in cands])],
                    _norm([c.tps for c in cands]), strict=True))
    if strategy in FOCUS_DIMENSION:
        d = FOCUS_DIMENSION[strategy]
        keys = [(-round(g[d], 9), -round(sum(g) - g[d], 9)) for g in good]
    else:
        w = weights if strategy == "custom" else STRATEGY_WEIGHTS.get(strategy, STRATEGY_WEIGHTS["balanced"])
        total = sum(w) or 1.0
        keys = [(-round(sum(wi * gi for wi, gi in zip(w, g, strict=True)) / total, 9), 0.0) for g in good]
    order = sorted(range(len(cands)), key=lambda i: (keys[i], cands[i].provider, cands[i].model.id))
    return [cands[i] for i in order]


def plan_route(req: InferenceRequest) -> RoutePlan:
    """Rank every eligible candidate, or raise the 400 of the constraint that removed the last ones."""
    routing = req.routing
    cands = _enumerate(req, routing)
    if not cands:
        raise _endpoint_error(req, routing)
    for code, param, message, keep, suggest in _filters(req, routing):
        kept = [c for c in cands if keep(c)]
        if not kept:
            raise GatewayError(code, message, param=param, suggestion=suggest(cands))
        cands = kept
    if routing.mode == "fallback":
        ranked = [c for m in req.models for c in _rank([c for c in cands if c.model is m], req.strategy, req.weights)]
    else:
        ranked = _rank(cands, req.strategy, req.weights)
    if routing.prefer:
        first = next((c for c in ranked if c.provider == routing.prefer), None)
        if first is not None:
            ranked.remove(first)
            ranked.insert(0, first)
    return RoutePlan(tuple(ranked), req.strategy)


def pick(plan: RoutePlan, routing: Routing, down: frozenset[str],
         on_skip: Callable[[str], None] | None = None) -> tuple[Candidate, list[dict[str, str]]]:
    """The first candidate whose provider is up, with a warning per skipped one; 503 when none is reachable."""
    warnings: list[dict[str, str]] = []
    allow = routing.allow_fallbacks is not False  # uncertain default; the docs imply fallbacks are on
    max_fallbacks = routing.max_fallback_attempts if routing.max_fallback_attempts is not None else len(plan.ranked)
    skipped: list[str] = []
    for i, cand in enumerate(plan.ranked):
        if cand.provider not in down:
            return cand, warnings
        skipped.append(cand.provider)
        if on_skip is not None:
            on_skip(cand.provider)
        warnings.append({"type": "provider_timeout", "code": "provider_unavailable",
                         "message": f"{cand.provider} failed to respond (simulated outage); tried the next candidate."})
        if not allow:
            raise GatewayError("no_provider_available",
                               f"{cand.provider} is unavailable for {cand.model.id} and allow_fallbacks is false.",
                               provider=cand.provider, suggestion="Set allow_fallbacks to true or retry later.")
        if i >= max_fallbacks:
            break
    models = ", ".join(dict.fromkeys(c.model.id for c in plan.ranked))
    raise GatewayError("no_provider_available",
                       f"No provider is currently available for {models} (tried: {', '.join(skipped)}).",
                       provider=skipped[-1] if skipped else None, suggestion="Retry later or allow more fallbacks.")
