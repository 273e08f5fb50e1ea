"""The measurement layer: the ledger, sweeps and comparisons, their summaries and charts, and `record()`."""
