"""The ledger: every call as one row in an append-only SQLite file (WAL), safe across kernels and crashes.

Each `append` is its own short committed transaction, so a killed process loses at most the calls in
flight, and several notebooks or processes can write the same file (WAL plus a busy timeout). Only the
columns of `RECORD_COLUMNS` are ever written, so nothing else (an API key above all) can reach the file.
The file is plain SQLite: pandas, DuckDB or Spark can read the `calls` table directly.
Prompt and answer text (`TEXT_COLUMNS`) are stored only with `store_text=True`, because ledgers get shared.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LedgerError
from ..types.record_schema import (  # coerce_types, record_dtypes and to_frame are re-exported: they lived here first
    RECORD_COLUMNS,
    TIME_COLUMN,
    TIME_DTYPE,
    coerce_types,
    columns_of,
    dtype_of,
    record_dtypes,
    sql_type,
    to_frame,
)
from . import _ledger_arrow

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Ledger", "session_ledger", "set_session_ledger", "to_frame", "coerce_types", "record_dtypes",
           "DEFAULT_LEDGER_PATH", "LEDGER_ENV", "OFF_VALUES", "TEXT_COLUMNS"]

TABLE = "calls"
LEDGER_ENV = "AURIKO_NB_LEDGER"
DEFAULT_LEDGER_PATH = "auriko_ledger.sqlite"
OFF_VALUES = frozenset({"off", "none", "0", "false", "no"})  # `AURIKO_NB_LEDGER` values that turn it off
BUSY_TIMEOUT_S = 30.0

_FLOAT = columns_of("float")
_INT = columns_of("int", "bool")
_JSON = columns_of("json")
TEXT_COLUMNS = ("prompt_text", "answer_text")  # stored only by a ledger with store_text=True


# -- values in: one canonical SQLite value per column ------------------------------------------------------

_NATIVE = frozenset((type(None), str, int, float, bool))  # bound by sqlite3 as is (a NaN float becomes NULL)


def utc_text(value: Any) -> str | None:
    """A timestamp as canonical UTC ISO-8601 text (microseconds, +00:00) so SQL string order is time order.

    Accepts ISO-8601 text, `datetime`, `pd.Timestamp` or `np.datetime64`; naive times are taken as UTC.
    """
    if isinstance(value, str):
        if len(value) == 32 and value.endswith("+00:00") and value[19] == ".":
            return value  # the common case: already canonical (what `CallContext` writes)
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value != value:  # NaT is a datetime; pandas reads the rest
        import pandas as pd

        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return None
        try:
            value = pd.Timestamp(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"started_at: cannot read {value!r} as a timestamp") from e
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")


def _coerce(col: str, value: Any) -> Any:
    """Turn a non-native value (numpy scalar, bool, NA, dict, list) into what SQLite stores for `col`."""
    if col in _JSON and isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if col in _INT:
        return int(value)
    if col in _FLOAT:
        return float(value)
    return str(value)


def _row(record: Mapping[str, Any], columns: Sequence[str], time_index: int) -> list[Any]:
    """The record's values for `columns`, in order, each one SQLite can store (fast path: all native)."""
    values = list(map(record.get, columns))
    if not _NATIVE.issuperset(map(type, values)):
        values = [v if type(v) in _NATIVE else _coerce(c, v) for c, v in zip(columns, values, strict=True)]
    if time_index >= 0:
        values[time_index] = utc_text(values[time_index])
    return values


def _check_columns(columns: Sequence[str]) -> list[str]:
    """`columns` as a list, or a one-line error naming the ones that are not record columns."""
    cols = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in cols if c not in RECORD_COLUMNS]
    if unknown:
        raise ValueError(f"columns: {unknown} are not record columns (see ak.RECORD_COLUMNS)")
    if not cols:
        raise ValueError("columns: give at least one record column, or None for all")
    return cols


# -- the ledger -------------------------------------------------------------------------------------------

def check_export_path(path: str | os.PathLike[str]) -> Path:
    """`path` if rows can be written there (.csv, or .parquet with pyarrow installed); else a one-line error."""
    out = Path(path).expanduser()
    ext = out.suffix.lower()
    if ext not in (".csv", ".parquet"):
        raise ValueError(f"cannot export to {out.name!r}: use a .csv or .parquet file name")
    if ext == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ImportError("Parquet export needs pyarrow: pip install pyarrow")
    return out


