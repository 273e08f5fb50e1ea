"""Typed request options and response models of the Auriko API."""

from .catalog import (
    BillingBalance,
    Directory,
    DirectoryModel,
    DirectoryProvider,
    Identity,
    Model,
    ModelList,
    PriceTier,
    ProviderList,
    RegistryModel,
    RegistryModelList,
    RegistryProvider,
)
from .chat import ChatCompletion, ChatCompletionChunk, Usage
from .request import STRATEGIES, Gateway, Metadata, Routing, Strategy
from .responses import Response, ResponseEvent, ResponseUsage
from .routing_metadata import Cost, RoutingMetadata, RoutingWarning, parse_routing_metadata

__all__ = [
    "BillingBalance", "ChatCompletion", "ChatCompletionChunk", "Cost", "Directory", "DirectoryModel",
    "DirectoryProvider", "Gateway", "Identity", "Metadata", "Model", "ModelList", "PriceTier", "ProviderList",
    "RegistryModel", "RegistryModelList", "RegistryProvider", "Response", "ResponseEvent", "ResponseUsage",
    "Routing", "RoutingMetadata", "RoutingWarning", "STRATEGIES", "Strategy", "Usage", "parse_routing_metadata",
]
