"""The embedded offline gateway: a local simulation of the Auriko API for keyless use, notebooks and tests.

`serve()` runs it on loopback in a background thread; `create_app()` gives the ASGI app for in-process use.
Every response carries `X-Auriko-Offline: simulation`.
"""

from __future__ import annotations

from .app import OFFLINE_HEADER, create_app
from .budget import BudgetConfig
from .catalog import Catalog, ModelInfo, Offer, ProviderInfo, Tier, load_catalog
from .faults import FAULT_HEADER, FAULT_KINDS, FaultConfig
from .server import GatewayHandle, serve
from .state import SimState, Stats

OfflineGateway = GatewayHandle

__all__ = [
    "serve", "create_app", "load_catalog", "GatewayHandle", "OfflineGateway", "FaultConfig", "FAULT_KINDS",
    "FAULT_HEADER", "OFFLINE_HEADER", "BudgetConfig", "Catalog", "ModelInfo", "Offer", "ProviderInfo", "Tier",
    "SimState", "Stats",
]
