"""A Responses stream ends at its terminal event (`response.incomplete` included, §6.2), not at [DONE]: whatever
follows is not part of the answer, and the final response's status and usage are kept."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import HEADERS, KEY, Script, client_for, sse, sse_response

import auriko_nb as ak

USAGE = {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13, "input_tokens_details": {"cached_tokens": 2}}
RM = {"provider": "anthropic", "provider_model_id": "claude-haiku-4-5-20251001", "model_canonical": "claude-haiku-4-5",
      "routing_strategy": "cost-focus", "ttft_ms": 120.0, "cost": {"usd": 0.00004}}


def _events(terminal: str, status: str) -> list[dict[str, Any] | str]:
    final = {"id": "resp_1", "object": "response", "created_at": 1745100000, "model": "claude-haiku-4-5",
             "status": status, "output": [], "usage": USAGE, "routing_metadata": RM,
             "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None}
    return [
        {"type": "response.created", "sequence_number": 0, "response": {**final, "status": "in_progress", "usage": None}},
        {"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hel", "item_id": "m1",
         "output_index": 0, "content_index": 0},
        {"type": "response.output_text.delta", "sequence_number": 2, "delta": "lo", "item_id": "m1",
         "output_index": 0, "content_index": 0},
        {"type": terminal, "sequence_number": 3, "response": final},
    ]


AFTER = [  # what may follow the terminal event: more bytes, never part of the answer
    {"type": "response.output_text.delta", "sequence_number": 4, "delta": " TRAILING", "item_id": "m1",
     "output_index": 0, "content_index": 0},
    ": keep-alive\n\n",
]


def _client(body: bytes) -> Any:
    return client_for(Script(sse_response(body)), max_retries=0)


@pytest.mark.parametrize("tail", [[], AFTER], ids=["ends-there", "more-bytes"])
def test_incomplete_ends_the_stream_normally(tail: list[Any]) -> None:
    stream = _client(sse(*_events("response.incomplete", "incomplete"), *tail, done=False)).responses(
        "hi", model="claude-haiku-4-5", stream=True)
    deltas = list(stream)
    res = stream.result
    assert deltas == ["Hel", "lo"] and res.text == "Hello"
    assert res.response.status == "incomplete"
    assert res.response.incomplete_details == {"reason": "max_output_tokens"}
    assert (res.usage.input_tokens, res.usage.output_tokens, res.usage.total_tokens) == (9, 4, 13)
    assert res.cost_usd == 0.00004 and res.provider == "anthropic"
    row = res.to_record()
    assert row["status"] == "ok" and row["finish_reason"] == "incomplete"
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (9, 4, 0.00004)


@pytest.mark.parametrize(("terminal", "status"), [("response.completed", "completed"), ("response.failed", "failed")])
def test_every_terminal_event_ends_the_stream(terminal: str, status: str) -> None:
    res = _client(sse(*_events(terminal, status), *AFTER, done=False)).responses(
        "hi", model="claude-haiku-4-5", stream=True).result
    assert res.text == "Hello" and res.response.status == status and res.usage.total_tokens == 13


async def test_incomplete_ends_the_async_stream_normally() -> None:
    body = sse(*_events("response.incomplete", "incomplete"), *AFTER, done=False)
    async with ak.AsyncClient(api_key=KEY, base_url="http://gateway.test", max_retries=0,
                              transport=Script(sse_response(body)).transport) as client:
        stream = await client.responses("hi", model="claude-haiku-4-5", stream=True)
        deltas = [d async for d in stream]
        res = await stream.get_result()
    assert deltas == ["Hel", "lo"] and res.text == "Hello"
    assert res.response.status == "incomplete" and res.usage.output_tokens == 4
    assert res.request_id == HEADERS["x-request-id"]
