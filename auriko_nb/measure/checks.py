"""Quality checks: small local functions that judge an answer's text (`ak.checks`); they send nothing anywhere.

A check is a callable `check(text, expect) -> CheckOutcome` with a `name`. The built-ins (`contains`, `regex`,
`equals`, `number`, `json_valid`, `json_schema`) use the prompt's `expect` when given no value of their own;
`as_check` wraps any callable `text -> bool | float | (bool, reason)`. `run_checks` runs several on one answer:
a check that raises is recorded as errored with its reason, and the others still run.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import CheckError

__all__ = ["Check", "CheckOutcome", "CheckResult", "SPEC_NAMES", "as_check", "as_checks", "contains", "equals",
           "from_spec", "json_schema", "json_valid", "needs_expect", "number", "regex", "require_expectations",
           "resolve_checks", "run_checks"]

_REASON_WIDTH = 60
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)
_TRAILING_PUNCTUATION = ".!?,;:"
INSTALL_HINT = "pip install 'auriko-nb[checks]'"


@dataclass(frozen=True)
class CheckOutcome:
    """What one check says of one answer: passed, a score in [0, 1], and why (empty when it passed)."""

    passed: bool
    score: float
    reason: str = ""


@dataclass(frozen=True)
class CheckResult:
    """Every check of one answer: all passed, the mean score, and the failures (`{check, reason, errored}`)."""

    passed: bool | None
    score: float | None
    failures: tuple[dict[str, Any], ...] = ()

    def row_fields(self) -> dict[str, Any]:
        """The record columns this result fills: `passed`, `score`, `checks_failed` (JSON text)."""
        if self.passed is None:
            return {"passed": None, "score": None, "checks_failed": None}
        return {"passed": self.passed, "score": self.score, "checks_failed": json.dumps(list(self.failures))}


@runtime_checkable
class Check(Protocol):
    """The check protocol: a `name`, and a call `(text, expect) -> CheckOutcome`."""

    name: str

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome: ...


def _short(text: Any) -> str:
    """A value for a one-line reason: repr, newlines escaped, cut at a readable width."""
    r = repr(text)
    return r if len(r) <= _REASON_WIDTH else r[:_REASON_WIDTH - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _verdict(ok: bool, reason: str) -> CheckOutcome:
    return CheckOutcome(True, 1.0, "") if ok else CheckOutcome(False, 0.0, reason)


class BuiltinCheck:
    """A built-in check: an optional value of its own, else the prompt's `expect`."""

    name = "check"

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def expected(self, expect: Any | None) -> Any:
        """The value to check against: the check's own, else the prompt's; neither is an error on that row."""
        value = self.value if self.value is not None else expect
        if value is None:
            raise CheckError(f"{self.name}: no expected value (give the check a value or the prompt an expect)")
        return value

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}({'' if self.value is None else _short(self.value)})"


class Contains(BuiltinCheck):
    """Passes when the answer contains the expected text (case-insensitive unless `case_sensitive`)."""

    name = "contains"

    def __init__(self, value: Any = None, *, case_sensitive: bool = False) -> None:
        super().__init__(value)
        self.case_sensitive = case_sensitive

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        want = str(self.expected(expect))
        hay, needle = (text, want) if self.case_sensitive else (text.casefold(), want.casefold())
        return _verdict(needle in hay, f"answer does not contain {_short(want)}")


class Regex(BuiltinCheck):
    """Passes when the pattern matches somewhere in the answer (`re.search`)."""

    name = "regex"

    def __init__(self, pattern: str | None = None, *, flags: int = 0) -> None:
        super().__init__(pattern)
        self.flags = flags
        self._compiled = _compile(pattern, flags) if pattern is not None else None

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        compiled = self._compiled or _compile(self.expected(expect), self.flags)
        return _verdict(compiled.search(text) is not None, f"no match for /{compiled.pattern}/")


def _compile(pattern: Any, flags: int) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise CheckError(f"regex: the pattern must be a string, got {_short(pattern)}")
    try:
        return re.compile(pattern, flags)
    except re.error as e:
        raise CheckError(f"regex: bad pattern {_short(pattern)}: {e}") from None


def normalize_text(text: str) -> str:
    """What `equals` compares: stripped, whitespace collapsed, casefolded, trailing punctuation removed."""
    return " ".join(text.split()).casefold().rstrip(_TRAILING_PUNCTUATION).strip()


