"""The ledger's fast read path: SQLite straight to Arrow columns (ADBC), then to typed pandas columns.

`arrow_to_frame` (Arrow table -> the ledger's typed frame) is shared with the PostgreSQL ledger's ADBC read.

Optional (`pip install auriko-nb[fast]`): reading a million rows through `sqlite3` builds tens of millions of
Python objects, which dominates `to_dataframe`; ADBC fills Arrow buffers in C instead (BENCHMARKS.md, section
5). Any failure here (driver missing, a column whose values SQLite stores with mixed types, a locked file)
returns None and the caller reads with `sqlite3`: the frame is the same either way.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..types.record_schema import text_dtype

if TYPE_CHECKING:
    import pandas as pd

BATCH_ROWS = 1 << 20  # the driver infers each column's type from a batch: big batches see past leading NULLs


def available(driver: str = "adbc_driver_sqlite") -> bool:
    """Whether the ADBC `driver` (SQLite by default) and pyarrow are installed (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in (driver, "pyarrow"))


def read(path: Path, sql: str, params: Sequence[Any], dtypes: dict[str, str]) -> pd.DataFrame | None:
    """The query's rows as a frame with `dtypes` (column -> ledger dtype), or None to fall back to sqlite3."""
    if not available():
        return None
    try:
        return _read(path, sql, params, dtypes)
    except Exception:  # noqa: BLE001 - any failure means: read it the ordinary way
        return None


def _read(path: Path, sql: str, params: Sequence[Any], dtypes: dict[str, str]) -> pd.DataFrame:
    import adbc_driver_sqlite.dbapi as adbc

    uri = path.resolve().as_uri() + "?mode=ro"
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        cur.execute(sql, list(params) or None)
        table = cur.fetch_arrow_table()
    return arrow_to_frame(table, dtypes)


def arrow_to_frame(table: Any, dtypes: dict[str, str]) -> pd.DataFrame:
    """An Arrow table's columns as a frame with `dtypes` (column -> ledger dtype): what `to_dataframe` returns.

    Time columns may come as ISO text (SQLite) or as Arrow timestamps (PostgreSQL's TIMESTAMPTZ).
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name, want in dtypes.items():
        col = table.column(name)
        if want == "category":
            col = col.cast(pa.string()) if not pa.types.is_string(col.type) else col
            cat = col.dictionary_encode().to_pandas().astype("category")
            names = pd.Index(sorted(cat.cat.categories), dtype=text_dtype())  # ordered and typed as pandas does
            columns[name] = cat.cat.set_categories(names)
        elif want.startswith("datetime64"):
            utc = pa.timestamp("us", tz="UTC")
            stamps = col.cast(utc) if pa.types.is_timestamp(col.type) else pc.cast(col.cast(pa.string()), utc)
            columns[name] = stamps.to_pandas().astype(want)
        elif want == "float64":
            columns[name] = col.cast(pa.float64()).to_pandas()
        elif want == "Int64":
            columns[name] = col.cast(pa.int64()).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        elif want == "boolean":
            columns[name] = col.cast(pa.bool_()).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
        else:
            columns[name] = col.cast(pa.string()).to_pandas().astype(want)
    return pd.DataFrame(columns)
