"""`Client` and `AsyncClient`: every Auriko endpoint over httpx, with retries, typed errors and timing.

Timing uses `time.perf_counter` (monotonic), from sending the successful attempt: `headers_ms` to its response
headers, `ttft_ms` to its first content delta (streamed calls only: None when not streamed), `latency_ms` to
its last byte.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

import httpx
from pydantic import BaseModel

from ..errors import APIConnectionError, APITimeoutError, AurikoError, MalformedResponseError
from ..types.catalog import (
    BillingBalance,
    Directory,
    Identity,
    Model,
    ModelList,
    ProviderList,
    RegistryModelList,
)
from ..types.request import Metadata, Routing
from . import observe
from ._closing import AsyncClosing, Closing
from ._deadline import Deadline
from ._error_mapping import error_from_response
from ._retry import backoff_delay, is_retryable
from .base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    BaseClient,
    Messages,
    Prepared,
    RecordHook,
    check_session_token,
    to_input,
    to_messages,
)
from .result import Result
from .streaming import AsyncChatStream, ChatStream

T = TypeVar("T", bound=BaseModel)
RoutingArg = Routing | Mapping[str, Any] | None
MetadataArg = Metadata | Mapping[str, Any] | None


def _connection_error(exc: httpx.RequestError, attempts: int, response: httpx.Response | None = None, *,
                      began: bool = False) -> AurikoError:
    """The typed error for a transport failure; keeps the request id when the headers had already arrived.

    With `began` (an inference call), a success whose body then failed is never sent again: it may have been billed.
    """
    rid = response.headers.get("x-request-id") if response is not None else None
    if isinstance(exc, httpx.DecodingError):  # e.g. `Content-Encoding: gzip` on a body that is not
        return MalformedResponseError(f"The response body could not be decoded ({exc}).", attempts=attempts,
                                      request_id=rid)
    answered = began and response is not None and response.status_code < 400
    if isinstance(exc, httpx.TimeoutException):
        what = "The answer's body did not arrive" if answered else "No response"
        return APITimeoutError(f"{what} within the client's timeout ({type(exc).__name__}).", attempts=attempts,
                               request_id=rid, transient=not answered)
    if answered:
        return APIConnectionError(f"The answer's body was cut off ({type(exc).__name__}: {exc}).", attempts=attempts,
                                  request_id=rid, transient=False)
    return APIConnectionError(f"Could not reach the gateway ({type(exc).__name__}: {exc}).", attempts=attempts,
                              request_id=rid, transient=_retriable_transport(exc))


def _retriable_transport(exc: httpx.RequestError) -> bool:
    """The SDK's rule (§9.2): timeouts and network errors are retried; protocol and proxy errors are not."""
    return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError))


