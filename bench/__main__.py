"""`python -m bench [--quick] [--only NAME[,NAME]] [--no-write] [--output FILE]`: run the benchmarks, print one
`RESULT` line per benchmark and write (or print) their BENCHMARKS.md sections.

Each benchmark's section sits between `<!-- bench:NAME -->` markers, so `--only` rewrites just its own
sections and the summary; text outside the markers (the analysis) is kept as it is.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import BENCHMARKS
from .common import PACKAGES, ROOT, BenchResult, machine, versions

DEFAULT_OUTPUT = ROOT / "BENCHMARKS.md"
INTRO = """# Benchmarks

Numbers that show what `auriko_nb` costs and how it compares with what a user would otherwise use (the
`openai` SDK, the official `auriko` SDK, bare httpx), measured side by side in the same process and run.
Ratios matter more than absolute times: these machines are noisy, and this one is shared (see the load
average in each section). Regenerate with `python -m bench` (about 5-8 minutes); `python -m bench --quick`
is the CI smoke run (well under a minute, tiny sizes, numbers not meaningful); `--only NAME` reruns one
section.
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description="Run the auriko_nb benchmarks.")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that takes well under a minute")
    p.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                   help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    p.add_argument("--no-write", action="store_true", help="print the sections instead of writing the file")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the markdown file to update")
    p.add_argument("--profile", choices=["miss", "always", "never"], default="miss",
                   help="attach a cProfile of the hot path: when a target is missed (default, full runs only), "
                        "always, or never")
    args = p.parse_args(argv)
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.names = names or list(BENCHMARKS)
    return args


def _run_one(name: str, args: argparse.Namespace) -> tuple[BenchResult | None, str]:
    mod = importlib.import_module(f".{name}", __package__)
    load_before = _load()
    t0 = time.perf_counter()
    try:
        res: BenchResult = mod.run(quick=args.quick)
    except Exception:  # noqa: BLE001 - reported as an ERROR line, the other benchmarks still run
        return None, traceback.format_exc()
    res.seconds = time.perf_counter() - t0
    want_profile = args.profile == "always" or (args.profile == "miss" and res.verdict == "MISS" and not args.quick)
    if want_profile and hasattr(mod, "profile"):
        try:
            res.profile = mod.profile(quick=args.quick)
        except Exception:  # noqa: BLE001
            res.profile = "profiling failed:\n" + traceback.format_exc()
    res.notes.append(f"_Load average (1 min) before / after this section: {load_before} / {_load()} "
                     f"on {os.cpu_count()} cores._")
    return res, ""


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def _command(args: argparse.Namespace, argv: list[str] | None) -> str:
    given = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m bench", *map(shlex.quote, given)])


def _header(command: str, quick: bool) -> str:
    m = machine()
    lines = ["## Machine and command\n",
             f"- Last written by: `{command}` (from the repository root, with the project's virtualenv); "
             "each section names the command that produced it",
             f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}" + (" (quick mode)" if quick else "")]
    lines += [f"- {k}: {v}" for k, v in m.items()]
    lines.append("- Packages: " + ", ".join(f"{k} {v}" for k, v in versions(PACKAGES).items()))
    return "\n".join(lines) + "\n"


def _section(name: str, body: str) -> str:
    return f"<!-- bench:{name} -->\n{body.rstrip()}\n<!-- /bench:{name} -->"


def _summary_table(doc: str) -> str:
    rows = []
    for name in BENCHMARKS:
        m = re.search(rf"<!-- bench:{name} -->.*?<!-- summary: (.*?) -->", doc, re.S)
        if m:
            verdict, _, text = m.group(1).partition(" | ")
            rows.append(f"| {name} | **{verdict}** | {text} |")
    if not rows:
        return ""
    return "## Summary\n\n| benchmark | targets | result |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _replace(doc: str, name: str, body: str) -> str:
    """Put `body` in the section `name`: in place if it exists, else after the sections that come before it."""
    block = _section(name, body)
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
    if pattern.search(doc):
        return pattern.sub(lambda _: block, doc)
    order = ["header", "summary", *BENCHMARKS]
    earlier = order[:order.index(name)] if name in order else order
    ends = [doc.find(f"<!-- /bench:{n} -->") + len(f"<!-- /bench:{n} -->") for n in earlier
            if f"<!-- /bench:{n} -->" in doc]
    if ends:
        at = max(ends)
    else:
        analysis = doc.find("\n## Analysis")
        at = analysis if analysis >= 0 else len(doc)
    return doc[:at].rstrip() + "\n\n" + block + "\n\n" + doc[at:].lstrip("\n")


def _body(res: BenchResult, command: str) -> str:
    passed = sum(c.passed for c in res.checks)
    return (f"<!-- summary: {res.verdict} ({passed}/{len(res.checks)}) | {res.summary} -->\n"
            + res.markdown() + f"\n_Command: `{command}`._\n")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    command = _command(args, argv)
    os.environ.setdefault("AURIKO_NB_LEDGER", "off")  # nothing here writes the working directory's ledger
    results: dict[str, BenchResult] = {}
    failed = False
    for name in args.names:
        res, error = _run_one(name, args)
        if res is None:
            failed = True
            print(f"RESULT {name}: ERROR\n{error}", flush=True)
            continue
        results[name] = res
        print(res.line(), flush=True)
    if args.no_write:
        for name, res in results.items():
            print("\n" + _section(name, _body(res, command)))
        return 1 if failed else 0
    doc = args.output.read_text(encoding="utf-8") if args.output.exists() else INTRO
    doc = _replace(doc, "header", _header(command, args.quick))
    for name, res in results.items():
        doc = _replace(doc, name, _body(res, command))
    doc = _replace(doc, "summary", _summary_table(doc))
    doc = re.sub(r"\n{3,}", "\n\n", doc)
    args.output.write_text(doc, encoding="utf-8")
    print(f"wrote {args.output}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
