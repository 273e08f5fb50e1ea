"""What the sync and async clients share: configuration, request building, response parsing (no I/O)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from .._version import __version__
from ..errors import AuthenticationError, MalformedResponseError, RequestValidationError
from ..types.chat import ChatCompletion
from ..types.request import Metadata, Routing
from ..types.responses import Response
from . import observe
from ._body import TOKEN_LIMIT_KEYS, assemble, check_extra_body, extra_gateway, sent_fields, yield_to_extra
from ._deadline import Deadline, check_deadline
from .headers import ResponseHeaders
from .records import CallContext, cancelled_record, make_record, prompt_id, prompt_text
from .result import Result

DEFAULT_BASE_URL = "https://api.auriko.ai/v1"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2

M = TypeVar("M", bound=BaseModel)
Record = dict[str, Any]
RecordHook = Callable[[Record], None]
Messages = str | Sequence[Mapping[str, Any]]


KEEP: Any = object()
"""`with_options`' default for a setting the copy keeps as it is."""


class CallDefaults(Protocol):
    """What fills a call's unset model, routing and max tokens; a notebook entry point injects one (`ak.settings`)."""

    @property
    def model(self) -> str: ...

    @property
    def max_tokens(self) -> int | None: ...

    def effective_routing(self) -> dict[str, Any] | None: ...


