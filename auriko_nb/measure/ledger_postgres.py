"""The ledger in PostgreSQL: `Ledger("postgresql://user@host:5432/db")`, one `calls` table shared by a team.

Same API and the same frames as the SQLite ledger. Many writers at once (kernels, processes, machines) lose
nothing and duplicate nothing: every insert is `ON CONFLICT (call_id) DO NOTHING`, so a retried write or a copy
run twice adds no row, and a dropped connection is reopened once and the write retried. The schema is created
on first use under an advisory lock (concurrent first users would race otherwise); newer columns are added.
Reads go through Arrow (ADBC) when `adbc-driver-postgresql` is installed, else psycopg. The password never
appears in a repr, an error or a log line: only `location` (the URL with `***`) is shown.
Needs `pip install 'auriko-nb[postgres]'` (psycopg 3).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import LedgerError
from ..types.record_schema import (
    COLUMNS,
    RECORD_COLUMNS,
    TIME_COLUMN,
    coerce_types,
    columns_of,
    dtype_of,
    to_frame,
)
from . import _ledger_arrow
from .ledger import (
    TABLE,
    TEXT_COLUMNS,
    URL_SCHEMES,
    Ledger,
    check_columns,
    filter_clause,
    record_values,
    redact_url,
    register_url_ledger,
    scrub,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PostgresLedger", "PG_TYPES", "CONNECT_TIMEOUT_S", "COPY_MIN_ROWS", "INSTALL_HINT"]

CONNECT_TIMEOUT_S = 10
INSTALL_HINT = "a postgresql:// ledger needs psycopg 3: pip install 'auriko-nb[postgres]'"
COPY_MIN_ROWS = 500  # append_many of this many rows or more goes through COPY (faster for big batches)
SCHEMA_LOCK_KEY = 0x6175726B6F  # pg_advisory_xact_lock key ("aurko") serializing schema changes per database
_KIND_TYPES = {"text": "TEXT", "json": "TEXT", "category": "TEXT", "time": "TIMESTAMPTZ",
               "float": "DOUBLE PRECISION", "int": "BIGINT", "bool": "BOOLEAN"}
PG_TYPES: dict[str, str] = {c.name: _KIND_TYPES[c.kind] for c in COLUMNS}  # column -> PostgreSQL type
INDEXES = {f"{TABLE}_call_id": f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_call_id ON {TABLE} (call_id)",
           f"{TABLE}_run": f"CREATE INDEX IF NOT EXISTS {TABLE}_run ON {TABLE} (run_id)",
           f"{TABLE}_time": f"CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (started_at)"}
_BOOL = columns_of("bool")
_INT = columns_of("int")
T = TypeVar("T")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return psycopg


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "no detail from the driver"


class PostgresLedger(Ledger):
    """A ledger in a PostgreSQL database (table `calls`); build it with `Ledger(url)` or `PostgresLedger(url)`.

    `readonly=True` never writes (not even the schema); `store_text` as for the SQLite ledger. `arrow` says
    whether reads go through ADBC/Arrow (default: when the driver is installed).
    """

    def __init__(self, path: str, *, readonly: bool = False, store_text: bool = False) -> None:
        self._url = str(path).strip()  # `path` as in `Ledger(path)`: here the postgresql:// URL
        self._location = redact_url(self._url)
        self.readonly = readonly
        self.store_text = store_text
        self._pg = _psycopg()
        self.arrow = _ledger_arrow.available("adbc_driver_postgresql")
        self._lock = threading.Lock()  # every method of the SQLite ledger that takes it is overridden here
        self._adbc: Any = None
        self._closed = False
        self._conn: Any = None
        with self._lock:
            self._conn = self._connect()
        self._columns: tuple[str, ...] = ()
        if not readonly:
            self._run(self._ensure_schema)
        self._set_columns(self._run(self._read_columns))

    # -- connection ----------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The database URL with its password as `***`: safe to show."""
        return self._location

    def _error(self, what: str, exc: BaseException, code: str = "ledger_unavailable") -> LedgerError:
        """One line naming the ledger (redacted) and the driver's reason with every form of the password scrubbed."""
        return LedgerError(f"ledger {self._location}: {what}: {_one_line(scrub(str(exc), self._url))}", code=code)

    def _connect(self) -> Any:
        if self._closed:
            raise LedgerError(f"ledger {self._location} is closed", code="ledger_closed")
        try:
            conn = self._pg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                    application_name="auriko_nb")
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
            return conn
        except self._pg.Error as e:
            raise self._error("cannot connect", e) from None

    def _run(self, work: Callable[[Any], T]) -> T:
        """`work(connection)` under the lock; a lost connection is reopened once and `work` run again.

        Safe because every write is idempotent by call_id and a failed transaction commits nothing.
        """
        pg = self._pg
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._connect()
                    return work(self._conn)
                except (pg.OperationalError, pg.InterfaceError) as e:
                    with suppress(Exception):
                        self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise self._error("the database connection failed twice", e) from None
                except pg.DataError as e:  # a value PostgreSQL cannot store (the caller's data: no retry)
                    raise ValueError(f"ledger {self._location}: {_one_line(scrub(str(e), self._url))}") from None
                except pg.errors.ReadOnlySqlTransaction as e:
                    raise PermissionError(f"ledger {self._location} is open readonly ({_one_line(str(e))})") from None
                except pg.Error as e:
                    raise self._error("the database refused", e, code="ledger_error") from None
        raise AssertionError("unreachable")

    # -- schema ---------------------------------------------------------------------------------------

    @staticmethod
    def _read_columns(conn: Any) -> tuple[str, ...]:
        rows = conn.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = %s", (TABLE,)).fetchall()
        have = {r[0] for r in rows}
        return tuple(c for c in RECORD_COLUMNS if c in have)

    @staticmethod
    def _read_indexes(conn: Any) -> set[str]:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                            "AND tablename = %s", (TABLE,)).fetchall()
        return {r[0] for r in rows}

    def _ensure_schema(self, conn: Any) -> None:
        """Create the table and indexes if absent, add newer columns; under an advisory lock, only if needed."""
        if len(self._read_columns(conn)) == len(RECORD_COLUMNS) and self._read_indexes(conn) >= set(INDEXES):
            return
        cols = ", ".join(f'"{c}" {PG_TYPES[c]}' for c in RECORD_COLUMNS)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, {cols})")
            have = set(self._read_columns(conn))
            for c in RECORD_COLUMNS:  # a table an older version created gains the newer columns
                if c not in have:
                    conn.execute(f'ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS "{c}" {PG_TYPES[c]}')
            for sql in INDEXES.values():
                conn.execute(sql)

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        self._columns = columns
        self._time_index = columns.index(TIME_COLUMN) if TIME_COLUMN in columns else -1
        self._text_indexes = tuple(columns.index(c) for c in TEXT_COLUMNS if c in columns)
        self._bool_indexes = tuple(i for i, c in enumerate(columns) if c in _BOOL)
        self._int_indexes = tuple(i for i, c in enumerate(columns) if c in _INT)

    # -- writing --------------------------------------------------------------------------------------

    def _insert_sql(self) -> str:
        if self.readonly:
            raise PermissionError(f"ledger {self._location} is open readonly")
        names = ", ".join(f'"{c}"' for c in self._columns)
        return (f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join(['%s'] * len(self._columns))}) "
                "ON CONFLICT (call_id) DO NOTHING")

    def _values(self, record: Mapping[str, Any]) -> list[Any]:
        """A record's values as PostgreSQL takes them: bools as bool, NaN as NULL, text blanked without store_text."""
        values = record_values(record, self._columns, self._time_index)
        if not self.store_text:
            for i in self._text_indexes:
                values[i] = None
        for i in self._bool_indexes:
            if values[i] is not None and type(values[i]) is not bool:
                values[i] = bool(values[i])
        for i in self._int_indexes:
            if type(values[i]) is bool:
                values[i] = int(values[i])
        for i, v in enumerate(values):
            if type(v) is float and v != v:
                values[i] = None
        return values

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record in one autocommitted statement; a call_id already stored is skipped."""
        sql, row = self._insert_sql(), self._values(record)
        self._run(lambda conn: conn.execute(sql, row))

    __call__ = append

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Write many records in one transaction; returns how many were new (known call_ids are skipped)."""
        sql = self._insert_sql()
        rows = [self._values(r) for r in records]
        if not rows:
            return 0

        if len(rows) < COPY_MIN_ROWS:
            def insert(conn: Any) -> int:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(sql, rows)  # pipelined: one round trip per batch, not per row
                    return int(cur.rowcount)

            return self._run(insert)
        return self._run(lambda conn: self._copy_in(conn, rows))

    def _copy_in(self, conn: Any, rows: list[list[Any]]) -> int:
        """COPY the rows into a temporary table, then one INSERT ... SELECT ... ON CONFLICT: about twice as fast
        as a pipelined executemany from a few thousand rows (20k rows: 1.1 s against 2.3 s on a laptop)."""
        names = ", ".join(f'"{c}"' for c in self._columns)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE {TABLE}_in (LIKE {TABLE}) ON COMMIT DROP")
            with cur.copy(f"COPY {TABLE}_in (id, {names}) FROM STDIN") as copy:
                for n, values in enumerate(rows):  # id: the rows' order, kept by the insert below
                    copy.write_row([n, *values])
            cur.execute(f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM {TABLE}_in ORDER BY id "
                        "ON CONFLICT (call_id) DO NOTHING")
            return int(cur.rowcount)

    # -- reading --------------------------------------------------------------------------------------

    def _table_columns(self) -> tuple[str, ...]:
        return self._run(self._read_columns)

    def to_dataframe(self, run_id: Any = None, since: Any = None, until: Any = None, status: Any = None,
                     source: Any = None, columns: Any = None) -> pd.DataFrame:
        """The rows in append order as a typed DataFrame, exactly as the SQLite ledger returns them."""
        import pandas as pd

        wanted = list(RECORD_COLUMNS) if columns is None else check_columns(columns)
        have = self._table_columns()
        cols = [c for c in wanted if c in have]
        if not cols:
            return to_frame([])[wanted]
        filters = dict(run_id=run_id, since=since, until=until, status=status, source=source)
        frame = self._read_arrow(cols, filters) if self.arrow else None
        if frame is None:
            where, params = filter_clause(lambda: "%s", time_cast="CAST({} AS TIMESTAMPTZ)", **filters)
            sql = f"SELECT {', '.join(cols)} FROM {TABLE}{where} ORDER BY id"
            rows = self._run(lambda conn: conn.execute(sql, params).fetchall())
            frame = pd.DataFrame.from_records(rows, columns=cols)
        return coerce_types(frame.reindex(columns=wanted))

    def _adbc_uri(self) -> str:
        sep = "&" if "?" in self._url else "?"
        return self._url if "connect_timeout=" in self._url else f"{self._url}{sep}connect_timeout={CONNECT_TIMEOUT_S}"

    def _read_arrow(self, cols: list[str], filters: dict[str, Any]) -> pd.DataFrame | None:
        """The rows through ADBC as Arrow columns (no Python object per value), or None to read with psycopg."""
        n = iter(range(1, 1 << 30))
        where, params = filter_clause(lambda: f"${next(n)}", time_cast="CAST({} AS TIMESTAMPTZ)", **filters)
        sql = f"SELECT {', '.join(cols)} FROM {TABLE}{where} ORDER BY id"
        with self._lock:
            try:
                if self._adbc is None:
                    import adbc_driver_postgresql.dbapi as adbc

                    self._adbc = adbc.connect(self._adbc_uri(), autocommit=True)
                with self._adbc.cursor() as cur:
                    cur.execute(sql, params or None)
                    table = cur.fetch_arrow_table()
            except Exception:  # noqa: BLE001 - any failure: drop this connection, read the ordinary way
                self._close_adbc()
                return None
        return _ledger_arrow.arrow_to_frame(table, {c: dtype_of(c) for c in cols})

    def _run_id_rows(self) -> list[Any]:
        sql = (f"SELECT run_id, COUNT(*), COUNT(*) FILTER (WHERE status = 'ok'), "
               f"COUNT(*) FILTER (WHERE status = 'error'), COUNT(*) FILTER (WHERE status = 'cancelled'), "
               f"MIN(started_at), MAX(started_at) FROM {TABLE} GROUP BY run_id ORDER BY MIN(id)")
        if not self._table_columns():
            return []
        return self._run(lambda conn: conn.execute(sql).fetchall())

    def __len__(self) -> int:
        if not self._table_columns():
            return 0
        return int(self._run(lambda conn: conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]))

    # -- life cycle -----------------------------------------------------------------------------------

    def _close_adbc(self) -> None:
        if self._adbc is not None:
            with suppress(Exception):
                self._adbc.close()
            self._adbc = None

    def close(self) -> None:
        """Close the connections (idempotent); every row written is already committed."""
        with self._lock:
            self._closed = True
            self._close_adbc()
            if self._conn is not None:
                with suppress(Exception):
                    self._conn.close()
                self._conn = None

    def __del__(self) -> None:
        with suppress(Exception):
            self._close_adbc()
            if self._conn is not None:
                self._conn.close()

    def __repr__(self) -> str:
        text = ", store_text=True" if self.store_text else ""
        if self._closed:
            return f"Ledger({self._location!r}, closed)"
        try:
            return f"Ledger({self._location!r}, rows={len(self)}{text})"
        except Exception:  # noqa: BLE001 - a repr must not raise: the database may be down
            return f"Ledger({self._location!r}, unavailable{text})"


register_url_ledger(URL_SCHEMES, PostgresLedger)
