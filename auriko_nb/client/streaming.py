"""Streamed calls: SSE decoding (httpx-sse), accumulation of deltas, and the stream objects.

The accumulators are pure (they take decoded `data:` payloads) so the sync and async streams share them.
Chunks are read as plain dicts on the hot path; only the final usage and routing metadata are validated.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from itertools import islice
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import EventSource, SSEError
from pydantic import ValidationError

from ..errors import AurikoError, MalformedResponseError, StreamError, stream_error_class
from ..types.chat import ChatCompletion
from ..types.responses import Response, ResponseUsage
from ..types.routing_metadata import client_warning
from . import observe
from ._closing import AsyncClosing, Closing
from ._error_mapping import error_from_code, error_from_envelope
from .headers import ResponseHeaders
from .records import CallContext, cancelled_record, make_record
from .result import Result

if TYPE_CHECKING:
    from ._deadline import Deadline
    from .base import BaseClient

DRAIN_EVENTS = 64  # after the end marker, read at most this many more events to reach the end of the body
TERMINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ChatAccumulator:
    """Builds a chat completion from `data:` payloads; keeps the last non-null usage and routing_metadata."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.first: dict[str, Any] = {}
        self.usage: Any = None
        self.routing_metadata: Any = None
        self.finish_reason: str | None = None
        self.role = "assistant"
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, data: str) -> str | None:
        """Take one payload; return the text delta it carries (None if none); raise StreamError on an error payload."""
        if data == "[DONE]":
            self.done = True
            return None
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            raise StreamError(f"the stream sent a data line that is not JSON: {data[:60]!r}",
                              code="malformed_chunk", partial_text=self.text) from None
        if not isinstance(chunk, dict):
            raise StreamError(f"the stream sent a JSON {type(chunk).__name__}, not a chunk object",
                              code="malformed_chunk", partial_text=self.text)
        if isinstance(chunk.get("error"), dict) or (isinstance(chunk.get("error"), str) and chunk["error"]):
            raise _stream_error(chunk, self.text)
        try:
            return self._take(chunk)
        except (AttributeError, TypeError, ValueError) as e:
            raise _shape_error(e, self.text) from None

    def _take(self, chunk: dict[str, Any]) -> str | None:
        if not self.first:
            self.first = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if chunk.get("usage") is not None:
            self.usage = chunk["usage"]
        if chunk.get("routing_metadata") is not None:
            self.routing_metadata = chunk["routing_metadata"]
        out: str | None = None
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if choice.get("finish_reason"):
                self.finish_reason = _str(choice["finish_reason"], "finish_reason")
            if delta.get("role"):
                self.role = _str(delta["role"], "delta.role")
            content = delta.get("content")
            if content:
                self.parts.append(_str(content, "delta.content"))
                out = content
            if delta.get("reasoning_content"):
                self.reasoning.append(_str(delta["reasoning_content"], "delta.reasoning_content"))
                out = out or ""
            for tc in delta.get("tool_calls") or ():
                fn = tc.get("function") or {}
                args = _str(fn.get("arguments") or "", "function.arguments")
                slot = self.tool_calls.setdefault(tc.get("index", 0), {"id": None, "type": "function",
                                                                      "function": {"name": None, "arguments": ""}})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                if fn.get("name"):
                    slot["function"]["name"] = fn["name"]
                slot["function"]["arguments"] += args
                out = out or ""
        return out

    @property
    def tail_arrived(self) -> bool:
        """Usage and routing_metadata (sent last, just before [DONE]) have both arrived."""
        return self.usage is not None and self.routing_metadata is not None

    def final(self) -> ChatCompletion:
        message: dict[str, Any] = {"role": self.role, "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        return ChatCompletion.model_validate({
            **{k: v for k, v in self.first.items() if v is not None},
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage, "routing_metadata": self.routing_metadata,
        })