def normalise_base_url(url: str) -> str:
    """Strip trailing slashes and append /v1 when missing, as the official SDK does."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def to_messages(prompt: Messages, system: str | None = None) -> list[dict[str, Any]]:
    """A chat message list from a prompt string or a list of messages; refuses an empty prompt."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise RequestValidationError("messages: the prompt is empty", param="messages",
                                         code="missing_required_parameter")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    else:
        messages = [dict(m) for m in prompt]
        if not messages:
            raise RequestValidationError("messages: the message list is empty", param="messages",
                                         code="missing_required_parameter")
        for i, m in enumerate(messages):
            if "role" not in m:
                raise RequestValidationError(f"messages[{i}]: has no 'role'", param=f"messages[{i}]")
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def to_input(prompt: str | Sequence[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    """The Responses API `input` from a string or a list of items; refuses an empty prompt."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise RequestValidationError("input: the prompt is empty", param="input",
                                         code="missing_required_parameter")
        return prompt
    items = [dict(i) for i in prompt]
    if not items:
        raise RequestValidationError("input: the item list is empty", param="input", code="missing_required_parameter")
    return items


@dataclass
class Prepared:
    """A request ready to send, with the context its record will be built from."""

    method: str
    path: str
    body: dict[str, Any] | None
    keyed: bool
    context: CallContext | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    token: str | None = None
    content: bytes | None = None  # the body, JSON-encoded once when it was checked
    deadline: float | None = None  # seconds for the whole call (attempts, backoff, the whole stream)
    clock: Deadline | None = None  # that deadline, running, once the call is sent


_BODY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""What `json.dumps` builds anew on each call with these options; built once (it keeps no state between calls)."""


def encode_json(body: Any) -> bytes:
    """The request body as compact UTF-8 JSON, as httpx would send it (NaN and infinities refused)."""
    return _BODY_JSON.encode(body).encode()


@lru_cache(maxsize=256)
def _url(full: str) -> httpx.URL:
    """Parsed once per endpoint: URL parsing is a noticeable part of each call's overhead."""
    return httpx.URL(full)


def _hooks(on_record: RecordHook | Sequence[RecordHook] | None) -> list[RecordHook]:
    return list(on_record) if isinstance(on_record, Sequence) else [on_record] if on_record else []


C = TypeVar("C", bound="BaseClient")


class BaseClient:
    """Configuration and pure logic common to `Client` and `AsyncClient`."""

    def __init__(self, api_key: str | None, base_url: str | None, timeout: float | httpx.Timeout,
                 max_retries: int, on_record: RecordHook | Sequence[RecordHook] | None,
                 default_headers: Mapping[str, str] | None, deadline: float | None = None) -> None:
        key = api_key if api_key is not None else os.environ.get("AURIKO_API_KEY")
        self._api_key = SecretStr(key) if key else None
        self.base_url = normalise_base_url(base_url or os.environ.get("AURIKO_BASE_URL") or DEFAULT_BASE_URL)
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = check_deadline(deadline)
        self.record_hooks: list[RecordHook] = _hooks(on_record)
        self._default_headers = {"User-Agent": f"auriko-nb/{__version__}", **(default_headers or {})}
        self._default_keys = frozenset(k.lower() for k in self._default_headers)
        self._pool_has_defaults = False  # True once the subclass made its own pool with these headers as its own
        self.last_headers: ResponseHeaders | None = None
        self.source = "live"
        self.defaults: CallDefaults | None = None  # None: a call sends only what it says (ak.connect() injects one)
        self._owns_http = True

    def with_options(self: C, *, max_retries: int | None = None, on_record: Any = KEEP, deadline: Any = KEEP,
                     defaults: Any = KEEP) -> C:
        """A copy with these settings changed that shares this client's connection pool (closing it leaves the pool).

        `on_record` replaces the hooks (None: none); `defaults` replaces the injected call defaults (None: none).
        """
        out = copy.copy(self)
        out._owns_http = False  # noqa: SLF001 - `out` is a copy of this very object
        out._default_headers = dict(self._default_headers)  # noqa: SLF001 - idem
        out.record_hooks = list(self.record_hooks) if on_record is KEEP else _hooks(on_record)
        if max_retries is not None:
            if max_retries < 0:
                raise ValueError("max_retries must be >= 0")
            out.max_retries = max_retries
        if deadline is not KEEP:
            out.deadline = check_deadline(deadline)
        if defaults is not KEEP:
            out.defaults = defaults
        out.last_headers = None
        return out

    @property
    def has_key(self) -> bool:
        """Whether an API key is configured (the key itself is never shown)."""
        return self._api_key is not None

    def __repr__(self) -> str:
        key = "set" if self.has_key else "missing"
        label = ", offline simulation" if self.source == "offline" else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key}{label})"

    # -- requests -------------------------------------------------------------------------------

    def _pool_headers(self) -> dict[str, str]:
        """The headers for a pool this client creates: its default headers, then sent by httpx with every request
        (merging them per request costs more than the rest of building the request)."""
        self._pool_has_defaults = True
        return self._default_headers

    def _headers(self, prep: Prepared) -> dict[str, str]:
        """The request's headers, the default headers first; those are left out when the client's own pool sends
        them, unless a per-request header shares a name with one (then httpx's merge order needs them here).

        Either way httpx puts the same headers in the same order on the wire: a merge removes the headers it is
        given from the pool's and appends them, so defaults merged here or at the pool's creation end up alike."""
        headers = self._auth_headers(prep)
        if prep.content is not None:
            headers["Content-Type"] = "application/json"
        if self._pool_has_defaults and self._default_keys.isdisjoint(k.lower() for k in headers):
            return headers
        return {**self._default_headers, **headers}

    def _auth_headers(self, prep: Prepared) -> dict[str, str]:
        headers: dict[str, str] = {}
        if prep.token is not None:
            headers["Authorization"] = f"Bearer {prep.token}"
        elif prep.keyed:
            if self._api_key is None:
                raise AuthenticationError(
                    "No API key: pass api_key= or set AURIKO_API_KEY (ak.connect() falls back to the offline gateway).",
                    code="missing_api_key", status_code=0)
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        elif self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        if prep.body is not None and prep.body.get("stream"):
            headers["Accept"] = "text/event-stream"
        if prep.headers:
            headers.update(prep.headers)
        return headers

    def _build(self, http: httpx.Client | httpx.AsyncClient, prep: Prepared) -> httpx.Request:
        headers = self._headers(prep)
        if prep.content is not None:
            return http.build_request(prep.method, _url(self.base_url + prep.path), content=prep.content,
                                      params=prep.params, headers=headers)
        return http.build_request(prep.method, _url(self.base_url + prep.path), json=prep.body, params=prep.params,
                                  headers=headers)

    def _prepare_inference(self, endpoint: str, path: str, payload_key: str, payload: Any, *,
                           model: str | None, routing: Routing | Mapping[str, Any] | None,
                           metadata: Metadata | Mapping[str, Any] | None, models: Sequence[str] | None,
                           gateway: Mapping[str, Any] | None, stream: bool,
                           extra_headers: Mapping[str, str] | None, run_id: str | None,
                           params: Mapping[str, Any], cell: str | None = None,
                           deadline: float | None = None, extra_body: Any = None,
                           response_metadata: Any = None) -> Prepared:
        """The request and its record context; `extra_body` (here or in `params`) is merged as `_body` describes."""
        try:
            deadline = check_deadline(deadline) if deadline is not None else self.deadline
        except ValueError as e:
            raise RequestValidationError(str(e), param="deadline") from None
        if "extra_body" in params:  # chat() takes it through **params
            params = dict(params)
            extra_body = params.pop("extra_body")
        extra = check_extra_body(extra_body)
        settings = self.defaults
        if settings is not None:  # defaults fill only what neither the call nor its extra_body sets
            if routing is None:
                routing = yield_to_extra(settings.effective_routing(), extra)
            if (model is None and not models and not (gateway and gateway.get("models"))
                    and not (extra or {}).get("model") and not extra_gateway(extra, "models")):
                model = settings.model
            if settings.max_tokens is not None and not set(TOKEN_LIMIT_KEYS) & (set(params) | set(extra or {})):
                params = {**params, ("max_output_tokens" if endpoint == "responses" else "max_tokens"):
                          settings.max_tokens}
        body = assemble(payload_key, payload, endpoint=endpoint, model=model, routing=routing, metadata=metadata,
                        models=models, gateway=gateway, params=params, stream=stream, extra_body=extra,
                        response_metadata=response_metadata)
        try:
            content = encode_json(body)
        except (TypeError, ValueError) as e:
            where = "body"
            if extra:
                try:
                    encode_json(extra)
                except (TypeError, ValueError):
                    where = "extra_body"
            raise RequestValidationError(f"request {where} is not JSON-serialisable: {e}", param=where) from None
        sent = sent_fields(body)
        ctx = CallContext(
            endpoint=endpoint, model_requested=sent.model_requested, routing=sent.routing, tags=sent.tags,
            trace_id=sent.trace_id, prompt_id=prompt_id(payload), stream=stream, source=self.source, run_id=run_id,
            cell=cell, prompt_text=prompt_text(payload),
        )
        if observe.OBSERVERS:  # tracing is on (ak.instrument()): the call's span starts here
            ctx.watches = observe.start_watches(observe.CallStart(endpoint, body, self.base_url, stream, ctx))
        return Prepared("POST", path, body, keyed=True, context=ctx,
                        headers=dict(extra_headers) if extra_headers else None, content=content,
                        deadline=deadline)

    # -- results and records ----------------------------------------------------------------------

    def _emit(self, record: Record) -> None:
        for hook in self.record_hooks:
            hook(record)

    def _emit_error(self, ctx: CallContext | None, err: Any) -> None:
        if ctx is not None and (self.record_hooks or ctx.watches):
            rec = make_record(ctx, error=err)
            if ctx.watches:
                observe.end(ctx, rec)
            self._emit(rec)

    def _emit_cancelled(self, ctx: CallContext | None, exc: BaseException, **fields: Any) -> None:
        """Record a call that Ctrl-C or a cancellation ended before it finished (never raises: the interrupt wins)."""
        if ctx is None or not (self.record_hooks or ctx.watches):
            return
        rec = cancelled_record(ctx, exc, **fields)
        if ctx.watches:
            observe.end(ctx, rec)
        with suppress(Exception):
            self._emit(rec)

    def _parse_json(self, response: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate_json(response.content)
        except (ValueError, UnicodeDecodeError, ValidationError, RecursionError) as e:
            headers = ResponseHeaders.parse(response.headers)
            snippet = response.content[:80].decode("utf-8", "replace")
            bad_json = not isinstance(e, ValidationError) or any(d["type"] == "json_invalid" for d in e.errors())
            kind = "is not valid JSON" if bad_json else "has the wrong shape"
            raise MalformedResponseError(
                f"The {response.request.url.path} response {kind} (starts {snippet!r}).",
                status_code=response.status_code, request_id=headers.request_id,
                headers=response.headers) from None

    def _result(self, prep: Prepared, response: httpx.Response, attempts: int, headers_ms: float,
                latency_ms: float) -> Result:
        """The Result of a non-streamed call: no first token, so `ttft_ms` is None; `headers_ms` is time to headers."""
        assert prep.context is not None
        try:
            parsed: ChatCompletion | Response = (
                self._parse_json(response, ChatCompletion) if prep.context.endpoint == "chat.completions"
                else self._parse_json(response, Response))
        except MalformedResponseError as e:
            e.attempts = attempts
            raise
        headers = ResponseHeaders.parse(response.headers)
        self.last_headers = headers
        res = Result(text=parsed.text, response=parsed, routing_metadata=parsed.routing_metadata, headers=headers,
                     ttft_ms=None, latency_ms=latency_ms, attempts=attempts, context=prep.context,
                     headers_ms=headers_ms)
        if self.record_hooks:
            rec = res.to_record()
            if prep.context.watches:
                observe.end(prep.context, rec, res)
            self._emit(rec)
        elif prep.context.watches:  # tracing alone: the span needs the row's numbers, not the row
            observe.end_ok(prep.context, res)
        return res


def check_session_token(token: str | None) -> str:
    """The session token for management endpoints; an `ak_` API key is refused with a clear error."""
    if not token:
        raise AuthenticationError(
            "billing balance needs a session token (the dashboard sign-in JWT), not an API key: "
            "pass session_token= to the call or the client", code="missing_session_token", status_code=0)
    if token.startswith("ak_"):
        raise AuthenticationError(
            "billing balance needs a session token (the dashboard sign-in JWT); an ak_ API key is not accepted",
            code="session_token_required", status_code=0)
    return token
