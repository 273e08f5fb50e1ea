"""Retries as in §9.2: only retryable failures, backoff raised to Retry-After, never after a stream began."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fakes import KEY, Script, chunk, client_for, completion, envelope, json_response, sse, sse_response

import auriko_nb as ak
from auriko_nb.client._retry import backoff_delay


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's backoff sleeps instead of waiting them out."""
    calls: list[float] = []
    monkeypatch.setattr("auriko_nb.client.clients.time.sleep", calls.append)
    return calls


def err(status: int, code: str, type_: str, retry_after: str | None = None) -> httpx.Response:
    return json_response(envelope(code, type_), status, {"retry-after": retry_after} if retry_after else None)


def test_backoff_formula_and_jitter() -> None:
    rng = random.Random(1)
    for n in range(12):
        base = min(0.5 * 1.5**n, 30.0)
        d = backoff_delay(n, rng=rng)
        assert 0.8 * base <= d <= 1.2 * base
    assert backoff_delay(0, retry_after=7.5) == 7.5
    assert backoff_delay(20, retry_after=1.0) >= 24.0


def test_retry_after_is_honoured_in_real_time() -> None:
    stamps: list[float] = []
    responses = [err(429, "rate_limit_exceeded", "rate_limit_error", "0.3"), json_response(completion())]

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return responses.pop(0)
    res = client_for(Script(handler)).chat("hi", model="m")
    assert res.attempts == 2 and len(stamps) == 2
    assert stamps[1] - stamps[0] >= 0.3


@pytest.mark.parametrize(("status", "code", "type_"), [
    (429, "rate_limit_exceeded", "rate_limit_error"), (502, "upstream_error", "api_error"),
    (503, "no_provider_available", "api_error"), (504, "upstream_timeout", "api_error"),
])
def test_retryable_statuses_are_retried_then_succeed(sleeps: list[float], status: int, code: str, type_: str) -> None:
    rows: list[dict] = []
    script = Script(err(status, code, type_), err(status, code, type_), json_response(completion()))
    res = client_for(script, on_record=rows.append).chat("hi", model="m")
    assert len(script.requests) == 3 and res.attempts == 3 and len(sleeps) == 2
    assert 0.4 <= sleeps[0] <= 0.6 and 0.6 <= sleeps[1] <= 0.9
    assert rows[0]["attempts"] == 3 and rows[0]["status"] == "ok"


def test_retries_exhausted_reports_attempts(sleeps: list[float]) -> None:
    script = Script(err(503, "service_unavailable", "api_error"))
    with pytest.raises(ak.ServerError) as info:
        client_for(script, max_retries=4).chat("hi", model="m")
    assert len(script.requests) == 5 and info.value.attempts == 5 and "after 5 attempts" in str(info.value)


@pytest.mark.parametrize(("status", "code", "type_"), [
    (400, "invalid_parameter_value", "invalid_request_error"), (401, "invalid_api_key", "authentication_error"),
    (403, "insufficient_permissions", "permission_error"), (404, "model_not_found", "not_found_error"),
    (409, "duplicate_resource", "invalid_request_error"), (500, "internal_error", "api_error"),
    (429, "budget_exhausted", "rate_limit_error"), (429, "insufficient_quota", "rate_limit_error"),
    (400, "latency_constraint_exceeded", "invalid_request_error"),
])
def test_non_retryable_errors_are_sent_once(sleeps: list[float], status: int, code: str, type_: str) -> None:
    script = Script(err(status, code, type_, "0"))
    with pytest.raises(ak.APIStatusError) as info:
        client_for(script).chat("hi", model="m")
    assert len(script.requests) == 1 and info.value.attempts == 1 and sleeps == []
    assert not info.value.retryable


