"""Secrets in server text are redacted: each kind (a bare `ak_` key, a non-`ak_` bearer token such as a session JWT)
on its own, so that neither branch of the pattern can hide a broken other; also inside URLs and JSON."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from auriko_nb.errors import APIStatusError, redact

KEY = "ak_test_canary_9f8e7d6c5b4a"  # an API key: no "Bearer" in front of it anywhere below
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1XzEiLCJ3cyI6IncxIn0.c2lnbmF0dXJlX3BhcnQ"  # a session token: no "ak_"

BARE_KEY = [  # only the `ak_` branch can catch these
    f"invalid api key {KEY}",
    f'{{"api_key": "{KEY}"}}',
    f"https://api.auriko.ai/v1/chat/completions?api_key={KEY}&x=1",
    f"key={quote(json.dumps({'key': KEY}))}",  # URL-encoded JSON: `%22ak_...`
    f"/v1/keys%2F{KEY}",  # an escaped path separator in front of it
    f"AURIKO_API_KEY={KEY}",
    f"key:{KEY}.",
]
BEARER = [  # only the bearer branch can catch these
    f"Authorization: Bearer {JWT}",
    f"authorization: bearer {JWT}",
    f'{{"headers": {{"Authorization": "Bearer {JWT}"}}}}',
    f"rejected token Bearer\t{JWT} for workspace",
    urlencode({"auth": f"Bearer {JWT}"}),  # form-encoded: `Bearer+eyJ...`
    f"auth=Bearer%20{JWT}",  # percent-encoded space
    f"header%3ABearer%20{JWT}",  # percent-encoded colon in front of the word
]


def _clean(text: str, secret: str) -> None:
    assert secret not in text, text
    assert secret[-12:] not in text, text  # not even a tail of it


@pytest.mark.parametrize("text", BARE_KEY)
def test_bare_api_key_is_redacted(text: str) -> None:
    out = redact(text)
    _clean(out, KEY)
    assert "ak_[redacted]" in out


@pytest.mark.parametrize("text", BEARER)
def test_non_ak_bearer_token_is_redacted(text: str) -> None:
    out = redact(text)
    _clean(out, JWT)
    assert "Bearer [redacted]" in out


def test_redaction_keeps_the_rest_of_the_text() -> None:
    assert redact(f"bad key {KEY} (see docs)") == "bad key ak_[redacted] (see docs)"
    assert redact(f"send Bearer {JWT} again") == "send Bearer [redacted] again"
    for harmless in ("a weak_password policy", "the Bearer header is missing", "peak_hours_2026", "ak_12",
                     "the cupbearer arrived"):
        assert redact(harmless) == harmless


def test_nested_values_and_every_error_field() -> None:
    body = {"error": {"message": f"key {KEY} revoked", "details": [f"Bearer {JWT}", {"k": KEY}]}}
    assert KEY not in json.dumps(redact(body)) and JWT not in json.dumps(redact(body))
    err = APIStatusError(f"token Bearer {JWT} expired", code=f"bad_{KEY}", param=KEY, provider=f"Bearer {JWT}",
                         suggestion=f"rotate {KEY}", doc_url=f"https://x.test/?k={KEY}", status_code=401,
                         headers={"X-Echo": f"Bearer {JWT}", "X-Key": KEY}, body=body)
    text = "\n".join([str(err), repr(err), repr(vars(err)), repr(err.args)])
    _clean(text, KEY)
    _clean(text, JWT)
