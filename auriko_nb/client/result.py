"""The result of one call: the answer, the routing decision, client-side timings and headers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..types.chat import ChatCompletion
from ..types.responses import Response
from ..types.routing_metadata import RoutingMetadata
from .headers import ResponseHeaders
from .records import CallContext, make_record, requested_strategy

REQUEST_ID_SHOWN = 8
"""How many characters of the request id (after its `req_` prefix) the footer shows; `Result.request_id` has it all."""


@dataclass
class Result:
    """One completed call (chat or Responses), streamed or not; `to_record()` gives its ledger row.

    `ttft_ms` is the client-side time to the first content token of a stream, None for a non-streamed call
    (it has no first token); `headers_ms` is the time to the response headers, for every call.
    """

    text: str
    response: ChatCompletion | Response
    routing_metadata: RoutingMetadata | None
    headers: ResponseHeaders
    ttft_ms: float | None
    latency_ms: float | None
    attempts: int
    context: CallContext = field(repr=False)
    headers_ms: float | None = None
    client_warnings: list[dict[str, str]] = field(default_factory=list, repr=False)
    """Warnings from auriko_nb itself (`{type: "auriko_nb", code, message}`), e.g. a stream without [DONE]."""

    @property
    def request_id(self) -> str | None:
        """The gateway's X-Request-ID (quote it in support tickets)."""
        return self.headers.request_id

    @property
    def provider(self) -> str | None:
        """The provider that served the call."""
        return self.routing_metadata.provider if self.routing_metadata else None

    @property
    def cost_usd(self) -> float | None:
        """What the call cost, in USD, as billed by the gateway."""
        return self.routing_metadata.cost_usd if self.routing_metadata else None

    @property
    def usage(self) -> Any:
        """The usage object of the response (chat `Usage` or Responses `ResponseUsage`)."""
        return self.response.usage

    @property
    def offline(self) -> bool:
        """True when an offline simulation (not the live API) answered."""
        return self.headers.offline

    @property
    def warnings(self) -> list[str]:
        """Routing warnings and auriko_nb's own (a field it could not read, ...) as one-line strings."""
        rm = self.routing_metadata
        server = [str(w) for w in (rm.warnings or [])] if rm else []
        return server + [f"{w['code']}: {w['message']}" for w in self._client_warnings()]

    def _client_warnings(self) -> list[dict[str, str]]:
        rm = self.routing_metadata
        return (rm.client_warnings if rm else []) + self.client_warnings

    def record_fields(self) -> dict[str, Any]:
        """The response half of this call's record (usage, routing, timings, warnings); `to_record` adds the rest."""
        rm = self.routing_metadata
        warnings = [w.model_dump(exclude_none=True) for w in (rm.warnings or [])] if rm else []
        warnings += self._client_warnings()
        out = self.numbers()
        out.update(warnings=json.dumps(warnings) if warnings else None, warning_count=len(warnings))
        return out

    def numbers(self) -> dict[str, Any]:
        """`record_fields` without the warnings: usage, routing outcome, timings, finish reason, answer (what tracing
        reads when no record is built: the same numbers from the same place)."""
        rm, u = self.routing_metadata, self.response.usage
        prompt_tokens = completion_tokens = None
        if u is not None:
            prompt_tokens = getattr(u, "prompt_tokens", None)
            if prompt_tokens is None:
                prompt_tokens = getattr(u, "input_tokens", None)
            completion_tokens = getattr(u, "completion_tokens", None)
            if completion_tokens is None:
                completion_tokens = getattr(u, "output_tokens", None)
        finish = None
        if isinstance(self.response, ChatCompletion) and self.response.choices:
            finish = self.response.choices[0].finish_reason
        elif isinstance(self.response, Response):
            finish = self.response.status
        out: dict[str, Any] = {
            "ttft_ms_client": self.ttft_ms, "headers_ms_client": self.headers_ms, "latency_ms": self.latency_ms,
            "attempts": self.attempts, "request_id": self.headers.request_id, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "cached_tokens": u.cached_tokens if u is not None else None,
            "finish_reason": finish, "answer_text": self.text,
        }
        if self.headers.offline:
            out["source"] = "offline"
        if rm is not None:
            out.update(
                provider=rm.provider, provider_model_id=rm.provider_model_id, model_canonical=rm.model_canonical,
                routing_strategy=rm.routing_strategy, ttft_ms_server=rm.ttft_ms, throughput_tps=rm.throughput_tps,
                cost_usd=rm.cost.usd if rm.cost else None,
                cache_savings_usd=rm.cost.cache_savings_usd if rm.cost else None,
            )
        return out

    def to_record(self) -> dict[str, Any]:
        """This call as one flat row (see `RECORD_COLUMNS`); never contains the API key."""
        return make_record(self.context, result=self)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        short = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (f"Result(text={short!r}, provider={self.provider!r}, cost_usd={self.cost_usd!r}, "
                f"ttft_ms={self.ttft_ms if self.ttft_ms is None else round(self.ttft_ms, 1)!r}, "
                f"request_id={self.request_id!r})")

    def footer(self) -> str:
        """One line: provider · model · strategy · TTFT · latency · tokens · cost · request id (shortened).

        TTFT appears for streamed calls only: a non-streamed answer arrives whole, so it shows latency alone. When the
        gateway resolved a different strategy from the one asked for, both show ("no preference → cost-focus").
        """
        rm = self.routing_metadata
        streamed = self.context.stream
        parts: list[str] = []
        if rm:
            parts += [p for p in (rm.provider, rm.model_canonical, self._strategy_shown()) if p]
            if streamed and rm.ttft_ms is not None:
                parts.append(f"TTFT {rm.ttft_ms:.0f} ms (server)")
        if streamed and self.ttft_ms is not None:
            parts.append(f"TTFT {self.ttft_ms:.0f} ms (client)")
        if self.latency_ms is not None:
            parts.append(f"latency {self.latency_ms:.0f} ms")
        rec = self.record_fields()
        if rec["prompt_tokens"] is not None:
            parts.append(f"{rec['prompt_tokens']}→{rec['completion_tokens']} tokens")
        if self.cost_usd is not None:
            parts.append(f"${self.cost_usd:.6f}")
        if self.context.endpoint == "responses":
            parts.append("Responses API")
        if self.request_id:
            parts.append(short_request_id(self.request_id))
        if self.offline:
            parts.append("offline simulation")
        line = " · ".join(parts)
        if self.warnings:
            line += " · ⚠ " + "; ".join(self.warnings)
        return line

    def _strategy_shown(self) -> str | None:
        """The strategy the gateway used, preceded by the one asked for when they differ."""
        resolved = self.routing_metadata.routing_strategy if self.routing_metadata else None
        asked = requested_strategy(self.context.model_requested, self.context.routing)
        if resolved is None or asked == resolved:
            return resolved
        return f"{asked or 'no preference'} → {resolved}"


def short_request_id(request_id: str) -> str:
    """The request id as the footer shows it: its first characters and "…" (enough to tell calls apart)."""
    keep = REQUEST_ID_SHOWN + (4 if request_id.startswith("req_") else 0)
    return request_id if len(request_id) <= keep + 1 else request_id[:keep] + "…"
