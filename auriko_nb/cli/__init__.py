"""The `auriko-nb` command line: `serve` (the offline gateway), `compare` (a sweep from a terminal) and `ledger`
(copy between SQLite and PostgreSQL, export; cli/ledger.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .ledger import add_ledger_commands

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


def _fault_rate(text: str) -> tuple[str, float]:
    """Parse KIND=RATE (argparse type)."""
    kind, sep, rate = text.partition("=")
    try:
        value = float(rate)
    except ValueError:
        value = -1.0
    if not sep or not kind or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected KIND=RATE with RATE in [0, 1], got {text!r}")
    return kind.strip(), value


def _serve(args: argparse.Namespace) -> int:
    """Run the offline gateway in the foreground until interrupted."""
    from ..offline.app import create_app
    from ..offline.faults import FaultConfig
    from ..offline.server import bind_socket, make_server

    try:
        faults = FaultConfig(rates=dict(args.fault_rate or []),
                             providers_down=frozenset(p.strip() for p in (args.providers_down or "").split(",") if p.strip()),
                             stall_seconds=args.stall_seconds)
        app = create_app(seed=args.seed, speed=args.speed, faults=faults, rpm=args.rpm, credit_usd=args.credit_usd,
                         fixed_latency_ms=args.fixed_latency_ms)
        sock = bind_socket(args.host, args.port)
    except (ValueError, OSError) as e:
        print(f"auriko-nb serve: {e}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    fixed = f", fixed latency {args.fixed_latency_ms:g} ms" if args.fixed_latency_ms is not None else ""
    print(f"Auriko offline gateway (simulation) listening on http://{host}:{port}/v1 "
          f"(seed={args.seed}, speed={args.speed:g}{fixed}); Ctrl+C to stop", flush=True)
    server = make_server(app, log_level=args.log_level, embedded=False)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _split(values: Sequence[str] | None) -> list[str]:
    """Repeatable and comma-separated option values, flattened."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def read_prompts(args: argparse.Namespace) -> list[str | dict[str, Any]]:
    """Prompts from the arguments, plus a file: .jsonl (one object a line: prompt, expect, id), .csv (prompt,
    expect, id columns) or text ('-' for stdin) read by `parse_prompts` (the panel's rule: blocks, `==> expected`)."""
    prompts: list[str | dict[str, Any]] = list(args.prompt or [])
    path = args.prompts_file
    if path:
        suffix = Path(path).suffix.lower() if path != "-" else ""
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        if suffix == ".jsonl":
            prompts += _jsonl_prompts(text, path)
        elif suffix == ".csv":
            prompts += _csv_prompts(text, path)
        else:
            from ..measure.comparison import parse_prompts

            prompts += [p if p["expect"] is not None else p["prompt"] for p in parse_prompts(text)]
    return prompts


