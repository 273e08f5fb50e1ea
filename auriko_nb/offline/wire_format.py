"""Wire formats of a Completion: chat and Responses JSON bodies, and their SSE events with send offsets.

The parts that carry `routing_metadata` are serialized when they are sent (`Part.make_late`), so the `ttft_ms` they
report is the TTFT the gateway really applied, not the planned one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .completion import Completion
from .envelope import dumps

__all__ = ["Part", "chat_body", "chat_events", "responses_body", "responses_events", "sse", "SSE_DONE"]

SSE_DONE = b"data: [DONE]\n\n"
FINGERPRINT = "fp_offline_sim"


@dataclass(frozen=True, slots=True)
class Part:
    """One chunk of a response body and when it leaves (seconds after arrival); `content` marks text deltas.

    With `make_late`, the bytes are made when the part is sent, by `make_late(late_s)`: `late_s` is how many seconds
    after its planned offset the first content part went out (0.0 if none went out before), and `data` is unused.
    """

    offset: float
    data: bytes
    content: bool = False
    make_late: Callable[[float], bytes] | None = None


def sse(obj: Any) -> bytes:
    """One SSE event carrying a JSON payload."""
    return b"data: " + dumps(obj) + b"\n\n"


def _chat_usage(c: Completion) -> dict[str, Any]:
    return {
        "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": c.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _finish(c: Completion) -> str:
    return "length" if c.truncated else "stop"


def chat_body(c: Completion, late_s: float = 0.0) -> dict[str, Any]:
    """The non-streamed chat.completion object (§2.2); `late_s` as in `Completion.routing_metadata`."""
    return {
        "id": "chatcmpl-" + c.hex, "object": "chat.completion", "created": c.created,
        "model": c.cand.offer.provider_model_id,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text, "refusal": None},
                     "logprobs": None, "finish_reason": _finish(c)}],
        "usage": _chat_usage(c), "system_fingerprint": FINGERPRINT, "routing_metadata": c.routing_metadata(late_s),
    }


def chat_events(c: Completion) -> list[Part]:
    """Chat SSE (§6.1): role + first delta together, paced deltas, finish chunk, usage+metadata chunk, [DONE]."""
    head = (f'data: {{"id":"chatcmpl-{c.hex}","object":"chat.completion.chunk","created":{c.created},'
            f'"model":{json.dumps(c.cand.offer.provider_model_id)},"system_fingerprint":"{FINGERPRINT}","choices":')
    offsets = c.piece_offsets
    parts = []
    for i, (piece, at) in enumerate(zip(c.pieces, offsets, strict=True)):
        delta = ('{"role":"assistant","content":' if i == 0 else '{"content":') + json.dumps(piece) + "}"
        parts.append(Part(at, (head + f'[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":null}}]}}\n\n')
                          .encode(), content=True))
    end = offsets[-1]
    parts.append(Part(end, (head + f'[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"{_finish(c)}"}}]}}\n\n')
                      .encode()))
    prefix = (head + "[],").encode()
    usage = _chat_usage(c)

    def tail(late_s: float) -> bytes:  # the usage + routing_metadata chunk, with the TTFT really applied
        return prefix + dumps({"usage": usage, "routing_metadata": c.routing_metadata(late_s)})[1:] + b"\n\n"

    parts.append(Part(end, b"", make_late=tail))
    parts.append(Part(end, SSE_DONE))
    return parts


def _responses_usage(c: Completion) -> dict[str, Any]:
    return {
        "input_tokens": c.prompt_tokens, "input_tokens_details": {"cached_tokens": c.cached_tokens},
        "output_tokens": c.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    }


def _message_item(c: Completion, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status != "in_progress" else []
    return {"type": "message", "id": "msg_" + c.hex, "role": "assistant", "status": status, "content": content}


def responses_body(c: Completion, request: dict[str, Any], *, final: bool = True, late_s: float = 0.0) -> dict[str, Any]:
    """The Response object (§2.3): complete (or the in-progress skeleton sent first in a stream).

    `late_s` as in `Completion.routing_metadata`."""
    status = ("incomplete" if c.truncated else "completed") if final else "in_progress"
    return {
        "id": "resp_" + c.hex, "object": "response", "created_at": c.created, "status": status,
        "completed_at": c.created if final else None, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if final and c.truncated else None,
        "instructions": request.get("instructions"), "max_output_tokens": request.get("max_output_tokens"),
        "model": c.cand.offer.provider_model_id,
        "output": [_message_item(c, c.text, "incomplete" if c.truncated else "completed")] if final else [],
        "output_text": c.text if final else "",
        "parallel_tool_calls": request.get("parallel_tool_calls", True), "reasoning": request.get("reasoning"),
        "store": False, "temperature": request.get("temperature"), "text": request.get("text"),
        "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools", []),
        "top_p": request.get("top_p"), "truncation": request.get("truncation", "disabled"),
        "metadata": request.get("metadata") or {},
        "usage": _responses_usage(c) if final else None,
        "routing_metadata": c.routing_metadata(late_s) if final else None,
    }


def responses_events(c: Completion, request: dict[str, Any]) -> list[Part]:
    """Responses SSE (§6.2): created, in_progress, item/part added, paced deltas, done events, terminal event."""
    seq = iter(range(1_000_000))
    skeleton = responses_body(c, request, final=False)
    item_id = "msg_" + c.hex
    loc = {"item_id": item_id, "output_index": 0, "content_index": 0}
    offsets = c.piece_offsets
    first, end = offsets[0], offsets[-1]
    parts = [
        Part(0.0, sse({"type": "response.created", "sequence_number": next(seq), "response": skeleton})),
        Part(0.0, sse({"type": "response.in_progress", "sequence_number": next(seq), "response": skeleton})),
        Part(first, sse({"type": "response.output_item.added", "sequence_number": next(seq), "output_index": 0,
                         "item": _message_item(c, "", "in_progress")})),
        Part(first, sse({"type": "response.content_part.added", "sequence_number": next(seq), **loc,
                         "part": {"type": "output_text", "text": "", "annotations": []}})),
    ]
    for piece, at in zip(c.pieces, offsets, strict=True):
        parts.append(Part(at, sse({"type": "response.output_text.delta", "sequence_number": next(seq), **loc,
                                   "delta": piece, "logprobs": []}), content=True))
    status = "incomplete" if c.truncated else "completed"
    done_part = {"type": "output_text", "text": c.text, "annotations": [], "logprobs": []}
    parts += [
        Part(end, sse({"type": "response.output_text.done", "sequence_number": next(seq), **loc, "text": c.text,
                       "logprobs": []})),
        Part(end, sse({"type": "response.content_part.done", "sequence_number": next(seq), **loc, "part": done_part})),
        Part(end, sse({"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0,
                       "item": _message_item(c, c.text, status)})),
    ]
    terminal = {"type": "response.incomplete" if c.truncated else "response.completed", "sequence_number": next(seq)}

    def final(late_s: float) -> bytes:  # the terminal event, its routing_metadata with the TTFT really applied
        return sse({**terminal, "response": responses_body(c, request, late_s=late_s)})

    parts.append(Part(end, b"", make_late=final))
    return parts
