"""Discovery and account models: /v1/models, /v1/me, the registry, the directory, billing balance (§2.4–2.9)."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from ._base import OpenModel


class ModelProvider(OpenModel):
    """A provider offering a model, with list prices in USD per 1M tokens."""

    name: str
    input_price: float | None = None
    output_price: float | None = None
    data_policy: str | None = None


class Model(OpenModel):
    """One model of `/v1/models`."""

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "auriko"
    context_window: int | None = None
    supported_endpoints: list[str] | None = None
    providers: list[ModelProvider] | None = None


class ModelList(OpenModel):
    """`GET /v1/models`: the models callable with this key, and the catalog version."""

    object: str = "list"
    data: list[Model] = []
    catalog_version: str | None = None
    catalog_age_seconds: float | None = None

    @property
    def ids(self) -> list[str]:
        """The model ids, in the order listed."""
        return [m.id for m in self.data]


class Workspace(OpenModel):
    """The workspace an API key belongs to."""

    id: str
    name: str | None = None


class KeyRateLimits(OpenModel):
    """Per-minute request limits of an API key."""

    inference_rpm: int | None = None
    management_reads_rpm: int | None = None
    management_writes_rpm: int | None = None


class Identity(OpenModel):
    """`GET /v1/me`: the calling key's identity; reads both the SDK 1.2 shape and the older flat one."""

    credential_type: str | None = None
    status: str | None = None
    profile: str | None = None
    key_id: str | None = None
    key_prefix: str | None = None
    key_name: str | None = None
    workspace: Workspace | None = None
    scopes: list[str] = []
    rate_limits: KeyRateLimits | None = None
    expires_at: str | None = None
    created_at: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("workspace") is None and data.get("workspace_id"):
            data = {**data, "workspace": {"id": data["workspace_id"]}}
        if isinstance(data, dict) and data.get("rate_limits") is None and data.get("rate_limit_rpm") is not None:
            data = {**data, "rate_limits": {"inference_rpm": data["rate_limit_rpm"]}}
        return data

    @property
    def workspace_id(self) -> str | None:
        """The workspace id, whichever shape the server used."""
        return self.workspace.id if self.workspace else None


class RegistryProvider(OpenModel):
    """A provider of `/v1/registry/providers`."""

    id: str
    display_name: str = ""
    description: str = ""
    icon: str = ""
    data_policy: str = ""


class ProviderList(OpenModel):
    """`GET /v1/registry/providers`."""

    providers: list[RegistryProvider] = []
    count: int = 0

    @property
    def ids(self) -> list[str]:
        """The provider ids, in the order listed."""
        return [p.id for p in self.providers]


class RegistryModel(OpenModel):
    """A model of `/v1/registry/models`."""

    id: str
    family: str = ""
    display_name: str = ""
    capabilities: dict[str, Any] = {}
    input_modalities: list[str] = []
    output_modalities: list[str] = []
    providers: list[str] = []
    has_free_provider: bool = False
    author: str | None = None


class RegistryModelList(OpenModel):
    """`GET /v1/registry/models`."""

    models: list[RegistryModel] = []
    count: int = 0
    playground_defaults: list[Any] = []


class PriceVariant(OpenModel):
    """A conditional price of a tier (semantics undocumented; kept as given)."""

    role: str
    price: float
    constraints: dict[str, Any] = {}
    description: str | None = None


class PriceTier(OpenModel):
    """A pricing/service tier of a provider offering, prices in USD per 1M tokens."""

    name: str
    input_price: float | None = None
    output_price: float | None = None
    cache_read_price: float | None = None
    cache_write_price: float | None = None
    latency_hint: str | None = None
    price_variants: list[PriceVariant] = []


class DirectoryProvider(OpenModel):
    """One provider's offering of a model in the directory."""

    provider: str
    provider_model_id: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    capabilities: dict[str, Any] = {}
    input_modalities: list[str] = []
    output_modalities: list[str] = []
    tools: list[str] = []
    tiers: list[PriceTier] = []
    updated_at: str | None = None
    data_policy: str | None = None
    accepted_params: list[str] = []
    supported_parameters: list[str] = []
    supported_endpoints: list[str] = []
    shutdown_at: str | None = None

    def tier(self, name: str = "standard") -> PriceTier | None:
        """The named tier, else the first one, else None."""
        for t in self.tiers:
            if t.name == name:
                return t
        return self.tiers[0] if self.tiers else None


class DirectoryModel(OpenModel):
    """A canonical model of the directory with all its provider offerings."""

    family: str
    display_name: str
    author: str | None = None
    supported_parameters: list[str] = []
    aliases: list[str] = []
    providers: list[DirectoryProvider] = []


class Directory(OpenModel):
    """`GET /v1/directory/models`: the pricing source; `models` is a dict keyed by canonical id."""

    generated_at: str | None = None
    models: dict[str, DirectoryModel] = {}

    def resolve(self, model: str) -> str | None:
        """The canonical id for an id or alias (a routing suffix is ignored), or None."""
        base = model.split(":", 1)[0] if model.count(":") == 1 else model
        if base in self.models:
            return base
        for mid, m in self.models.items():
            if base in m.aliases:
                return mid
        return None


class BillingBalance(OpenModel):
    """`GET /v1/workspaces/{id}/billing/balance` (session token only); field names are not documented."""

    balance_microdollars: int | None = None
    balance_usd: str | float | None = None
