"""The offline gateway's quality simulation: the built-in task set, its recognition, right and wrong answers that
simple checks separate, and per-provider accuracy as the catalog gives it (seeded, deterministic)."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import httpx
import pytest
from gateway_helpers import KEY, chat

import auriko_nb.offline
from auriko_nb.client import Client
from auriko_nb.offline import FaultConfig, GatewayHandle, SimState, load_catalog, serve, task_set
from auriko_nb.offline.catalog import DEFAULT_ACCURACY, parse_catalog
from auriko_nb.offline.quality import task_answer
from auriko_nb.offline.router import plan_route
from auriko_nb.offline.tasks import CAPITALS, KINDS, TASKS, Task, answer, recognize
from auriko_nb.offline.textgen import answer as textgen_answer
from auriko_nb.offline.textgen import estimate_tokens
from auriko_nb.offline.validate import parse_chat

OPEN_WEIGHTS = ("llama-3.3-70b", "deepseek-chat", "qwen-2.5-72b", "mistral-large")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


# -- minimal stand-ins for the checks module's built-ins (contains, number, json_valid, equals) -----------------

def _contains(text: str, expect: Any) -> bool:
    return str(expect).casefold() in text.casefold()


def _number(text: str, expect: Any) -> bool:
    found = _NUMBER.findall(text)
    return bool(found) and abs(float(found[0]) - float(expect)) <= 1e-6


def _json_valid(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _equals(text: str, expect: Any) -> bool:
    def norm(s: str) -> str:
        return " ".join(s.split()).casefold().rstrip(".!?")
    return norm(text) == norm(str(expect))


def passes(kind: str, text: str, expect: Any) -> bool:
    """What a user would check for each kind: a number, a name, or the JSON itself."""
    if kind in ("arithmetic", "conversion", "letter_count"):
        return _number(text, expect)
    if kind in ("capital", "weekday"):
        return _contains(text, expect)
    return _json_valid(text) and _equals(text, expect)


# -- the task set ----------------------------------------------------------------------------------------------

def test_fixed_task_set_has_every_kind_with_unique_ids() -> None:
    items = task_set()
    assert items == TASKS and len(items) >= 20
    assert {t["kind"] for t in items} == set(KINDS) and len(KINDS) >= 5
    assert len({t["id"] for t in items}) == len(items)
    assert all(set(t) == {"prompt", "expect", "id", "kind"} for t in items)
    items[0]["prompt"] = "changed"
    assert task_set()[0]["prompt"] != "changed"  # a copy each time
    assert auriko_nb.offline.task_set is task_set


def test_generated_task_sets_are_seeded_and_cycle_through_the_kinds() -> None:
    a, b, c = task_set(30, seed=4), task_set(30, seed=4), task_set(30, seed=5)
    assert a == b and a != c
    assert [t["kind"] for t in a[:len(KINDS)]] == list(KINDS)
    assert len({t["id"] for t in a}) == 30
    assert task_set(0) == []
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ValueError, match="task_set: n must be"):
            task_set(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("item", TASKS + task_set(120, seed=7), ids=lambda t: t["id"])
def test_recognize_knows_the_right_answer(item: dict[str, Any]) -> None:
    task = recognize(item["prompt"])
    assert task is not None
    assert (task.kind, task.expect) == (item["kind"], item["expect"])
    if item in TASKS:
        assert task.id == item["id"]


@pytest.mark.parametrize(("prompt", "expect"), [
    ("  what IS   17*23 ", 391),
    ("Compute 40 minus 2.", 38),
    ("what's the capital of   the netherlands", "Amsterdam"),
    ("convert 5 MI into km", 8.05),
    ("Convert 20 °C to °F", 68.0),
    ("How many times does the letter \"S\" occur in the word MISSISSIPPI", 4),
    ("extract a json object with the keys name, age and city from this sentence:\n  Ines is 29 years old and "
     "lives in Porto", json.dumps({"name": "Ines", "age": 29, "city": "Porto"})),
    ("WHICH day of the week was 2024-02-29", "Thursday"),
])
def test_recognize_ignores_whitespace_and_case(prompt: str, expect: Any) -> None:
    task = recognize(prompt)
    assert task is not None and task.expect == expect


@pytest.mark.parametrize("prompt", ["Explain prompt caching", "What is the capital of Atlantis?", "What is love?",
                                    "Convert 5 parsecs to miles.", "What day of the week was 2023-02-30?", ""])
def test_other_prompts_are_not_recognised(prompt: str) -> None:
    assert recognize(prompt) is None


def test_capital_table_cannot_pass_a_wrong_answer() -> None:
    for country, (capital, wrong) in CAPITALS.items():
        assert capital.casefold() not in country.casefold()
        assert wrong and all(capital.casefold() not in w.casefold() for w in wrong)


@pytest.mark.parametrize("item", TASKS + task_set(180, seed=11), ids=lambda t: t["id"])
def test_right_answers_pass_and_wrong_ones_fail(item: dict[str, Any]) -> None:
    task = recognize(item["prompt"])
    assert isinstance(task, Task)
    for s in range(8):
        right, wrong = answer(task, True, random.Random(s)), answer(task, False, random.Random(s))
        assert passes(task.kind, right, task.expect), right
        assert not passes(task.kind, wrong, task.expect), wrong
        if task.kind in ("arithmetic", "conversion", "letter_count"):  # one number: first and last agree
            assert len(_NUMBER.findall(right)) == 1 and len(_NUMBER.findall(wrong)) == 1
    assert answer(item, True, random.Random(0)) == answer(task, True, random.Random(0))  # a dict works too


def test_wrong_json_answers_are_varied() -> None:
    task = recognize(TASKS[[t["kind"] for t in TASKS].index("json_extract")]["prompt"])
    assert task is not None
    wrong = [answer(task, False, random.Random(s)) for s in range(40)]
    assert any(not _json_valid(w) for w in wrong)  # invalid JSON
    assert any(_json_valid(w) and "city" not in json.loads(w) for w in wrong)  # a missing field
    assert any(_json_valid(w) and set(json.loads(w)) == {"name", "age", "city"} for w in wrong)  # a wrong value


def test_answer_rejects_a_prompt_that_is_no_task() -> None:
    with pytest.raises(ValueError, match="not a built-in task"):
        answer({"prompt": "Explain prompt caching"}, True, random.Random(0))


# -- the catalog -----------------------------------------------------------------------------------------------

def test_open_weights_offers_carry_precision_and_accuracy() -> None:
    cat = load_catalog()
    for mid in OPEN_WEIGHTS:
        for offer in cat.models[mid].offers:
            assert offer.precision in ("bf16", "fp8", "fp4"), (mid, offer.provider)
            assert 0.5 < offer.accuracy <= 1
    precisions = {o.precision for m in OPEN_WEIGHTS for o in cat.models[m].offers}
    assert precisions == {"bf16", "fp8", "fp4"}
    assert all(o.accuracy >= 0.9 for m in ("gpt-4o", "claude-sonnet-4-6", "gemini-2.5-pro", "o3-pro")
               for o in cat.models[m].offers)
    by = {o.provider: o for o in cat.models["llama-3.3-70b"].offers}
    assert by["deepinfra"].precision == "fp4" and by["cerebras"].precision == "bf16"
    assert by["deepinfra"].accuracy < by["together"].accuracy < by["cerebras"].accuracy


def _raw_catalog(**offer_extra: Any) -> bytes:
    data = json.loads(resources.files("auriko_nb.offline").joinpath("catalog.json").read_bytes())
    offer = data["models"]["llama-3.3-70b"]["offers"][0]
    for k in ("precision", "accuracy"):
        offer.pop(k, None)
    offer.update(offer_extra)
    return json.dumps(data).encode()


def test_catalog_defaults_and_rejects_bad_quality_values() -> None:
    offer = parse_catalog(_raw_catalog()).models["llama-3.3-70b"].offers[0]
    assert (offer.precision, offer.accuracy) == (None, DEFAULT_ACCURACY)
    with pytest.raises(ValueError, match="precision 'int3' is not one of bf16, fp8, fp4"):
        parse_catalog(_raw_catalog(precision="int3"))
    with pytest.raises(ValueError, match="accuracy 1.5 is not between 0 and 1"):
        parse_catalog(_raw_catalog(accuracy=1.5))


# -- through the gateway ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quality_gw() -> Iterator[GatewayHandle]:
    """A fast gateway (no simulated waiting) for hundreds of calls."""
    with serve(seed=3, speed=0.01, fixed_latency_ms=0) as gw:
        yield gw


def _pass_rate(gw: GatewayHandle, model: str, provider: str, items: list[dict[str, Any]]) -> float:
    with Client(KEY, base_url=gw.base_url) as client:
        ok = 0
        for item in items:
            r = client.chat(item["prompt"], model=model, routing={"providers": [provider]})
            assert r.provider == provider
            ok += passes(item["kind"], r.text, item["expect"])
    return ok / len(items)


def test_each_provider_answers_as_often_right_as_its_catalog_says(quality_gw: GatewayHandle) -> None:
    items = task_set(300, seed=1)
    offers = {o.provider: o for o in load_catalog().models["llama-3.3-70b"].offers}
    rates = {p: _pass_rate(quality_gw, "llama-3.3-70b", p, items) for p in ("deepinfra", "together", "cerebras")}
    for provider, rate in rates.items():
        assert abs(rate - offers[provider].accuracy) <= 0.08, (provider, rate, offers[provider].accuracy)
    assert offers["deepinfra"].precision == "fp4" and offers["cerebras"].precision == "bf16"
    assert rates["cerebras"] - rates["deepinfra"] >= 0.08  # fp4 is measurably worse than bf16


def test_the_same_prompt_repeated_comes_out_right_at_the_catalog_rate(quality_gw: GatewayHandle) -> None:
    item = TASKS[0]
    rate = _pass_rate(quality_gw, "qwen-2.5-72b", "deepinfra", [item] * 300)
    assert abs(rate - 0.79) <= 0.08


def _texts(seed: int, items: list[dict[str, Any]]) -> list[str]:
    with serve(seed=seed, speed=0.01, fixed_latency_ms=0) as gw, Client(KEY, base_url=gw.base_url) as client:
        return [client.chat(t["prompt"], model="deepseek-chat", routing={"providers": ["deepinfra"]}).text
                for t in items]


def test_answers_are_deterministic_for_a_seed() -> None:
    items = task_set(40, seed=2) * 2  # repeats too: the k-th repeat has its own draw
    first, again, other = _texts(9, items), _texts(9, items), _texts(10, items)
    assert first == again
    assert first != other


def test_interleaved_repeats_get_the_same_outcomes() -> None:
    """The k-th call of a prompt to a provider is drawn the same whatever else arrives in between."""
    item = TASKS[4]
    plain = _texts(21, [item] * 12)
    mixed = _texts(21, [x for pair in zip([item] * 12, task_set(12, seed=8), strict=True) for x in pair])[::2]
    assert plain == mixed


def test_concurrent_calls_get_the_same_outcomes_as_sequential_ones() -> None:
    """Under concurrency which call gets which draw may change, but the draws of each prompt do not."""
    items = [TASKS[0], TASKS[8], TASKS[12]] * 8
    sequential = _texts(5, items)
    with serve(seed=5, speed=0.01, fixed_latency_ms=0) as gw, Client(KEY, base_url=gw.base_url) as client, \
            ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(lambda t: client.chat(t["prompt"], model="deepseek-chat",
                                                         routing={"providers": ["deepinfra"]}).text, items))
    for item in items[:3]:
        picks = [i for i, t in enumerate(items) if t is item]
        assert sorted(sequential[i] for i in picks) == sorted(concurrent[i] for i in picks)


def _binomial_coverage(n: int, p: float, half: float) -> float:
    """P(|X/n - p| <= half) for X ~ Binomial(n, p), exactly."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1) if abs(k / n - p) <= half)


