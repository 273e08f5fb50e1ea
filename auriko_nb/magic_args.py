"""Parsing of the `%%auriko` line into a typed request: argparse that raises instead of exiting."""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .types.request import STRATEGIES

FORMATS = ("markdown", "text", "code", "json")
_CAPTURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<<\s*(.*)$", re.S)


class MagicUsageError(ValueError):
    """A bad `%%auriko` line: unknown flag, missing or malformed value."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise MagicUsageError(f"%%auriko: {message} (see %auriko help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise MagicUsageError((message or "").strip() or "%%auriko: see %auriko help")


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


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return v


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return v


def _temperature(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= v <= 2:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2, got {text}")
    return v


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
    p.add_argument("-o", "--out", metavar="VAR")
    p.add_argument("--compare", type=_compare, metavar="optimize=a,b|model=a,b")
    p.add_argument("--repeat", type=_positive_int, default=1)
    return p


_PARSER = build_parser()


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
    out: str | None = None
    compare: tuple[str, list[str]] | None = None
    repeat: int = 1


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
    for reserved in ("messages", "model", "stream", "gateway", "deadline"):
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
    if a.compare and a.chat:
        raise MagicUsageError("%%auriko: --compare and --chat cannot be combined")
    return CellOptions(capture=capture, model=a.model, routing=routing, no_optimize=a.no_optimize,
                       system=a.system, params=params, tags=a.tag, trace_id=a.trace_id,
                       stream=False if a.no_stream else None, format=a.format, chat=a.chat, out=a.out,
                       compare=a.compare, repeat=a.repeat)