class Equals(BuiltinCheck):
    """Passes when the answer equals the expected text (after `normalize_text`, unless `normalize=False`)."""

    name = "equals"

    def __init__(self, value: Any = None, *, normalize: bool = True) -> None:
        super().__init__(value)
        self.normalize = normalize

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        want = str(self.expected(expect))
        got, target = (normalize_text(text), normalize_text(want)) if self.normalize else (text, want)
        return _verdict(got == target, f"answer {_short(text)} is not {_short(want)}")


def find_numbers(text: str) -> list[float]:
    """Every number in a text, in order (signs, decimals, exponents, thousands separators)."""
    return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]


class Number(BuiltinCheck):
    """Passes when the last number in the answer is within `tol` (absolute) or `rel` (relative) of the expected."""

    name = "number"

    def __init__(self, value: Any = None, *, tol: float = 1e-6, rel: float = 0.0) -> None:
        if value is not None:
            _as_number(value)
        for label, bound in (("tol", tol), ("rel", rel)):
            if not isinstance(bound, int | float) or not bound >= 0:
                raise CheckError(f"number: {label} must be a number >= 0, got {_short(bound)}")
        super().__init__(value)
        self.tol, self.rel = float(tol), float(rel)

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        want = _as_number(self.expected(expect))
        found = find_numbers(text)
        if not found:
            return CheckOutcome(False, 0.0, "no number in the answer")
        got = found[-1]
        ok = abs(got - want) <= max(self.tol, self.rel * abs(want))
        return _verdict(ok, f"answer's number {got:g} is not {want:g} (tol {self.tol:g}, rel {self.rel:g})")