def test_connection_errors_are_retried_and_protocol_errors_are_not(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), json_response(completion()))
    assert client_for(script).chat("hi", model="m").attempts == 3
    script = Script(httpx.ReadError("reset"), json_response(completion()))
    assert client_for(script).chat("hi", model="m").attempts == 2  # a network error: retried
    for protocol_error in (httpx.UnsupportedProtocol("ftp?"), httpx.RemoteProtocolError("peer closed mid-body"),
                           httpx.ProxyError("407")):
        script = Script(protocol_error, json_response(completion()))
        with pytest.raises(ak.APIConnectionError) as info:
            client_for(script).chat("hi", model="m")
        assert len(script.requests) == 1 and not info.value.retryable  # the SDK's rule: not retried


def test_no_retry_once_a_stream_has_begun(sleeps: list[float]) -> None:
    failure = {"error": {"message": "upstream died", "type": "api_error", "code": "upstream_error"}}
    script = Script(sse_response(sse(chunk("par"), failure)), sse_response(sse(chunk("never"))))
    stream = client_for(script).chat("hi", model="m", stream=True)
    with pytest.raises(ak.StreamError) as info:
        list(stream)
    assert len(script.requests) == 1 and sleeps == [] and info.value.partial_text == "par"


def test_stream_opening_is_retried(sleeps: list[float]) -> None:
    script = Script(err(503, "service_unavailable", "api_error"), sse_response(sse(chunk("ok"))))
    stream = client_for(script).chat("hi", model="m", stream=True)
    assert stream.text == "ok" and stream.result.attempts == 2 and len(script.requests) == 2


def test_max_retries_zero_disables_retries(sleeps: list[float]) -> None:
    script = Script(err(429, "rate_limit_exceeded", "rate_limit_error", "0"))
    with pytest.raises(ak.RateLimitError):
        client_for(script, max_retries=0).chat("hi", model="m")
    assert len(script.requests) == 1


async def test_async_retries_honour_retry_after() -> None:
    stamps: list[float] = []
    responses = [err(429, "rate_limit_exceeded", "rate_limit_error", "0.2"), json_response(completion())]

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return responses.pop(0)
    client = ak.AsyncClient(api_key="ak_test_x", base_url="http://g.test", transport=httpx.MockTransport(handler))
    res = await client.chat("hi", model="m")
    assert res.attempts == 2 and stamps[1] - stamps[0] >= 0.2


class _BodyFails(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A 200's body that sends its first bytes, then fails with `exc` (a read timeout or a reset)."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __iter__(self) -> Any:
        yield b'{"id": "chatcmpl-1", "choi'
        raise self.exc

    async def __aiter__(self) -> Any:
        yield b'{"id": "chatcmpl-1", "choi'
        raise self.exc


def _began_then_failed(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, headers={"x-request-id": "req_began"}, stream=_BodyFails(exc))


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("slow body"), httpx.ReadError("reset mid-body")])
def test_a_success_whose_body_then_fails_is_never_sent_again(sleeps: list[float], exc: Exception) -> None:
    """The gateway answered 200 (and may have billed): a timeout or reset while reading its body is not retried."""
    script = Script(_began_then_failed(exc), json_response(completion()))
    with pytest.raises(ak.APIConnectionError) as info:
        client_for(script).chat("hi", model="m")
    assert len(script.requests) == 1 and sleeps == [] and not info.value.retryable
    assert info.value.request_id == "req_began" and "body" in str(info.value)
    assert isinstance(info.value, ak.APITimeoutError) == isinstance(exc, httpx.TimeoutException)


async def test_the_async_client_never_sends_again_a_success_whose_body_failed() -> None:
    script = Script(_began_then_failed(httpx.ReadTimeout("slow body")), json_response(completion()))
    async with ak.AsyncClient(KEY, base_url="http://gateway.test", transport=script.transport) as c:
        with pytest.raises(ak.APITimeoutError) as info:
            await c.chat("hi", model="m")
    assert len(script.requests) == 1 and not info.value.retryable


def test_a_directory_read_whose_body_timed_out_is_still_retried(sleeps: list[float]) -> None:
    """Reads that cost nothing (GET) keep the SDK's rule: a timeout is retried."""
    listing = {"object": "list", "data": []}
    script = Script(_began_then_failed(httpx.ReadTimeout("slow body")), json_response(listing))
    assert client_for(script).models() is not None and len(script.requests) == 2
