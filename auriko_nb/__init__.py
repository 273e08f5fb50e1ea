"""auriko_nb: send, measure and compare routed LLM calls through the Auriko gateway, from a notebook.

Light names are imported at once; those that need pandas, matplotlib or uvicorn load on first use, so
`import auriko_nb` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .client._sharded_pool import ShardedTransport
from .client.clients import AsyncClient, Client
from .client.headers import ResponseHeaders
from .client.records import RECORD_COLUMNS
from .client.result import Result
from .client.streaming import AsyncChatStream, ChatStream
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AurikoError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    LedgerError,
    MagicUsageError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    StreamError,
    TemplateError,
)
from .notebook.connect import connect, connect_async, offline_gateway
from .types import STRATEGIES, Gateway, Metadata, Routing, RoutingMetadata

if TYPE_CHECKING:
    from . import offline
    from .measure import checks, plots
    from .measure.analysis import pareto, summarize
    from .measure.answers import answers
    from .measure.comparison import Comparison
    from .measure.ingest import record
    from .measure.ledger import Ledger, session_ledger, set_session_ledger
    from .measure.recommend import recommend
    from .measure.reprice import reprice
    from .measure.stats import difference
    from .measure.sweep import BudgetError, Sweep, compare, compare_async
    from .notebook.commands import NotebookSession, SessionStatus
    from .notebook.settings import settings
    from .notebook.widgets.compare_panel import ComparePanel, compare_panel
    from .notebook.widgets.routing_panel import RoutingPanel, routing_panel
    from .telemetry import instrument, uninstrument

_LAZY = {
    "Ledger": "measure.ledger", "session_ledger": "measure.ledger", "set_session_ledger": "measure.ledger",
    "summarize": "measure.analysis", "pareto": "measure.analysis", "record": "measure.ingest",
    "Comparison": "measure.comparison", "compare": "measure.sweep", "compare_async": "measure.sweep",
    "Sweep": "measure.sweep", "BudgetError": "measure.sweep",
    "NotebookSession": "notebook.commands", "SessionStatus": "notebook.commands", "settings": "notebook.settings",
    "routing_panel": "notebook.widgets", "compare_panel": "notebook.widgets", "RoutingPanel": "notebook.widgets",
    "ComparePanel": "notebook.widgets",
    "answers": "measure.answers", "recommend": "measure.recommend", "reprice": "measure.reprice",
    "difference": "measure.stats",
    "instrument": "telemetry", "uninstrument": "telemetry",
}
_LAZY_MODULES = {"offline": "offline", "plots": "measure.plots", "checks": "measure.checks"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{_LAZY_MODULES[name]}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'auriko_nb' has no attribute {name!r}")


__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AsyncChatStream", "AsyncClient",
    "AuthenticationError", "AurikoError", "BadRequestError", "BudgetError", "ChatStream", "Client", "LedgerError", "ComparePanel", "Comparison",
    "ConflictError", "Gateway", "Ledger", "MagicUsageError", "MalformedResponseError", "Metadata", "NotFoundError",
    "NotebookSession", "SessionStatus", "TemplateError",
    "PermissionDeniedError", "RECORD_COLUMNS", "RateLimitError", "RequestValidationError", "ResponseHeaders",
    "RoutingPanel",
    "Result", "Routing", "RoutingMetadata", "STRATEGIES", "ServerError", "ShardedTransport", "StreamError", "Sweep", "__version__",
    "answers", "checks", "compare", "compare_async", "compare_panel", "connect", "connect_async", "offline", "offline_gateway", "pareto", "plots",
    "recommend", "record", "reprice", "routing_panel", "difference",
    "session_ledger", "set_session_ledger", "settings", "summarize", "instrument", "uninstrument",
]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext auriko_nb` registers `%%auriko` and `%auriko`."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)