class Client(BaseClient, Closing):
    """Synchronous Auriko client. Key from `api_key` or AURIKO_API_KEY; base URL from `base_url` or AURIKO_BASE_URL.

    Every chat/responses call becomes one record passed to the `on_record` hooks, if any: it writes no file itself.
    """

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
                 transport: httpx.BaseTransport | None = None, http_client: httpx.Client | None = None,
                 session_token: str | None = None, on_record: RecordHook | Sequence[RecordHook] | None = None,
                 default_headers: Mapping[str, str] | None = None, deadline: float | None = None) -> None:
        super().__init__(api_key, base_url, timeout, max_retries, on_record, default_headers, deadline)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=timeout, follow_redirects=True,
                                                 headers=self._pool_headers())
        self._session_token = session_token
        self._given_http = transport is not None or http_client is not None

    @property
    def custom_transport(self) -> bool:
        """Whether calls go through a transport or `http_client` the caller gave (which an async twin cannot reuse)."""
        return self._given_http

    def async_twin(self, http_client: httpx.AsyncClient | None = None) -> AsyncClient:
        """An `AsyncClient` with this client's settings: key, base URL, timeout, retries, default headers, deadline,
        hooks, injected defaults and source (sweeps use it so a Ctrl-C closes the calls in flight)."""
        if self._given_http:
            raise ValueError("this client sends through a transport or http_client of yours: build the AsyncClient "
                             "with its async counterpart")
        key = self._api_key.get_secret_value() if self._api_key is not None else None
        twin = AsyncClient(key, base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries,
                           http_client=http_client, session_token=self._session_token, on_record=self.record_hooks,
                           default_headers=self._default_headers, deadline=self.deadline)
        twin.source, twin.defaults = self.source, self.defaults
        return twin

    # -- plumbing -----------------------------------------------------------------------------------

    def _send(self, prep: Prepared, stream: bool = False) -> tuple[httpx.Response, int, float, float]:
        """Send with retries; return (response, attempts, sent_at, headers_at). Raises a typed error on failure."""
        request = self._build(self._http, prep)
        clock = prep.clock = Deadline(prep.deadline) if prep.deadline is not None else None
        attempt = 0
        while True:
            attempt += 1
            sent = time.perf_counter()
            retry_after = None
            response: httpx.Response | None = None
            handed_over = False  # a stream keeps its deadline armed: the stream object disarms it
            if clock is not None:
                clock.bound(request)
            try:
                response = self._http.send(request, stream=True)
                at_headers = time.perf_counter()
                if clock is not None:
                    clock.arm(response)  # the body, or the whole stream, ends by the deadline
                if response.status_code < 400 and stream:
                    handed_over = True
                    return response, attempt, sent, at_headers
                try:
                    response.read()
                finally:
                    response.close()
                if clock is not None and clock.expired:  # a read-to-close body the hang-up ended
                    raise clock.error(attempt, response.headers.get("x-request-id"))
                if response.status_code < 400:
                    return response, attempt, sent, at_headers
                err: AurikoError = error_from_response(response.status_code, response.content, response.headers,
                                                       attempt)
                retry_after = err.retry_after
            except httpx.RequestError as exc:
                if clock is not None and clock.passed:
                    raise clock.error(attempt, response.headers.get("x-request-id") if response else None) from None
                err = _connection_error(exc, attempt, response, began=prep.context is not None)  # retried only if transient
            finally:
                if clock is not None and not handed_over:
                    clock.disarm()
            if attempt > self.max_retries or not is_retryable(err):
                raise err
            delay = backoff_delay(attempt - 1, retry_after)
            if clock is not None and delay >= clock.remaining():
                raise err  # the next attempt would start after the deadline
            if prep.context is not None and prep.context.watches:
                observe.retry(prep.context.watches, attempt, err, delay)
            time.sleep(delay)

    def _call(self, prep: Prepared, model: type[T]) -> T:
        response, *_ = self._send(prep)
        return self._parse_json(response, model)

    def _get(self, path: str, model: type[T], keyed: bool = True, params: dict[str, Any] | None = None) -> T:
        return self._call(Prepared("GET", path, None, keyed=keyed, params=params), model)

    def _inference(self, prep: Prepared, stream: bool) -> Result | ChatStream:
        assert prep.context is not None
        try:
            response, attempts, sent, at_headers = self._send(prep, stream=stream)
        except AurikoError as err:
            self._emit_error(prep.context, err)
            raise
        except KeyboardInterrupt as exc:
            self._emit_cancelled(prep.context, exc)
            raise
        if stream:
            return ChatStream(self, response, prep.context, attempts, sent, prep.clock,
                              headers_ms=(at_headers - sent) * 1000)
        done = time.perf_counter()
        try:
            return self._result(prep, response, attempts, (at_headers - sent) * 1000, (done - sent) * 1000)
        except AurikoError as err:
            self._emit_error(prep.context, err)
            raise

    # -- inference ---------------------------------------------------------------------------------

    @overload
    def chat(self, prompt: Messages, *, stream: Literal[False] = ..., model: str | None = ..., routing: RoutingArg = ...,
             metadata: MetadataArg = ..., models: Sequence[str] | None = ..., gateway: Mapping[str, Any] | None = ...,
             system: str | None = ..., extra_headers: Mapping[str, str] | None = ..., run_id: str | None = ..., cell: str | None = ...,
             deadline: float | None = ...,
             **params: Any) -> Result: ...
    @overload
    def chat(self, prompt: Messages, *, stream: Literal[True], model: str | None = ..., routing: RoutingArg = ...,
             metadata: MetadataArg = ..., models: Sequence[str] | None = ..., gateway: Mapping[str, Any] | None = ...,
             system: str | None = ..., extra_headers: Mapping[str, str] | None = ..., run_id: str | None = ..., cell: str | None = ...,
             deadline: float | None = ...,
             **params: Any) -> ChatStream: ...

    def chat(self, prompt: Messages, *, stream: bool = False, model: str | None = None, routing: RoutingArg = None,
             metadata: MetadataArg = None, models: Sequence[str] | None = None,
             gateway: Mapping[str, Any] | None = None, system: str | None = None,
             extra_headers: Mapping[str, str] | None = None, run_id: str | None = None, cell: str | None = None,
             deadline: float | None = None,
             **params: Any) -> Result | ChatStream:
        """A chat completion from a prompt string or message list; `stream=True` returns an iterable ChatStream.

        `routing`/`metadata` take models or plain dicts (validated before sending); `gateway` is the raw escape
        hatch merged on top; any other keyword is an OpenAI parameter sent as is. `extra_body={...}` (as in the
        openai SDK) is merged into the body unvalidated, its `gateway` one level deep into the typed options and
        dict children field by field; a field given twice with different values is a `RequestValidationError`.
        """
        prep = self._prepare_inference("chat.completions", "/chat/completions", "messages",
                                       to_messages(prompt, system), model=model, routing=routing,
                                       metadata=metadata, models=models, gateway=gateway, stream=stream,
                                       extra_headers=extra_headers, run_id=run_id, params=params, cell=cell,
                                       deadline=deadline)
        return self._inference(prep, stream)

    def responses(self, input: str | Sequence[Mapping[str, Any]], *, stream: bool = False, model: str | None = None,
                  routing: RoutingArg = None, metadata: MetadataArg = None, models: Sequence[str] | None = None,
                  gateway: Mapping[str, Any] | None = None, extra_headers: Mapping[str, str] | None = None,
                  run_id: str | None = None, cell: str | None = None, deadline: float | None = None,
                  response_metadata: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
                  **params: Any) -> Result | ChatStream:
        """A Responses API call (preview endpoint); same options and result shape as `chat`.

        `metadata=` is Auriko's gateway metadata (tags, user_id, trace_id, custom_fields), as in `chat`; the Responses
        API's own top-level OpenAI `metadata` (str to str) is `response_metadata=` (or `extra_body={"metadata": ...}`).
        `extra_body` is merged as in `chat`: a field also set elsewhere with a different value is an error.
        """
        prep = self._prepare_inference("responses", "/responses", "input", to_input(input), model=model, routing=routing,
                                       metadata=metadata, models=models, gateway=gateway, stream=stream,
                                       extra_headers=extra_headers, run_id=run_id, params=params, cell=cell,
                                       deadline=deadline, extra_body=extra_body,
                                       response_metadata=response_metadata)
        return self._inference(prep, stream)

    # -- discovery and account ---------------------------------------------------------------------

    def models(self, endpoint: Literal["chat_completions", "responses"] | None = None) -> ModelList:
        """`GET /v1/models`: the models this key can call (`endpoint="responses"` adds Responses-only ones)."""
        return self._get("/models", ModelList, params={"endpoint": endpoint} if endpoint else None)

    def model(self, model_id: str) -> Model:
        """`GET /v1/models/{id}`: one model; aliases resolve to the canonical id."""
        return self._get(f"/models/{model_id}", Model)

    def me(self) -> Identity:
        """`GET /v1/me`: the calling key's identity, workspace and rate limits."""
        return self._get("/me", Identity)

    def registry_providers(self) -> ProviderList:
        """`GET /v1/registry/providers` (public)."""
        return self._get("/registry/providers", ProviderList, keyed=False)

    def registry_models(self) -> RegistryModelList:
        """`GET /v1/registry/models` (public)."""
        return self._get("/registry/models", RegistryModelList, keyed=False)

    def directory(self) -> Directory:
        """`GET /v1/directory/models` (public): per-provider prices and tiers, keyed by model id."""
        return self._get("/directory/models", Directory, keyed=False)

    def billing_balance(self, workspace_id: str, *, session_token: str | None = None) -> BillingBalance:
        """`GET /v1/workspaces/{id}/billing/balance`; needs a session token (JWT), not the API key."""
        token = check_session_token(session_token or self._session_token)
        prep = Prepared("GET", f"/workspaces/{workspace_id}/billing/balance", None, keyed=False, token=token)
        return self._call(prep, BillingBalance)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (only if this client created it)."""
        if self._owns_http:
            self._http.close()


class AsyncClient(BaseClient, AsyncClosing):
    """Asynchronous Auriko client: the same methods as `Client`, awaitable."""

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES,
                 transport: httpx.AsyncBaseTransport | None = None, http_client: httpx.AsyncClient | None = None,
                 session_token: str | None = None, on_record: RecordHook | Sequence[RecordHook] | None = None,
                 default_headers: Mapping[str, str] | None = None, deadline: float | None = None) -> None:
        super().__init__(api_key, base_url, timeout, max_retries, on_record, default_headers, deadline)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=True,
                                                      headers=self._pool_headers())
        self._session_token = session_token

    async def _send(self, prep: Prepared, stream: bool = False) -> tuple[httpx.Response, int, float, float]:
        """Send with retries; return (response, attempts, sent_at, headers_at). Raises a typed error on failure."""
        request = self._build(self._http, prep)
        clock = prep.clock = Deadline(prep.deadline) if prep.deadline is not None else None
        attempt = 0
        while True:
            attempt += 1
            sent = time.perf_counter()
            retry_after = None
            response: httpx.Response | None = None
            handed_over = False  # a stream keeps its deadline armed: the stream object disarms it
            if clock is not None:
                clock.bound(request)
            try:
                response = await self._http.send(request, stream=True)
                at_headers = time.perf_counter()
                if clock is not None:
                    clock.arm(response, asyncio.get_running_loop())  # the body, or the whole stream, ends by the deadline
                if response.status_code < 400 and stream:
                    handed_over = True
                    return response, attempt, sent, at_headers
                try:
                    await response.aread()
                finally:
                    await response.aclose()
                if clock is not None and clock.expired:  # a read-to-close body the hang-up ended
                    raise clock.error(attempt, response.headers.get("x-request-id"))
                if response.status_code < 400:
                    return response, attempt, sent, at_headers
                err: AurikoError = error_from_response(response.status_code, response.content, response.headers,
                                                       attempt)
                retry_after = err.retry_after
            except httpx.RequestError as exc:
                if clock is not None and clock.passed:
                    raise clock.error(attempt, response.headers.get("x-request-id") if response else None) from None
                err = _connection_error(exc, attempt, response, began=prep.context is not None)  # retried only if transient
            finally:
                if clock is not None and not handed_over:
                    clock.disarm()
            if attempt > self.max_retries or not is_retryable(err):
                raise err
            delay = backoff_delay(attempt - 1, retry_after)
            if clock is not None and delay >= clock.remaining():
                raise err  # the next attempt would start after the deadline
            if prep.context is not None and prep.context.watches:
                observe.retry(prep.context.watches, attempt, err, delay)
            await asyncio.sleep(delay)

    async def _call(self, prep: Prepared, model: type[T]) -> T:
        response, *_ = await self._send(prep)
        return self._parse_json(response, model)

    async def _get(self, path: str, model: type[T], keyed: bool = True,
                   params: dict[str, Any] | None = None) -> T:
        return await self._call(Prepared("GET", path, None, keyed=keyed, params=params), model)

    async def _inference(self, prep: Prepared, stream: bool) -> Result | AsyncChatStream:
        assert prep.context is not None
        try:
            response, attempts, sent, at_headers = await self._send(prep, stream=stream)
        except AurikoError as err:
            self._emit_error(prep.context, err)
            raise
        except (KeyboardInterrupt, asyncio.CancelledError) as exc:
            self._emit_cancelled(prep.context, exc)
            raise
        if stream:
            return AsyncChatStream(self, response, prep.context, attempts, sent, prep.clock,
                                   headers_ms=(at_headers - sent) * 1000)
        done = time.perf_counter()
        try:
            return self._result(prep, response, attempts, (at_headers - sent) * 1000, (done - sent) * 1000)
        except AurikoError as err:
            self._emit_error(prep.context, err)
            raise

    @overload
    async def chat(self, prompt: Messages, *, stream: Literal[False] = ..., model: str | None = ...,
                   routing: RoutingArg = ..., metadata: MetadataArg = ..., models: Sequence[str] | None = ...,
                   gateway: Mapping[str, Any] | None = ..., system: str | None = ...,
                   extra_headers: Mapping[str, str] | None = ..., run_id: str | None = ..., cell: str | None = ...,
                   deadline: float | None = ...,
                   **params: Any) -> Result: ...
    @overload
    async def chat(self, prompt: Messages, *, stream: Literal[True], model: str | None = ...,
                   routing: RoutingArg = ..., metadata: MetadataArg = ..., models: Sequence[str] | None = ...,
                   gateway: Mapping[str, Any] | None = ..., system: str | None = ...,
                   extra_headers: Mapping[str, str] | None = ..., run_id: str | None = ..., cell: str | None = ...,
                   deadline: float | None = ...,
                   **params: Any) -> AsyncChatStream: ...

    async def chat(self, prompt: Messages, *, stream: bool = False, model: str | None = None,
                   routing: RoutingArg = None, metadata: MetadataArg = None, models: Sequence[str] | None = None,
                   gateway: Mapping[str, Any] | None = None, system: str | None = None,
                   extra_headers: Mapping[str, str] | None = None, run_id: str | None = None, cell: str | None = None,
                   deadline: float | None = None,
                   **params: Any) -> Result | AsyncChatStream:
        """A chat completion; `stream=True` returns an AsyncChatStream (`async for delta in stream`).

        Options as in `Client.chat`, `extra_body` included (merged into the body, conflicts refused)."""
        prep = self._prepare_inference("chat.completions", "/chat/completions", "messages",
                                       to_messages(prompt, system), model=model, routing=routing,
                                       metadata=metadata, models=models, gateway=gateway, stream=stream,
                                       extra_headers=extra_headers, run_id=run_id, params=params, cell=cell,
                                       deadline=deadline)
        return await self._inference(prep, stream)

    async def responses(self, input: str | Sequence[Mapping[str, Any]], *, stream: bool = False,
                        model: str | None = None, routing: RoutingArg = None, metadata: MetadataArg = None,
                        models: Sequence[str] | None = None, gateway: Mapping[str, Any] | None = None,
                        extra_headers: Mapping[str, str] | None = None, run_id: str | None = None, cell: str | None = None,
                        deadline: float | None = None, response_metadata: Mapping[str, str] | None = None,
                        extra_body: Mapping[str, Any] | None = None,
                        **params: Any) -> Result | AsyncChatStream:
        """A Responses API call (preview endpoint); same options as `Client.responses` (`metadata=` is gateway
        metadata, `response_metadata=` the API's own top-level metadata, `extra_body` merged with conflict checks)."""
        prep = self._prepare_inference("responses", "/responses", "input", to_input(input), model=model, routing=routing,
                                       metadata=metadata, models=models, gateway=gateway, stream=stream,
                                       extra_headers=extra_headers, run_id=run_id, params=params, cell=cell,
                                       deadline=deadline, extra_body=extra_body,
                                       response_metadata=response_metadata)
        return await self._inference(prep, stream)

    async def models(self, endpoint: Literal["chat_completions", "responses"] | None = None) -> ModelList:
        """`GET /v1/models`."""
        return await self._get("/models", ModelList, params={"endpoint": endpoint} if endpoint else None)

    async def model(self, model_id: str) -> Model:
        """`GET /v1/models/{id}`."""
        return await self._get(f"/models/{model_id}", Model)

    async def me(self) -> Identity:
        """`GET /v1/me`."""
        return await self._get("/me", Identity)

    async def registry_providers(self) -> ProviderList:
        """`GET /v1/registry/providers` (public)."""
        return await self._get("/registry/providers", ProviderList, keyed=False)

    async def registry_models(self) -> RegistryModelList:
        """`GET /v1/registry/models` (public)."""
        return await self._get("/registry/models", RegistryModelList, keyed=False)

    async def directory(self) -> Directory:
        """`GET /v1/directory/models` (public)."""
        return await self._get("/directory/models", Directory, keyed=False)

    async def billing_balance(self, workspace_id: str, *, session_token: str | None = None) -> BillingBalance:
        """`GET /v1/workspaces/{id}/billing/balance`; needs a session token (JWT), not the API key."""
        token = check_session_token(session_token or self._session_token)
        prep = Prepared("GET", f"/workspaces/{workspace_id}/billing/balance", None, keyed=False, token=token)
        return await self._call(prep, BillingBalance)

    async def aclose(self) -> None:
        """Close the connection pool (only if this client created it)."""
        if self._owns_http:
            await self._http.aclose()