class ResponsesAccumulator:
    """Builds a Responses object from stream events; the terminal event carries the full response."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.response: dict[str, Any] | None = None
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, data: str) -> str | None:
        """Take one event payload; return its text delta, if any."""
        if data == "[DONE]":
            self.done = self.done or self.response is not None
            return None
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            raise StreamError(f"the stream sent an event that is not JSON: {data[:60]!r}",
                              code="malformed_chunk", partial_text=self.text) from None
        if not isinstance(event, dict):
            raise StreamError("the stream sent an event that is not an object", code="malformed_chunk",
                              partial_text=self.text)
        try:
            return self._take(event)
        except (AttributeError, TypeError, ValueError) as e:
            raise _shape_error(e, self.text) from None

    def _take(self, event: dict[str, Any]) -> str | None:
        etype = event.get("type")
        if etype == "error":  # the flat event of §6.2: type and status come from its code, as in the SDK
            raise _stream_error(event, self.text, flat=True)
        if etype is None and isinstance(event.get("error"), dict):
            raise _stream_error(event, self.text)
        if etype == "response.output_text.delta":
            delta = event.get("delta") or ""
            if not isinstance(delta, str):
                raise _shape_error(TypeError(f"delta is not a string but {type(delta).__name__}"), self.text)
            self.parts.append(delta)
            return delta
        if etype in TERMINAL_RESPONSE_EVENTS:
            response = event.get("response") or {}
            if not isinstance(response, dict):
                raise _shape_error(TypeError(f"response is not an object but {type(response).__name__}"), self.text)
            self.response = response
            self.done = True
        return None

    tail_arrived = False  # the terminal event carries usage and metadata: without it there is neither

    def final(self) -> Response:
        data = dict(self.response or {})
        if not data.get("output_text"):
            data["output_text"] = self.text
        if data.get("usage") is not None:
            data["usage"] = ResponseUsage.model_validate(data["usage"])
        return Response.model_validate(data)


def _str(value: Any, field: str) -> str:
    """`value` if it is a string; else the TypeError that `_shape_error` turns into a StreamError."""
    if not isinstance(value, str):
        raise TypeError(f"{field} is not a string but {type(value).__name__}")
    return value


def _shape_error(exc: BaseException, partial: str) -> StreamError:
    """A chunk or event that is JSON but not of the documented shape."""
    detail = _one_line_validation(exc) if isinstance(exc, ValidationError) else f"{exc}"
    return StreamError(f"the stream sent a chunk of the wrong shape ({detail[:120]})", code="malformed_chunk",
                       partial_text=partial)


def _one_line_validation(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def _stream_error(payload: dict[str, Any], partial: str, flat: bool = False) -> StreamError:
    """The error an error payload mid-stream stands for: a StreamError (keeping the text received so far) that is
    also the registry's class (`RateLimitError`, ...). A chat envelope keeps status 200, as in the SDK; a flat
    Responses error event takes type and status from its code."""
    if isinstance(payload.get("error"), str) and not flat:
        payload = {"error": {"message": payload["error"]}}  # `{"error": "text"}`: the text is the message
    inner = error_from_code(payload) if flat else error_from_envelope(payload, 200)
    cls = stream_error_class(type(inner))
    return cls(inner.message, partial_text=partial, code=inner.code or "stream_error", type=inner.type,
               status_code=inner.status_code, param=inner.param, provider=inner.provider,
               suggestion=inner.suggestion, doc_url=inner.doc_url, body=dict(payload))


def _transport_stream_error(exc: Exception, partial: str) -> StreamError:
    if isinstance(exc, httpx.DecodingError):
        return StreamError(f"the stream could not be decoded ({exc})", code="malformed_chunk", partial_text=partial)
    if isinstance(exc, httpx.TimeoutException):
        return StreamError("the stream stalled past the client's timeout", code="stream_timeout",
                           partial_text=partial)
    return StreamError(f"the connection dropped mid-stream ({type(exc).__name__})", code="stream_interrupted",
                       partial_text=partial)


class _StreamBase:
    """State and result-building shared by the sync and async stream objects."""

    def __init__(self, client: BaseClient, response: httpx.Response, context: CallContext, attempts: int,
                 sent_at: float, deadline: Deadline | None = None, headers_ms: float | None = None) -> None:
        self._client = client
        self._deadline = deadline
        self._response = response
        self.context = context
        self.attempts = attempts
        self._sent_at = sent_at
        self.headers_ms = headers_ms  # sending to the response headers
        self.ttft_ms: float | None = None
        self.headers = ResponseHeaders.parse(response.headers)
        client.last_headers = self.headers
        self._acc: ChatAccumulator | ResponsesAccumulator = (
            ChatAccumulator() if context.endpoint == "chat.completions" else ResponsesAccumulator())
        self._result: Result | None = None
        self._error: AurikoError | None = None
        self._started = False
        self._cancelled = False

    @property
    def request_id(self) -> str | None:
        """X-Request-ID, known as soon as the stream opens."""
        return self.headers.request_id

    @property
    def text_so_far(self) -> str:
        """The text received until now."""
        return self._acc.text

    @property
    def finished(self) -> bool:
        """True once the stream ended with a complete Result (False while open, and after a failure)."""
        return self._result is not None

    def _check_content_type(self) -> None:
        ctype = self._response.headers.get("content-type", "")
        if "text/event-stream" not in ctype:
            raise MalformedResponseError(
                f"asked for a stream but the gateway answered {ctype or 'no content type'}",
                request_id=self.headers.request_id, status_code=self._response.status_code)

    def _on_payload(self, data: str) -> str | None:
        if not data:  # comment-only or field-only events carry no data: nothing to dispatch (W3C rule)
            return None
        delta = self._acc.feed(data)
        if delta is not None and self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self._sent_at) * 1000
            if self.context.watches:
                observe.first_token(self.context.watches)
        return delta

    def _finish(self) -> Result:
        latency = (time.perf_counter() - self._sent_at) * 1000
        notes: list[dict[str, str]] = []
        if not self._acc.done:  # the deadline's hang-up can end a read-to-close body early: say so
            late = self._deadline_error()
            if late is not None or not self._acc.tail_arrived:
                raise late or StreamError(
                    "the stream ended before its end marker ([DONE] or a terminal event)", code="stream_incomplete",
                    partial_text=self._acc.text)
            notes.append(client_warning(  # as the SDK: the answer, usage and cost arrived; keep them
                "stream_incomplete", "the stream ended without [DONE] after its usage and routing_metadata"))
        try:
            final = self._acc.final()
        except (ValidationError, TypeError, ValueError) as e:
            raise _shape_error(e, self._acc.text) from None
        self._result = Result(text=self._acc.text, response=final, routing_metadata=final.routing_metadata,
                              headers=self.headers, ttft_ms=self.ttft_ms, latency_ms=latency,
                              attempts=self.attempts, context=self.context, headers_ms=self.headers_ms,
                              client_warnings=notes)
        if self._client.record_hooks:
            self._emit(self._result.to_record(), self._result)
        elif self.context.watches:  # tracing alone: the span needs the row's numbers, not the row
            observe.end_ok(self.context, self._result)
        return self._result

    def _deadline_error(self) -> StreamError | None:
        """The error to raise if the call's deadline has passed, else None."""
        if self._deadline is not None and self._deadline.passed:
            return self._deadline.stream_error(self._acc.text)
        return None

    def _stream_error(self, exc: Exception) -> StreamError:
        """The error for a transport failure mid-stream: the deadline's, if it is what cut the stream."""
        return self._deadline_error() or _transport_stream_error(exc, self._acc.text)

    def _fail(self, err: AurikoError) -> AurikoError:
        err.attempts = self.attempts
        err.request_id = err.request_id or self.headers.request_id
        if self.headers.offline:
            err.headers.setdefault("x-auriko-offline", "simulation")
        self._error = err
        if self._client.record_hooks or self.context.watches:
            rec = make_record(self.context, error=err)
            rec.update(ttft_ms_client=self.ttft_ms, headers_ms_client=self.headers_ms,
                       request_id=self.headers.request_id)
            self._emit(rec)
        return err

    def _cancel(self, exc: BaseException) -> None:
        """Ctrl-C, a task cancellation or an abandoned iteration ended the stream: record it once as cancelled."""
        if self._result is None and self._error is None and not self._cancelled:
            self._cancelled = True
            if self._client.record_hooks or self.context.watches:  # never raises: the interrupt wins
                with suppress(Exception):
                    self._emit(cancelled_record(self.context, exc, ttft_ms_client=self.ttft_ms,
                                                headers_ms_client=self.headers_ms, attempts=self.attempts,
                                                request_id=self.headers.request_id))

    def _emit(self, record: dict[str, Any], result: Result | None = None) -> None:
        if self.context.watches:  # the call's span ends at its last byte, before the hooks run
            observe.end(self.context, record, result)
        for hook in self._client.record_hooks:
            hook(record)

    def _closed_unread(self) -> None:
        """`close()` before the stream finished: its span ends as cancelled (no record: none is written)."""
        if self.context.watches and self._result is None and self._error is None:
            observe.end(self.context, cancelled_record(self.context, GeneratorExit(), ttft_ms_client=self.ttft_ms,
                                                       headers_ms_client=self.headers_ms, attempts=self.attempts,
                                                       request_id=self.headers.request_id))

    def _check_reuse(self) -> bool:
        if self._error is not None:
            raise self._error
        if self._started:
            if self._result is None:
                raise RuntimeError("this stream is already being iterated")
            return True
        self._started = True
        return False

    def __repr__(self) -> str:
        state = "done" if self._result else "failed" if self._error else "open"
        return f"<{type(self).__name__} {self.context.endpoint} {state} request_id={self.request_id}>"


