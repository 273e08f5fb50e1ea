"""Error envelopes (§8.1): the exception routes raise and the JSON response with the documented headers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

__all__ = ["GatewayError", "error_response", "error_payload", "dumps", "json_response", "CODE_STATUS", "NOT_RETRYABLE",
           "retry_after", "seconds_text"]

# §8.3: code -> (HTTP status, error type). Codes not listed default to 400 invalid_request_error.
CODE_STATUS: Mapping[str, tuple[int, str]] = {
    "invalid_api_key": (401, "authentication_error"),
    "insufficient_permissions": (403, "permission_error"),
    "model_not_found": (404, "not_found_error"),
    "resource_not_found": (404, "not_found_error"),
    "method_not_allowed": (405, "invalid_request_error"),
    "payload_too_large": (413, "invalid_request_error"),
    "rate_limit_exceeded": (429, "rate_limit_error"),
    "insufficient_quota": (429, "rate_limit_error"),
    "budget_exhausted": (429, "rate_limit_error"),
    "internal_error": (500, "api_error"),
    "upstream_error": (502, "api_error"),
    "no_provider_available": (503, "api_error"),
    "service_unavailable": (503, "api_error"),
    "model_unavailable": (503, "api_error"),
    "upstream_timeout": (504, "api_error"),
}
# §9.2: codes of a retryable type that the SDK still does not retry; X-Error-Retryable is "false" on them.
NOT_RETRYABLE = frozenset({"budget_exhausted", "insufficient_quota", "internal_error", "duplicate_resource",
                           "field_immutable", "method_not_allowed", "operation_not_allowed",
                           "state_precondition_failed"})
_ERROR_CATEGORY = {
    "invalid_request_error": "invalid_request", "authentication_error": "authentication",
    "permission_error": "permission", "not_found_error": "not_found", "rate_limit_error": "rate_limit",
    "api_error": "server_error",
}


def retry_after(seconds: float) -> str:
    """A `Retry-After` value as servers send it: whole seconds, rounded up (0.05 s -> "1")."""
    return str(max(0, math.ceil(round(seconds, 6))))


def seconds_text(value: str) -> str:
    """A Retry-After value in words for error messages: "1 second", "12 seconds"."""
    return f"{value} second" + ("" if value == "1" else "s")


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (the one encoder every route uses)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with compact encoding."""
    return Response(dumps(obj), status_code=status, headers=dict(headers or {}), media_type="application/json")


class GatewayError(Exception):
    """A documented gateway error; routes raise it and the app turns it into an envelope response."""

    def __init__(self, code: str, message: str, *, param: str | None = None, provider: str | None = None,
                 suggestion: str | None = None, status: int | None = None, type: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        default_status, default_type = CODE_STATUS.get(code, (400, "invalid_request_error"))
        self.code = code
        self.message = message
        self.param = param
        self.provider = provider
        self.suggestion = suggestion
        self.status = status or default_status
        self.type = type or default_type
        self.headers = dict(headers or {})
        super().__init__(message)

    def payload(self) -> dict[str, Any]:
        """The inner error object of the envelope."""
        return error_payload(self.type, self.code, self.message, param=self.param, provider=self.provider,
                             suggestion=self.suggestion)


def error_payload(type_: str, code: str, message: str, *, param: str | None = None, provider: str | None = None,
                  suggestion: str | None = None) -> dict[str, Any]:
    """The flat §8.1 error object: message, type, code, param, doc_url, provider, suggestion."""
    out: dict[str, Any] = {"message": message, "type": type_, "code": code, "param": param,
                           "doc_url": f"https://docs.auriko.ai/errors/{code}", "provider": provider}
    if suggestion:
        out["suggestion"] = suggestion
    return out


def error_response(err: GatewayError, extra_headers: Mapping[str, str] | None = None) -> Response:
    """The envelope response: JSON body, charset content type, X-Error-* and Retry-After headers."""
    retryable = err.type in ("rate_limit_error", "api_error") and err.code not in NOT_RETRYABLE
    headers = {
        "content-type": "application/json; charset=utf-8",
        "x-error-retryable": "true" if retryable else "false",
        "x-error-type": "timeout" if err.code == "upstream_timeout" else _ERROR_CATEGORY.get(err.type, err.type),
    }
    if err.provider:
        headers["x-error-provider"] = err.provider
    headers.update(extra_headers or {})
    headers.update(err.headers)
    return Response(dumps({"error": err.payload()}), status_code=err.status, headers=headers)
