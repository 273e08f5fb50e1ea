"""The record: one flat row per call, successes and failures alike (the design's record schema).

Never contains the API key: it is built only from the request context, the parsed response and the error.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from ..types.record_schema import (
    RECORD_COLUMNS as RECORD_COLUMNS,  # defined in types/record_schema.py; importable from here as before
)
from ..types.request import STRATEGIES

if TYPE_CHECKING:
    from ..errors import AurikoError

_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits of a 128-bit UUID
_UUID4_SET = (4 << 76) | (0x8000 << 48)  # version 4, RFC 4122 variant (as uuid.UUID(version=4) sets them)


class Answered(Protocol):
    """What `make_record` needs of a finished call (a `Result`): its response half of the row."""

    def record_fields(self) -> dict[str, Any]:
        """The record columns the response fills in (usage, routing, timings, warnings)."""
        ...

_PROMPT_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)  # json.dumps' encoder, built once


def prompt_id(messages: Any) -> str:
    """A short stable hash of the messages (or Responses input): equal prompts share an id."""
    return hashlib.sha256(_PROMPT_JSON.encode(messages).encode()).hexdigest()[:16]


def new_call_id() -> str:
    """A random UUID4 as 32 hex digits, as `uuid.uuid4().hex` gives (without building a UUID object)."""
    n = int.from_bytes(os.urandom(16), "big")
    return f"{n & _UUID4_CLEAR | _UUID4_SET:032x}"


def prompt_text(payload: Any) -> str | None:
    """The prompt as a person reads it: the last user message's text (or a Responses `input` string)."""
    if isinstance(payload, str):
        return payload
    if not isinstance(payload, list):
        return None
    for message in reversed(payload):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [str(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
                return "\n".join(parts) if parts else None
            return None
    return None


def requested_strategy(model: str | None, routing: dict[str, Any] | None) -> str | None:
    """The strategy the caller asked for: routing.optimize, 'custom' for weights, else a model-name suffix."""
    if routing:
        if routing.get("optimize"):
            return str(routing["optimize"])
        if routing.get("weights"):
            return "custom"
    if model and model.count(":") == 1:
        suffix = model.split(":", 1)[1]
        if suffix in STRATEGIES:
            return suffix
    return None


@dataclass
class CallContext:
    """What was asked, captured before sending, so every ending (ok, error, cancel) makes the same row."""

    endpoint: str
    model_requested: str | None
    routing: dict[str, Any] | None
    tags: list[str] | None
    trace_id: str | None
    prompt_id: str
    stream: bool
    source: str = "live"
    run_id: str | None = None
    cell: str | None = None
    prompt_text: str | None = None
    call_id: str = field(default_factory=new_call_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    watches: tuple[Any, ...] = field(default=(), repr=False, compare=False)
    """The call's observers' watches (client/observe.py); empty unless tracing is on."""

    def base_record(self) -> dict[str, Any]:
        """The request half of a record; the response or error half is filled in by `make_record`."""
        rec: dict[str, Any] = dict.fromkeys(RECORD_COLUMNS)
        rec.update(
            run_id=self.run_id, call_id=self.call_id, cell=self.cell, started_at=self.started_at.isoformat(),
            source=self.source, endpoint=self.endpoint, prompt_id=self.prompt_id,
            model_requested=self.model_requested,
            optimize=requested_strategy(self.model_requested, self.routing),
            routing=json.dumps(self.routing, sort_keys=True) if self.routing else None,
            tags=json.dumps(self.tags) if self.tags else None, trace_id=self.trace_id,
            stream=self.stream, warning_count=0, attempts=1, prompt_text=self.prompt_text,
        )
        return rec


def make_record(ctx: CallContext, result: Answered | None = None, error: AurikoError | None = None,
                status: str | None = None) -> dict[str, Any]:
    """One row for a finished call: from its result, or its error, or neither (a cancelled call)."""
    rec = ctx.base_record()
    if result is not None:
        rec.update(result.record_fields())
        rec["status"] = status or "ok"
    elif error is not None:
        partial = getattr(error, "result", None)
        if partial is not None:
            rec.update(partial.record_fields())
        rec.update(
            status=status or "error", error_code=error.code, error_type=error.type,
            error_message=str(error), http_status=error.status_code or None, attempts=error.attempts,
            request_id=error.request_id or rec.get("request_id"),
        )
        if error.headers.get("x-auriko-offline") or (partial is not None and partial.headers.offline):
            rec["source"] = "offline"
    else:
        rec["status"] = status or "cancelled"
    return rec


def cancelled_record(ctx: CallContext, exc: BaseException, **fields: Any) -> dict[str, Any]:
    """The row of a call that Ctrl-C (`interrupted`) or a task cancellation (`cancelled`) ended before it finished."""
    code = "interrupted" if isinstance(exc, KeyboardInterrupt) else "cancelled"
    rec = make_record(ctx, status="cancelled")
    rec.update(error_code=code, error_message=f"{code} before the call finished ({type(exc).__name__})", **fields)
    return rec
