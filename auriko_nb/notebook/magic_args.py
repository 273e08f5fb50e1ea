"""Parsing of the `%%auriko` cell line and the `%auriko SUBCOMMAND` line: argparse that raises instead of exiting."""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..errors import CheckError, MagicUsageError
from ..measure.checks import Check, from_spec
from ..types.request import STRATEGIES
from .commands import CONFIG_KEYS, SLO_KEYS

FORMATS = ("markdown", "text", "code", "json")
_CAPTURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<<\s*(.*)$", re.S)


__all__ = ["CONFIG_KEYS", "SUBCOMMANDS", "CellOptions", "MagicUsageError", "build_parser", "build_subcommand_parser",
           "parse_line", "parse_subcommand", "subcommand_help"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one MagicUsageError line naming the command, plus a hint."""

    def __init__(self, *args: Any, hint: str = "see %auriko help", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hint = hint

    def error(self, message: str) -> NoReturn:
        raise MagicUsageError(f"{self.prog}: {message} ({self.hint})")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise MagicUsageError((message or "").strip() or f"{self.prog}: {self.hint}")


def _csv(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _compare(text: str) -> tuple[str, list[str]]:
    key, sep, raw = text.partition("=")
    key = {"optimize": "optimize", "strategy": "optimize", "model": "model"}.get(key.strip(), "")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected optimize=a,b or model=a,b, got {text!r}")
    values = _csv(raw)
    if key == "optimize":
        bad = [v for v in values if v not in STRATEGIES and v != "none"]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown strategy {bad[0]!r}; choose from {', '.join(STRATEGIES)}")
    return key, values


def _number(text: str, convert: Callable[[str], Any], what: str, ok: Callable[[Any], bool], rule: str) -> Any:
    """`text` converted; an ArgumentTypeError naming what was expected, or the rule the value breaks."""
    try:
        v = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"{rule}, got {text}")
    return v


def _positive_float(text: str) -> float:
    return float(_number(text, float, "a number", lambda v: v > 0, "must be > 0"))


def _positive_int(text: str) -> int:
    return int(_number(text, int, "a whole number", lambda v: v >= 1, "must be >= 1"))


def _seconds(text: str) -> float:
    return float(_number(text, float, "a number of seconds", lambda v: math.isfinite(v) and v > 0,
                         "must be a finite number of seconds > 0"))


def _milliseconds(text: str) -> float:
    return float(_number(text, float, "a number of milliseconds", lambda v: math.isfinite(v) and v > 0,
                         "must be a number of milliseconds > 0"))


def _rate(text: str) -> float:
    """A rate: 0.9 or 90%."""
    pct = text.strip().endswith("%")
    value = float(_number(text.strip().rstrip("%"), float, "a rate such as 0.9 or 90%",
                          lambda v: 0 <= (v / 100 if pct else v) <= 1, "must be between 0 and 1 (or 0% and 100%)"))
    return value / 100 if pct else value


def _check(text: str) -> Check:
    """A check from its text form (`checks.from_spec`): contains, regex=PATTERN, number=42~0.5, json_valid, ..."""
    try:
        return from_spec(text)
    except CheckError as e:
        raise argparse.ArgumentTypeError(e.message) from None


def _temperature(text: str) -> float:
    return float(_number(text, float, "a number", lambda v: 0 <= v <= 2, "must be between 0 and 2"))


def build_parser() -> argparse.ArgumentParser:
    """The `%%auriko` option parser."""
    p = _Parser(prog="%%auriko", add_help=False, allow_abbrev=False)
    p.add_argument("-m", "--model")
    p.add_argument("-s", "--optimize", choices=STRATEGIES, metavar="STRATEGY")
    p.add_argument("--no-optimize", action="store_true")
    p.add_argument("--max-ttft-ms", type=_positive_int)
    p.add_argument("--max-cost-per-1m", type=_positive_float)
    p.add_argument("--min-tps", type=_positive_float)
    p.add_argument("--providers", type=_csv)
    p.add_argument("--exclude", type=_csv)
    p.add_argument("--prefer")
    p.add_argument("--require-parameters", action="store_true")
    p.add_argument("--system")
    p.add_argument("--temperature", type=_temperature)
    p.add_argument("--max-tokens", type=_positive_int)
    p.add_argument("--deadline", type=_seconds, metavar="SECONDS")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE")
    p.add_argument("--tag", action="append", default=[])
    p.add_argument("--trace-id")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--format", choices=FORMATS, default="markdown")
    p.add_argument("--chat", action="store_true")
    p.add_argument("--responses", action="store_true")
    p.add_argument("-o", "--out", metavar="VAR")
    p.add_argument("--compare", type=_compare, metavar="optimize=a,b|model=a,b")
    p.add_argument("--repeat", type=_positive_int, default=1)
    p.add_argument("--expect", metavar="TEXT")
    p.add_argument("--check", action="append", type=_check, default=[], metavar="SPEC")
    p.add_argument("--max-ttft-p95", type=_milliseconds, metavar="MS")
    p.add_argument("--max-latency-p95", type=_milliseconds, metavar="MS")
    p.add_argument("--min-pass-rate", type=_rate, metavar="X")
    p.add_argument("--min-success-rate", type=_rate, metavar="X")
    return p


_PARSER = build_parser()
# --param names that a dedicated option sets, or that `NotebookSession.ask` / `compare` take themselves
_RESERVED_PARAMS = ("messages", "model", "stream", "gateway", "deadline", "system", "routing", "no_optimize",
                    "metadata", "tags", "trace_id", "chat", "endpoint", "by", "values", "repeats", "expect", "checks", "slo",
                    *SLO_KEYS)
# the options that only a --compare cell takes: (flag, its argparse dest)
_COMPARE_ONLY = (("--expect", "expect"), ("--check", "check"), ("--max-ttft-p95", "max_ttft_p95"),
                 ("--max-latency-p95", "max_latency_p95"), ("--min-pass-rate", "min_pass_rate"),
                 ("--min-success-rate", "min_success_rate"))


@dataclass
class CellOptions:
    """Everything the `%%auriko` line asked for, typed."""

    capture: str | None = None
    model: str | None = None
    routing: dict[str, Any] = field(default_factory=dict)
    no_optimize: bool = False
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    trace_id: str | None = None
    stream: bool | None = None
    format: str = "markdown"
    chat: bool = False
    responses: bool = False
    """--responses: send the cell through the Responses API (automatic for a model served only there)."""
    out: str | None = None
    compare: tuple[str, list[str]] | None = None
    repeat: int = 1
    expect: str | None = None
    checks: list[Check] = field(default_factory=list)
    slo: dict[str, float] = field(default_factory=dict)


def parse_line(line: str) -> CellOptions:
    """Parse `[VAR <<] [options]`; raise MagicUsageError with one line naming the problem."""
    capture = None
    m = _CAPTURE.match(line)
    if m:
        capture, line = m.group(1), m.group(2)
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise MagicUsageError(f"%%auriko: cannot parse the line ({e})") from None
    a = _PARSER.parse_args(argv)
    if a.optimize and a.no_optimize:
        raise MagicUsageError("%%auriko: --optimize and --no-optimize contradict each other")
    routing: dict[str, Any] = {}
    for key, value in (("optimize", a.optimize), ("max_ttft_ms", a.max_ttft_ms),
                       ("max_cost_per_1m", a.max_cost_per_1m), ("min_throughput_tps", a.min_tps),
                       ("providers", a.providers), ("exclude_providers", a.exclude), ("prefer", a.prefer)):
        if value is not None:
            routing[key] = value
    if a.require_parameters:
        routing["require_parameters"] = True
    params = dict(a.param)
    for reserved in _RESERVED_PARAMS:
        if reserved in params:
            raise MagicUsageError(f"%%auriko: --param {reserved}=... is not allowed; use the dedicated option")
    if a.temperature is not None:
        params["temperature"] = a.temperature
    if a.max_tokens is not None:
        params["max_tokens"] = a.max_tokens
    if a.deadline is not None:
        params["deadline"] = a.deadline  # the client's total limit for the call, not an OpenAI parameter
    if a.out is not None and not a.out.isidentifier():
        raise MagicUsageError(f"%%auriko: -o needs a variable name, got {a.out!r}")
    for flag in ("chat", "responses"):
        if a.compare and getattr(a, flag):
            raise MagicUsageError(f"%%auriko: --compare and --{flag} cannot be combined")
    return CellOptions(capture=capture, model=a.model, routing=routing, no_optimize=a.no_optimize,
                       system=a.system, params=params, tags=a.tag, trace_id=a.trace_id,
                       stream=False if a.no_stream else None, format=a.format, chat=a.chat,
                       responses=a.responses, out=a.out,
                       compare=a.compare, repeat=a.repeat, expect=a.expect, checks=a.check, slo=_slo(a))


def _slo(a: argparse.Namespace) -> dict[str, float]:
    """The SLO flags as `recommend` keywords; they, --expect and --check need --compare (one usage line)."""
    if not a.compare:
        given = [flag for flag, dest in _COMPARE_ONLY if getattr(a, dest) not in (None, [])]
        if given:
            raise MagicUsageError(f"%%auriko: {given[0]} needs --compare (it judges a comparison)")
    return {key: value for key, value in zip(SLO_KEYS, (a.max_ttft_p95, a.max_latency_p95, a.min_pass_rate,
                                                        a.min_success_rate), strict=True) if value is not None}


# -- %auriko SUBCOMMAND -----------------------------------------------------------------------------------------

SUBCOMMANDS = {
    "help": ("", "this help"),
    "status": ("", "connection, API key (never shown), defaults, ledger file, this session's calls and spend"),
    "login": ("", "type an API key at a hidden prompt; the next calls go to the live API"),
    "use": ("live|offline|auto", "where the calls go"),
    "config": ("[KEY=VALUE ...]", f"session defaults; keys: {', '.join(CONFIG_KEYS)}"),
    "models": ("[FILTER ...]", "the model directory (ids containing a filter word)"),
    "providers": ("", "the providers and their data policies"),
    "prices": ("MODEL", "the price tiers of one model at each provider"),
    "me": ("", "the key's workspace"),
    "balance": ("", "the credit balance the last response reported"),
    "log": ("[N]", "this session's calls (the last N)"),
    "reset": ("", "forget the --chat conversation"),
    "routing": ("", "open the routing panel"),
    "compare": ("", "open the comparison panel"),
}
_HINTS = {
    "prices": "name one model, e.g. %auriko prices gpt-4o",
    "compare": "it takes no arguments and opens the panel; use %%auriko --compare optimize=a,b for a one-cell "
               "comparison",
}
_NONE_WORDS = ("", "none", "off", "null")
_BOOL_WORDS = {"true": True, "on": True, "1": True, "yes": True, "false": False, "off": False, "0": False, "no": False}


def _bool(text: str) -> bool:
    return _BOOL_WORDS[text.lower()]  # a KeyError becomes "needs true or false" below


def _optimize(text: str) -> str | bool:
    return False if text.lower() == "off" else text  # off: send no routing at all; none: clear the strategy


_CONFIG_VALUES: dict[str, tuple[Callable[[str], Any], str, bool]] = {  # key: (type, what it needs, none clears it)
    "model": (str, "a model id", False), "optimize": (_optimize, "a strategy", True),
    "max_ttft_ms": (int, "a whole number", True), "max_cost_per_1m": (float, "a number", True),
    "min_tps": (float, "a number", True), "providers": (_csv, "a comma-separated list", True),
    "exclude": (_csv, "a comma-separated list", True), "prefer": (str, "a provider", True),
    "data_policy": (str, "a data policy", True), "stream": (_bool, "true or false", False),
    "max_tokens": (int, "a whole number", True), "ledger": (str, "a path, '' or off", False),
    "speed": (float, "a number", False), "store_text": (_bool, "true or false", False),
}


def _config_item(text: str) -> tuple[str, Any]:
    """`key=value` -> (key, typed value); 'none'/'off'/'' clear a routing limit (None); ranges are checked later."""
    key, sep, raw = text.partition("=")
    if not sep or key not in _CONFIG_VALUES:
        raise argparse.ArgumentTypeError(f"expected key=value with key in {', '.join(CONFIG_KEYS)}; got {text!r}")
    convert, needs, clearable = _CONFIG_VALUES[key]
    raw = raw.strip()
    if clearable and raw.lower() in _NONE_WORDS and not (key == "optimize" and raw.lower() == "off"):
        return key, None
    try:
        return key, convert(raw)
    except (ValueError, KeyError):  # only the conversion of the one word above
        raise argparse.ArgumentTypeError(f"{key} needs {needs}, got {raw!r}") from None


def _mode(text: str) -> str:
    if text not in ("live", "offline", "auto"):
        raise argparse.ArgumentTypeError(f"expected live, offline or auto, got {text!r}")
    return text


def build_subcommand_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `%auriko` parser (one subparser per subcommand) and its subparsers by name."""
    top = _Parser(prog="%auriko", add_help=False, allow_abbrev=False, usage="%(prog)s SUBCOMMAND [ARGS]")
    sub = top.add_subparsers(dest="command", metavar="SUBCOMMAND", title="subcommands", parser_class=_Parser)
    parsers: dict[str, argparse.ArgumentParser] = {name: sub.add_parser(name, prog=f"%auriko {name}", help=f"{args + ': ' if args else ''}{text}", add_help=False,
                                    allow_abbrev=False, hint=_HINTS.get(name, "see %auriko help"))
               for name, (args, text) in SUBCOMMANDS.items()}
    parsers["use"].add_argument("mode", type=_mode, metavar="MODE")
    parsers["config"].add_argument("items", nargs="*", type=_config_item, metavar="KEY=VALUE")
    parsers["models"].add_argument("filters", nargs="*", metavar="FILTER")
    parsers["prices"].add_argument("model", metavar="MODEL")
    parsers["log"].add_argument("n", nargs="?", type=_positive_int, metavar="N")
    return top, parsers


_SUB_PARSER, _SUB_PARSERS = build_subcommand_parser()


def subcommand_help() -> str:
    """What `%auriko help` prints: the subcommands, from the parser."""
    return _SUB_PARSER.format_help()


def parse_subcommand(line: str) -> argparse.Namespace:
    """Parse `%auriko SUBCOMMAND [ARGS]` (empty: help); raise MagicUsageError with one line naming the problem."""
    try:
        argv = shlex.split(line) or ["help"]
    except ValueError as e:
        raise MagicUsageError(f"%auriko: cannot parse the line ({e})") from None
    if argv[0] not in _SUB_PARSERS:
        raise MagicUsageError(f"%auriko: unknown subcommand {argv[0]!r}; try %auriko help")
    ns, extra = _SUB_PARSER.parse_known_args(argv)
    if extra:
        _SUB_PARSERS[ns.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return ns
