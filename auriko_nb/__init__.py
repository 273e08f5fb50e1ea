"""auriko_nb: send, measure and compare routed LLM calls through the Auriko gateway, from a notebook.

Light names are imported at once; those that need pandas, matplotlib or uvicorn load on first use, so
`import auriko_nb` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._sharded_pool import ShardedTransport
from ._version import __version__
from .client import AsyncClient, Client
from .connect import connect, connect_async
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
from .headers import ResponseHeaders
from .records import RECORD_COLUMNS
from .result import Result
from .streaming import AsyncChatStream, ChatStream
from .types import STRATEGIES, Gateway, Metadata, Routing, RoutingMetadata

if TYPE_CHECKING:
    from . import offline, plots
    from .analysis import pareto, summarize
    from .commands import NotebookSession, SessionStatus
    from .comparison import Comparison
    from .ingest import record
    from .ledger import Ledger, session_ledger, set_session_ledger
    from .session import settings
    from .sweep import BudgetError, Sweep, compare, compare_async
    from .widgets.compare_panel import ComparePanel, compare_panel
    from .widgets.routing_panel import RoutingPanel, routing_panel

_LAZY = {
    "Ledger": "ledger", "session_ledger": "ledger", "set_session_ledger": "ledger",
    "summarize": "analysis", "pareto": "analysis", "record": "ingest", "Comparison": "comparison",
    "NotebookSession": "commands", "SessionStatus": "commands",
    "settings": "session", "compare": "sweep", "routing_panel": "widgets", "compare_panel": "widgets",
    "RoutingPanel": "widgets", "ComparePanel": "widgets", "compare_async": "sweep", "Sweep": "sweep", "BudgetError": "sweep",
}
_LAZY_MODULES = {"offline", "plots"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
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
    "compare", "compare_async", "compare_panel", "connect", "connect_async", "offline", "pareto", "plots",
    "record", "routing_panel",
    "session_ledger", "set_session_ledger", "settings", "summarize",
]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext auriko_nb` registers `%%auriko` and `%auriko`."""
    from .magics import load_ipython_extension as load

    load(ipython)