def test_draws_are_binomial_at_the_offer_accuracy() -> None:
    """Over many gateway seeds the observed rate of 100 draws lies within 1.96 standard errors of the offer's
    accuracy as often as a Binomial(100, accuracy) does (about 95 %): independent draws at that probability."""
    cat = load_catalog()
    req = parse_chat(chat(TASKS[0]["prompt"], model="llama-3.3-70b", gateway={"routing": {"providers": [
        "deepinfra"]}}), cat)
    cand = plan_route(req).ranked[0]
    p, n, seeds = cand.offer.accuracy, 100, 300
    half = 1.96 * (p * (1 - p) / n) ** 0.5
    covered = 0
    for seed in range(seeds):
        sim = SimState(cat, seed=seed, speed=1.0, faults=FaultConfig(), rpm=None, credit_usd=1.0)
        draws = [task_answer(sim, req, cand) for _ in range(n)]
        rate = sum(d.correct for d in draws if d is not None) / n
        covered += abs(rate - p) <= half
    expected = _binomial_coverage(n, p, half)
    assert 0.92 <= expected <= 0.97
    assert abs(covered / seeds - expected) <= 3 * (expected * (1 - expected) / seeds) ** 0.5


def test_other_prompts_keep_todays_text(client: httpx.Client, gateway: GatewayHandle) -> None:
    for prompt in ("Explain prompt caching", "What is love?", "Write a haiku about latency"):
        body = client.post("/chat/completions", json=chat(prompt, model="llama-3.3-70b")).json()
        text = body["choices"][0]["message"]["content"]
        assert text == textgen_answer(0, prompt)
        assert body["usage"]["completion_tokens"] == estimate_tokens(text)
    record = gateway.stats.requests[-1]
    assert "task" not in record


