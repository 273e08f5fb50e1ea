"""Quality checks (auriko_nb/measure/checks.py): every built-in passing and failing with its reason, the prompt's
expect, callables as checks, raising checks, and bad checks refused with one line."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

from auriko_nb.errors import CheckError
from auriko_nb.measure.checks import (
    Check,
    CheckOutcome,
    CheckResult,
    as_check,
    as_checks,
    contains,
    equals,
    json_schema,
    json_valid,
    number,
    regex,
    run_checks,
)

PERSON = {"type": "object", "required": ["name", "age"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize(("check", "answer", "expect"), [
    (contains("paris"), "The capital is Paris.", None),
    (contains("Paris", case_sensitive=True), "The capital is Paris.", None),
    (regex(r"\b4\d\b"), "It is 42 degrees", None),
    (regex("^yes", flags=re.IGNORECASE), "YES, it is", None),
    (equals("Paris"), "  paris. ", None),
    (equals("the  answer is\nParis"), "The answer is Paris!", None),
    (number(42), "17 + 25 = 42", None),
    (number(1234.5), "about 1,234.5 units", None),
    (number(8.05, tol=0.01), "5 miles is 8.047 km", None),
    (number(100, rel=0.05), "roughly 104", None),
    (number(-3), "the result is -3.", None),
    (json_valid(), '{"a": 1}', None),
    (json_valid(), '```json\n{"a": [1, 2]}\n```', None),
    (json_schema(PERSON), '{"name": "Maria", "age": 34}', None),
])
def test_every_builtin_passes_on_a_right_answer(check: Check, answer: str, expect: Any) -> None:
    assert check(answer, expect) == CheckOutcome(True, 1.0, "")


@pytest.mark.parametrize(("check", "answer", "reason"), [
    (contains("london"), "The capital is Paris.", "answer does not contain 'london'"),
    (contains("paris", case_sensitive=True), "The capital is Paris.", "answer does not contain 'paris'"),
    (regex(r"^\d+$"), "forty-two", r"no match for /^\d+$/"),
    (equals("Paris"), "Paris, France", "answer 'Paris, France' is not 'Paris'"),
    (equals("Paris", normalize=False), "paris", "answer 'paris' is not 'Paris'"),
    (number(42), "17 + 25 = 41", "answer's number 41 is not 42 (tol 1e-06, rel 0)"),
    (number(42), "forty-two", "no number in the answer"),
    (number(8.05, tol=0.001), "8.047 km", "answer's number 8.047 is not 8.05"),
    (json_valid(), "name: Maria", "not JSON: Expecting value at line 1 column 1"),
    (json_schema(PERSON), '{"name": "Maria"}', "schema: 'age' is a required property at the top level"),
    (json_schema(PERSON), '{"name": "Maria", "age": "34"}', "schema: '34' is not of type 'integer' at age"),
    (json_schema(PERSON), "Maria, 34", "not JSON: Expecting value"),
])
def test_every_builtin_fails_on_a_wrong_answer_with_its_reason(check: Check, answer: str, reason: str) -> None:
    out = check(answer, None)
    assert out.passed is False and out.score == 0.0
    assert out.reason.startswith(reason), out.reason


def test_a_check_without_a_value_uses_the_prompts_expect_and_its_own_value_wins() -> None:
    assert contains()("The capital is Paris.", "Paris").passed
    assert not contains()("The capital is Paris.", "Rome").passed
    assert number()("17 * 23 = 391", 391).passed and number()("17 * 23 = 391", "391").passed
    assert not number()("17 * 23 = 392", 391).passed
    assert equals()("Lisbon.", "lisbon").passed and regex()("order 66", r"\d\d").passed
    assert contains("Paris")("The capital is Paris.", "Rome").passed  # the check's own value wins


def test_a_check_with_neither_value_nor_expect_errors_on_that_row() -> None:
    result = run_checks("The capital is Paris.", None, [contains(), regex("Paris")])
    assert result.passed is False and result.score == 0.5
    assert result.failures == ({"check": "contains", "errored": True,
                                "reason": "contains: no expected value (give the check a value or the prompt an "
                                          "expect)"},)


def test_a_raising_check_is_errored_with_its_reason_and_the_others_still_run() -> None:
    def boom(text: str) -> bool:
        raise RuntimeError("the checker\nbroke")

    result = run_checks("42", 42, [boom, number(), regex()])  # regex: the expect 42 is not a str
    assert result.passed is False and result.score == pytest.approx(1 / 3)
    assert result.failures == (
        {"check": "boom", "reason": "RuntimeError: the checker broke", "errored": True},
        {"check": "regex", "reason": "regex: the pattern must be a string, got 42", "errored": True})
    bad_pattern = run_checks("x", "(", [regex()])
    assert bad_pattern.failures[0]["errored"] and "bad pattern '('" in bad_pattern.failures[0]["reason"]
    not_a_number = run_checks("x", "abc", [number()])
    assert not_a_number.failures[0]["reason"] == "number: the expected value 'abc' is not a number"


def test_callables_returning_bool_float_or_a_pair_are_checks() -> None:
    def short(text: str) -> bool:
        return len(text) < 10

    result = run_checks("a fine answer", None, [short, lambda t: 0.75, lambda t: 0.25,
                                                lambda t: (False, "too\npolite"), lambda t: (True, "ignored")])
    assert result.passed is False and result.score == pytest.approx((0 + 0.75 + 0.25 + 0 + 1) / 5)
    assert [(f["check"], f["reason"], f["errored"]) for f in result.failures] == [
        ("short", "returned False", False), ("<lambda>", "score 0.25 < 0.5", False),
        ("<lambda>", "too polite", False)]
    assert run_checks("ok", None, [short, lambda t: 1]) == CheckResult(True, 1.0, ())


def test_a_callable_may_take_the_expect_too() -> None:
    def starts(text: str, expect: Any) -> bool:
        return text.startswith(str(expect))

    assert run_checks("Paris is", "Paris", [starts]).passed
    assert not run_checks("Rome is", "Paris", [starts]).passed


def test_a_callable_returning_nonsense_or_a_score_outside_0_1_is_errored() -> None:
    result = run_checks("x", None, [lambda t: "yes", lambda t: 1.5, lambda t: None])
    assert [f["errored"] for f in result.failures] == [True, True, True] and result.score == 0.0
    assert result.failures[0]["reason"].startswith("<lambda>: returned 'yes'; a check returns a bool")
    assert result.failures[1]["reason"] == "<lambda>: score 1.5 is not in [0, 1]"


def test_numpy_results_are_read_as_bools_and_scores() -> None:
    import numpy as np

    result = run_checks("x", None, [lambda t: np.bool_(True), lambda t: np.float32(0.5), lambda t: np.int64(0)])
    assert result.score == pytest.approx(0.5) and [f["check"] for f in result.failures] == ["<lambda>"]


def test_as_check_keeps_checks_wraps_callables_and_refuses_the_rest_in_one_line() -> None:
    c = contains("x")
    assert as_check(c) is c and isinstance(c, Check)
    assert as_check(len).name == "len"
    assert as_checks(None) == () and as_checks(c) == (c,) and len(as_checks([c, len])) == 2
    for bad, says in [("contains", "'contains' is not a check"), (42, "42 is not a check"),
                      (contains, "contains makes a check: call it, e.g. contains()"),
                      (CheckOutcome, "CheckOutcome is a class, not a check")]:
        with pytest.raises(CheckError) as err:
            as_check(bad)
        assert says in one_line(err)
    with pytest.raises(CheckError):
        run_checks("x", None, ["not a check"])  # type: ignore[list-item]


def test_bad_checks_are_refused_when_built() -> None:
    for build, says in [(lambda: regex("(unclosed"), "regex: bad pattern '(unclosed'"),
                        (lambda: json_schema({"type": "nope"}), "json_schema: not a valid JSON Schema"),
                        (lambda: json_schema({"properties": {"a": {"minimum": "one"}}}),
                         "not a valid JSON Schema"),
                        (lambda: json_schema("not a schema"), "json_schema: the schema must be a dict"),
                        (lambda: number("many"), "number: the expected value 'many' is not a number"),
                        (lambda: number(1, tol=-1), "number: tol must be a number >= 0")]:
        with pytest.raises(CheckError) as err:
            build()
        assert says in one_line(err)


def test_json_schema_without_jsonschema_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # `import jsonschema` now raises ImportError
    with pytest.raises(CheckError) as err:
        json_schema(PERSON)
    assert one_line(err) == "json_schema needs the jsonschema package: pip install 'auriko-nb[checks]'"


def test_no_checks_means_no_verdict_and_row_fields_are_the_record_columns() -> None:
    assert run_checks("x", None, []) == CheckResult(None, None, ())
    assert CheckResult(None, None).row_fields() == {"passed": None, "score": None, "checks_failed": None}
    failed = run_checks("x", None, [contains("y")]).row_fields()
    assert failed["passed"] is False and failed["score"] == 0.0
    assert json.loads(failed["checks_failed"]) == [{"check": "contains", "reason": "answer does not contain 'y'",
                                                    "errored": False}]
    assert run_checks("y", None, [contains("y")]).row_fields()["checks_failed"] == "[]"


# -- the text form the magic, the panel and the CLI share --------------------------------------------------------

@pytest.mark.parametrize(("spec", "text", "expect", "passed"), [
    ("contains", "The capital is Paris.", "paris", True),
    ("contains=Rome", "The capital is Paris.", None, False),
    ("equals", " Paris. ", "paris", True),
    ("regex=^\\d{3}$", "123", None, True),
    ("regex", "abc", "^\\d+$", False),
    ("number", "17 * 23 = 391", "391", True),
    ("number=42~0.5", "about 42.3", None, True),
    ("number=42~0.1", "about 42.3", None, False),
    ("json_valid", '{"a": 1}', None, True),
    ("JSON-valid", "{a: 1}", None, False),
    ('json_schema={"type": "object", "required": ["a"]}', '{"b": 1}', None, False),
])
def test_from_spec_builds_the_check_it_names(spec: str, text: str, expect: Any, passed: bool) -> None:
    from auriko_nb.measure.checks import from_spec

    assert from_spec(spec)(text, expect).passed is passed


@pytest.mark.parametrize(("spec", "says"), [
    ("nope", "unknown check 'nope'"), ("json_schema={x", "is not JSON"), ("json_schema", "needs a schema"),
    ("json_valid=1", "takes no value"), ("number=abc", "is not a number"), ("regex=(", "regex"),
])
def test_from_spec_refuses_bad_text_in_one_line(spec: str, says: str) -> None:
    from auriko_nb.errors import CheckError
    from auriko_nb.measure.checks import from_spec

    with pytest.raises(CheckError, match=re.escape(says)) as info:
        from_spec(spec)
    assert "\n" not in str(info.value)
