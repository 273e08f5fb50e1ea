"""Prompts with expectations (auriko_nb/measure/prompts.py): every accepted shape read into PromptSpecs, labels,
per-prompt checks, and bad items refused with one line naming the item."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from auriko_nb.errors import CheckError, RequestValidationError
from auriko_nb.measure.checks import contains, number
from auriko_nb.measure.prompts import PromptSpec, last_user_text, prompt_specs, sweep_prompts


def test_a_string_and_a_list_of_strings_are_labelled_by_position() -> None:
    assert prompt_specs("Hello") == [PromptSpec("Hello", None, "p1")]
    assert prompt_specs(["a", "b", "c"]) == [PromptSpec("a", None, "p1"), PromptSpec("b", None, "p2"),
                                             PromptSpec("c", None, "p3")]


def test_dicts_carry_expect_id_and_checks_and_other_keys_are_ignored() -> None:
    check = number(tol=0.1)
    specs = prompt_specs([{"prompt": "What is 17 * 23?", "expect": 391, "id": "arith-1", "kind": "arithmetic"},
                          {"prompt": "Capital of France?", "expect": "Paris", "checks": [contains()]},
                          {"prompt": "Say hi", "id": 7, "checks": check}])
    assert [s.label for s in specs] == ["arith-1", "p2", "7"]
    assert [s.expect for s in specs] == [391, "Paris", None]
    assert specs[0].checks == () and specs[1].checks[0].name == "contains" and specs[2].checks == (check,)
    assert prompt_specs({"prompt": "one", "expect": 1}) == [PromptSpec("one", 1, "p1")]


def test_a_dataframe_with_prompt_expect_and_id_columns() -> None:
    df = pd.DataFrame({"prompt": ["2+2?", "Capital of Peru?", "Free text"], "expect": [4, "Lima", None],
                       "id": ["add", None, "free"]})
    specs = prompt_specs(df)
    assert [(s.text, s.label) for s in specs] == [("2+2?", "add"), ("Capital of Peru?", "p2"), ("Free text", "free")]
    assert specs[0].expect == 4 and specs[1].expect == "Lima" and specs[2].expect is None
    assert [s.label for s in prompt_specs(pd.DataFrame({"prompt": ["x", "y"]}))] == ["p1", "p2"]


def test_a_spec_is_frozen_and_specs_pass_through() -> None:
    spec = PromptSpec("Hi", expect="hello", label="greet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.text = "other"  # type: ignore[misc]
    assert prompt_specs([spec, PromptSpec("Bye")]) == [spec, PromptSpec("Bye", None, "p2")]


def test_the_sweep_keeps_conversations_and_labels_them_by_their_last_user_message() -> None:
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"}, {"role": "user", "content": [{"type": "text", "text": "second"}]}]
    sent, specs = sweep_prompts(["plain", chat, {"prompt": chat, "expect": "x", "id": "c"}])
    assert sent == ["plain", chat, chat]
    assert [(s.text, s.label, s.expect) for s in specs] == [("plain", "p1", None), ("second", "p2", None),
                                                            ("second", "c", "x")]
    sent, specs = sweep_prompts(chat)  # one conversation given alone is one prompt
    assert sent == [chat] and specs[0].text == "second"
    assert last_user_text([{"role": "assistant", "content": "only"}]) == "only" and last_user_text([]) == ""


def one_line_error(kind: type[Exception], prompts: Any) -> str:
    with pytest.raises(kind) as err:
        prompt_specs(prompts)
    text = str(err.value)
    assert "\n" not in text and "prompts: " in text, text
    return text


@pytest.mark.parametrize(("prompts", "says"), [
    ([], "give at least one non-empty prompt"),
    (["fine", "   "], "item 2 is empty"),
    ("", "the prompt is empty"),
    ([{"prompt": "ok"}, {"expect": 3}], "item 2 has no 'prompt' key (keys: expect)"),
    ([{"role": "user", "content": "hi"}], "item 1 has no 'prompt' key (keys: role, content) (a message list"),
    ([{"prompt": 42}], "item 1 must be a string, got int"),
    (["ok", 3.5], "item 2 must be a string, got float"),
    ([["not", "messages"]], "item 1 must be a string, got list"),
    (pd.DataFrame({"text": ["x"]}), "the DataFrame has no 'prompt' column (columns: text)"),
    (pd.DataFrame({"prompt": ["x", None]}), "row 1 is empty"),
    ([{"prompt": "a", "id": "same"}, {"prompt": "b", "id": "same"}], "item 2 has the id 'same' of item 1"),
    (42, "expected a str, a list of str or dicts, or a DataFrame; got int"),
])
def test_bad_prompts_are_one_line_naming_the_item(prompts: Any, says: str) -> None:
    assert says in one_line_error(RequestValidationError, prompts)


def test_a_bad_per_prompt_check_is_a_check_error_naming_the_item() -> None:
    text = one_line_error(CheckError, [{"prompt": "ok"}, {"prompt": "x", "checks": ["contains"]}])
    assert text.startswith("prompts: item 2: checks: 'contains' is not a check")
    assert isinstance(CheckError("x"), ValueError) and isinstance(RequestValidationError("x"), ValueError)
