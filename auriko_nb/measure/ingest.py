"""`record()`: turn a response made with the `openai` SDK or the official `auriko` SDK into a ledger row.

Users with existing code on those SDKs can still collect and compare: `routing_metadata` is read from the
pydantic model's extra fields (openai) or its attribute (auriko).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..client._body import Sent, check_extra_body, merge_gateway, sent_fields
from ..client.headers import ResponseHeaders
from ..client.records import CallContext, prompt_id, prompt_text
from ..client.result import Result
from ..errors import RequestValidationError
from ..types.chat import ChatCompletion
from ..types.responses import Response

_DEFAULT: Any = object()


def _as_dict(response: Any) -> dict[str, Any]:
    if isinstance(response, Mapping):
        return dict(response)
    if hasattr(response, "model_dump"):
        data = response.model_dump(mode="json")
        extra = getattr(response, "model_extra", None) or {}
        for k, v in extra.items():
            data.setdefault(k, v.model_dump(mode="json") if hasattr(v, "model_dump") else v)
        rm = getattr(response, "routing_metadata", None)
        if rm is not None and data.get("routing_metadata") is None:
            data["routing_metadata"] = rm.model_dump(mode="json") if hasattr(rm, "model_dump") else rm
        return data
    raise TypeError(f"record() takes a chat completion or Responses object (openai or auriko SDK) or a dict, "
                    f"not {type(response).__name__}; for a stream, pass the final chunk's data or use ak.Client")


def _sent(model_requested: str | None, routing: Mapping[str, Any] | None, extra_body: Any) -> Sent:
    """The request fields the row shows, from the caller's arguments and the `extra_body` they sent (as the client
    merges them: `routing=` and `extra_body["gateway"]["routing"]` field by field, a different value twice refused)."""
    extra = check_extra_body(extra_body) or {}
    gw = merge_gateway({"routing": dict(routing)} if routing else None, {"routing": "routing="}, extra.get("gateway"))
    model = model_requested if model_requested is not None else extra.get("model")
    if model_requested is not None and extra.get("model") not in (None, model_requested):
        raise RequestValidationError(f"model given twice: model_requested= says {model_requested!r}, "
                                     f'extra_body["model"] says {extra["model"]!r}', param="model")
    return sent_fields({"model": model, "gateway": gw})


def _request_id(response: Any) -> str | None:
    rid = getattr(response, "_request_id", None)
    if isinstance(rid, str):
        return rid
    headers = getattr(response, "_response_headers", None)
    return getattr(headers, "request_id", None) if headers is not None else None


def record(response: Any, *, prompt: str | Sequence[Mapping[str, Any]] | None = None,
           model_requested: str | None = None, routing: Mapping[str, Any] | None = None,
           extra_body: Mapping[str, Any] | None = None, latency_ms: float | None = None, ttft_ms: float | None = None,
           run_id: str | None = None, source: str = "live", ledger: Any = _DEFAULT) -> dict[str, Any]:
    """A record (ledger row) for a response made elsewhere; appended to the session ledger unless `ledger=None`.

    Pass what you asked for: `model_requested=` (else `extra_body["model"]` or its `gateway.models`; never the
    response's provider model id, so it stays empty when unknown), and `routing=` and/or the `extra_body` you sent
    (its `gateway.routing` gives `optimize`, its `gateway.metadata` the tags and trace_id; a field given in both
    with different values is a `RequestValidationError`).
    """
    data = _as_dict(response)
    is_responses = data.get("object") == "response"
    parsed: ChatCompletion | Response = (Response.model_validate(data) if is_responses
                                         else ChatCompletion.model_validate(data))
    sent = _sent(model_requested, routing, extra_body)
    messages: Any = prompt if prompt is not None else ""
    if isinstance(prompt, str) and not is_responses:
        messages = [{"role": "user", "content": prompt}]
    ctx = CallContext(endpoint="responses" if is_responses else "chat.completions",
                      model_requested=sent.model_requested, routing=sent.routing, tags=sent.tags,
                      trace_id=sent.trace_id, prompt_id=prompt_id(messages), stream=ttft_ms is not None, source=source,
                      run_id=run_id, prompt_text=prompt_text(messages))
    res = Result(text=parsed.text, response=parsed, routing_metadata=parsed.routing_metadata,
                 headers=ResponseHeaders(request_id=_request_id(response), offline=source == "offline"),
                 ttft_ms=ttft_ms, latency_ms=latency_ms, attempts=1, context=ctx)
    row = res.to_record()
    from .ledger import Ledger, session_ledger

    target = session_ledger() if ledger is _DEFAULT else ledger
    if isinstance(target, Ledger):
        target.append(row)
    elif target is not None:
        Ledger(target).append(row)
    return row
