"""The offline catalog: models, providers, prices and performance profiles, loaded once from catalog.json."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PER_PROVIDER_PARAMS", "DATA_POLICY_RANK", "PRECISIONS", "DEFAULT_ACCURACY", "Tier", "Offer", "ModelInfo", "ProviderInfo", "Catalog",
           "load_catalog", "parse_catalog"]

# §3.4: optional parameters a provider may drop (or that require_parameters checks).
PER_PROVIDER_PARAMS: tuple[str, ...] = (
    "temperature", "top_p", "seed", "logit_bias", "logprobs", "top_logprobs", "n", "presence_penalty",
    "frequency_penalty", "user", "parallel_tool_calls", "web_search_options", "verbosity", "prompt_cache_key",
    "safety_identifier",
)
# zdr ⊂ no_training ⊂ none: a provider meets a requested policy when its rank is >= the requested rank.
DATA_POLICY_RANK: Mapping[str, int] = {"none": 0, "no_training": 1, "zdr": 2}
DEFAULT_ENDPOINTS: tuple[str, ...] = ("chat_completions", "responses")
# Simulated answer quality (internal: the API has no field for it). An offer without `accuracy` answers the
# built-in tasks right this often; `precision` (the weights' number format) is known for open-weights offers only.
PRECISIONS: tuple[str, ...] = ("bf16", "fp8", "fp4")
DEFAULT_ACCURACY = 0.95


@dataclass(frozen=True, slots=True)
class Tier:
    """One pricing/service tier of an offer: prices per 1M tokens and the latency/throughput profile."""

    name: str
    input: float
    output: float
    cache_read: float | None
    ttft_p50: float
    ttft_p95: float
    tps_p50: float
    tps_p95: float

    @property
    def blended_price(self) -> float:
        """Average of input and output price per 1M tokens (what max_cost_per_1m compares against)."""
        return (self.input + self.output) / 2


@dataclass(frozen=True, slots=True)
class Offer:
    """A model as served by one provider: ids, limits, policy, parameters, endpoints and tiers."""

    model_id: str
    provider: str
    provider_model_id: str
    context_window: int
    max_output_tokens: int
    data_policy: str
    byok: bool
    platform: bool
    parameters: frozenset[str]
    endpoints: tuple[str, ...]
    tiers: tuple[Tier, ...]
    precision: str | None = None  # "bf16", "fp8" or "fp4" for open-weights offers; None when not published
    accuracy: float = DEFAULT_ACCURACY  # chance of a right answer to a built-in task (offline simulation only)

    def tier(self, name: str) -> Tier | None:
        """The tier with this name, or None."""
        return next((t for t in self.tiers if t.name == name), None)


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider as the registry describes it, plus the simulated workspace's key situation."""

    id: str
    display_name: str
    description: str
    data_policy: str
    byok: bool
    platform: bool


@dataclass(frozen=True, slots=True, eq=False)
class ModelInfo:
    """A canonical model with its aliases and the offers of every provider serving it."""

    id: str
    display_name: str
    family: str
    author: str
    created: int
    aliases: tuple[str, ...]
    capabilities: Mapping[str, bool]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    offers: tuple[Offer, ...]

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Endpoints at least one offer supports, in a stable order."""
        have = {e for o in self.offers for e in o.endpoints}
        return tuple(e for e in DEFAULT_ENDPOINTS if e in have)

    @property
    def context_window(self) -> int:
        """Largest context window across providers (as /v1/models reports it)."""
        return max(o.context_window for o in self.offers)


@dataclass(frozen=True, eq=False)
class Catalog:
    """The whole catalog with an alias index; immutable after loading."""

    providers: Mapping[str, ProviderInfo]
    models: Mapping[str, ModelInfo]
    version: str
    loaded_at: float
    playground_defaults: tuple[str, ...] = ()
    _index: Mapping[str, str] = field(default_factory=dict, repr=False)

    def resolve(self, name: str) -> ModelInfo | None:
        """The model a canonical id or alias (case-insensitive) names, or None."""
        canonical = self._index.get(name.lower())
        return self.models[canonical] if canonical is not None else None


def _tier(name: str, d: Mapping[str, Any], where: str) -> Tier:
    ttft, tps = d["ttft_ms"], d["tps"]
    t = Tier(name=name, input=float(d["input"]), output=float(d["output"]),
             cache_read=None if d.get("cache_read") is None else float(d["cache_read"]),
             ttft_p50=float(ttft[0]), ttft_p95=float(ttft[1]), tps_p50=float(tps[0]), tps_p95=float(tps[1]))
    if not (0 < t.ttft_p50 <= t.ttft_p95 and 0 < t.tps_p95 <= t.tps_p50):
        raise ValueError(f"catalog {where} tier {name}: need ttft p50 <= p95 and tps p95 <= p50")
    return t


def _quality(d: Mapping[str, Any], where: str) -> tuple[str | None, float]:
    """An offer's (precision, accuracy), checked: a known precision or none, an accuracy in [0, 1]."""
    precision = d.get("precision")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"catalog {where}: precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    accuracy = float(d.get("accuracy", DEFAULT_ACCURACY))
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"catalog {where}: accuracy {accuracy!r} is not between 0 and 1")
    return precision, accuracy