def _prompt_row(row: Any, where: str) -> dict[str, Any]:
    """One prompt with its expectation: `prompt` (text), optional `expect` and `id`; other keys are ignored."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object with a 'prompt', got {type(row).__name__}")
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: 'prompt' must be a non-empty text"
                               + ("" if "prompt" in row else f" (keys: {', '.join(map(str, row)) or 'none'})"))
    out: dict[str, Any] = {"prompt": prompt}
    for key in ("expect", "id"):
        if row.get(key) not in (None, ""):
            out[key] = row[key]
    if isinstance(out.get("id"), dict | list):
        raise ValueError(f"{where}: 'id' must be a text or a number")
    return out


def _jsonl_prompts(text: str, path: str) -> list[dict[str, Any]]:
    import json

    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise ValueError(f"{path} line {n}: not JSON ({getattr(e, 'msg', e)})") from None
        rows.append(_prompt_row(row, f"{path} line {n}"))
    return rows


def _csv_prompts(text: str, path: str) -> list[dict[str, Any]]:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    if "prompt" not in fields:
        raise ValueError(f"{path}: no 'prompt' column (columns: {', '.join(fields) or 'none'})")
    reader.fieldnames = fields
    try:
        return [_prompt_row(row, f"{path} row {n}") for n, row in enumerate(reader, start=1)]
    except csv.Error as e:
        raise ValueError(f"{path} line {reader.line_num}: {e}") from None


_SLO_FLAGS = (("max_ttft_p95", "max_ttft_p95_ms"), ("max_latency_p95", "max_latency_p95_ms"),
              ("min_pass_rate", "min_pass_rate"), ("min_success_rate", "min_success_rate"))


def _plan(args: argparse.Namespace) -> tuple[list[Any], tuple[Any, ...], dict[str, Any]]:
    """Everything checked before any call: the prompts, the checks and the SLO (one-line errors)."""
    from ..measure.checks import require_expectations, resolve_checks
    from ..measure.prompts import prompt_specs
    from ..notebook.commands import check_slo

    prompts: list[Any] = read_prompts(args)
    if not prompts:
        raise ValueError("no prompts: give them as arguments or with --prompts-file")
    if not 0 < args.ci < 1:
        raise ValueError(f"--ci must be a level between 0 and 1 (e.g. 0.95), got {args.ci:g}")
    specs = prompt_specs(prompts)
    checks = resolve_checks(list(args.check or []), expect_given=any(s.expect is not None for s in specs))
    require_expectations(checks, specs)
    slo = {key: getattr(args, dest) for dest, key in _SLO_FLAGS if getattr(args, dest) is not None}
    return prompts, checks, check_slo(slo, checked=bool(checks), stream=not args.no_stream)


def _compare(args: argparse.Namespace) -> int:
    """Run a sweep, print its summary with intervals and its recommendation, write a cost-vs-TTFT chart (and
    with --answers the answer matrix, with --export the rows)."""
    from ..errors import AurikoError
    from ..measure.sweep import compare
    from ..notebook.connect import connect

    try:
        prompts, checks, slo = _plan(args)
        strategies: list[str | None] | None = [None if s == "none" else s for s in _split(args.strategy)] or None
        client = connect(mode=args.mode, speed=args.speed)
        params = {"max_tokens": args.max_tokens} if args.max_tokens else {}
        cmp = compare(prompts, models=_split(args.model) or ["gpt-4o-mini"], strategies=strategies,
                      repeats=args.repeats, concurrency=args.concurrency, budget_usd=args.budget_usd,
                      stream=not args.no_stream, ledger=args.ledger or None, resume=args.resume, client=client,
                      progress=not args.quiet, checks=list(checks) or None, **params)
    except (AurikoError, ValueError, OSError) as e:
        print(f"auriko-nb compare: {e}", file=sys.stderr)
        return 2
    return _report(args, cmp, slo, offline=client.source == "offline")


def _report(args: argparse.Namespace, cmp: Any, slo: dict[str, Any], *, offline: bool) -> int:
    """Print what a comparison found: counts, summary with intervals, recommendation, answers; chart and rows."""
    from ..errors import AnalysisError
    from ..measure.analysis import summarize
    from ..measure.answers import answers
    from ..measure.recommend import recommend
    from ..notebook.commands import summary_text

    df = cmp.rows
    run_id = str(df["run_id"].iloc[0])
    print(f"run {run_id}{' (offline simulation)' if offline else ''}: {len(df)} calls, "
          f"{int((df.status == 'ok').sum())} ok, ${df['cost_usd'].astype(float).sum():.6f} spent")
    summary = summarize(df, by=_split(args.by), ci=args.ci) if args.by else cmp.summary(ci=args.ci)
    print(summary_text(summary))
    try:
        print(f"\n{recommend(cmp, ci=args.ci, **slo)}")
    except AnalysisError as e:
        print(f"auriko-nb compare: no recommendation: {e}", file=sys.stderr)
    if args.answers:
        print(f"\n{answers(cmp)}")
    if args.chart != "none":
        from matplotlib.figure import Figure

        path = args.chart or f"auriko-compare-{run_id}.png"
        fig = Figure(figsize=(7, 4.5))
        cmp.plot(ax=fig.add_subplot(), ci=args.ci)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        print(f"chart written to {path}")
    if args.export:
        try:
            print(f"rows written to {cmp.export(args.export)}")
        except (OSError, ValueError) as e:
            print(f"auriko-nb compare: {e}", file=sys.stderr)
            return 2
    return 0


def _pandas_wide() -> Any:
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 6)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command (add new commands here)."""
    parser = argparse.ArgumentParser(prog="auriko-nb", description="Tools for the Auriko LLM gateway.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="run the offline gateway (a local simulation of the Auriko API)",
                           description="Run the offline gateway in the foreground.")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    serve.add_argument("--seed", type=int, default=0, help="seed for texts, timings and faults (default 0)")
    serve.add_argument("--speed", type=float, default=1.0, help="scale for every delay, e.g. 0.1 (default 1.0)")
    serve.add_argument("--fault-rate", action="append", type=_fault_rate, metavar="KIND=RATE",
                       help="inject a fault kind at this rate (repeatable), e.g. rate_limit=0.05")
    serve.add_argument("--providers-down", default="", metavar="A,B", help="providers that fail (comma-separated)")
    serve.add_argument("--stall-seconds", type=float, default=30.0, help="how long the stall fault lasts")
    serve.add_argument("--rpm", type=int, default=None, help="enforce this many inference requests per minute")
    serve.add_argument("--credit-usd", type=float, default=25.0, help="starting credit balance in USD")
    serve.add_argument("--fixed-latency-ms", type=float, default=None, metavar="N",
                       help="pin every call's TTFT to N ms (times --speed), the rest of the answer right after, "
                            "instead of sampling each provider's latency profile")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=_serve)

    _add_compare(sub)
    add_ledger_commands(sub)
    return parser


