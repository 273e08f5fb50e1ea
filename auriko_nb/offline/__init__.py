"""The embedded offline gateway: a local simulation of the Auriko API for keyless use, notebooks and tests.

`serve()` runs it on loopback in a background thread; `create_app()` gives the ASGI app for in-process use.
Every response carries `X-Auriko-Offline: simulation`. The built-in task set (`task_set()`) is answered right with
each provider's simulated accuracy (catalog.json), so quality checks have something to measure without a key.
"""

from __future__ import annotations

from .app import OFFLINE_HEADER, create_app
from .budget import BudgetConfig
from .catalog import Catalog, ModelInfo, Offer, ProviderInfo, Tier, load_catalog
from .faults import FAULT_HEADER, FAULT_KINDS, FaultConfig
from .server import GatewayHandle, serve
from .state import SimState, Stats
from .tasks import TASKS, Task, recognize, task_set

OfflineGateway = GatewayHandle

__all__ = [
    "serve", "create_app", "load_catalog", "GatewayHandle", "OfflineGateway", "FaultConfig", "FAULT_KINDS",
    "FAULT_HEADER", "OFFLINE_HEADER", "BudgetConfig", "Catalog", "ModelInfo", "Offer", "ProviderInfo", "Tier",
    "SimState", "Stats", "TASKS", "Task", "task_set", "recognize",
]