def test_a_task_after_a_system_message_is_recognised_and_counted(client: httpx.Client,
                                                                  gateway: GatewayHandle) -> None:
    item = TASKS[8]  # a capital
    body = {"model": "gpt-4o", "messages": [{"role": "system", "content": "Answer briefly."},
                                            {"role": "user", "content": item["prompt"]}]}
    resp = client.post("/chat/completions", json=body)
    text = resp.json()["choices"][0]["message"]["content"]
    assert resp.headers["x-auriko-offline"] == "simulation"
    assert "capital of France" in text or text.startswith("It is")
    assert resp.json()["usage"]["completion_tokens"] == estimate_tokens(text)
    record = gateway.stats.requests[-1]
    assert record["task"] == "capital"
    assert record["task_correct"] == _contains(text, item["expect"])


def test_json_mode_wraps_a_task_answer_and_the_responses_api_sees_tasks(client: httpx.Client,
                                                                        gateway: GatewayHandle) -> None:
    item = TASKS[0]
    wrapped = client.post("/chat/completions", json=chat(item["prompt"], model="gpt-4o",
                                                         response_format={"type": "json_object"})).json()
    assert set(json.loads(wrapped["choices"][0]["message"]["content"])) == {"answer"}
    r = client.post("/responses", json={"model": "gpt-4o", "instructions": "Be brief.", "input": item["prompt"]})
    out = r.json()["output"][0]["content"][0]["text"]
    assert len(_NUMBER.findall(out)) == 1
    record = gateway.stats.requests[-1]
    assert record["task"] == "arithmetic" and record["task_correct"] == _number(out, item["expect"])


def test_quality_stays_internal_on_the_wire(client: httpx.Client) -> None:
    directory = client.get("/directory/models").json()
    for provider in directory["models"]["llama-3.3-70b"]["providers"]:
        assert "precision" not in provider and "accuracy" not in provider
    body = client.post("/chat/completions", json=chat(TASKS[0]["prompt"], model="llama-3.3-70b")).json()
    assert not {"precision", "accuracy", "task", "task_correct"} & set(body["routing_metadata"])
