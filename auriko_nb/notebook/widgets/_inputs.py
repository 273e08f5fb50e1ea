"""The comparison panel's text inputs read into what a `Sweep` takes: prompts with their expected answers, and
check specs (`measure.checks.from_spec`).

The rule for expected answers: a prompt block may end its text with `==> expected` (the expected answer of that
prompt); the panel's "expected" box gives the expected answer of every prompt without one of its own. Checks are
written one per line. With expected answers and no check, the check is `contains`.
"""

from __future__ import annotations

from ...errors import CheckError
from ...measure.checks import Check, from_spec, needs_expect
from ...measure.comparison import ARROW, parse_prompts

__all__ = ["ARROW", "DEFAULT_CHECK", "needs_expect", "parse_checks", "parse_prompts"]

DEFAULT_CHECK = "contains"


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
