"""The gateway's own request validation (§2.1, §2.3, §3, §8), independent of the client's request types.

Every documented field is accepted; anything else is 400 `unknown_field` naming it (a literal `extra_body`
key included), at the top level and inside `gateway`, `gateway.routing` and `gateway.metadata`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import chat, error_of, routing

import auriko_nb.offline

# Written from the API reference, not from the code under test.
CHAT_DOC_FIELDS = [
    "messages", "model", "stream", "temperature", "top_p", "max_tokens", "max_completion_tokens", "reasoning_effort",
    "reasoning", "frequency_penalty", "presence_penalty", "top_k", "min_p", "top_a", "repetition_penalty", "stop",
    "seed", "n", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stream_options", "logprobs",
    "top_logprobs", "logit_bias", "user", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
    "gateway", "extensions", "functions", "function_call", "metadata", "prediction", "service_tier",
]
RESPONSES_DOC_FIELDS = [
    "input", "model", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
    "temperature", "top_p", "top_k", "top_logprobs", "frequency_penalty", "presence_penalty", "max_tool_calls",
    "reasoning", "text", "metadata", "include", "user", "prompt_cache_key", "safety_identifier", "truncation", "store",
    "stream", "gateway", "extensions",
]
ROUTING_DOC = {  # the 20 fields of gateway.routing (§3.1): (a valid value, an invalid one)
    "optimize": ("ttft", "fastest"), "weights": ({"cost": 1, "ttft": 0.5}, {"cost": 0}),
    "max_cost_per_1m": (100, 0), "max_ttft_ms": (100_000, 0), "min_throughput_tps": (0.5, -1),
    "ttft_percentile": ("p95", "p99"), "throughput_percentile": ("p50", "median"),
    "providers": (["openai", "azure"], "openai"), "exclude_providers": ([], [3]), "prefer": ("azure", 7),
    "mode": ("pool", "round_robin"), "allow_fallbacks": (True, "yes"), "max_fallback_attempts": (3, 20),
    "timeout_ms": (1000, 0), "deadline_ms": (2000, 1.5), "data_policy": ("none", "private"),
    "only_byok": (False, 1), "only_platform": (False, "no"), "require_parameters": (False, "true"),
    "tier": ("standard", 1),
}

CHAT_VALUES: dict[str, Any] = {
    "stream": False, "temperature": 0.2, "top_p": 0.9, "max_tokens": 64, "max_completion_tokens": 64,
    "reasoning_effort": "low", "reasoning": {"exclude": True}, "frequency_penalty": 0.1, "presence_penalty": -0.1,
    "top_k": 40, "min_p": 0.05, "top_a": 0.1, "repetition_penalty": 1.1, "stop": ["\n\n"], "seed": 7, "n": 1,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto", "parallel_tool_calls": True, "response_format": {"type": "text"},
    "stream_options": {"include_usage": True}, "logprobs": False, "top_logprobs": 0, "logit_bias": {"50256": -100},
    "user": "u-1", "web_search_options": {}, "verbosity": "low", "prompt_cache_key": "k", "safety_identifier": "s",
    "gateway": {"routing": {"optimize": "cost"}, "metadata": {"tags": ["t"]}}, "extensions": {"openai": {}},
    "functions": [{"name": "f", "parameters": {"type": "object"}}], "function_call": "auto",
    "metadata": {"a": "b"}, "prediction": {"type": "content", "content": "x"}, "service_tier": "auto",
}
RESPONSES_VALUES: dict[str, Any] = {
    "instructions": "Be brief", "tools": [{"type": "function", "name": "f"}], "tool_choice": "auto",
    "parallel_tool_calls": True, "max_output_tokens": 64, "temperature": 1, "top_p": 1, "top_k": 10,
    "top_logprobs": 2, "frequency_penalty": 0, "presence_penalty": 0, "max_tool_calls": 2,
    "reasoning": {"effort": "low", "summary": "auto"}, "text": {"format": {"type": "text"}}, "metadata": {"run": "1"},
    "include": ["reasoning.encrypted_content"], "user": "u", "prompt_cache_key": "k", "safety_identifier": "s",
    "truncation": "disabled", "store": False, "stream": False, "gateway": {"routing": {"optimize": "ttft"}},
    "extensions": {"openai": {}},
}


async def _error(client: httpx.AsyncClient, body: dict[str, Any], path: str = "/chat/completions") -> dict[str, Any]:
    r = await client.post(path, json=body)
    assert r.status_code == 400, r.text
    err = error_of(r)
    assert err["type"] == "invalid_request_error" and "\n" not in err["message"]
    assert r.headers["x-error-retryable"] == "false"
    return err


async def test_every_documented_chat_field_is_accepted(aclient: httpx.AsyncClient) -> None:
    assert sorted([*CHAT_VALUES, "messages", "model"]) == sorted(CHAT_DOC_FIELDS)
    r = await aclient.post("/chat/completions", json=chat(**CHAT_VALUES))
    assert r.status_code == 200, r.text
    ignored = [w for w in r.json()["routing_metadata"]["warnings"] if w["type"] == "unsupported_field"]
    assert [w["message"].split()[0] for w in ignored] == ["metadata", "prediction", "service_tier"]  # §2.1
    assert all(set(w) == {"type", "code", "message"} for w in r.json()["routing_metadata"]["warnings"])


async def test_every_documented_responses_field_is_accepted(aclient: httpx.AsyncClient) -> None:
    assert sorted([*RESPONSES_VALUES, "input", "model"]) == sorted(RESPONSES_DOC_FIELDS)
    r = await aclient.post("/responses", json={"model": "gpt-4o", "input": "hi", **RESPONSES_VALUES})
    assert r.status_code == 200, r.text
    assert r.json()["routing_metadata"]["routing_strategy"] == "ttft"


@pytest.mark.parametrize(("path", "extra", "param"), [
    ("/chat/completions", {"extra_body": {"gateway": {"routing": {"optimize": "ttft"}}}}, "extra_body"),
    ("/chat/completions", {"routing": {"optimize": "ttft"}}, "routing"),  # the older docs' top-level form
    ("/chat/completions", {"max_output_tokens": 10}, "max_output_tokens"),  # a Responses field
    ("/chat/completions", {"temprature": 0.1}, "temprature"),
    ("/responses", {"messages": [{"role": "user", "content": "hi"}]}, "messages"),  # a chat field
    ("/responses", {"response_format": {"type": "json_object"}}, "response_format"),  # Responses: text.format
    ("/responses", {"max_tokens": 10}, "max_tokens"),
    ("/responses", {"extra_body": {}}, "extra_body"),
])
async def test_unknown_top_level_fields_are_rejected(aclient: httpx.AsyncClient, path: str, extra: dict[str, Any],
                                                     param: str) -> None:
    body = chat(**extra) if path == "/chat/completions" else {"model": "gpt-4o", "input": "hi", **extra}
    err = await _error(aclient, body, path)
    assert (err["code"], err["param"]) == ("unknown_field", param)
    assert f"'{param}'" in err["message"]
    if param == "extra_body":
        assert "merge its keys into the request body" in err["suggestion"]
    if param == "temprature":
        assert err["suggestion"] == "Did you mean 'temperature'?"


@pytest.mark.parametrize(("gateway", "param"), [
    ({"routing": {"optimise": "ttft"}}, "gateway.routing.optimise"),
    ({"routing": {"weights": {"speed": 1}}}, "gateway.routing.weights.speed"),
    ({"metadata": {"team": "ml"}}, "gateway.metadata.team"),
    ({"model": ["gpt-4o"]}, "gateway.model"),
    ({"routing": {"optimize": "ttft"}, "extra_body": {}}, "gateway.extra_body"),
])
async def test_unknown_fields_inside_gateway(aclient: httpx.AsyncClient, gateway: dict[str, Any], param: str) -> None:
    err = await _error(aclient, chat(gateway=gateway))
    assert (err["code"], err["param"]) == ("unknown_field", param)


async def test_all_twenty_routing_fields_are_accepted_together(aclient: httpx.AsyncClient) -> None:
    assert len(ROUTING_DOC) == 20
    options = {k: good for k, (good, _) in ROUTING_DOC.items()}
    r = await aclient.post("/chat/completions", json=chat(gateway=routing(**options)))
    assert r.status_code == 200, r.text
    assert r.json()["routing_metadata"]["routing_strategy"] == "custom"  # weights win (see validate.py)


@pytest.mark.parametrize("field", sorted(ROUTING_DOC))
async def test_each_routing_field_rejects_a_bad_value(aclient: httpx.AsyncClient, field: str) -> None:
    err = await _error(aclient, chat(gateway=routing(**{field: ROUTING_DOC[field][1]})))
    assert err["code"] == "invalid_parameter_value" and err["param"].startswith(f"gateway.routing.{field}")


@pytest.mark.parametrize(("options", "param"), [
    ({"only_byok": True, "only_platform": True}, "gateway.routing.only_platform"),
    ({"timeout_ms": 2000, "deadline_ms": 1000}, "gateway.routing.deadline_ms"),
    ({"weights": {"cost": 0, "ttft": 0}}, "gateway.routing.weights"),
    ({"max_fallback_attempts": 0}, "gateway.routing.max_fallback_attempts"),
])
async def test_routing_rules(aclient: httpx.AsyncClient, options: dict[str, Any], param: str) -> None:
    err = await _error(aclient, chat(gateway=routing(**options)))
    assert (err["code"], err["param"]) == ("invalid_parameter_value", param)


@pytest.mark.parametrize(("field", "at_limit", "over", "param"), [
    ("tags", ["t"] * 100, ["t"] * 101, "gateway.metadata.tags"),
    ("tags", ["x" * 50], ["x" * 51], "gateway.metadata.tags"),
    ("user_id", "u" * 255, "u" * 256, "gateway.metadata.user_id"),
    ("trace_id", "t" * 255, "t" * 256, "gateway.metadata.trace_id"),
    ("custom_fields", {f"k{i}": "v" for i in range(10)}, {f"k{i}": "v" for i in range(11)},
     "gateway.metadata.custom_fields"),
    ("custom_fields", {"k" * 50: "v"}, {"k" * 51: "v"}, "gateway.metadata.custom_fields"),
    ("custom_fields", {"team": "v" * 200}, {"team": "v" * 201}, "gateway.metadata.custom_fields"),
    ("custom_fields", {"n": "3"}, {"n": 3}, "gateway.metadata.custom_fields"),
])
async def test_metadata_limits_at_and_over_each_bound(aclient: httpx.AsyncClient, field: str, at_limit: Any,
                                                      over: Any, param: str) -> None:
    ok = await aclient.post("/chat/completions", json=chat(gateway={"metadata": {field: at_limit}}))
    assert ok.status_code == 200, ok.text
    err = await _error(aclient, chat(gateway={"metadata": {field: over}}))
    assert (err["code"], err["param"]) == ("invalid_parameter_value", param)


async def test_gateway_models_at_most_ten(aclient: httpx.AsyncClient) -> None:
    ten = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-6", "claude-haiku-4-5", "gemini-2.5-flash", "gemini-2.5-pro",
           "llama-3.3-70b", "deepseek-chat", "mistral-large", "qwen-2.5-72b"]
    r = await aclient.post("/chat/completions", json=chat(model=None, gateway={"models": ten}))
    assert r.status_code == 200, r.text
    err = await _error(aclient, chat(model=None, gateway={"models": [*ten, "gpt-4o"]}))
    assert (err["code"], err["param"]) == ("invalid_parameter_value", "gateway.models")
    assert "11" in err["message"] and "10" in err["message"]
    err = await _error(aclient, chat(model=None, gateway={"models": []}))
    assert err["param"] == "gateway.models"


@pytest.mark.parametrize(("path", "extra", "param"), [
    ("/chat/completions", {"top_p": 1.5}, "top_p"),
    ("/chat/completions", {"max_tokens": 0}, "max_tokens"),
    ("/chat/completions", {"max_completion_tokens": 2.5}, "max_completion_tokens"),
    ("/chat/completions", {"stream": "yes"}, "stream"),
    ("/chat/completions", {"reasoning_effort": "extreme"}, "reasoning_effort"),
    ("/chat/completions", {"stop": 5}, "stop"),
    ("/chat/completions", {"frequency_penalty": 3}, "frequency_penalty"),
    ("/chat/completions", {"tool_choice": "always"}, "tool_choice"),
    ("/chat/completions", {"response_format": {"type": "yaml"}}, "response_format.type"),
    ("/chat/completions", {"gateway": ["routing"]}, "gateway"),
    ("/responses", {"metadata": {"run": 1}}, "metadata"),
    ("/responses", {"top_logprobs": 21}, "top_logprobs"),
    ("/responses", {"reasoning": {"effort": "huge"}}, "reasoning.effort"),
    ("/responses", {"instructions": ["be brief"]}, "instructions"),
])
async def test_documented_field_values_are_checked(aclient: httpx.AsyncClient, path: str, extra: dict[str, Any],
                                                   param: str) -> None:
    body = chat(**extra) if path == "/chat/completions" else {"model": "gpt-4o", "input": "hi", **extra}
    err = await _error(aclient, body, path)
    assert (err["code"], err["param"]) == ("invalid_parameter_value", param)


# -- the gateway imports nothing from the client side ------------------------------------------------------------

CLIENT_SIDE = ("auriko", "openai")  # the official SDKs are client side too


def client_imports(source: str, package: str = "auriko_nb.offline") -> list[str]:
    """Imports in `source` (a module of `package`) that reach outside it into auriko_nb or a client SDK."""
    bad: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 2:  # `from ..x import y`: out of the offline package
                bad.append("." * node.level + (node.module or ""))
            elif node.level == 0 and _outside(node.module or "", package):
                bad.append(node.module or "")
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names if _outside(a.name, package)]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            bad += [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    and (a.value.startswith("..") or _outside(a.value, package))]
    return bad


def _outside(module: str, package: str) -> bool:
    root = module.split(".")[0]
    if root == "auriko_nb":
        return not (module == package or module.startswith(package + "."))
    return root in CLIENT_SIDE


def test_the_import_check_catches_client_side_imports() -> None:
    src = ("from ..errors import RequestValidationError\nfrom ..types.request import Routing\nimport auriko_nb.client.clients\n"
           "from auriko_nb.client import base\nfrom auriko.errors import map_error_from_code\nimport openai\n"
           "importlib.import_module('auriko_nb.types')\nfrom .checks import bad\nfrom auriko_nb.offline import x\n"
           "import json\nfrom starlette.responses import Response\n")
    assert sorted(client_imports(src)) == sorted(["..errors", "..types.request", "auriko_nb.client.clients", "auriko_nb.client",
                                                  "auriko.errors", "openai", "auriko_nb.types"])


def test_the_offline_gateway_imports_nothing_from_the_client_side() -> None:
    root = Path(auriko_nb.offline.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) >= 15
    found = {str(f.relative_to(root)): client_imports(f.read_text()) for f in files}
    assert {f: b for f, b in found.items() if b} == {}
