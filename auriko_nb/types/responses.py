"""Responses API models (§2.3, §6.2): the response object, its usage and stream events."""

from __future__ import annotations

from typing import Any

from ._base import OpenModel
from .routing_metadata import LenientRoutingMetadata


class ResponseUsage(OpenModel):
    """Token counts of one Responses API call."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None

    @property
    def cached_tokens(self) -> int:
        """Input tokens served from cache (0 when not reported)."""
        try:
            return int((self.input_tokens_details or {}).get("cached_tokens") or 0)
        except (TypeError, ValueError, OverflowError):  # a value that is not a count
            return 0


class ResponseError(OpenModel):
    """The error of a failed response."""

    code: str | None = None
    message: str = ""
    type: str | None = None
    param: str | None = None
    provider: str | None = None
    suggestion: str | None = None


class Response(OpenModel):
    """A Responses API object; output items are kept as dicts (unknown item types pass through)."""

    id: str = ""
    object: str = "response"
    created_at: int = 0
    model: str = ""
    status: str | None = None
    output: list[dict[str, Any]] = []
    output_text: str = ""
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: dict[str, Any] | None = None
    routing_metadata: LenientRoutingMetadata = None

    @property
    def text(self) -> str:
        """`output_text`, or the concatenated output_text parts of message items."""
        if self.output_text:
            return self.output_text
        parts = []
        for item in self.output:
            if item.get("type") == "message":
                for c in item.get("content") or []:
                    if isinstance(c, dict) and c.get("type") == "output_text" and isinstance(c.get("text"), str):
                        parts.append(c["text"])
        return "".join(parts)


class ResponseEvent(OpenModel):
    """One Responses stream event; unknown event types are kept, not rejected."""

    type: str
    sequence_number: int | None = None
    delta: str | None = None
    response: Response | None = None
