"""Brace-safe templating and the answer formats of %%auriko."""

from __future__ import annotations

import pytest

from auriko_nb.notebook.display import _bundle
from auriko_nb.notebook.templating import TemplateError, fill_template


def test_only_double_braces_with_a_name_are_placeholders() -> None:
    ns = {"x": 3, "obj": type("O", (), {"inner": type("I", (), {"v": "deep"})()})()}
    text = "{x} {{x}} {{ x }} {{obj.inner.v}} {{}} { {x} } {{x + 1}} \\{{x}} ${\\frac{a}{b}}$ {'k': {'n': 1}}"
    assert fill_template(text, ns) == "{x} 3 3 deep {{}} { {x} } {{x + 1}} {{x}} ${\\frac{a}{b}}$ {'k': {'n': 1}}"


@pytest.mark.parametrize(("text", "message"), [
    ("{{missing}}", "no variable named 'missing'"),
    ("{{x.nope}}", "int has no attribute 'nope'"),
])
def test_unknown_names_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        fill_template(text, {"x": 1})


def test_formats() -> None:
    assert _bundle("# Title", "markdown") == {"text/markdown": "# Title", "text/plain": "# Title"}
    assert _bundle("plain *text*", "text") == {"text/plain": "plain *text*"}
    assert _bundle("print(1)", "code")["text/markdown"] == "```\nprint(1)\n```"
    assert _bundle("```python\nprint(1)\n```", "code")["text/markdown"] == "```python\nprint(1)\n```"
    assert _bundle('{"a": [1, 2]}', "json")["application/json"] == {"a": [1, 2]}
    assert _bundle("not json", "json") == {"text/plain": "not json"}
