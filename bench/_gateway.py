"""`python -m bench._gateway [--fixed-ttft-ms MS] serve ...`: the offline gateway (`auriko-nb serve`) in its own
process, optionally with every call's latency pinned to exactly MS milliseconds.

The pin replaces the two samplers the simulation draws a TTFT and a token rate from (lognormal per provider)
with constants: TTFT = MS (times --speed) and a token rate so high that the whole answer follows at once. All
the rest (routing, validation, SSE rendering, timed emission, uvicorn) is the shipped gateway, unchanged.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fixed-ttft-ms"]:
        ttft_ms = float(argv[1])
        argv = argv[2:]
        import auriko_nb.offline.completion as completion

        completion.sample_ttft_ms = lambda rng, tier: ttft_ms  # type: ignore[assignment]
        completion.sample_tps = lambda rng, tier: 1e9  # type: ignore[assignment]
    from auriko_nb.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
