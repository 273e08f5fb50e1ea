"""The inference endpoints: auth, validation, admission, faults, routing, then a timed answer or error."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .completion import Completion, build_completion
from .emit import Emission, TimedResponse
from .envelope import GatewayError, dumps, error_payload, error_response, retry_after, seconds_text
from .faults import FAULT_HEADER, Fault
from .router import pick, plan_route
from .state import SimState
from .validate import InferenceRequest, parse_chat, parse_responses
from .wire_format import Part, chat_body, chat_events, responses_body, responses_events, sse

__all__ = ["handle_inference", "check_api_key", "HTML_ERROR_PAGE"]

FEW_CHUNKS = 3  # content chunks sent before a mid-stream fault
HTML_ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad "
                   b"Gateway</h1></center><hr><center>offline-sim-proxy</center></body></html>\n")


def check_api_key(request: Request) -> str:
    """The bearer API key, or a 401 when it is missing or not an `ak_` key."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith("ak_") or len(token) < 4:
        raise GatewayError("invalid_api_key",
                           "Invalid or missing API key. Send 'Authorization: Bearer ak_...'." if not token else
                           "Invalid API key: Auriko API keys start with 'ak_'.",
                           suggestion="Create a key in the Auriko dashboard; the offline gateway accepts any ak_ key.")
    return token


def _immediate_fault(fault: Fault, sim: SimState, stream: bool, provider: str) -> Response | None:
    """The error answer of a fault that strikes before any provider answers (None for faults that bend an answer)."""
    kind = fault.kind
    wait = retry_after(1.0 * sim.speed)  # a nominal 1 s (scaled), in whole seconds as servers send it
    if kind == "rate_limit":
        return error_response(GatewayError("rate_limit_exceeded",
                                           f"Rate limit exceeded. Retry after {seconds_text(wait)}.",
                                           headers={"retry-after": wait, "x-rate-limit-source": "auriko"}))
    if kind == "upstream_rate_limit":
        return error_response(GatewayError("rate_limit_exceeded",
                                           f"{provider} is rate limiting requests (simulated). Retry after "
                                           f"{seconds_text(wait)}.", provider=provider,
                                           headers={"retry-after": wait, "x-rate-limit-source": "upstream"}))
    if kind == "budget_exhausted":
        return error_response(sim.budget_fault(*fault.args))
    if kind == "server_error":
        return error_response(GatewayError("internal_error", "Internal server error (simulated)."))
    if kind == "unavailable":
        return error_response(GatewayError("service_unavailable", "The service is temporarily unavailable (simulated).",
                                           headers={"retry-after": wait}))
    if kind == "html_error":
        return Response(HTML_ERROR_PAGE, status_code=502, media_type="text/html")
    if kind == "stream_error" and not stream:
        return error_response(GatewayError("upstream_error", "The upstream provider returned an error (simulated)."))
    return None


def _error_part(c: Completion, at: float, sequence_number: int) -> Part:
    message = f"{c.cand.provider} failed mid-stream (simulated)."
    if c.req.endpoint == "responses":
        return Part(at, sse({"type": "error", "code": "upstream_error", "message": message, "param": None,
                             "provider": c.cand.provider, "sequence_number": sequence_number}))
    return Part(at, sse({"error": error_payload("api_error", "upstream_error", message, provider=c.cand.provider)}))


def _cut(parts: list[Part]) -> tuple[list[Part], float]:
    """The parts up to and including the FEW_CHUNKS-th content chunk, and that chunk's offset."""
    seen, out = 0, []
    for p in parts:
        out.append(p)
        seen += p.content
        if seen == FEW_CHUNKS:
            break
    return out, out[-1].offset