def _add_compare(sub: Any) -> None:
    """The `compare` subcommand: the grid, the checks and SLO, what to print and write."""
    cmp = sub.add_parser("compare", help="run prompts x models x strategies x repeats and summarise",
                         description="Run a comparison sweep, print the summary with intervals and a recommendation "
                                     "(under the SLO flags) and write a chart PNG. "
                                     "Without AURIKO_API_KEY it runs on the offline gateway (a simulation).")
    cmp.add_argument("prompt", nargs="*", help="prompts (or use --prompts-file)")
    cmp.add_argument("--prompts-file", metavar="FILE",
                     help="prompts: .jsonl (one object a line: prompt, expect, id), .csv (prompt, expect, id "
                          "columns) or text split on blank lines ('-' for stdin)")
    cmp.add_argument("--check", action="append", metavar="SPEC",
                     help="a check of every answer (repeatable): contains, equals, number, regex (these use each "
                          "prompt's expect), contains=TEXT, regex=PATTERN, number=42~0.5, json_valid, "
                          "json_schema={...}; default with expectations: contains")
    cmp.add_argument("--max-ttft-p95", type=float, metavar="MS", help="SLO: TTFT p95 at most MS (upper bound)")
    cmp.add_argument("--max-latency-p95", type=float, metavar="MS", help="SLO: latency p95 at most MS (upper bound)")
    cmp.add_argument("--min-pass-rate", type=float, metavar="X", help="SLO: pass rate at least X (lower bound)")
    cmp.add_argument("--min-success-rate", type=float, metavar="X",
                     help="SLO: success rate at least X (lower bound)")
    cmp.add_argument("--ci", type=float, default=0.95, metavar="LEVEL",
                     help="interval level of the summary and the recommendation (default 0.95)")
    cmp.add_argument("--answers", action="store_true", help="print the answers side by side (prompts x groups)")
    cmp.add_argument("-m", "--model", action="append", metavar="M[,M]", help="model(s) to compare (repeatable)")
    cmp.add_argument("-s", "--strategy", action="append", metavar="S[,S]",
                     help="strategies to compare (repeatable; 'none' sends no preference)")
    cmp.add_argument("-n", "--repeats", type=int, default=1, help="repeats per cell (default 1)")
    cmp.add_argument("-c", "--concurrency", type=int, default=8, help="requests in flight at most (default 8)")
    cmp.add_argument("--budget-usd", type=float, default=None, help="refuse or stop past this spend")
    cmp.add_argument("--max-tokens", type=int, default=None, help="max_tokens for every call")
    cmp.add_argument("--no-stream", action="store_true", help="send non-streamed requests")
    cmp.add_argument("--ledger", default="", metavar="PATH|URL",
                     help="append rows to this ledger: a SQLite file or a postgresql:// URL")
    cmp.add_argument("--resume", metavar="RUN_ID", help="run only the cells of RUN_ID without an ok row")
    cmp.add_argument("--by", action="append", metavar="COL[,COL]",
                     help="summary grouping (default: the axes that vary among model, strategy, provider)")
    cmp.add_argument("--export", default="", metavar="FILE", help="write the rows to FILE (.csv or .parquet)")
    cmp.add_argument("--chart", default="", metavar="PNG", help="chart path (default auriko-compare-RUN.png; 'none')")
    cmp.add_argument("--mode", choices=["auto", "live", "offline"], default="auto", help="live API or offline gateway")
    cmp.add_argument("--speed", type=float, default=None, help="offline gateway speed factor")
    cmp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    cmp.set_defaults(handler=_compare)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `auriko-nb` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)

