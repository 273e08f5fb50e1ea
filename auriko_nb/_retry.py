"""The retry rule and backoff of the official SDK (§9.2), with deliberate differences.

Unlike the SDK we do not retry an error body that is not a valid envelope on a 4xx status (the SDK makes it an
`api_error` `malformed_response` and retries it; we class it by status), nor an envelope whose code or type is
missing or unknown on a 4xx other than 429 (an undocumented type on a 429 or 5xx is classed by its status); nothing past the call's `deadline=`; and never a stream that had begun.
"""

from __future__ import annotations

import random

from .errors import APIConnectionError, APIStatusError, AurikoError, StreamError

NON_RETRYABLE_CODES = frozenset({
    "budget_exhausted", "insufficient_quota", "internal_error", "duplicate_resource", "field_immutable",
    "method_not_allowed", "operation_not_allowed", "state_precondition_failed",
})
RETRYABLE_TYPES = frozenset({"rate_limit_error", "api_error"})
DOCUMENTED_TYPES = RETRYABLE_TYPES | {"invalid_request_error", "authentication_error", "permission_error",
                                     "not_found_error"}


def is_retryable(err: AurikoError) -> bool:
    """True for connection failures and rate-limit/server errors other than the SDK's non-retryable codes."""
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


def backoff_delay(retry_index: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `retry_index` (0-based): jittered exponential, at least Retry-After."""
    jitter = (rng or random).uniform(0.8, 1.2)
    delay = min(0.5 * 1.5**retry_index, 30.0) * jitter
    if retry_after is not None and retry_after >= 0:
        delay = max(delay, retry_after)
    return delay
