"""`auriko-nb ledger copy|export|runs`: move a ledger between SQLite and PostgreSQL, or out to a file any tool reads."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import AurikoError

__all__ = ["add_ledger_commands"]

FORMATS = ("parquet", "csv")


def _default_source() -> str:
    """The session ledger's location as the notebook would open it ($AURIKO_NB_LEDGER or ./auriko_ledger.sqlite)."""
    from ..measure.ledger import DEFAULT_LEDGER_PATH, LEDGER_ENV

    return os.environ.get(LEDGER_ENV, "").strip() or DEFAULT_LEDGER_PATH


def _fail(what: str, error: BaseException) -> int:
    print(f"auriko-nb ledger {what}: {error}", file=sys.stderr)
    return 2


def _copy(args: argparse.Namespace) -> int:
    from ..measure.ledger_copy import copy_ledger

    try:
        done = copy_ledger(args.source, args.target, batch=args.batch)
    except (AurikoError, OSError, ValueError, ImportError, PermissionError) as e:
        return _fail("copy", e)
    print(done)  # "N rows read, A added, S already there"
    return 0


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    found = {"run_id": args.run_id, "status": args.status, "since": args.since, "until": args.until}
    return {k: v for k, v in found.items() if v}


def _export(args: argparse.Namespace) -> int:
    from ..measure.ledger_copy import export_ledger

    fmt = args.format
    out = args.output
    if out is None:
        fmt = fmt or "parquet"
        out = f"auriko_ledger.{fmt}"
    try:
        path = export_ledger(args.source or _default_source(), out, fmt=fmt, **_filters(args))
    except (AurikoError, OSError, ValueError, ImportError) as e:
        return _fail("export", e)
    print(f"rows written to {path}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from ..measure.ledger import Ledger

    try:
        with Ledger(args.source or _default_source(), readonly=True) as ledger:
            runs = ledger.run_ids()
    except (AurikoError, OSError, ValueError, ImportError) as e:
        return _fail("runs", e)
    print(runs.to_string(index=False) if len(runs) else "no runs")
    return 0


def add_ledger_commands(sub: Any) -> None:
    """The `ledger` command and its `copy`, `export` and `runs` subcommands."""
    ledger = sub.add_parser("ledger", help="copy a ledger between SQLite and PostgreSQL, export it, list its runs",
                            description="A ledger is a SQLite file or a postgresql://user@host:port/db URL "
                                        "(the password from the URL, PGPASSWORD or ~/.pgpass; never printed).")
    cmds = ledger.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND")
    cmds.required = True
    copy = cmds.add_parser("copy", help="copy every row of SRC into DST (rows already in DST are skipped)",
                           description="Copy SRC into DST, either a SQLite file or a PostgreSQL URL. Idempotent by "
                                       "call id: running it twice adds nothing. Prompt and answer text are copied "
                                       "as SRC has them.")
    copy.add_argument("source", metavar="SRC", help="the ledger to read")
    copy.add_argument("target", metavar="DST", help="the ledger to write (created if absent)")
    copy.add_argument("--batch", type=int, default=10_000, metavar="N", help="rows per transaction (default 10000)")
    copy.set_defaults(handler=_copy)

    export = cmds.add_parser("export", help="write a ledger's rows to a Parquet or CSV file",
                             description="Write the rows (optionally filtered) to a .parquet or .csv file.")
    export.add_argument("source", metavar="SRC", nargs="?", default=None,
                        help="the ledger (default: $AURIKO_NB_LEDGER or ./auriko_ledger.sqlite)")
    export.add_argument("--format", choices=FORMATS, default=None,
                        help="file format (default: from the output's suffix, else parquet)")
    export.add_argument("-o", "--output", metavar="FILE", default=None,
                        help="the file to write (default auriko_ledger.FORMAT)")
    export.add_argument("--run-id", action="append", metavar="RUN", help="only these runs (repeatable)")
    export.add_argument("--status", action="append", choices=["ok", "error", "cancelled"], help="only these statuses")
    export.add_argument("--since", metavar="TIME", help="only calls started at or after TIME (ISO-8601, UTC)")
    export.add_argument("--until", metavar="TIME", help="only calls started before TIME (ISO-8601, UTC)")
    export.set_defaults(handler=_export)

    runs = cmds.add_parser("runs", help="one line per run: calls, ok, errors, first and last start")
    runs.add_argument("source", metavar="SRC", nargs="?", default=None,
                      help="the ledger (default: $AURIKO_NB_LEDGER or ./auriko_ledger.sqlite)")
    runs.set_defaults(handler=_runs)
