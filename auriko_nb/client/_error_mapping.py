"""Turn the gateway's error envelope (§8), or whatever came instead of it, into a typed error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .. import errors as E
from .headers import ResponseHeaders

# The SDK's registry (auriko/errors/_registry.py, a mirror of the server's error_codes.json): (type, status) -> codes.
_REGISTRY_GROUPS: dict[tuple[str, int], tuple[str, ...]] = {
    ("authentication_error", 401): ("invalid_api_key", "expired_api_key", "invalid_recovery_code",
                                    "mfa_verification_failed"),
    ("permission_error", 403): ("insufficient_permissions", "feature_disabled", "mfa_required"),
    ("invalid_request_error", 400): (
        "invalid_request", "missing_required_parameter", "invalid_parameter_value", "context_length_exceeded",
        "content_filtered", "field_immutable", "operation_not_allowed", "unknown_field", "payment_declined",
        "payment_method_invalid", "tools_not_supported", "json_mode_not_supported", "structured_output_not_supported",
        "tools_with_structured_output_not_supported", "vision_not_supported", "reasoning_not_supported",
        "thinking_disable_not_supported", "streaming_not_supported", "non_streaming_not_supported", "batch_only",
        "tier_opt_in_required", "tool_choice_required_not_supported", "cost_constraint_exceeded",
        "latency_constraint_exceeded", "throughput_constraint_not_met", "provider_not_in_allowlist",
        "provider_blocked", "required_params_not_supported", "byok_keys_required", "platform_keys_unavailable",
        "unsupported_modalities", "no_compatible_endpoint", "no_responses_endpoint",
        "input_requires_responses_endpoint", "response_api_only", "hosted_tool_not_supported", "no_tools_on_endpoint"),
    ("invalid_request_error", 413): ("payload_too_large",),
    ("invalid_request_error", 409): ("idempotency_conflict", "idempotency_replay_unavailable",
                                     "state_precondition_failed", "duplicate_resource"),
    ("invalid_request_error", 405): ("method_not_allowed",),
    ("not_found_error", 404): ("model_not_found", "resource_not_found"),
    ("rate_limit_error", 429): ("rate_limit_exceeded", "budget_exhausted", "insufficient_quota"),
    ("api_error", 503): ("no_provider_available", "model_unavailable", "service_unavailable"),
    ("api_error", 502): ("upstream_error",),
    ("api_error", 504): ("upstream_timeout",),
    ("api_error", 500): ("internal_error",),
    ("api_error", 0): ("client_disconnected", "stream_duration_exceeded"),  # mid-stream only
}
CODE_REGISTRY: dict[str, tuple[str, int]] = {code: key for key, codes in _REGISTRY_GROUPS.items() for code in codes}
"""Error code -> (documented type, HTTP status), as the SDK's registry has them."""
ERROR_TYPES = frozenset({"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                         "rate_limit_error", "api_error"})

_BY_TYPE: dict[str, type[E.APIStatusError]] = {
    "invalid_request_error": E.BadRequestError,
    "authentication_error": E.AuthenticationError,
    "permission_error": E.PermissionDeniedError,
    "not_found_error": E.NotFoundError,
    "rate_limit_error": E.RateLimitError,
    "api_error": E.ServerError,
}
_BY_STATUS: dict[int, type[E.APIStatusError]] = {
    400: E.BadRequestError, 413: E.BadRequestError, 422: E.BadRequestError, 409: E.ConflictError,
    401: E.AuthenticationError, 403: E.PermissionDeniedError, 404: E.NotFoundError, 429: E.RateLimitError,
}
_TYPE_OF_CLASS = {
    E.BadRequestError: "invalid_request_error", E.ConflictError: "invalid_request_error",
    E.AuthenticationError: "authentication_error", E.PermissionDeniedError: "permission_error",
    E.NotFoundError: "not_found_error", E.RateLimitError: "rate_limit_error",
}


def _class_for(status: int, type_: str | None) -> type[E.APIStatusError]:
    if status == 409:
        return E.ConflictError
    if type_ in _BY_TYPE:
        return _BY_TYPE[type_]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return E.ServerError
    return E.APIStatusError


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _snippet(text: str, limit: int = 80) -> str:
    title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    s = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    s = " ".join(s.split())
    return s[:limit] + ("…" if len(s) > limit else "")


def error_from_envelope(payload: Mapping[str, Any], status: int, headers: ResponseHeaders | None = None,
                        attempts: int = 1, raw_headers: Mapping[str, str] | None = None) -> E.APIStatusError:
    """The typed error for an `{"error": {...}}` body (or a flat error event); unknown codes map by type/status."""
    h = headers or ResponseHeaders()
    inner = payload.get("error") if isinstance(payload.get("error"), Mapping) else payload
    assert isinstance(inner, Mapping)
    type_ = _str_or_none(inner.get("type")) or CODE_REGISTRY.get(str(inner.get("code")), (None, 0))[0]
    cls = _class_for(status, type_)
    return cls(
        _str_or_none(inner.get("message")) or f"HTTP {status} with no message",
        code=_str_or_none(inner.get("code")),
        status_code=status,
        type=type_ or _TYPE_OF_CLASS.get(cls, "api_error"),
        param=_str_or_none(inner.get("param")),
        provider=_str_or_none(inner.get("provider")) or h.error_provider,
        suggestion=_str_or_none(inner.get("suggestion")),
        doc_url=_str_or_none(inner.get("doc_url")),
        request_id=h.request_id,
        retry_after=h.retry_after,
        attempts=attempts,
        headers=raw_headers,
        body=dict(payload),
    )


def error_from_code(payload: Mapping[str, Any], headers: ResponseHeaders | None = None) -> E.APIStatusError:
    """The typed error for a flat Responses stream error event (§6.2): type and status from its code's registry entry.

    As the SDK's `map_error_from_code`: an unknown code is `api_error` with status 500.
    """
    nested = payload.get("error")
    inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else payload
    code = _str_or_none(inner.get("code"))
    given = _str_or_none(inner.get("type"))
    type_, status = CODE_REGISTRY.get(code or "", (given if given in ERROR_TYPES else "api_error", 500))
    message = inner.get("message") or (nested if isinstance(nested, str) else None)
    fields = {**inner, "type": type_, "message": message or "the stream sent an error event with no message"}
    return error_from_envelope({"error": fields}, status, headers)


def error_from_response(status: int, content: bytes, raw_headers: Mapping[str, str],
                        attempts: int = 1) -> E.APIStatusError:
    """The typed error for a non-2xx HTTP response, including non-JSON bodies (e.g. a proxy's HTML page)."""
    headers = ResponseHeaders.parse(raw_headers)
    try:
        payload = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        return error_from_envelope(payload, status, headers, attempts, raw_headers)
    ctype = raw_headers.get("content-type", "unknown content type").split(";")[0]
    text = content.decode("utf-8", "replace")
    what = f"a non-JSON body ({ctype}: {_snippet(text)!r})" if payload is None else "JSON that is not an error envelope"
    cls = _class_for(status, None)
    return cls(
        f"The gateway answered HTTP {status} with {what}; a proxy or load balancer may be in the way.",
        code="malformed_response",
        status_code=status,
        type="api_error" if status >= 500 or status == 0 else _TYPE_OF_CLASS.get(cls, "api_error"),
        provider=headers.error_provider,
        request_id=headers.request_id,
        retry_after=headers.retry_after,
        attempts=attempts,
        headers=raw_headers,
        body=text[:4096],
    )
