"""auriko_nb: send, measure and compare routed LLM calls through the Auriko gateway, from a notebook."""

from ._version import __version__
from .client import AsyncClient, Client
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AurikoError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServerError,
    StreamError,
)
from .headers import ResponseHeaders
from .records import RECORD_COLUMNS
from .result import Result
from .streaming import AsyncChatStream, ChatStream
from .types import STRATEGIES, Gateway, Metadata, Routing, RoutingMetadata

__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AsyncChatStream", "AsyncClient",
    "AuthenticationError", "AurikoError", "BadRequestError", "ChatStream", "Client", "ConflictError", "Gateway",
    "MalformedResponseError", "Metadata", "NotFoundError", "PermissionDeniedError", "RECORD_COLUMNS",
    "RateLimitError", "RequestValidationError", "ResponseHeaders", "Result", "Routing", "RoutingMetadata",
    "STRATEGIES", "ServerError", "StreamError", "__version__",
]
