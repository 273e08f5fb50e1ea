"""The official `auriko` SDK and the `openai` SDK against the offline gateway over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import auriko
import openai
import pytest
from gateway_helpers import KEY

from auriko_nb.offline import GatewayHandle, serve

MESSAGES = [{"role": "user", "content": "Summarise the benefits of routing"}]


@pytest.fixture(scope="module")
def throttled() -> Iterator[GatewayHandle]:
    """A gateway whose every inference call is rate limited (the auriko SDK cannot send custom headers)."""
    with serve(speed=0.05, faults={"rate_limit": 1.0}) as gw:
        yield gw


@pytest.fixture(scope="module")
def broken_streams() -> Iterator[GatewayHandle]:
    """A gateway whose every inference call fails mid-stream."""
    with serve(speed=0.05, faults={"stream_error": 1.0}) as gw:
        yield gw


@pytest.fixture
def ak(gateway: GatewayHandle) -> Iterator[auriko.Client]:
    with auriko.Client(api_key=KEY, base_url=gateway.base_url, max_retries=0) as c:
        yield c


@pytest.fixture
def oa(gateway: GatewayHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=gateway.base_url, max_retries=0) as c:
        yield c


def test_auriko_chat_plain_and_stream(ak: auriko.Client, gateway: GatewayHandle) -> None:
    r = ak.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                   gateway={"routing": {"optimize": "ttft"}, "metadata": {"tags": ["sdk"]}})
    assert r.choices[0].message.content and r.routing_metadata is not None
    assert r.routing_metadata.routing_strategy == "ttft" and r.routing_metadata.cost is not None
    assert gateway.stats.requests[-1]["body"]["gateway"]["metadata"] == {"tags": ["sdk"]}
    assert r.response_headers is not None and r.response_headers.request_id

    stream = ak.chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES, stream=True, seed=1)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    rm = stream.routing_metadata
    assert text and rm is not None and rm.provider == "anthropic" and rm.ttft_ms and rm.ttft_ms > 0
    assert rm.warnings and rm.warnings[0].type.value == "unsupported_parameter"
    assert stream.usage is not None and stream.usage.completion_tokens > 0


def test_auriko_responses_models_and_me(ak: auriko.Client) -> None:
    r = ak.responses.create(model="gpt-4o", input="Hello", instructions="Be brief")
    assert r.status == "completed" and r.output_text and r.usage and r.routing_metadata
    events = ak.responses.create(model="o3-pro", input="Hello", stream=True, max_output_tokens=8)
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.incomplete"
    done = events.completed_response
    assert done is not None and done.routing_metadata is not None and done.routing_metadata.model_canonical == "o3-pro"

    listed = ak.models.list()
    assert len(listed.data) >= 10 and listed.catalog_version
    assert "o3-pro" in {m.id for m in ak.models.list(endpoint="responses").data}
    assert ak.models.retrieve("gpt-4o-2024-08-06").id == "gpt-4o"
    assert ak.me.get().workspace.id
    assert ak.models.list_directory().models["gpt-4o"].providers
    assert ak.models.list_providers().count >= 8 and ak.models.list_registry().count >= 10


def test_auriko_errors(gateway: GatewayHandle, throttled: GatewayHandle, broken_streams: GatewayHandle) -> None:
    with auriko.Client(api_key="sk-wrong", base_url=gateway.base_url, max_retries=0) as bad, \
            pytest.raises(auriko.AuthenticationError) as auth:
        bad.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert auth.value.code == "invalid_api_key" and auth.value.status_code == 401

    with auriko.Client(api_key=KEY, base_url=throttled.base_url, max_retries=0) as c, \
            pytest.raises(auriko.RateLimitError) as limited:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert limited.value.code == "rate_limit_exceeded" and limited.value.request_id

    with auriko.Client(api_key=KEY, base_url=gateway.base_url, max_retries=0) as c:
        with pytest.raises(auriko.NotFoundError):
            c.models.retrieve("gpt-17")
        with pytest.raises(auriko.BadRequestError) as bad_req:
            c.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                      gateway={"routing": {"max_cost_per_1m": 0.5}})
        assert bad_req.value.code == "cost_constraint_exceeded"

    with auriko.Client(api_key=KEY, base_url=broken_streams.base_url, max_retries=0) as c, \
            pytest.raises(auriko.APIStatusError) as mid:
        for _ in c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass
    assert mid.value.code == "upstream_error" and mid.value.status_code == 200

    with auriko.Client(api_key=KEY, base_url=broken_streams.base_url, max_retries=0) as c, \
            pytest.raises(auriko.APIStatusError) as flat:
        for _ in c.responses.create(model="gpt-4o", input="hi", stream=True):
            pass
    assert flat.value.code == "upstream_error"


def test_openai_chat_plain_and_stream(oa: openai.OpenAI) -> None:
    r = oa.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                   extra_body={"gateway": {"routing": {"optimize": "balanced"}}})
    assert r.choices[0].message.content and r.model_extra is not None
    assert r.model_extra["routing_metadata"]["routing_strategy"] == "balanced"
    chunks = list(oa.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert chunks[-1].model_extra is not None and chunks[-1].model_extra["routing_metadata"]["provider"] == "openai"


def test_openai_responses_and_models(oa: openai.OpenAI) -> None:
    r = oa.responses.create(model="gpt-4o", input="Hello")
    assert r.output_text and r.usage is not None and r.usage.output_tokens > 0
    assert r.model_extra is not None and r.model_extra["routing_metadata"]["model_canonical"] == "gpt-4o"
    with oa.responses.stream(model="gpt-4o", input="Hello") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert deltas == final.output_text == r.output_text
    ids = [m.id for m in oa.models.list()]
    assert "gpt-4o" in ids and oa.models.retrieve("sonnet-4.6").id == "claude-sonnet-4-6"


def test_openai_errors(gateway: GatewayHandle, oa: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        oa.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                   extra_headers={"X-Auriko-Fault": "rate_limit"})
    assert limited.value.response.headers["retry-after"] == "1"  # whole seconds, as servers send it
    with openai.OpenAI(api_key="sk-openai-key", base_url=gateway.base_url, max_retries=0) as bad, \
            pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.BadRequestError) as bad_req:
        oa.chat.completions.create(model="o3-pro", messages=MESSAGES)
    assert bad_req.value.code == "response_api_only"
    with pytest.raises(openai.NotFoundError):
        oa.models.retrieve("gpt-17")
