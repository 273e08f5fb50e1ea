"""The backoff of the official SDK (§9.2); the retry rule `is_retryable` lives in errors.py, re-exported here.

Unlike the SDK the rule does do not retry an error body that is not a valid envelope on a 4xx status (the SDK makes it an
`api_error` `malformed_response` and retries it; we class it by status), nor an envelope whose code or type is
missing or unknown on a 4xx other than 429 (an undocumented type on a 429 or 5xx is classed by its status); nothing past the call's `deadline=`; and never a stream that had begun.
"""

from __future__ import annotations

import random

from ..errors import DOCUMENTED_TYPES, NON_RETRYABLE_CODES, RETRYABLE_TYPES, is_retryable

__all__ = ["backoff_delay", "is_retryable", "NON_RETRYABLE_CODES", "RETRYABLE_TYPES", "DOCUMENTED_TYPES"]


def backoff_delay(retry_index: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `retry_index` (0-based): jittered exponential, at least Retry-After."""
    jitter = (rng or random).uniform(0.8, 1.2)
    delay = min(0.5 * 1.5**retry_index, 30.0) * jitter
    if retry_after is not None and retry_after >= 0:
        delay = max(delay, retry_after)
    return delay
