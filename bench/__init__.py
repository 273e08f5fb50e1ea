"""Benchmarks for auriko_nb (issue 8): `python -m bench [--quick] [--only NAME] [--no-write]`.

One module per benchmark, each with `run(quick) -> BenchResult` and `profile(quick) -> str`; shared helpers
in `bench.common`; `bench._gateway` runs the offline gateway with a pinned latency for the sweep benchmark.
"""

BENCHMARKS = ("overhead", "streaming", "sweep", "ttft", "ledger", "startup", "decision", "shared_ledger", "otel")
