"""The measurement layer: the ledger, sweeps and comparisons, their summaries and charts, and `record()`."""

# `Ledger("postgresql://...")` finds its class here: ledger_postgres registers it with the ledger (importing
# it from ledger.py would be an import cycle). Cheap: psycopg itself is imported only when such a ledger opens.
from . import ledger_postgres  # noqa: F401, E402
