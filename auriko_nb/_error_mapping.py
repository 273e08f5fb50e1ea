"""Turn the gateway's error envelope (§8), or whatever came instead of it, into a typed error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from . import errors as E
from .headers import ResponseHeaders

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
    type_ = _str_or_none(inner.get("type"))
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