def _as_number(value: Any) -> float:
    if isinstance(value, bool):
        raise CheckError(f"number: the expected value {value!r} is not a number")
    try:
        out = float(str(value).replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise CheckError(f"number: the expected value {_short(value)} is not a number") from None
    if not math.isfinite(out):
        raise CheckError(f"number: the expected value {_short(value)} is not a finite number")
    return out


def _strip_fence(text: str) -> str:
    """An answer's JSON without a surrounding markdown code fence (```json ... ```), which models often add."""
    text = text.strip()
    m = _FENCE.match(text)
    return m.group(1).strip() if m else text


def _parse_json(text: str) -> tuple[Any, str]:
    """(the parsed answer, "") or (None, why it is not JSON)."""
    try:
        return json.loads(_strip_fence(text)), ""
    except json.JSONDecodeError as e:
        return None, f"not JSON: {e.msg} at line {e.lineno} column {e.colno}"


class JsonValid(BuiltinCheck):
    """Passes when the answer is JSON (a surrounding markdown code fence is allowed)."""

    name = "json_valid"

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        _, why = _parse_json(text)
        return _verdict(not why, why)

    def __repr__(self) -> str:
        return "json_valid()"


class JsonSchema(BuiltinCheck):
    """Passes when the answer is JSON valid against a JSON Schema (the `jsonschema` library)."""

    name = "json_schema"

    def __init__(self, schema: Any) -> None:
        super().__init__(schema)
        try:
            import jsonschema
        except ImportError:
            raise CheckError(f"json_schema needs the jsonschema package: {INSTALL_HINT}") from None
        if not isinstance(schema, dict | bool):
            raise CheckError(f"json_schema: the schema must be a dict (or a bool), got {type(schema).__name__}")
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as e:
            where = "/".join(map(str, e.path)) or "the top level"
            raise CheckError(f"json_schema: not a valid JSON Schema ({_one_line(e.message)} at {where})") from None
        self._validator = cls(schema)

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        import jsonschema

        value, why = _parse_json(text)
        if why:
            return CheckOutcome(False, 0.0, why)
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is None:
            return CheckOutcome(True, 1.0, "")
        where = "/".join(map(str, error.absolute_path)) or "the top level"
        return CheckOutcome(False, 0.0, f"schema: {_one_line(error.message)} at {where}")

    def __repr__(self) -> str:
        return f"json_schema({_short(self.value)})"


def contains(value: Any = None, *, case_sensitive: bool = False) -> Check:
    """The answer contains `value` (default: the prompt's expect); case-insensitive unless `case_sensitive`."""
    return Contains(value, case_sensitive=case_sensitive)


def regex(pattern: str | None = None, *, flags: int = 0) -> Check:
    """`pattern` (default: the prompt's expect) matches somewhere in the answer; a bad pattern is a CheckError."""
    return Regex(pattern, flags=flags)


def equals(value: Any = None, *, normalize: bool = True) -> Check:
    """The answer equals `value` (default: the prompt's expect), after normalising both (see `normalize_text`)."""
    return Equals(value, normalize=normalize)


def number(value: Any = None, *, tol: float = 1e-6, rel: float = 0.0) -> Check:
    """The last number in the answer is `value` (default: the prompt's expect) within `tol` or `rel` × value."""
    return Number(value, tol=tol, rel=rel)


def json_valid() -> Check:
    """The answer is JSON (a markdown code fence around it is allowed)."""
    return JsonValid()


def json_schema(schema: dict[str, Any] | bool) -> Check:
    """The answer is JSON valid against `schema`; a schema that is not valid JSON Schema is a CheckError now."""
    return JsonSchema(schema)


_FACTORIES = frozenset({contains, regex, equals, number, json_valid, json_schema})


class FunctionCheck:
    """A plain callable as a check: `text -> bool | float | (bool, reason)` (or `(text, expect) -> ...`)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.name = str(getattr(fn, "__name__", None) or type(fn).__name__)
        self._with_expect = _takes_two(fn)

    def __call__(self, text: str, expect: Any | None) -> CheckOutcome:
        got = self.fn(text, expect) if self._with_expect else self.fn(text)
        return _outcome(got, self.name)

    def __repr__(self) -> str:
        return f"check({self.name})"


def _takes_two(fn: Callable[..., Any]) -> bool:
    """Whether `fn` takes (text, expect) rather than (text) alone."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: called with the text alone
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return len(positional) >= 2 and positional[1].default is inspect.Parameter.empty


def _outcome(got: Any, name: str) -> CheckOutcome:
    """What a callable check returned, read as an outcome: bool, score (passed at >= 0.5), or (bool, reason)."""
    if isinstance(got, CheckOutcome):
        return got
    if isinstance(got, tuple) and len(got) == 2 and _is_bool(got[0]):
        return CheckOutcome(bool(got[0]), 1.0 if got[0] else 0.0, "" if got[0] else _one_line(str(got[1])))
    if _is_bool(got):
        return _verdict(bool(got), "returned False")
    if isinstance(got, int | float) or type(got).__module__ == "numpy":
        try:
            score = float(got)
        except (TypeError, ValueError):
            score = math.nan
        if not 0.0 <= score <= 1.0:
            raise CheckError(f"{name}: score {_short(got)} is not in [0, 1]")
        return CheckOutcome(score >= 0.5, score, "" if score >= 0.5 else f"score {score:g} < 0.5")
    raise CheckError(f"{name}: returned {_short(got)}; a check returns a bool, a score in [0, 1] or (bool, reason)")


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool) or (type(v).__module__ == "numpy" and type(v).__name__ in ("bool", "bool_"))


def as_check(obj: Any) -> Check:
    """`obj` as a check: a check as it is, any other callable wrapped (see `FunctionCheck`); else a CheckError."""
    if any(obj is f for f in _FACTORIES):
        raise CheckError(f"checks: {obj.__name__} makes a check: call it, e.g. {obj.__name__}()")
    if isinstance(obj, type):
        raise CheckError(f"checks: {obj.__name__} is a class, not a check")
    if callable(obj) and isinstance(getattr(obj, "name", None), str):
        return obj
    if callable(obj):
        return FunctionCheck(obj)
    raise CheckError(f"checks: {_short(obj)} is not a check; give one of ak.checks (contains(), number(), ...) "
                     "or a callable text -> bool | float | (bool, reason)")


def as_checks(checks: Any) -> tuple[Check, ...]:
    """None, one check or a list of them, as a tuple of checks (each through `as_check`)."""
    if checks is None:
        return ()
    if isinstance(checks, list | tuple):
        return tuple(as_check(c) for c in checks)
    return (as_check(checks),)


