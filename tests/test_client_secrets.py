"""The API key never appears in a repr, str, error, log line or record."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest
from fakes import (
    KEY,
    Script,
    chunk,
    client_for,
    completion,
    envelope,
    json_response,
    sse,
    sse_response,
    stream_body,
)

import auriko_nb as ak


def everything_printable(objs: list[object]) -> str:
    out = []
    for o in objs:
        out += [repr(o), str(o)]
        if isinstance(o, Exception):
            out += [repr(o.args), repr(vars(o))]
        if isinstance(o, ak.Result):
            out.append(repr(o.to_record()))
    return "\n".join(out)


def test_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[object] = []
    rows: list[dict] = []
    script = Script(
        json_response(completion()), sse_response(stream_body()),
        json_response(envelope("invalid_api_key", "authentication_error", message="Invalid API key."), 401),
        sse_response(sse(chunk("x"), {"error": {"message": "m", "type": "api_error", "code": "upstream_error"}})),
        httpx.Response(502, text="<html>bad</html>"), httpx.ConnectError("refused"),
    )
    client = client_for(script, max_retries=0, on_record=rows.append)
    seen += [client, client.__dict__]
    seen.append(client.chat("hi", model="m"))
    stream = client.chat("hi", model="m", stream=True)
    seen += [stream, stream.result]
    for call in (lambda: client.chat("hi", model="m"), lambda: client.chat("hi", model="m", stream=True).result,
                 lambda: client.chat("hi", model="m"), lambda: client.chat("hi", model="m"),
                 lambda: client.chat("hi", model="m", metadata={"tags": ["x" * 60]})):
        with pytest.raises(ak.AurikoError) as info:
            call()
        seen.append(info.value)
    text = everything_printable(seen) + repr(rows) + caplog.text + repr(client.last_headers)
    assert KEY not in text and KEY[3:] not in text
    assert len(rows) == 6 and all(KEY not in repr(r) for r in rows)
    assert "api_key=set" in repr(client)


def test_missing_key_error_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURIKO_API_KEY", raising=False)
    client = ak.Client(base_url="http://g.test", transport=httpx.MockTransport(lambda r: json_response({})))
    assert "api_key=missing" in repr(client) and not client.has_key


def test_result_pickles_without_the_key() -> None:
    res = client_for(Script(json_response(completion()))).chat("hi", model="m")
    assert KEY.encode() not in pickle.dumps(res)