class ChatStream(_StreamBase, Closing):
    """A streamed call: iterate for text deltas as they arrive; then `.result` (or `.text`) is the full Result."""

    def __iter__(self) -> Iterator[str]:
        if self._check_reuse():
            return
        events: Any = None
        try:
            self._check_content_type()
            events = EventSource(self._response).iter_sse()
            for sse in events:
                delta = self._on_payload(sse.data)
                if delta:
                    yield delta
                if self._acc.done:
                    break
                if (late := self._deadline_error()) is not None:
                    raise late
            self._finish()
            with suppress(httpx.TransportError, httpx.DecodingError, SSEError):
                for _ in islice(events, DRAIN_EVENTS):  # read to the end of the body: the connection is reused
                    pass
        except AurikoError as e:
            raise self._fail(e) from None
        except (httpx.TransportError, httpx.DecodingError, SSEError) as e:
            raise self._fail(self._stream_error(e)) from None
        except (KeyboardInterrupt, GeneratorExit) as e:
            self._cancel(e)
            raise
        finally:
            if events is not None:  # closed here, not left to the garbage collector
                with suppress(Exception):
                    events.close()
            self._response.close()
            if self._deadline is not None:
                self._deadline.disarm()

    @property
    def result(self) -> Result:
        """The complete Result; consumes the rest of the stream if needed."""
        if self._result is None:
            for _ in self:
                pass
        assert self._result is not None
        return self._result

    @property
    def text(self) -> str:
        """The full answer (consumes the stream)."""
        return self.result.text

    def close(self) -> None:
        """Close the connection without reading the rest."""
        self._response.close()
        self._closed_unread()


