"""The comparison panel's text inputs read into what a `Sweep` takes: prompts with their expected answers, and
check specs (`measure.checks.from_spec`).

The rule for expected answers: a prompt block may end its text with `==> expected` (the expected answer of that
prompt); the panel's "expected" box gives the expected answer of every prompt without one of its own. Checks are
written one per line. With expected answers and no check, the check is `contains`.
"""

from __future__ import annotations

from typing import Any

from ...errors import CheckError, RequestValidationError
from ...measure.checks import BuiltinCheck, Check, JsonValid, from_spec
from ...measure.comparison import split_prompts

__all__ = ["ARROW", "DEFAULT_CHECK", "needs_expect", "parse_checks", "parse_prompts"]

ARROW = "==>"
DEFAULT_CHECK = "contains"


def parse_prompts(text: str, expected: str = "") -> list[dict[str, Any]]:
    """The prompt blocks (separated by blank lines) as `{"prompt": ..., "expect": ...}` items (expect None when
    neither the block's `==> expected` nor the `expected` box gives one); a bad block -> RequestValidationError."""
    default = expected.strip() or None
    items: list[dict[str, Any]] = []
    for i, block in enumerate(split_prompts(text), start=1):
        prompt, arrow, expect = block.partition(ARROW)
        prompt, expect = prompt.strip(), expect.strip()
        if arrow and not prompt:
            raise RequestValidationError(f"prompts: prompt {i}: nothing before {ARROW} (write the prompt, then "
                                         f"{ARROW} and its expected answer)", param="prompts")
        if arrow and not expect:
            raise RequestValidationError(f"prompts: prompt {i}: nothing after {ARROW} (write the expected answer or drop "
                                         f"the {ARROW})", param="prompts")
        if ARROW in expect:
            raise RequestValidationError(f"prompts: prompt {i}: more than one {ARROW} (one expected answer per prompt)",
                                         param="prompts")
        items.append({"prompt": prompt, "expect": expect if arrow else default})
    return items


def parse_checks(text: str) -> list[Check]:
    """The checks written one per line (blank lines skipped), each through `checks.from_spec`; a bad spec is the
    CheckError of `from_spec`, prefixed with its line number when there are several lines."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    out: list[Check] = []
    for n, spec in lines:
        try:
            out.append(from_spec(spec))
        except CheckError as e:
            raise CheckError(f"checks line {n}: {e.message}" if len(lines) > 1 else e.message) from None
    return out


def needs_expect(check: Check) -> bool:
    """Whether the check judges against the prompt's expected answer (a built-in given no value of its own)."""
    return isinstance(check, BuiltinCheck) and not isinstance(check, JsonValid) and check.value is None