def write_rows(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write call rows to .csv or .parquet by the file's suffix (the ledger's and a comparison's export)."""
    out = check_export_path(path)
    if out.suffix.lower() == ".csv":
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    return out


class Ledger:
    """An append-only SQLite file of call records; pass it as a client's `on_record` hook.

    `store_text=False` (the default) stores `prompt_text` and `answer_text` as NULL: a ledger file gets shared,
    and the prompts and answers may be private. `store_text=True` keeps them.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, store_text: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self.store_text = store_text
        self._lock = threading.Lock()
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"no ledger at {self.path}")
            uri = self.path.resolve().as_uri() + "?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                             check_same_thread=False)
            except (OSError, sqlite3.OperationalError) as e:
                raise LedgerError(f"cannot open the ledger {self.path}: {e}", code="ledger_unavailable") from None
        self._columns: tuple[str, ...] = ()
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not readonly:
                self._setup()
            self._columns = self._table_columns()
        except sqlite3.DatabaseError as e:
            self._conn.close()
            if isinstance(e, sqlite3.OperationalError):  # locked, unreadable, ...: SQLite's own words say it
                raise
            raise ValueError(f"{self.path} is not a ledger ({e})") from None
        self._time_index = self._columns.index(TIME_COLUMN) if TIME_COLUMN in self._columns else -1
        self._text_indexes = tuple(self._columns.index(c) for c in TEXT_COLUMNS if c in self._columns)

    def _setup(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: every commit survives a crash of the process
        cols = ", ".join(f'"{c}" {sql_type(c)}' for c in RECORD_COLUMNS)
        with self._transaction():
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
            for c in RECORD_COLUMNS:  # a ledger written by an older version gains newer columns
                if c not in have:
                    conn.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{c}" {sql_type(c)}')
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_run ON {TABLE}(run_id)")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE}(started_at)")

    def _table_columns(self) -> tuple[str, ...]:
        have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({TABLE})")}
        return tuple(c for c in RECORD_COLUMNS if c in have)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _insert_sql(self) -> str:
        if self.readonly:
            raise PermissionError(f"ledger {self.path} is open readonly")
        names = ", ".join(f'"{c}"' for c in self._columns)
        return f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join('?' * len(self._columns))})"

    # -- writing --------------------------------------------------------------------------------------

    def _values(self, record: Mapping[str, Any]) -> list[Any]:
        """A record's SQLite values; without `store_text`, its prompt and answer text as NULL."""
        values = _row(record, self._columns, self._time_index)
        if not self.store_text:
            for i in self._text_indexes:
                values[i] = None
        return values

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record and commit at once (unknown keys ignored; missing ones stored as NULL)."""
        sql, row = self._insert_sql(), self._values(record)
        with self._lock:
            self._conn.execute(sql, row)

    __call__ = append

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write many records in one transaction (fast: for benchmarks and imports); returns how many."""
        sql, cols, ti = self._insert_sql(), self._columns, self._time_index
        rows = [_row(r, cols, ti) for r in records]
        blank = () if self.store_text else self._text_indexes
        for values in rows if blank else ():
            for i in blank:
                values[i] = None
        with self._lock, self._transaction():
            self._conn.executemany(sql, rows)
        return len(rows)

    # -- reading --------------------------------------------------------------------------------------

    def to_dataframe(self, run_id: str | Sequence[str] | None = None, since: Any = None, until: Any = None,
                     status: str | Sequence[str] | None = None,
                     source: str | Sequence[str] | None = None,
                     columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows in append order as a typed DataFrame; `since` is inclusive, `until` exclusive (UTC).

        `columns` reads only those record columns (faster on big ledgers), in that order.
        """
        import pandas as pd

        wanted = list(RECORD_COLUMNS) if columns is None else _check_columns(columns)
        where: list[str] = []
        params: list[Any] = []
        for col, want in (("run_id", run_id), ("status", status), ("source", source)):
            if want is not None:
                values = [want] if isinstance(want, str) else list(want)
                where.append(f"{col} IN ({', '.join('?' * len(values))})" if values else "0")
                params += values
        for op, when in ((">=", since), ("<", until)):
            if when is not None:
                where.append(f"started_at {op} ?")
                params.append(utc_text(when))
        with self._lock:
            have = self._table_columns()  # also what another process's newer version may have added
        cols = [c for c in wanted if c in have]
        if not cols:
            return to_frame([])[wanted]
        sql = f"SELECT {', '.join(cols)} FROM {TABLE}"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        fast = _ledger_arrow.read(self.path, sql, params, {c: dtype_of(c) for c in cols})
        if fast is None:
            with self._lock:
                rows = self._conn.execute(sql, params).fetchall()
            fast = pd.DataFrame.from_records(rows, columns=cols)
        return coerce_types(fast.reindex(columns=wanted))

    def run_ids(self) -> pd.DataFrame:
        """One row per run, in order of first appearance: run_id, calls, ok, errors, cancelled, first/last."""
        import pandas as pd

        sql = (f"SELECT run_id, COUNT(*), SUM(status = 'ok'), SUM(status = 'error'), SUM(status = 'cancelled'), "
               f"MIN(started_at), MAX(started_at) FROM {TABLE} GROUP BY run_id ORDER BY MIN(id)")
        with self._lock:
            rows = self._conn.execute(sql).fetchall() if self._table_columns() else []
        df = pd.DataFrame.from_records(rows, columns=["run_id", "calls", "ok", "errors", "cancelled",
                                                      "first_started_at", "last_started_at"])
        for c in ("calls", "ok", "errors", "cancelled"):
            df[c] = df[c].astype("int64")
        for c in ("first_started_at", "last_started_at"):
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").astype(TIME_DTYPE)
        return df

    def export(self, path: str | os.PathLike[str], **filters: Any) -> Path:
        """Write the rows (optionally filtered as in `to_dataframe`) to .csv or .parquet; returns the path."""
        check_export_path(path)  # before reading: a bad name fails at once
        return write_rows(self.to_dataframe(**filters), path)

    def __len__(self) -> int:
        with self._lock:
            if not self._table_columns():
                return 0
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])

    def __bool__(self) -> bool:
        return True  # an empty ledger is still a ledger (and a valid `on_record` hook)

    def close(self) -> None:
        """Close the connection (idempotent); committed rows are already on disk."""
        with self._lock:
            self._conn.close()

    def __del__(self) -> None:
        with suppress(Exception):  # a ledger dropped without close() must not warn (ResourceWarning, 3.13+)
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            text = ", store_text=True" if self.store_text else ""
            return f"Ledger({str(self.path)!r}, rows={len(self)}{text})"
        except sqlite3.ProgrammingError:
            return f"Ledger({str(self.path)!r}, closed)"


# -- the session ledger -----------------------------------------------------------------------------------

_session: Ledger | None = None
_session_off = False
_session_lock = threading.Lock()


def session_ledger() -> Ledger | None:
    """The process-wide default ledger, opened on first use; None when turned off.

    Its file is `$AURIKO_NB_LEDGER` or `./auriko_ledger.sqlite`; `AURIKO_NB_LEDGER=off` starts with it off.
    """
    global _session, _session_off
    with _session_lock:
        if _session is None and not _session_off:
            env = os.environ.get(LEDGER_ENV, "").strip()
            if env.lower() in OFF_VALUES:
                return None
            try:
                _session = Ledger(env or DEFAULT_LEDGER_PATH)
            except (OSError, sqlite3.Error) as e:  # an unwritable directory must not break every call
                warnings.warn(f"auriko_nb: session ledger turned off, cannot open {env or DEFAULT_LEDGER_PATH}: {e}",
                              stacklevel=2)
                _session_off = True
        return _session


def set_session_ledger(target: str | os.PathLike[str] | Ledger | None) -> Ledger | None:
    """Point the session ledger at a file or `Ledger`, or turn it off with None; returns the new one."""
    global _session, _session_off
    ledger = target if isinstance(target, Ledger) or target is None else Ledger(target)
    with _session_lock:
        _session, _session_off = ledger, ledger is None
    return ledger
