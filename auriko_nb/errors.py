"""The error hierarchy: one base class, one subclass per kind of failure a user acts on differently.

`str(error)` is always one line a person can act on, and never contains the API key: text that came from the
server (which may echo the request's Authorization header back) has API keys and bearer tokens redacted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Not preceded by a letter (a digit or `_` may be: `%22ak_...` in URL-encoded JSON, `bad_ak_...`), or preceded by a
# percent escape (`%2Fak_...`); the space after "Bearer" may be percent- or form-encoded (`%20`, `+`).
_START = r"(?:(?<![A-Za-z])|(?<=%[0-9A-Fa-f]{2}))"
_SECRET = re.compile(rf"(?i){_START}bearer(?:\s|%20|\+)+[A-Za-z0-9_\-]{{8,}}[A-Za-z0-9._~+/=\-]*"
                     rf"|{_START}ak_[A-Za-z0-9_\-]{{6,}}")


def redact(value: Any) -> Any:
    """`value` with API keys (`ak_...`) and bearer tokens replaced by `[redacted]` (strings, dicts, lists)."""
    if isinstance(value, str):
        return _SECRET.sub(lambda m: "Bearer [redacted]" if m.group(0)[:1] in "bB" else "ak_[redacted]", value)
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value

__all__ = [
    "AurikoError",
    "APIStatusError",
    "BadRequestError",
    "RequestValidationError",
    "ConflictError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamError",
    "MalformedResponseError",
    "BudgetError",
    "LedgerError",
    "CheckError",
    "AnalysisError",
    "is_retryable",
]

# The SDK's retry rule (§9.2): these codes are never retried, even on a retryable type.
NON_RETRYABLE_CODES = frozenset({
    "budget_exhausted", "insufficient_quota", "internal_error", "duplicate_resource", "field_immutable",
    "method_not_allowed", "operation_not_allowed", "state_precondition_failed",
})
RETRYABLE_TYPES = frozenset({"rate_limit_error", "api_error"})
DOCUMENTED_TYPES = RETRYABLE_TYPES | {"invalid_request_error", "authentication_error", "permission_error",
                                     "not_found_error"}


class AurikoError(Exception):
    """Base of every error raised by auriko_nb; carries the gateway's error envelope fields."""

    default_type: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        type: str | None = None,
        param: str | None = None,
        provider: str | None = None,
        suggestion: str | None = None,
        doc_url: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        self.message = redact(" ".join(str(message).split())) or "unknown error"
        self.code = redact(code)
        self.status_code = status_code
        self.type = redact(type) or self.default_type
        self.param = redact(param)
        self.provider = redact(provider)
        self.suggestion = redact(suggestion)
        self.doc_url = redact(doc_url)
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts
        self.headers = {k.lower(): redact(v) for k, v in headers.items()} if headers is not None else {}
        self.body = redact(body)
        super().__init__(self.message)

    def __str__(self) -> str:
        head = []
        if self.status_code:
            head.append(str(self.status_code))
        if self.code:
            head.append(self.code)
        text = (" ".join(head) + ": " if head else "") + self.message
        extra = []
        if self.param and self.param not in self.message:
            extra.append(f"param {self.param}")
        if self.provider:
            extra.append(f"provider {self.provider}")
        if self.suggestion:
            extra.append(f"hint: {' '.join(self.suggestion.split()).rstrip('.')}")
        if self.attempts > 1:
            extra.append(f"after {self.attempts} attempts")
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        if extra:
            text += " (" + "; ".join(extra) + ")"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed if sent again (the SDK's rule, §9.2)."""
        return is_retryable(self)


class APIStatusError(AurikoError):
    """The gateway answered with an HTTP error status (or an error payload in a stream)."""


class BadRequestError(APIStatusError):
    """400/413/422: the request is wrong; change it before sending again."""

    default_type = "invalid_request_error"


class RequestValidationError(BadRequestError, ValueError):
    """A request that auriko_nb refused to send: an option or metadata field breaks a documented rule."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_parameter_value") -> None:
        super().__init__(message, code=code, param=param, status_code=None)


class ConflictError(BadRequestError):
    """409: the request conflicts with the state of a resource."""


class AuthenticationError(APIStatusError):
    """401, or no key at all: the key is missing, malformed, expired or revoked."""

    default_type = "authentication_error"


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this."""

    default_type = "permission_error"


class NotFoundError(APIStatusError):
    """404: the model or resource does not exist."""

    default_type = "not_found_error"


class RateLimitError(APIStatusError):
    """429: too many requests (retryable), or a budget or quota exhausted (not retryable)."""

    default_type = "rate_limit_error"


class ServerError(APIStatusError):
    """5xx: the gateway or every upstream provider failed."""


class APIConnectionError(AurikoError):
    """No HTTP response at all: refused connection, DNS failure, dropped socket.

    `transient` says whether sending again may help (the SDK retries timeouts and network errors, not protocol
    errors such as a body cut short, nor a call past its own deadline).
    """

    def __init__(self, message: str = "Connection to the gateway failed.", *, transient: bool = True,
                 **kwargs: Any) -> None:
        kwargs.setdefault("code", "api_connection_error")
        kwargs.setdefault("status_code", 0)
        super().__init__(message, **kwargs)
        self.transient = transient


class APITimeoutError(APIConnectionError):
    """The request did not complete within the client's timeout; code `api_connection_error`, as the SDK's."""

    def __init__(self, message: str = "Request timed out.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class StreamError(AurikoError):
    """A stream broke after it began (error payload, disconnect, missing [DONE]); keeps the partial text."""

    def __init__(self, message: str, *, partial_text: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("code", "stream_error")
        super().__init__(message, **kwargs)
        self.partial_text = partial_text

    def __str__(self) -> str:
        return super().__str__() + f" [{len(self.partial_text)} characters received before the failure]"


_STREAM_CLASSES: dict[type[APIStatusError], type[StreamError]] = {}


def stream_error_class(cls: type[APIStatusError]) -> type[StreamError]:
    """The class of a mid-stream error payload of type `cls`: both a StreamError and `cls` (cached per class).

    `except RateLimitError` catches a mid-stream rate limit, and `isinstance(err, StreamError)` still says
    the stream had begun (so it is never retried).
    """
    found = _STREAM_CLASSES.get(cls)
    if found is None:
        name = "Stream" + cls.__name__
        found = type(name, (StreamError, cls), {"__module__": __name__, "__qualname__": name,
                                                "__doc__": f"A {cls.__name__} sent mid-stream, after the 200."})
        _STREAM_CLASSES[cls] = globals()[name] = found
    return found


class MalformedResponseError(AurikoError):
    """The gateway answered 2xx with a body that is not the documented shape (not JSON, wrong fields)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("code", "malformed_response")
        super().__init__(message, **kwargs)


for _cls in (APIStatusError, BadRequestError, ConflictError, AuthenticationError, PermissionDeniedError, NotFoundError,
             RateLimitError, ServerError):  # made at import, so an error pickled in one process loads in another
    stream_error_class(_cls)


class MagicUsageError(AurikoError, ValueError):
    """A bad magic line or notebook-session call: unknown flag or subcommand, missing or malformed value."""

    default_type = "usage_error"


class TemplateError(AurikoError, ValueError):
    """A `{{name}}` in a prompt that names no variable (or attribute) in the namespace."""

    default_type = "template_error"


class BudgetError(AurikoError, ValueError):
    """A sweep refused to start because its estimated cost exceeds `budget_usd`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="budget_estimate_exceeded", type="invalid_request_error")


class LedgerError(AurikoError, OSError):
    """A ledger file that cannot be opened or created (a missing directory we may not create, no permission)."""

    default_type = "ledger_error"


class CheckError(AurikoError, ValueError):
    """A quality check that cannot run: not a check, a bad pattern, a schema that is not valid JSON Schema."""

    default_type = "check_error"


class AnalysisError(AurikoError, ValueError):
    """Bad input to an analysis: an empty comparison, an unknown metric or SLO, a group that is not there."""

    default_type = "analysis_error"


def is_retryable(err: AurikoError) -> bool:
    """True for connection failures and rate-limit/server errors other than the SDK's non-retryable codes.

    Lives with the errors (not in `_retry`) because `AurikoError.retryable` asks it; `_retry` re-exports it.
    """
    if isinstance(err, StreamError):
        return False
    if isinstance(err, APIConnectionError):
        return err.transient
    if isinstance(err, APIStatusError) and err.status_code:
        if err.code in NON_RETRYABLE_CODES:
            return False
        if err.type in DOCUMENTED_TYPES:
            return err.type in RETRYABLE_TYPES
        return err.status_code == 429 or err.status_code >= 500  # an undocumented type: the status decides
    return False
