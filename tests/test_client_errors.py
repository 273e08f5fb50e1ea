"""The §8 envelope maps to the typed hierarchy; every error is one actionable line."""

from __future__ import annotations

import httpx
import pytest
from fakes import Script, client_for, envelope, json_response

import auriko_nb as ak

CASES = [
    (400, "invalid_request_error", "invalid_parameter_value", ak.BadRequestError),
    (400, "invalid_request_error", "latency_constraint_exceeded", ak.BadRequestError),
    (413, "invalid_request_error", "payload_too_large", ak.BadRequestError),
    (409, "invalid_request_error", "idempotency_conflict", ak.ConflictError),
    (401, "authentication_error", "invalid_api_key", ak.AuthenticationError),
    (403, "permission_error", "insufficient_permissions", ak.PermissionDeniedError),
    (404, "not_found_error", "model_not_found", ak.NotFoundError),
    (429, "rate_limit_error", "rate_limit_exceeded", ak.RateLimitError),
    (429, "rate_limit_error", "budget_exhausted", ak.RateLimitError),
    (500, "api_error", "internal_error", ak.ServerError),
    (502, "api_error", "upstream_error", ak.ServerError),
    (503, "api_error", "no_provider_available", ak.ServerError),
    (504, "api_error", "upstream_timeout", ak.ServerError),
    (402, "invalid_request_error", "budget_exceeded", ak.BadRequestError),   # older docs' 402
    (418, "mystery_error", "future_code", ak.APIStatusError),                 # unknown type and status
]


@pytest.mark.parametrize(("status", "type_", "code", "cls"), CASES)
def test_envelope_maps_to_class_with_all_fields(status: int, type_: str, code: str, cls: type) -> None:
    body = envelope(code, type_, message="Model 'gpt-5x' not found.\nTry another.", param="model",
                    provider="openai", suggestion="Use /v1/models to list models.")
    client = client_for(Script(json_response(body, status, {"retry-after": "0"})), max_retries=0)
    with pytest.raises(ak.AurikoError) as info:
        client.chat("hi", model="gpt-5x")
    err = info.value
    assert type(err) is cls and isinstance(err, ak.APIStatusError)
    assert (err.status_code, err.code, err.type, err.param, err.provider) == (status, code, type_, "model", "openai")
    assert err.request_id == "req_abc123" and err.suggestion == "Use /v1/models to list models."
    assert err.doc_url == f"https://docs.auriko.ai/errors/{code}"
    line = str(err)
    assert "\n" not in line and code in line and str(status) in line and "req_abc123" in line
    assert "hint: Use /v1/models" in line


def test_unknown_code_with_known_type_maps_by_type() -> None:
    client = client_for(Script(json_response(envelope("routing_failed", "not_found_error"), 400)), max_retries=0)
    with pytest.raises(ak.NotFoundError):
        client.chat("hi", model="m")


@pytest.mark.parametrize(("status", "cls"), [(502, ak.ServerError), (403, ak.PermissionDeniedError),
                                             (400, ak.BadRequestError)])
def test_html_proxy_page_gives_a_clear_error(status: int, cls: type) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    client = client_for(Script(httpx.Response(status, text=page, headers={"content-type": "text/html"})),
                        max_retries=0)
    with pytest.raises(cls) as info:
        client.chat("hi", model="m")
    line = str(info.value)
    assert info.value.code == "malformed_response" and "text/html" in line and "502 Bad Gateway" in line
    assert "<html>" not in line and "\n" not in line


def test_json_without_envelope_and_empty_body() -> None:
    client = client_for(Script(json_response({"detail": "nope"}, 422)), max_retries=0)
    with pytest.raises(ak.BadRequestError, match="not an error envelope"):
        client.chat("hi", model="m")
    client = client_for(Script(httpx.Response(503, content=b"")), max_retries=0)
    with pytest.raises(ak.ServerError, match="non-JSON body"):
        client.chat("hi", model="m")


def test_success_status_with_malformed_body() -> None:
    client = client_for(Script(httpx.Response(200, content=b'{"id": "x", "choices": [', headers={
        "content-type": "application/json", "x-request-id": "req_bad"})))
    with pytest.raises(ak.MalformedResponseError) as info:
        client.chat("hi", model="m")
    assert "is not valid JSON" in str(info.value) and info.value.request_id == "req_bad"
    client = client_for(Script(json_response({"choices": "not a list"})))
    with pytest.raises(ak.MalformedResponseError, match="wrong shape"):
        client.chat("hi", model="m")
    client = client_for(Script(httpx.Response(200, content=b"\xff\xfe\x00garbage")))
    with pytest.raises(ak.MalformedResponseError):
        client.models()


def test_connection_failure_and_timeout_are_typed() -> None:
    client = client_for(Script(httpx.ConnectError("refused")), max_retries=0)
    with pytest.raises(ak.APIConnectionError) as info:
        client.chat("hi", model="m")
    assert info.value.status_code == 0 and info.value.code == "api_connection_error"
    client = client_for(Script(httpx.ReadTimeout("slow")), max_retries=0)
    with pytest.raises(ak.APITimeoutError) as tinfo:
        client.models()
    assert isinstance(tinfo.value, ak.APIConnectionError) and "timeout" in str(tinfo.value)


def test_failed_calls_become_error_records() -> None:
    rows: list[dict] = []
    client = client_for(Script(json_response(envelope("model_not_found", "not_found_error"), 404)),
                        on_record=rows.append)
    with pytest.raises(ak.NotFoundError):
        client.chat("hi", model="nope", routing={"optimize": "cost"})
    (row,) = rows
    assert row["status"] == "error" and row["error_code"] == "model_not_found" and row["http_status"] == 404
    assert row["error_type"] == "not_found_error" and row["request_id"] == "req_abc123"
    assert row["optimize"] == "cost" and row["model_requested"] == "nope" and row["provider"] is None