def _offer(model_id: str, d: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]) -> Offer:
    name = d["provider"]
    if name not in providers:
        raise ValueError(f"catalog model {model_id}: unknown provider {name!r}")
    p = providers[name]
    where = f"{model_id}/{name}"
    tiers = [_tier("standard", d, where)] + [_tier(t["name"], t, where) for t in d.get("tiers", [])]
    precision, accuracy = _quality(d, where)
    return Offer(
        model_id=model_id, provider=name, provider_model_id=d["provider_model_id"],
        context_window=int(d["context_window"]), max_output_tokens=int(d["max_output_tokens"]),
        data_policy=d.get("data_policy", p["data_policy"]), byok=bool(d.get("byok", p["byok"])),
        platform=bool(d.get("platform", p["platform"])),
        parameters=frozenset(d.get("parameters", p["parameters"])),
        endpoints=tuple(d.get("endpoints", p.get("endpoints", DEFAULT_ENDPOINTS))), tiers=tuple(tiers),
        precision=precision, accuracy=accuracy,
    )


def parse_catalog(raw: bytes) -> Catalog:
    """Build a Catalog from the JSON bytes of a catalog file, checking its internal consistency."""
    data = json.loads(raw)
    praw: Mapping[str, Mapping[str, Any]] = data["providers"]
    providers = {
        k: ProviderInfo(id=k, display_name=v["display_name"], description=v["description"],
                        data_policy=v["data_policy"], byok=bool(v["byok"]), platform=bool(v["platform"]))
        for k, v in praw.items()
    }
    models: dict[str, ModelInfo] = {}
    index: dict[str, str] = {}
    for mid, m in data["models"].items():
        offers = tuple(_offer(mid, o, praw) for o in m["offers"])
        if not 2 <= len(offers) <= 5:
            raise ValueError(f"catalog model {mid}: {len(offers)} offers; expected 2-5")
        models[mid] = ModelInfo(
            id=mid, display_name=m["display_name"], family=m["family"], author=m["author"],
            created=int(m["created"]), aliases=tuple(m.get("aliases", [])),
            capabilities=dict(m.get("capabilities", {})),
            input_modalities=tuple(m.get("input_modalities", ["text"])),
            output_modalities=tuple(m.get("output_modalities", ["text"])), offers=offers,
        )
        for name in (mid, *models[mid].aliases):
            if index.setdefault(name.lower(), mid) != mid:
                raise ValueError(f"catalog alias {name!r} names two models")
    version = hashlib.sha256(raw).hexdigest()[:16]
    return Catalog(providers=providers, models=models, version=version, loaded_at=time.time(),
                   playground_defaults=tuple(data.get("playground_defaults", [])), _index=index)


@lru_cache(maxsize=8)
def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog from `path`, or the one shipped in the package; cached so it is parsed once per process."""
    if path is None:
        raw = resources.files("auriko_nb.offline").joinpath("catalog.json").read_bytes()
    else:
        raw = Path(path).read_bytes()
    return parse_catalog(raw)