class AsyncChatStream(_StreamBase, AsyncClosing):
    """The async twin of `ChatStream`: `async for delta in stream`, then `await stream.get_result()`."""

    async def __aiter__(self) -> AsyncIterator[str]:
        if self._check_reuse():
            return
        events: Any = None
        try:
            self._check_content_type()
            events = EventSource(self._response).aiter_sse()
            async for sse in events:
                delta = self._on_payload(sse.data)
                if delta:
                    yield delta
                if self._acc.done:
                    break
                if (late := self._deadline_error()) is not None:
                    raise late
            self._finish()
            with suppress(httpx.TransportError, httpx.DecodingError, SSEError):
                n = 0
                async for _ in events:  # read to the end of the body: the connection is reused
                    n += 1
                    if n >= DRAIN_EVENTS:
                        break
        except AurikoError as e:
            raise self._fail(e) from None
        except (httpx.TransportError, httpx.DecodingError, SSEError) as e:
            raise self._fail(self._stream_error(e)) from None
        except (KeyboardInterrupt, asyncio.CancelledError, GeneratorExit) as e:
            self._cancel(e)
            raise
        finally:
            if events is not None:  # closed here, on this task, not by the garbage collector on some other loop
                with suppress(Exception):
                    await events.aclose()
            await self._response.aclose()
            if self._deadline is not None:
                self._deadline.disarm()

    async def get_result(self) -> Result:
        """The complete Result; consumes the rest of the stream if needed."""
        if self._result is None:
            async for _ in self:
                pass
        assert self._result is not None
        return self._result

    @property
    def result(self) -> Result:
        """The Result of a stream that has been fully iterated."""
        if self._result is None:
            raise RuntimeError("the stream has not finished: iterate it or await get_result()")
        return self._result

    async def aclose(self) -> None:
        """Close the connection without reading the rest."""
        await self._response.aclose()
        self._closed_unread()
