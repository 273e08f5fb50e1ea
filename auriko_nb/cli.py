"""The `auriko-nb` command line: `serve` (the offline gateway) and `compare` (a sweep from a terminal)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
    from .offline.app import create_app
    from .offline.faults import FaultConfig
    from .offline.server import bind_socket, make_server

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


def read_prompts(args: argparse.Namespace) -> list[str]:
    """Prompts from the arguments, plus a file (or '-' for stdin) split by `split_prompts` (the panel's rule)."""
    from .measure.comparison import split_prompts

    prompts = list(args.prompt or [])
    if args.prompts_file:
        text = sys.stdin.read() if args.prompts_file == "-" else Path(args.prompts_file).read_text(encoding="utf-8")
        prompts += split_prompts(text)
    return prompts


def _compare(args: argparse.Namespace) -> int:
    """Run a sweep, print its summary table and write a cost-vs-TTFT chart (and the rows, with --export)."""
    from .errors import AurikoError
    from .measure.analysis import summarize
    from .measure.sweep import compare
    from .notebook.connect import connect

    try:
        prompts = read_prompts(args)
        if not prompts:
            raise ValueError("no prompts: give them as arguments or with --prompts-file")
        strategies: list[str | None] | None = [None if s == "none" else s for s in _split(args.strategy)] or None
        client = connect(mode=args.mode, speed=args.speed)
        params = {"max_tokens": args.max_tokens} if args.max_tokens else {}
        cmp = compare(prompts, models=_split(args.model) or ["gpt-4o-mini"], strategies=strategies,
                     repeats=args.repeats, concurrency=args.concurrency, budget_usd=args.budget_usd,
                     stream=not args.no_stream, ledger=args.ledger or None, resume=args.resume, client=client,
                     progress=not args.quiet, **params)
    except (AurikoError, ValueError, OSError) as e:
        print(f"auriko-nb compare: {e}", file=sys.stderr)
        return 2
    df = cmp.rows
    run_id = str(df["run_id"].iloc[0])
    label = " (offline simulation)" if client.source == "offline" else ""
    print(f"run {run_id}{label}: {len(df)} calls, {int((df.status == 'ok').sum())} ok, "
          f"${df['cost_usd'].astype(float).sum():.6f} spent")
    with _pandas_wide():
        print((summarize(df, by=_split(args.by)) if args.by else cmp.summary()).to_string())
    if args.chart != "none":
        from matplotlib.figure import Figure

        path = args.chart or f"auriko-compare-{run_id}.png"
        fig = Figure(figsize=(7, 4.5))
        cmp.plot(ax=fig.add_subplot())
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

    cmp = sub.add_parser("compare", help="run prompts x models x strategies x repeats and summarise",
                         description="Run a comparison sweep, print the summary table and write a chart PNG. "
                                     "Without AURIKO_API_KEY it runs on the offline gateway (a simulation).")
    cmp.add_argument("prompt", nargs="*", help="prompts (or use --prompts-file)")
    cmp.add_argument("--prompts-file", metavar="FILE", help="prompts separated by blank lines ('-' for stdin)")
    cmp.add_argument("-m", "--model", action="append", metavar="M[,M]", help="model(s) to compare (repeatable)")
    cmp.add_argument("-s", "--strategy", action="append", metavar="S[,S]",
                     help="strategies to compare (repeatable; 'none' sends no preference)")
    cmp.add_argument("-n", "--repeats", type=int, default=1, help="repeats per cell (default 1)")
    cmp.add_argument("-c", "--concurrency", type=int, default=8, help="requests in flight at most (default 8)")
    cmp.add_argument("--budget-usd", type=float, default=None, help="refuse or stop past this spend")
    cmp.add_argument("--max-tokens", type=int, default=None, help="max_tokens for every call")
    cmp.add_argument("--no-stream", action="store_true", help="send non-streamed requests")
    cmp.add_argument("--ledger", default="", metavar="PATH", help="append rows to this SQLite ledger")
    cmp.add_argument("--resume", metavar="RUN_ID", help="run only the cells of RUN_ID without an ok row")
    cmp.add_argument("--by", action="append", metavar="COL[,COL]",
                     help="summary grouping (default: the axes that vary among model, strategy, provider)")
    cmp.add_argument("--export", default="", metavar="FILE", help="write the rows to FILE (.csv or .parquet)")
    cmp.add_argument("--chart", default="", metavar="PNG", help="chart path (default auriko-compare-RUN.png; 'none')")
    cmp.add_argument("--mode", choices=["auto", "live", "offline"], default="auto", help="live API or offline gateway")
    cmp.add_argument("--speed", type=float, default=None, help="offline gateway speed factor")
    cmp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    cmp.set_defaults(handler=_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `auriko-nb` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
