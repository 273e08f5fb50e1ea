"""The `auriko-nb` command line: subcommands (currently `serve`) built with argparse."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

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
        app = create_app(seed=args.seed, speed=args.speed, faults=faults, rpm=args.rpm, credit_usd=args.credit_usd)
        sock = bind_socket(args.host, args.port)
    except (ValueError, OSError) as e:
        print(f"auriko-nb serve: {e}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Auriko offline gateway (simulation) listening on http://{host}:{port}/v1 "
          f"(seed={args.seed}, speed={args.speed:g}); Ctrl+C to stop", flush=True)
    server = make_server(app, log_level=args.log_level, embedded=False)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


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
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `auriko-nb` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
