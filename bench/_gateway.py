"""`python -m bench._gateway [--fixed-ttft-ms MS] serve ...`: the offline gateway (`auriko-nb serve`) in its own
process, optionally with every call's latency pinned to exactly MS milliseconds.

The pin is `auriko-nb serve --fixed-latency-ms MS`: TTFT = MS (times --speed) and the whole answer right after,
instead of the lognormal per-provider samples. All the rest (routing, validation, SSE rendering, timed emission,
uvicorn) is the shipped gateway, unchanged.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fixed-ttft-ms"]:
        argv = [*argv[2:], "--fixed-latency-ms", argv[1]]
    from auriko_nb.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