def run_checks(text: str, expect: Any | None, checks: Iterable[Check] | Sequence[Check]) -> CheckResult:
    """Run every check on one answer: all passed, the mean score, the failures; a raising check is errored.

    `checks` may hold plain callables too (wrapped by `as_check`; something else is a CheckError at once)."""
    scores: list[float] = []
    failures: list[dict[str, Any]] = []
    for check in as_checks(list(checks)):
        name = check.name
        try:
            out = check(text, expect)
            if not isinstance(out, CheckOutcome):
                out = _outcome(out, name)
        except Exception as e:  # noqa: BLE001 - a failing check is that row's finding, never the sweep's end
            reason = _one_line(str(e)) if isinstance(e, CheckError) else f"{type(e).__name__}: {_one_line(str(e))}"
            failures.append({"check": name, "reason": reason, "errored": True})
            scores.append(0.0)
            continue
        score = min(1.0, max(0.0, float(out.score))) if out.score == out.score else 0.0
        scores.append(score)
        if not out.passed:
            failures.append({"check": name, "reason": _one_line(out.reason) or "failed", "errored": False})
    if not scores:
        return CheckResult(None, None, ())
    return CheckResult(not failures, sum(scores) / len(scores), tuple(failures))


SPEC_NAMES = ("contains", "regex", "equals", "number", "json_valid", "json_schema")


def from_spec(spec: str) -> Check:
    """A check from its text form, as the magic, the panel and the CLI take it: `name` or `name=value`.

    `contains`, `equals`, `number` (with no value: the prompt's `expect`), `contains=text`, `regex=PATTERN`,
    `number=42`, `number=42~0.5` (a tolerance), `json_valid`, `json_schema=<JSON Schema as JSON>`.
    """
    name, sep, value = str(spec).strip().partition("=")
    name = name.strip().lower().replace("-", "_")
    if name not in SPEC_NAMES:
        raise CheckError(f"check {spec!r}: unknown check {name!r}; known: {', '.join(SPEC_NAMES)}")
    arg: Any = value if sep else None
    if name == "json_valid":
        if sep:
            raise CheckError(f"check {spec!r}: json_valid takes no value")
        return json_valid()
    if name == "json_schema":
        if not sep:
            raise CheckError(f"check {spec!r}: json_schema needs a schema: json_schema={{...}}")
        try:
            schema = json.loads(value)
        except json.JSONDecodeError as e:
            raise CheckError(f"check {spec!r}: the schema is not JSON ({e.msg} at char {e.pos})") from None
        return json_schema(schema)
    if name == "number" and arg is not None:
        target, _, tol = arg.partition("~")
        return number(target.strip(), tol=_as_number(tol)) if tol.strip() else number(target.strip())
    if name == "regex" and arg is None:
        return regex()
    makers: dict[str, Callable[[Any], Check]] = {"contains": contains, "equals": equals, "regex": regex,
                                                 "number": number}
    return makers[name](arg)


_VALUE_CHECKS = ("contains", "equals", "number", "regex")  # judge against the prompt's expect without a value


def needs_expect(check: Check) -> bool:
    """Whether the check judges against the prompt's expected answer (a built-in given no value of its own)."""
    return getattr(check, "name", None) in _VALUE_CHECKS and getattr(check, "value", "") is None


def resolve_checks(checks: Any, *, expect_given: bool = False) -> tuple[Check, ...]:
    """Checks given as Check objects, callables or text forms (`from_spec`); with none given but an expected
    answer, `contains` (the answer contains it): the one rule of the magic, the panel and the command line."""
    if checks is None:
        items: list[Any] = []
    elif isinstance(checks, str) or not isinstance(checks, list | tuple):
        items = [checks]
    else:
        items = list(checks)
    chosen = tuple(from_spec(c) if isinstance(c, str) else as_check(c) for c in items)
    return chosen or ((contains(),) if expect_given else ())


def require_expectations(checks: Sequence[Check], specs: Sequence[Any]) -> None:
    """A check that judges against the expected answer needs one on every prompt: else one CheckError line
    before any call (instead of an errored check on every row)."""
    needy = [c for c in checks if needs_expect(c)]
    missing = [s.label for s in specs if s.expect is None]
    if needy and missing:
        name = needy[0].name
        raise CheckError(f"check {name} compares with the prompt's expected answer, but prompt {missing[0]} has "
                         f"none: give an expected answer or the check a value ({name}=...)")