def _emission(sim: SimState, c: Completion, body: dict[str, Any], fault: str | None,
              headers: dict[str, str]) -> Emission:
    """How this answer goes out: timed parts for streams, one timed body otherwise, bent by the fault if any."""
    req = c.req
    charge = c.cost_usd

    def on_complete() -> None:
        sim.charge(charge)

    def charge_now() -> dict[str, str]:  # the balance (and budget spend) after this call, as with the real API
        sim.charge(charge)
        return {"x-credits-balance-microdollars": str(int(round(sim.balance_micro))), **sim.budget_headers()}

    if fault == "stall":
        err = GatewayError("upstream_timeout",
                           f"{c.cand.provider} did not respond within {sim.faults.stall_seconds:g} s (simulated).",
                           provider=c.cand.provider)
        resp = error_response(err)
        hdrs = {k: v for k, v in resp.headers.items() if k != "content-length"} | headers
        return Emission(504, hdrs, sim.faults.stall_seconds, [Part(sim.faults.stall_seconds, bytes(resp.body))])
    if req.stream:
        parts = chat_events(c) if req.endpoint == "chat_completions" else responses_events(c, body)
        hdrs = headers | {"cache-control": "no-cache", "x-accel-buffering": "no"}
        if fault in ("stream_error", "disconnect", "malformed_json"):
            cut, at = _cut(parts)
            if fault == "stream_error":
                cut.append(_error_part(c, at, len(cut)))
            elif fault == "malformed_json":
                cut.append(Part(at, b'data: {"id":"chatcmpl-' + c.hex.encode() + b'","object":"chat.compl\n\n'))
            return Emission(200, hdrs, 0.0, cut, drop=fault == "disconnect", media_type="text/event-stream")
        return Emission(200, hdrs, 0.0, parts, on_complete=on_complete, media_type="text/event-stream")

    def payload(late_s: float = 0.0) -> bytes:  # the whole answer, reporting the TTFT really applied
        return dumps(chat_body(c, late_s) if req.endpoint == "chat_completions" else responses_body(c, body, late_s=late_s))

    if fault == "disconnect":
        return Emission(200, headers, c.ttft_s, drop=True)
    if fault == "malformed_json":
        half = payload()
        return Emission(200, headers, c.total_s, [Part(c.total_s, half[: len(half) // 2], content=True)])
    # The body is the first token here: sent late by L, it reports TTFT + L (so TTFT + tokens/rate = sent).
    return Emission(200, headers, c.total_s, [Part(c.total_s, b"", content=True, make_late=payload)],
                    on_start=charge_now)


async def handle_inference(request: Request, endpoint: str) -> Response:
    """POST /v1/chat/completions and POST /v1/responses."""
    sim: SimState = request.app.state.sim
    record: dict[str, Any] = request.scope["state"]["sim_record"]
    t0: float = record["received_at"]
    sim.stats.begin()
    handed_over = False
    try:
        check_api_key(request)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            raise GatewayError("invalid_request", "The request body is not valid JSON.") from None
        record["body"] = body
        req: InferenceRequest = (parse_chat if endpoint == "chat_completions" else parse_responses)(body, sim.catalog)
        plan = plan_route(req)
        sim.admit(t0)
        fault: Fault = sim.fault_plan.draw(request.headers.get(FAULT_HEADER))
        headers = sim.rate_headers(t0)
        if fault.kind:
            record["fault"] = fault.kind
            sim.stats.count_fault(fault.kind)
            immediate = _immediate_fault(fault, sim, req.stream, plan.ranked[0].provider if plan.ranked else "")
            if immediate is not None:
                for name, value in headers.items():  # the fault's own headers (e.g. budget spend) win
                    immediate.headers.setdefault(name, value)
                return immediate

        def on_skip(provider: str) -> None:
            record["fault"] = record["fault"] or "provider_down"
            sim.stats.count_fault("provider_down")

        cand, warnings = pick(plan, req.routing, fault.providers_down, on_skip)
        record["provider"] = cand.provider
        number = int(record["number"])
        completion = build_completion(sim, req, cand, warnings, number, record["request_id"])
        emission = _emission(sim, completion, body if isinstance(body, dict) else {}, fault.kind, headers)
        record["ttft_ms_planned"] = completion.ttft_ms
        if completion.task_kind is not None:  # the quality simulation's draw, for inspection (never on the wire)
            record["task"], record["task_correct"] = completion.task_kind, completion.task_correct

        def on_first_content(late_s: float) -> None:
            record["ttft_ms"] = completion.applied_ttft_ms(late_s)

        emission.on_first_content = on_first_content
        handed_over = True
        return TimedResponse(emission, t0, sim.stats.end)
    except GatewayError as err:
        extra = sim.rate_headers(t0) if err.code != "invalid_api_key" else {}
        return error_response(err, extra)
    finally:
        if not handed_over:
            sim.stats.end()
